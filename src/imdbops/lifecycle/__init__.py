"""State with a lifecycle: what the system keeps, and ``imdbops gc`` for the rest.

Every kind of state has one owner module here that lists what may go (with the reason) and
what must stay, and removes one item idempotently:

- ``runs``: run manifests, and (with ``paths.artifacts_url``) artifact versions;
- ``models``: registered versions, archived (model files removed, lineage and metrics kept);
- ``data``: lake snapshots and DVC objects (remote and local cache);
- ``reports``: drift and performance report folders;
- ``studies``: the Optuna studies and the MLflow runs tuning leaves;
- ``logs``: the log files of commands and servers.

``gc`` ties them together: the run locks, a journal written before anything is removed, and
the re-run that finishes an interrupted one. See docs/gc.md.
"""
