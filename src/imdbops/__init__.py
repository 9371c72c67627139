"""imdbops: a local-first DataOps + MLOps pipeline around one model."""

__version__ = "0.1.0"
