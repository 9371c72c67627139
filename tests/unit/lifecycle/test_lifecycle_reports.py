"""Report retention (``retention.keep_reports``), as ``monitor run`` applies it after each
report: the newest N drift folders and performance reports stay, and so does the one
``latest.json`` names; a folder renamed aside by a killed prune is finished next time."""

from __future__ import annotations

import json

import pytest

from imdbops.config import ConfigError, load_config
from imdbops.lifecycle import reports
from imdbops.lifecycle.items import TRASH_PREFIX

RUNS = ["20260101T000000Z", "20260101T000000Z-2", "20260102T000000Z", "20260103T000000Z"]


def test_prune_keeps_the_newest_and_the_latest(cfg):
    cfg.retention.keep_reports = 2
    root = cfg.monitoring.reports_dir
    for run_id in RUNS:
        (root / run_id).mkdir(parents=True)
        (root / run_id / "report.html").write_text("x" * 100)
        (root / "performance").mkdir(exist_ok=True)
        (root / "performance" / f"{run_id}.json").write_text("{}")
    (root / "latest.json").write_text(json.dumps({"run_id": RUNS[0]}))
    (root / "performance" / "latest.json").write_text(json.dumps({"run_id": RUNS[3]}))
    (root / f"{TRASH_PREFIX}20251231T000000Z-abc").mkdir()  # a killed prune's leftover

    found = reports.collect(cfg)
    assert sorted((i.kind, i.target) for i in found.remove) == [
        ("drift_report", RUNS[1]),
        ("performance_report", RUNS[0]),
        ("performance_report", RUNS[1]),
    ]
    assert all(i.size is not None and "keep_reports" in i.reason for i in found.remove)

    assert reports.prune(cfg) == 3
    assert sorted(p.name for p in root.iterdir()) == [RUNS[0], RUNS[2], RUNS[3], "latest.json",
                                                     "performance"]  # fmt: skip
    assert sorted(p.name for p in (root / "performance").iterdir()) == [
        f"{RUNS[2]}.json", f"{RUNS[3]}.json", "latest.json"
    ]  # fmt: skip
    assert reports.prune(cfg) == 0


def test_a_retention_setting_out_of_range_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDBOPS_RETENTION__KEEP_VERSIONS", "0")
    with pytest.raises(ConfigError, match="retention.keep_versions"):
        load_config(paths={"root": tmp_path})
