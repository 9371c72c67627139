"""Log-file retention (``retention.keep_logs``): the newest N files stay, and so does any
file written within ``retention.min_age_hours`` (a live server may still be writing it);
the rest go, and nothing but ``*.jsonl`` log files is touched."""

from __future__ import annotations

import os

from imdbops.lifecycle import logs

DAY = 86400.0


def test_keeps_the_newest_and_the_fresh_removes_the_rest(cfg):
    cfg.retention.keep_logs, cfg.retention.min_age_hours = 2, 1.0
    folder = cfg.paths.logs_dir
    folder.mkdir(parents=True, exist_ok=True)
    now = 1_800_000_000.0
    ages = {  # name (sorted by its UTC stamp) -> age in days
        "20260101T000000-serve-1.jsonl": 0.01,  # oldest name, but a live server writes it
        "20260102T000000-pipeline-2.jsonl": 3,
        "20260103T000000-pipeline-3.jsonl": 2,
        "20260104T000000-gc-4.jsonl": 1,
        "20260105T000000-model-5.jsonl": 0.5,
    }
    for name, age in ages.items():
        (folder / name).write_text("{}\n")
        os.utime(folder / name, (now - age * DAY, now - age * DAY))
    (folder / "notes.txt").write_text("not a log file")

    found = logs.collect(cfg, now=now)
    assert {i.target for i in found.remove} == {
        "20260102T000000-pipeline-2.jsonl",
        "20260103T000000-pipeline-3.jsonl",
    }
    assert all("retention.keep_logs" in i.reason and i.size == 3 for i in found.remove)
    assert {t for _, t in found.keep} == {
        "20260101T000000-serve-1.jsonl",
        "20260104T000000-gc-4.jsonl",
        "20260105T000000-model-5.jsonl",
    }
    for item in found.remove:
        logs.remove(cfg, item)
        logs.remove(cfg, item)  # idempotent: a re-run after a kill finds it gone
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted({*ages, "notes.txt"} - {i.target for i in found.remove})
