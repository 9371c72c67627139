"""The DAG definitions: the step contract both DAGs use (``contract``: task spec, catalog,
edges), the training DAG (``training``) and the batch-scoring DAG (``scoring``).

Every module here imports only the standard library and :mod:`imdbops.orchestrator` at
module level (steps are imported inside their wrappers), so the Airflow DAG files read the
specs in Airflow's own virtualenv. Nothing is re-exported: import the module you mean.
"""
