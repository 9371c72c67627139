"""MLflow plumbing shared by tune, train, register and promote.

MLflow's fluent API (``mlflow.start_run``, ``mlflow.sklearn.log_model``) reads a process-wide
tracking URI. ``mlflow_session`` sets it for one block and restores the previous value, so
two configs (two tests, or a test and the serving app) never see each other's store.
MLflow is slow to import, hence every import here is inside a function.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from imdbops import provenance
from imdbops.artifact_names import ARTIFACT_FILES
from imdbops.config import Config
from imdbops.log import get_logger

log = get_logger("mlops.tracking")

# A dead tracking server must fail in seconds, not after MLflow's default ~2 minutes of retries.
_HTTP_ENV = {
    # One retry (after MLflow's backoff, ~2 s): a pooled keep-alive connection the server
    # closed meanwhile is retried, a dead server still fails in seconds.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    # Per-file download bars would flood the console of every pipeline run.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


class TrackingUnavailableError(RuntimeError):
    """The tracking server cannot be reached; the message names the URL without credentials."""


def public_uri(uri: str) -> str:
    """``uri`` without any ``user:password@`` part, safe to print."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def is_remote(cfg: Config) -> bool:
    return cfg.tracking_uri.startswith(("http://", "https://", "databricks"))


_SESSION_LOCK = threading.RLock()
_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextlib.contextmanager
def mlflow_session(cfg: Config) -> Iterator[Any]:
    """Point MLflow's fluent API at ``cfg``'s store for the block; restore afterwards.

    The lock keeps two threads (e.g. the serving app's reload poller and a CLI call in the
    same process) from swapping the process-wide URI under each other.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    with _SESSION_LOCK:
        saved_env = {k: os.environ.get(k) for k in (*_HTTP_ENV, *_URI_ENV)}
        saved_tracking = tracking_utils._tracking_uri
        saved_registry = registry_utils._registry_uri
        for key, value in _HTTP_ENV.items():
            os.environ.setdefault(key, value)
        if not is_remote(cfg):
            cfg.paths.state_dir.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(cfg.tracking_uri)
        mlflow.set_registry_uri(cfg.tracking_uri)
        try:
            yield mlflow
        finally:
            mlflow.set_tracking_uri(saved_tracking)
            registry_utils._registry_uri = saved_registry
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def get_client(cfg: Config):
    """An ``MlflowClient`` bound to ``cfg``'s store (no global state)."""
    from mlflow import MlflowClient

    # The same bounded HTTP waits as mlflow_session: without them a client call to a server
    # that is down retries for minutes (MLflow's defaults), e.g. in `model promote`.
    for key, value in _HTTP_ENV.items():
        os.environ.setdefault(key, value)
    if not is_remote(cfg):
        cfg.paths.state_dir.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.tracking_uri)


def check_tracking(cfg: Config) -> None:
    """Fail fast (seconds) with a clear message when a remote tracking server is unreachable."""
    if not is_remote(cfg):
        return
    import urllib.error
    import urllib.request

    url = cfg.tracking_uri.rstrip("/")
    public = public_uri(url)
    probe = public.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(probe, timeout=5) as resp:  # noqa: S310 - configured URL
            if resp.status >= 500:
                raise TrackingUnavailableError(
                    f"tracking server {public} answered HTTP {resp.status}; check that it is up"
                )
    except TrackingUnavailableError:
        raise
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise TrackingUnavailableError(
                f"tracking server {public} answered HTTP {exc.code}; check that it is up"
            ) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingUnavailableError(
            f"cannot reach the MLflow tracking server at {public} ({reason}); start it, or "
            "set tracking.uri to '' in the config to use the local SQLite store"
        ) from None


