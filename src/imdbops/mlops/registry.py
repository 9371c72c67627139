"""The model registry (MLflow 3): log and register versions, move aliases, load the champion.

Serialization: skops when every type inside the pipeline is on our own trusted list
(``imdbops.mlops.models.skops_trusted_types()``), else cloudpickle. Either way the sha256 of
the serialized file is stored as the version tag ``artifact_sha256`` and checked before
anything is deserialized; the trusted-types list used at load time comes from our code, never
from the artifact's own MLmodel file (which an attacker who can write the store controls).
That check is why loading does not need MLflow's ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION``.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imdbops.config import Config
from imdbops.failpoints import failpoint
from imdbops.log import get_logger
from imdbops.mlops.model_env import model_environment
from imdbops.mlops.registry_relocate import ArtifactsUnreachableError, unreachable_cause
from imdbops.mlops.serialization import (
    ModelIntegrityError,
    choose_serialization,
    compressed_skops,
    load_serialized,
    model_file,
    trusted_types,
)
from imdbops.mlops.tracking import (
    TrackingUnavailableError,
    check_tracking,
    file_sha256,
    get_client,
    mlflow_session,
    tracked_run,
)

__all__ = [
    "ArtifactsUnreachableError",
    "LoadedModel",
    "ModelIntegrityError",
    "ModelVersionInfo",
    "TrackingUnavailableError",
    "alias_version",
    "artifact_file",
    "list_versions",
    "load_champion",
    "log_model_version",
    "set_alias",
]

log = get_logger("mlops.registry")

MODEL_ARTIFACT = "model"
LINEAGE_TAGS = ("data_md5", "git_commit", "trained_at", "model_kind", "split_md5")
# Set by `imdbops gc` on a version whose model files it removed (lineage and metrics stay).
ARCHIVED_TAG = "imdbops.archived"


@dataclass
class ModelVersionInfo:
    name: str
    version: str
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadedModel:
    model: Any
    name: str
    version: str
    alias: str
    run_id: str
    tags: dict[str, str]
    metrics: dict[str, float]
    params: dict[str, str]
    vocabulary: Any = None  # mlops.vocabulary.Vocabulary, filled by whoever serves it


def log_model_version(
    cfg: Config,
    model: Any,
    *,
    metrics: dict[str, float],
    params: dict[str, Any],
    tags: dict[str, str],
    artifacts: dict[str, Path] | None = None,
    input_example: Any = None,
    run_id: str | None = None,
    training_frame: Any = None,
) -> ModelVersionInfo:
    """Log ``model`` (+ metrics, params, artifacts) to a run and register it as a new version."""
    from mlflow.models import infer_signature

    check_tracking(cfg)
    client = get_client(cfg)
    fmt = choose_serialization(model)
    signature = None
    if input_example is not None:
        signature = infer_signature(input_example, model.predict_proba(input_example)[:, 1])
    with mlflow_session(cfg) as mlflow, tempfile.TemporaryDirectory() as tmp:
        with tracked_run(
            cfg, run_id=run_id, run_name="register", client=client, fluent=True
        ) as run:
            run_id = run.run_id
            existing = client.get_run(run_id).data.params
            new_params = {k: v for k, v in params.items() if k not in existing}
            if new_params:
                mlflow.log_params(new_params)
            if metrics:
                mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            for name, path in (artifacts or {}).items():
                path = Path(path)
                if path.is_dir():
                    mlflow.log_artifacts(str(path), name)
                elif path.name == name:
                    mlflow.log_artifact(str(path))
                else:  # keep the artifact name the caller asked for
                    staged = Path(tmp) / name
                    staged.write_bytes(path.read_bytes())
                    mlflow.log_artifact(str(staged))
            # Its own classes' code and pinned requirements: stock MLflow can load it where
            # imdbops is not installed (docs/deployment.md#a-model-that-stands-alone).
            code_paths, pip_requirements = model_environment(model, fmt, Path(tmp) / "code")
            with compressed_skops():
                info = mlflow.sklearn.log_model(
                    model,
                    name=MODEL_ARTIFACT,
                    signature=signature,
                    input_example=input_example,
                    serialization_format=fmt,
                    skops_trusted_types=trusted_types() if fmt == "skops" else None,
                    pip_requirements=pip_requirements,
                    code_paths=code_paths,
                )
        # Hash what was stored, not what we meant to store.
        local = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=tmp))
        stored_file, _ = model_file(local)
        sha = file_sha256(stored_file)
        version_tags = {k: str(v) for k, v in tags.items()}
        version_tags.update({"artifact_sha256": sha, "serialization_format": fmt})
        _add_vocabulary_tag(cfg, version_tags, run_id, training_frame)
        failpoint("register.after_log")  # the run holds the model; no version exists yet
        mv = mlflow.register_model(info.model_uri, cfg.tracking.model_name, tags=version_tags)
    missing = [t for t in LINEAGE_TAGS if t not in version_tags]
    if missing:
        log.warning("version %s registered without lineage tags %s", mv.version, missing)
    log.info("registered %s version %s (%s)", cfg.tracking.model_name, mv.version, fmt)
    return ModelVersionInfo(cfg.tracking.model_name, str(mv.version), run_id, version_tags)


def _add_vocabulary_tag(cfg: Config, tags: dict[str, str], run_id: str, frame: Any) -> None:
    # The genres the model learnt, as lineage: from the training frame when the caller has
    # it, else from the training split the train step logged to this run.
    from imdbops.mlops import vocabulary

    if vocabulary.VOCABULARY_TAG not in tags:
        vocab = (
            vocabulary.from_frame(frame) if frame is not None else vocabulary.for_run(cfg, run_id)
        )
        if vocab is not None:
            tags[vocabulary.VOCABULARY_TAG] = vocab.to_tag()


def _is_missing(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") or "not found" in str(exc)


def set_alias(cfg: Config, version: str, alias: str = "champion") -> None:
    """Point ``alias`` at ``version`` (one atomic update in the registry)."""
    get_client(cfg).set_registered_model_alias(cfg.tracking.model_name, alias, str(version))


def delete_alias(cfg: Config, alias: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        get_client(cfg).delete_registered_model_alias(cfg.tracking.model_name, alias)
    except MlflowException as exc:
        if not _is_missing(exc):
            raise


def alias_version(cfg: Config, alias: str = "champion") -> str | None:
    """The version ``alias`` points at, or None. One cheap registry query (reload polling)."""
    from mlflow.exceptions import MlflowException

    try:
        mv = get_client(cfg).get_model_version_by_alias(cfg.tracking.model_name, alias)
    except MlflowException as exc:
        if _is_missing(exc):
            return None
        raise
    return str(mv.version)


def refuse_archived(name: str, version: str, tags: dict[str, str]) -> None:
    if tags.get(ARCHIVED_TAG):
        raise ModelIntegrityError(
            f"{name} version {version} was archived ({tags[ARCHIVED_TAG]}): its model "
            "files are gone, only its lineage and metrics remain; use a newer version, or "
            "raise retention.keep_versions before the next `imdbops gc`"
        )


def load_verified(stored_file: Path, fmt: str, name: str, version: str, tags: dict) -> Any:
    """Deserialize a version's model file once its sha256 matches the registered tag."""
    expected = tags.get("artifact_sha256")
    actual = file_sha256(stored_file)
    if not expected:
        raise ModelIntegrityError(
            f"{name} version {version} has no artifact_sha256 tag; re-register it"
        )
    if actual != expected:
        raise ModelIntegrityError(
            f"{stored_file}: sha256 {actual} does not match the registered artifact_sha256 "
            f"{expected} of {name} version {version}; the artifact was changed after "
            "registration — re-register the model or roll back"
        )
    return load_serialized(stored_file, fmt)


