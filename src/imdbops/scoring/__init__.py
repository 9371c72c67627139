"""Batch scoring of movies with a registered model (``imdbops score``, DAG ``imdb_scoring``).

``inputs`` reads and checks the movies to score; ``batch`` scores and publishes them into
the warehouse's predictions table (``dataops.predictions_store``) and the lake.
"""