def ensure_experiment(cfg: Config) -> str:
    """The experiment id of ``cfg.tracking.experiment``, created with a local artifact folder."""
    check_tracking(cfg)
    client = get_client(cfg)
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    if exp is not None:
        return exp.experiment_id
    location = None
    if not is_remote(cfg):
        cfg.tracking.artifact_dir.mkdir(parents=True, exist_ok=True)
        location = cfg.tracking.artifact_dir.as_uri()
    try:
        return client.create_experiment(cfg.tracking.experiment, artifact_location=location)
    except Exception:
        # Another process created it between our lookup and create.
        exp = client.get_experiment_by_name(cfg.tracking.experiment)
        if exp is None:
            raise
        return exp.experiment_id


class TrackedRun:
    """The run a ``tracked_run`` block works in: its id, a client bound to the store, and
    the status it should end with if the block does not fail (``end_as``)."""

    def __init__(self, client: Any, run_id: str):
        self.client = client
        self.run_id = run_id
        self.outcome: str | None = None

    def end_as(self, status: str) -> None:
        """End with ``status`` (e.g. ``KILLED`` for a pruned trial) instead of the default."""
        self.outcome = status


@contextlib.contextmanager
def tracked_run(
    cfg: Config,
    *,
    run_id: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    experiment_id: str | None = None,
    client: Any = None,
    fluent: bool = False,
) -> Iterator[TrackedRun]:
    """Start (or reopen, given ``run_id``) an MLflow run and always end it.

    The run ends ``FINISHED`` when the block completes and ``FAILED`` when anything at all
    escapes it (``KeyboardInterrupt`` and ``SystemExit`` included), unless the block chose
    another status with ``run.end_as``; a run is never left ``RUNNING``. With ``fluent``
    the run is also MLflow's active run for the block, so fluent calls such as
    ``mlflow.sklearn.log_model`` log into it. If ending the run fails while an error is
    already on its way out, the original error wins and the second one is logged.
    """
    client = client or get_client(cfg)
    if run_id is None:
        experiment_id = experiment_id or ensure_experiment(cfg)
        run_id = client.create_run(experiment_id, run_name=run_name, tags=tags or {}).info.run_id
    elif not fluent:
        client.update_run(run_id, status="RUNNING")
    run = TrackedRun(client, run_id)
    with contextlib.ExitStack() as stack:
        end = client.set_terminated
        if fluent:
            mlflow = stack.enter_context(mlflow_session(cfg))
            mlflow.start_run(run_id=run_id)
            end = lambda _rid, status: mlflow.end_run(status)  # noqa: E731 - pops the active run
        try:
            yield run
        except BaseException:
            try:
                end(run_id, run.outcome or "FAILED")
            except Exception as exc:  # the original error matters more
                log.warning("could not end MLflow run %s: %s", run_id, exc)
            raise
        end(run_id, run.outcome or "FINISHED")


def git_commit(cwd: Path | None = None) -> str:
    """The code's git commit for lineage tags (see ``provenance.git_commit``), run in the
    source tree by default; ``"unknown"`` when there is none."""
    return provenance.git_commit(cwd or Path(__file__).resolve().parent) or "unknown"


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_md5(path: Path) -> str:
    return _file_digest(path, "md5")  # a content address, DVC-compatible


def file_sha256(path: Path) -> str:
    return _file_digest(path, "sha256")


def data_md5(cfg: Config, raw_csv: Path | None = None) -> str:
    """The md5 of ``raw_csv`` (default: the catalog's ``raw_csv``, ``data/raw/movies.csv``):
    from its ``.dvc`` file beside it if versioned, else computed."""
    import yaml

    raw_csv = raw_csv or cfg.paths.raw_dir / ARTIFACT_FILES["raw_csv"][1]
    dvc_file = raw_csv.with_name(raw_csv.name + ".dvc")  # DVC's rule (mlops cannot import dataops)
    if dvc_file.exists():
        try:
            meta = yaml.safe_load(dvc_file.read_text()) or {}
            md5 = meta["outs"][0]["md5"]
            if md5:
                return str(md5)
        except (yaml.YAMLError, KeyError, IndexError, TypeError):
            log.warning("unreadable %s; computing the md5 instead", dvc_file)
    if raw_csv.exists():
        return file_md5(raw_csv)
    return "unknown"
