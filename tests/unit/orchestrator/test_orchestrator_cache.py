"""Cache keys: parameters + input content + code. Hits must verify the stored outputs."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap

from imdbops.orchestrator import DAG, Runner, Task
from imdbops.orchestrator.render import explain_lines


def _chain(tmp_path, mod, n=3, source_numbers=False):
    catalog = {k: tmp_path / "data" / k for k in ("numbers", "squares", "total")}
    tasks = [
        Task("square", mod.square, inputs=["numbers"], outputs=["squares"]),
        Task("total", mod.total, inputs=["squares"], outputs=["total"]),
    ]
    if not source_numbers:
        tasks.insert(0, Task("make", mod.make, outputs=["numbers"], params={"n": n}))
    dag = DAG("chain", tasks, catalog, sources=["numbers"] if source_numbers else ())
    return Runner(
        dag,
        runs_dir=tmp_path / "runs",
        cache_dir=tmp_path / "cache",
        resources={"log_dir": tmp_path / "log"},
    )


def _decisions(result):
    return {n: info["decision"] for n, info in result.tasks.items()}


def test_second_run_is_all_cache_hits(tmp_path, toy, read_calls):
    mod, _ = toy
    assert _chain(tmp_path, mod).run().ok
    result = _chain(tmp_path, mod).run()
    assert _decisions(result) == {"make": "skipped", "square": "skipped", "total": "skipped"}
    assert all("cache hit" in info["reasons"][0] for info in result.tasks.values())
    assert read_calls(tmp_path / "log") == ["make", "square", "total"]


def test_changed_parameter_reruns_task_and_downstream(tmp_path, toy):
    mod, _ = toy
    _chain(tmp_path, mod, n=3).run()
    result = _chain(tmp_path, mod, n=4).run()
    assert _decisions(result) == {"make": "ran", "square": "ran", "total": "ran"}
    assert result.tasks["make"]["reasons"] == ["param n changed: 3 -> 4"]
    assert result.tasks["square"]["reasons"] == ["input numbers changed"]
    assert (tmp_path / "data" / "total").read_text() == "14"
    lines = explain_lines(result.tasks, ["make", "square", "total"])
    assert lines[0].split() == ["make", "ran", "param", "n", "changed:", "3", "->", "4"]


def test_same_output_stops_the_ripple(tmp_path, toy):
    """Forcing a task that writes identical bytes leaves its downstream cached."""
    mod, _ = toy
    _chain(tmp_path, mod).run()
    result = _chain(tmp_path, mod).run(force=["square"])
    assert _decisions(result) == {"make": "skipped", "square": "ran", "total": "skipped"}
    assert result.tasks["square"]["reasons"] == ["forced (--force/--from)"]
    result = _chain(tmp_path, mod).run(from_task="square")
    assert _decisions(result) == {"make": "skipped", "square": "ran", "total": "ran"}


def test_changed_input_file(tmp_path, toy):
    mod, _ = toy
    numbers = tmp_path / "data" / "numbers"
    numbers.parent.mkdir()
    numbers.write_text("[1, 2]")
    _chain(tmp_path, mod, source_numbers=True).run()
    assert (tmp_path / "data" / "total").read_text() == "5"
    assert _decisions(_chain(tmp_path, mod, source_numbers=True).run())["square"] == "skipped"
    numbers.write_text("[1, 2, 3]")
    result = _chain(tmp_path, mod, source_numbers=True).run()
    assert result.tasks["square"]["reasons"] == ["input numbers changed"]
    assert (tmp_path / "data" / "total").read_text() == "14"


def test_changed_task_source_reruns_only_that_task(tmp_path, toy):
    mod, path = toy
    _chain(tmp_path, mod).run()
    source = path.read_text()
    edited = source.replace(
        "def total(squares, total, log_dir):\n",
        "def total(squares, total, log_dir):\n    # a new comment is not code, but this is:\n    _ = 1\n",
    )
    assert edited != source
    path.write_text(edited)
    result = _chain(tmp_path, mod).run()
    assert _decisions(result) == {"make": "skipped", "square": "skipped", "total": "ran"}
    assert result.tasks["total"]["reasons"] == ["code changed: the task function itself"]
    # A helper every task calls by name changes all three.
    path.write_text(
        edited.replace('fh.write(name + "\\n")', 'fh.write(name + "\\n")  # x\n        pass')
    )
    result = _chain(tmp_path, mod).run()
    assert set(_decisions(result).values()) == {"ran"}


def test_changed_imported_project_module(tmp_path, monkeypatch):
    pkg = tmp_path / "mods" / "toypkg_cache"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "util.py").write_text("FACTOR = 2\n")
    (pkg / "tasks.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path


            def scale(out):
                from toypkg_cache import util

                Path(out).write_text(str(util.FACTOR))


            def unrelated(out):
                Path(out).write_text("x")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    importlib.invalidate_caches()
    from toypkg_cache import tasks

    def run():
        dag = DAG(
            "pkg",
            [
                Task("scale", tasks.scale, outputs={"out": "a"}),
                Task("unrelated", tasks.unrelated, outputs={"out": "b"}),
            ],
            {"a": tmp_path / "a", "b": tmp_path / "b"},
        )
        return Runner(dag, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache").run()

    try:
        first = run()
        assert first.ok, first.error_summary()
        (pkg / "util.py").write_text("FACTOR = 3\n")
        result = run()
        assert result.tasks["scale"]["reasons"] == ["code changed: toypkg_cache.util"]
        assert result.tasks["unrelated"]["decision"] == "skipped"
    finally:
        for name in [m for m in sys.modules if m.startswith("toypkg_cache")]:
            sys.modules.pop(name)


def test_stale_cache_deleted_or_altered_output_reruns(tmp_path, toy, read_calls):
    mod, _ = toy
    total = tmp_path / "data" / "total"
    _chain(tmp_path, mod).run()
    total.unlink()
    result = _chain(tmp_path, mod).run()
    assert result.tasks["total"]["reasons"] == [f"stale cache: output total missing ({total})"]
    assert total.read_text() == "5"
    total.write_text("999")
    result = _chain(tmp_path, mod).run()
    assert result.tasks["total"]["reasons"] == [
        f"stale cache: output total was changed since it was written ({total})"
    ]
    assert total.read_text() == "5"
    assert read_calls(tmp_path / "log") == ["make", "square", "total", "total", "total"]


def test_cache_record_and_manifest_hashes_agree(tmp_path, toy):
    mod, _ = toy
    result = _chain(tmp_path, mod).run()
    record = json.loads((tmp_path / "cache" / "chain" / "square.json").read_text())
    info = result.tasks["square"]
    assert record["key"] == info["cache_key"]
    assert record["output_hashes"] == info["output_hashes"]
    assert record["input_hashes"]["numbers"] == result.tasks["make"]["output_hashes"]["numbers"]