def load_version(cfg: Config, version: str, alias: str = "") -> LoadedModel:
    """Download version ``version``, verify its hash, and deserialize it."""
    from mlflow.exceptions import MlflowException

    client = get_client(cfg)
    name = cfg.tracking.model_name
    mv = client.get_model_version(name, str(version))
    refuse_archived(name, str(mv.version), mv.tags or {})
    with _download_dir(cfg, f"v{mv.version}-") as dest, mlflow_session(cfg) as mlflow:
        try:
            local = Path(mlflow.artifacts.download_artifacts(mv.source, dst_path=str(dest)))
            stored_file, fmt = model_file(local)
        except (OSError, MlflowException) as exc:
            cause = unreachable_cause(cfg, name, str(mv.version), _artifact_location(client, mv))
            if cause is None:
                raise
            raise ArtifactsUnreachableError(cause) from exc
        model = load_verified(stored_file, fmt, name, str(mv.version), mv.tags or {})
    run = client.get_run(mv.run_id) if mv.run_id else None
    return LoadedModel(
        model=model,
        name=name,
        version=str(mv.version),
        alias=alias,
        run_id=mv.run_id or "",
        tags=dict(mv.tags or {}),
        metrics=dict(run.data.metrics) if run else {},
        params=dict(run.data.params) if run else {},
    )


