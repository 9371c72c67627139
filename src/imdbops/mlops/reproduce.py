"""Rebuild a registered model version from its lineage alone, and prove it is the same model.

``imdbops model reproduce VERSION`` works in an empty folder:

1. ``read_lineage`` reads what the version recorded; the caller fetches the exact training
   data by its ``data_md5`` from the DVC remote (``dataops.versioning.fetch``, hash-verified
   on arrival: data is a lower layer's business, not the model's);
2. ``rebuild`` re-runs transform and split with the logged seed and sizes; the split md5 must match the
   version's ``split_md5`` tag;
3. fit the logged model kind with the logged parameters and seed;
4. score the logged test split with the registered model and the rebuilt one: reproduced
   when no probability differs by more than ``TOLERANCE`` and every metric is identical.

Code drift (another git commit, other library versions than those recorded at
registration) is reported beside the verdict: it explains a failure, it is not one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imdbops.artifact_names import RUN_CONFIG
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.mlops.lineage import library_versions
from imdbops.mlops.metrics import binary_metrics
from imdbops.mlops.models import get_spec
from imdbops.mlops.registry import ARCHIVED_TAG, artifact_file, list_versions, load_version
from imdbops.mlops.split import load_split_parts, split_frame, split_md5
from imdbops.mlops.tracking import get_client, git_commit, public_uri
from imdbops.mlops.transform import transform_movies
from imdbops.mlops.transform_step import read_raw_csv

log = get_logger("mlops.reproduce")

TOLERANCE = 1e-9


class ReproduceError(ValueError):
    """The version cannot be rebuilt: unknown version, missing lineage or data."""


@dataclass
class ReproduceReport:
    version: str
    model_kind: str
    workdir: str
    reproduced: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    max_abs_diff: float | None = None
    metrics_registered: dict[str, float] = field(default_factory=dict)
    metrics_rebuilt: dict[str, float] = field(default_factory=dict)
    diff: list[str] = field(default_factory=list)
    code_drift: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Lineage:
    """What a registered version records about how it was made."""

    version: str
    model_kind: str
    data_md5: str
    split_md5: str
    seed: int
    val_size: float
    test_size: float
    params: dict[str, Any]
    tags: dict[str, str]
    out_of_time_years: int = 0


def rebuild(cfg: Config, lineage: Lineage, raw_csv: Path, workdir: Path) -> ReproduceReport:
    """Refit ``lineage``'s model on ``raw_csv`` (its verified training data) and compare."""
    workdir = Path(workdir)
    report = ReproduceReport(lineage.version, lineage.model_kind, str(workdir))
    report.code_drift = _code_drift(lineage.tags)

    frame = transform_movies(read_raw_csv(raw_csv))
    parts = split_frame(
        frame, lineage.seed, lineage.val_size, lineage.test_size, lineage.out_of_time_years
    )
    rebuilt_md5 = split_md5(parts)
    report.rows = {name: len(p) for name, p in zip(("train", "val", "test"), parts, strict=True)}
    if rebuilt_md5 != lineage.split_md5:
        report.diff.append(
            f"split md5 {rebuilt_md5} != registered split_md5 {lineage.split_md5}: "
            "transform or split changed since this version was trained"
        )
        return report
    (_, X_train, y_train), (_, X_val, y_val), (_, X_test, y_test) = load_split_parts(parts)

    spec = get_spec(lineage.model_kind)
    log.info("refitting %s version %s on %d rows", spec.name, lineage.version, len(y_train))
    pipeline = spec.build(lineage.params, lineage.seed)
    spec.fit(pipeline, X_train, y_train, X_val, y_val)

    registered = load_version(cfg, lineage.version).model
    p_registered = registered.predict_proba(X_test)[:, 1]
    p_rebuilt = pipeline.predict_proba(X_test)[:, 1]
    report.max_abs_diff = float(np.max(np.abs(p_registered - p_rebuilt)))
    report.metrics_registered = binary_metrics(y_test, p_registered)
    report.metrics_rebuilt = binary_metrics(y_test, p_rebuilt)
    if report.max_abs_diff > TOLERANCE:
        report.diff.append(
            f"test probabilities differ by up to {report.max_abs_diff:.3g} "
            f"(tolerance {TOLERANCE:g}) on {len(y_test)} movies"
        )
    for name, before in report.metrics_registered.items():
        after = report.metrics_rebuilt[name]
        if before != after and not (np.isnan(before) and np.isnan(after)):
            report.diff.append(f"test {name}: registered {before:.6f}, rebuilt {after:.6f}")
    report.reproduced = not report.diff
    return report


