"""One MLflow registry with a champion, shared by the scoring tests (registering costs seconds).

Each test gets its own project root (warehouse, lake, reports) pointing at that registry;
the tests only read it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.serving import register_champion

from imdbops.config import Config, load_config

# What the champion "scored at registration": the performance report compares with these.
TEST_METRICS = {"test_roc_auc": 0.99, "test_accuracy": 0.9, "test_brier": 0.1}


@pytest.fixture(scope="session")
def shared_tracking(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("registry")
    tracking = {
        "uri": f"sqlite:///{folder / 'mlflow.db'}",
        "artifact_dir": str(folder / "mlartifacts"),
    }
    cfg = load_config(paths={"root": folder}, tracking=tracking)
    version = register_champion(cfg, metrics=TEST_METRICS)
    return {**tracking, "version": version}


def project_config(root: Path, shared: dict[str, str], **sections) -> tuple[Config, Path]:
    """A Config rooted at ``root`` on the shared registry, and the same as a YAML file."""
    tracking = {"uri": shared["uri"], "artifact_dir": shared["artifact_dir"]}
    tracking.update(sections.pop("tracking", {}))
    monitoring = sections.pop("monitoring", {})
    lines = [f"paths:\n  root: {root}", "tracking:"]
    lines += [f"  {k}: {v}" for k, v in tracking.items()]
    if monitoring:
        lines += ["monitoring:"] + [f"  {k}: {v}" for k, v in monitoring.items()]
    for section, values in sections.items():  # e.g. warehouse: a PostgreSQL server
        lines += [f"{section}:"] + [f"  {k}: {v}" for k, v in values.items()]
    path = root / "imdbops.yaml"
    path.write_text("\n".join(lines) + "\n")
    cfg = load_config(path)
    cfg.ensure_dirs()
    return cfg, path