def _artifact_location(client: Any, mv: Any) -> str:
    """Where the registry says a version's files are: MLflow 3 sources are ``models:/<id>``
    (a logged model), whose artifact location is the path that was recorded."""
    location = getattr(mv, "storage_location", None) or mv.source or ""
    if location.startswith("models:/m-"):
        with contextlib.suppress(Exception):  # best effort: only to explain a failure
            location = client.get_logged_model(location.removeprefix("models:/")).artifact_location
    return str(location)


def load_champion(cfg: Config, alias: str = "champion") -> LoadedModel | None:
    """The model ``alias`` points at, hash-verified; None when the alias does not exist yet."""
    check_tracking(cfg)
    version = alias_version(cfg, alias)
    if version is None:
        return None
    return load_version(cfg, version, alias=alias)


@contextlib.contextmanager
def _download_dir(cfg: Config, prefix: str) -> Iterator[Path]:
    """A fresh folder per download (concurrent loaders, e.g. serving workers, never share
    one), deleted afterwards: the model is in memory by then, and a server reloading every
    promotion would otherwise fill the disk with copies."""
    dest_root = cfg.paths.cache_dir / "registry"
    dest_root.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix=prefix, dir=dest_root))
    try:
        yield dest
    finally:
        shutil.rmtree(dest, ignore_errors=True)


@contextlib.contextmanager
def artifact_file(cfg: Config, version: str, name: str) -> Iterator[Path]:
    """Artifact ``name`` (e.g. ``reference_profile.json``) of a version's run, as a local
    file that exists inside the ``with`` block only."""
    from mlflow.exceptions import MlflowException

    client = get_client(cfg)
    mv = client.get_model_version(cfg.tracking.model_name, str(version))
    with _download_dir(cfg, f"v{mv.version}-artifacts-") as dest:
        try:
            with mlflow_session(cfg) as mlflow:
                path = mlflow.artifacts.download_artifacts(
                    run_id=mv.run_id, artifact_path=name, dst_path=str(dest)
                )
        except (MlflowException, OSError) as exc:
            raise FileNotFoundError(
                f"artifact {name!r} not found for {cfg.tracking.model_name} version {version} "
                f"(run {mv.run_id}): {exc}"
            ) from None
        yield Path(path)


def list_versions(cfg: Config) -> list[dict[str, Any]]:
    """Every registered version, newest first, with its aliases, tags and test metrics."""
    from mlflow.exceptions import MlflowException

    check_tracking(cfg)
    client = get_client(cfg)
    name = cfg.tracking.model_name
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        if _is_missing(exc):
            return []
        raise
    # search_model_versions leaves aliases empty; the registered model holds them.
    aliases: dict[str, list[str]] = {}
    if versions:
        for alias, v in (client.get_registered_model(name).aliases or {}).items():
            aliases.setdefault(str(v), []).append(alias)
    rows = []
    for mv in sorted(versions, key=lambda v: int(v.version), reverse=True):
        metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        rows.append(
            {
                "version": str(mv.version),
                "run_id": mv.run_id,
                "aliases": sorted(aliases.get(str(mv.version), [])),
                "tags": dict(mv.tags or {}),
                "created": mv.creation_timestamp,
                "metrics": {k: v for k, v in metrics.items() if k.startswith("test_")},
            }
        )
    return rows
