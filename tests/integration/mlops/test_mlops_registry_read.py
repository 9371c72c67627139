"""``imdbops model list / show / champion`` read the SQLite store without MLflow, and say
exactly what MLflow's client path says for the same store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from support.serving import register_champion, train_small_model
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.mlops import registry_read
from imdbops.mlops.registry import delete_alias, set_alias
from imdbops.mlops.tracking import get_client, mlflow_session

COMMANDS = (
    ["model", "list"],
    ["model", "list", "--json"],
    ["model", "show", "1"],
    ["model", "show", "2"],
    ["model", "show", "3"],
    ["model", "show", "99"],
    ["model", "champion"],
)


def _answers(monkeypatch, fast: bool) -> list[tuple[int, str, str]]:
    monkeypatch.setattr(registry_read, "FAST", fast)
    out = []
    for args in COMMANDS:
        result = CliRunner().invoke(app, args)
        # MLflow's own log lines (creating a new store's tables) are not the command's answer.
        errors = "".join(
            line for line in result.stderr.splitlines(True) if " INFO mlflow." not in line
        )
        out.append((result.exit_code, result.stdout, errors))
    return out


def _both(monkeypatch) -> list[tuple[int, str, str]]:
    fast = _answers(monkeypatch, True)
    assert fast == _answers(monkeypatch, False)
    return fast


@pytest.mark.slow
def test_fast_read_answers_as_the_mlflow_client(cfg, monkeypatch):
    # An empty project: no store file yet.
    empty = _both(monkeypatch)
    assert "no registered versions" in empty[0][1]
    assert empty[-1][0] == 1 and "has no champion yet" in empty[-1][2]

    model, _ = train_small_model(n=300)
    metrics = {"test_roc_auc": 0.7312, "test_f1": float("nan"), "val_roc_auc": 0.7}
    v1 = register_champion(cfg, model, metrics=metrics, tag="a")
    v2 = register_champion(cfg, model, metrics={"test_roc_auc": 0.8}, tag="b")
    v3 = register_champion(cfg, model, metrics={"roc_auc": 0.6}, tag="c")
    client = get_client(cfg)
    client.set_model_version_tag(cfg.tracking.model_name, v2, "promotion_decision", "PROMOTE")
    client.log_metric(
        client.get_model_version(cfg.tracking.model_name, v1).run_id, "test_roc_auc", 0.75
    )
    set_alias(cfg, v1, "champion")
    set_alias(cfg, v2, "challenger")
    set_alias(cfg, v2, "baseline")
    delete_alias(cfg, "baseline")
    set_alias(cfg, v2, "previous")
    client.delete_model_version(cfg.tracking.model_name, v3)

    answers = _both(monkeypatch)
    rows = json.loads(answers[1][1])
    assert [r["version"] for r in rows] == [v2, v1]  # newest first; version 3 was deleted
    assert rows[0]["aliases"] == ["challenger", "previous"]
    assert rows[0]["tags"]["promotion_decision"] == "PROMOTE"
    assert rows[1]["metrics"]["test_roc_auc"] == 0.75  # the latest value of the metric
    assert "val_roc_auc" not in rows[1]["metrics"]
    assert answers[-1] == (0, f"{v1}\n", "")
    assert answers[4][0] == 1 and "no version 3" in answers[4][2]  # deleted
    assert "known: 2, 1" in answers[4][2]


def _fresh_process(cfg, expression: str) -> list[str]:
    """``expression`` (over ``cfg`` and ``registry_read``) printed by a new interpreter in
    the project, then whether that process imported MLflow."""
    code = (
        "import sys\n"
        "from imdbops.config import load_config\n"
        "from imdbops.mlops import registry_read\n"
        "cfg = load_config()\n"
        f"print({expression})\n"
        "print('mlflow' in sys.modules)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cfg.paths.root
    ).stdout.splitlines()


def test_fast_read_does_not_import_mlflow(cfg):
    expression = "registry_read.list_versions(cfg), registry_read.alias_version(cfg)"
    assert _fresh_process(cfg, expression) == ["[] None", "False"]


def test_the_table_shows_the_newest_versions_and_every_aliased_one(cfg):
    model, _ = train_small_model(n=300)
    v1 = register_champion(cfg, model, metrics={"test_roc_auc": 0.71}, tag="a")
    client = get_client(cfg)
    first = client.get_model_version(cfg.tracking.model_name, v1)
    # mlflow_session: MLflow resolves a models:/ source with a client of the global URI.
    with mlflow_session(cfg):
        for _ in range(5):  # versions 2..6, as a long-lived registry has them
            client.create_model_version(
                cfg.tracking.model_name, first.source, first.run_id, tags=first.tags
            )
    set_alias(cfg, "3", "challenger")

    def table(*args: str) -> list[str]:
        result = CliRunner().invoke(app, ["model", "list", *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()

    def versions(lines: list[str]) -> list[str]:
        return [cells[1].strip() for line in lines if len(cells := line.split("│")) > 2]

    lines = table("--limit", "2")
    assert versions(lines) == ["6", "5", "3", v1]  # the newest two, then the aliased ones
    assert any("2 older version(s) not shown: --limit 0 lists every version" in x for x in lines)
    assert versions(table("--limit", "0")) == ["6", "5", "4", "3", "2", v1]
    assert not any("not shown" in x for x in table())  # the default (20) shows all six
    result = CliRunner().invoke(app, ["model", "list", "--json", "--limit", "1"])
    assert [r["version"] for r in json.loads(result.stdout)] == ["6", "5", "4", "3", "2", v1]


def _same(loaded) -> tuple:
    nan_free = {k: (None if v != v else v) for k, v in loaded.metrics.items()}
    return (loaded.name, loaded.version, loaded.alias, loaded.run_id, loaded.tags, nan_free,
            loaded.params)  # fmt: skip


def test_the_champion_loads_from_sqlite_as_the_client_loads_it_with_the_same_checks(cfg):
    import numpy as np
    from support.serving import bundled_items

    from imdbops.mlops import registry
    from imdbops.mlops.serialization import ModelIntegrityError, model_file
    from imdbops.mlops.transform import to_model_frame

    assert registry_read.load_champion(cfg) is None  # no store yet: no champion, as MLflow says
    model, _ = train_small_model(n=300)
    register_champion(cfg, model, metrics={"test_roc_auc": 0.71, "test_f1": float("nan")})
    fast, slow = registry_read.load_champion(cfg), registry.load_champion(cfg)
    assert _same(fast) == _same(slow) and fast.params and fast.tags["artifact_sha256"]
    frame = to_model_frame(bundled_items(50, seed=4)[0])
    np.testing.assert_array_equal(fast.model.predict_proba(frame), slow.model.predict_proba(frame))

    # Read in place, so the same two refusals guard it: a changed file, an archived version.
    client = get_client(cfg)
    [(location,)] = registry_read.sqlite_rows(
        cfg.tracking_uri, "select storage_location from model_versions where version = ?",
        (int(fast.version),),
    )  # fmt: skip
    assert location.startswith("file://")  # the case the fast path reads in place
    stored, _ = model_file(Path(unquote(urlparse(location).path)))
    original = stored.read_bytes()
    stored.write_bytes(original + b"\0")
    for load in (registry_read.load_champion, registry.load_champion):
        with pytest.raises(ModelIntegrityError, match="does not match the registered"):
            load(cfg)
    stored.write_bytes(original)
    client.set_model_version_tag(cfg.tracking.model_name, fast.version, registry.ARCHIVED_TAG, "gc")
    for load in (registry_read.load_champion, registry.load_champion):
        with pytest.raises(ModelIntegrityError, match="was archived"):
            load(cfg)

    # And a process that serves it never starts MLflow (the API's start: ~5 CPU-s less).
    client.delete_model_version_tag(cfg.tracking.model_name, fast.version, registry.ARCHIVED_TAG)
    served = _fresh_process(cfg, "registry_read.load_champion(cfg).version")
    assert served == [fast.version, "False"]