# ---- lineage -------------------------------------------------------------------------------
def read_lineage(cfg: Config, version: str) -> Lineage:
    """The lineage of ``version``; ReproduceError when it is unknown or incomplete."""
    from mlflow.exceptions import MlflowException

    client = get_client(cfg)
    name = cfg.tracking.model_name
    try:
        mv = client.get_model_version(name, version)
    except MlflowException:
        known = ", ".join(r["version"] for r in list_versions(cfg)) or "none"
        raise ReproduceError(
            f"no version {version} of {name} in {public_uri(cfg.tracking_uri)}; known: {known}"
        ) from None
    tags = dict(mv.tags or {})
    if tags.get(ARCHIVED_TAG):
        raise ReproduceError(
            f"{name} version {version} was archived ({tags[ARCHIVED_TAG]}): its lineage is "
            "kept but its model and run artifacts are gone, so there is nothing to compare "
            "against; reproduce a kept version (retention.keep_versions, docs/gc.md)"
        )
    missing = [t for t in ("data_md5", "split_md5", "model_kind") if not tags.get(t)]
    if missing:
        raise ReproduceError(
            f"{name} version {version} has no lineage tag(s) {missing}; it was registered "
            "outside the pipeline and cannot be rebuilt"
        )
    run = client.get_run(mv.run_id)
    run_params = dict(run.data.params)
    try:
        with artifact_file(cfg, version, RUN_CONFIG) as path:
            training = json.loads(Path(path).read_text())["training"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as exc:
        raise ReproduceError(
            f"{name} version {version}: its run {mv.run_id} has no readable {RUN_CONFIG} "
            f"artifact ({exc}); the split sizes are unknown"
        ) from None
    return Lineage(
        version=str(version),
        model_kind=tags["model_kind"],
        data_md5=tags["data_md5"],
        split_md5=tags["split_md5"],
        seed=int(run_params.get("seed", training.get("seed"))),
        val_size=float(training["val_size"]),
        test_size=float(training["test_size"]),
        params=_params(tags, run_params, tags["model_kind"]),
        tags=tags,
        out_of_time_years=int(training.get("out_of_time_years") or 0),
    )


def _params(tags: dict[str, str], run_params: dict[str, str], kind: str) -> dict[str, Any]:
    """Exact params from the ``params_json`` tag; older versions: run params, re-typed."""
    if tags.get("params_json"):
        return json.loads(tags["params_json"])
    spec = get_spec(kind)
    typed = {}
    for key, rule in spec.rules.items():
        if key not in run_params:
            continue
        text = run_params[key]
        if rule.kind is bool:
            typed[key] = text == "True"
        elif rule.kind in (int, float):
            typed[key] = rule.kind(float(text)) if rule.kind is int else float(text)
        else:
            typed[key] = text
    return spec.validate(typed)


def _code_drift(tags: dict[str, str]) -> list[str]:
    drift = []
    then, now = tags.get("git_commit", "unknown"), git_commit()
    if then != now:
        drift.append(f"git commit {then[:12]} -> {now[:12]}")
    recorded = json.loads(tags["lib_versions"]) if tags.get("lib_versions") else {}
    if not recorded:
        drift.append("library versions were not recorded at registration")
    for lib, version in library_versions().items():
        if lib in recorded and recorded[lib] != version:
            drift.append(f"{lib} {recorded[lib]} -> {version}")
    return drift
