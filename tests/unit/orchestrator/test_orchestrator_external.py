"""External outputs: identity in the cache key, a hit checked against the outside system,
and catalog mistakes refused before anything runs. The outside system here is a JSON file
standing in for a registry (the real registry and lake are in tests/integration/pipeline)."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from imdbops.orchestrator import DAG, DagError, Runner, Task
from imdbops.orchestrator.catalog import External, Location

SOURCE = '''
import json
from pathlib import Path

from imdbops.atomic import atomic_write_text
from imdbops.orchestrator.catalog import ExternalUnreachableError


def publish(numbers, entry, log_dir, version):
    """Writes a local record and an entry into the 'registry' (a JSON file)."""
    with open(Path(log_dir) / "calls.log", "a") as fh:
        fh.write("publish\\n")
    registry = Path(entry.access["path"])
    data = json.loads(registry.read_text()) if registry.exists() else {}
    data[str(version)] = {"sha": "abc"}
    registry.write_text(json.dumps(data))
    atomic_write_text(numbers, str(version))
    return {"external": {"entry": {"version": str(version), "sha": "abc"}}}


def forgets(numbers, entry, log_dir):
    atomic_write_text(numbers, "1")
    return {}


def check(identity, record, access):
    registry = Path(access["path"])
    if identity["url"].startswith("down://"):
        raise ExternalUnreachableError(f"cannot reach the registry {identity['url']}")
    data = json.loads(registry.read_text()) if registry.exists() else {}
    found = data.get(record["version"])
    if found is None:
        return f"external output missing: version {record['version']} in {identity['url']}"
    if found["sha"] != record["sha"]:
        return f"external output changed: version {record['version']} in {identity['url']}"
    return None


def use(numbers, total):
    atomic_write_text(total, Path(numbers).read_text() + "!")
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    mods = tmp_path / "mods"
    mods.mkdir()
    monkeypatch.syspath_prepend(str(mods))
    name = f"toy_ext_{uuid.uuid4().hex[:10]}"
    (mods / f"{name}.py").write_text(textwrap.dedent(SOURCE))
    importlib.invalidate_caches()
    yield importlib.import_module(name)
    sys.modules.pop(name, None)


def _dag(toy, tmp_path, url="file://registry-a", fn="publish", registry="reg.json"):
    ext = External(
        {"url": url},
        f"{toy.__name__}:check",
        "toy registry entry",
        {"path": str(tmp_path / registry)},
    )
    publish = Task(
        "publish",
        getattr(toy, fn),
        outputs=["numbers", "entry"],
        params={"version": 1} if fn == "publish" else {},
        resources={"log_dir": tmp_path},
    )
    use = Task("use", toy.use, inputs=["numbers"], outputs=["total"])
    catalog = {"numbers": tmp_path / "n.txt", "total": tmp_path / "t.txt", "entry": ext}
    return DAG("toy", [publish, use], catalog)


def _run(dag, tmp_path):
    runner = Runner(dag, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", workers=1)
    return runner.run()


def _calls(tmp_path: Path) -> int:
    path = tmp_path / "calls.log"
    return path.read_text().split().count("publish") if path.exists() else 0


def test_a_hit_needs_the_external_output_to_still_exist(toy, tmp_path):
    first = _run(_dag(toy, tmp_path), tmp_path)
    assert first.ok and first.tasks["publish"]["external"]["entry"]["version"] == "1"
    again = _run(_dag(toy, tmp_path), tmp_path)
    assert again.tasks["publish"]["decision"] == "skipped"
    assert again.tasks["publish"]["external_check_s"] >= 0
    assert _calls(tmp_path) == 1

    (tmp_path / "reg.json").write_text("{}")  # someone deleted the entry
    third = _run(_dag(toy, tmp_path), tmp_path)
    assert third.tasks["publish"]["decision"] == "ran"
    assert third.tasks["publish"]["reasons"] == [
        "external output missing: version 1 in file://registry-a"
    ]
    assert third.tasks["use"]["decision"] == "skipped", "same local output: downstream hits"


def test_a_changed_external_output_reruns(toy, tmp_path):
    _run(_dag(toy, tmp_path), tmp_path)
    (tmp_path / "reg.json").write_text(json.dumps({"1": {"sha": "tampered"}}))
    result = _run(_dag(toy, tmp_path), tmp_path)
    assert result.tasks["publish"]["reasons"] == [
        "external output changed: version 1 in file://registry-a"
    ]


def test_the_systems_identity_keys_the_cache(toy, tmp_path):
    _run(_dag(toy, tmp_path), tmp_path)
    moved = _run(_dag(toy, tmp_path, url="file://registry-b", registry="b.json"), tmp_path)
    assert moved.tasks["publish"]["decision"] == "ran"
    assert moved.tasks["publish"]["reasons"] == [
        "external output entry now lives elsewhere: url 'file://registry-a' -> 'file://registry-b'"
    ]
    assert json.loads((tmp_path / "b.json").read_text()) == {"1": {"sha": "abc"}}
    assert moved.tasks["publish"]["external_identity"] == {"entry": {"url": "file://registry-b"}}


def test_an_unreachable_system_fails_the_task_naming_it(toy, tmp_path):
    _run(_dag(toy, tmp_path, url="down://registry"), tmp_path)  # first run: nothing to check
    assert _calls(tmp_path) == 1
    result = _run(_dag(toy, tmp_path, url="down://registry"), tmp_path)
    assert not result.ok and _calls(tmp_path) == 1, "never a silent re-run"
    assert "cannot reach the registry down://registry" in result.tasks["publish"]["error"]
    assert result.tasks["use"]["state"] == "upstream_failed", "never a silent hit"


def test_a_task_must_report_its_external_outputs(toy, tmp_path):
    result = _run(_dag(toy, tmp_path, fn="forgets"), tmp_path)
    assert not result.ok
    assert (
        "declares external output(s) ['entry'] but its result does not report them"
        in (result.tasks["publish"]["error"])
    )


def test_catalog_mistakes_are_refused_before_anything_runs(toy, tmp_path):
    ext = External({"url": "x"}, f"{toy.__name__}:check")
    one = Task("one", toy.publish, outputs=["numbers", "entry"])
    two = Task("two", toy.forgets, outputs=["total", "entry"])
    catalog = {"numbers": tmp_path / "n", "total": tmp_path / "t", "entry": ext}
    with pytest.raises(DagError) as err:
        DAG("toy", [one, two], catalog)
    assert (
        "external output 'entry' is claimed by both 'one' and 'two'; each external output "
        "needs exactly one producer" in str(err.value)
    )

    orphan = {**catalog, "old_report": tmp_path / "r.json"}
    with pytest.raises(DagError) as err:
        DAG("toy", [one], {k: v for k, v in orphan.items() if k != "total"})
    assert "catalog entry 'old_report' names no producer" in str(err.value)
    assert "add it to the outputs of the task that writes it" in str(err.value)

    reader = Task("reader", toy.use, inputs=["entry"], outputs=["total"])
    with pytest.raises(DagError, match="reads external output 'entry'"):
        DAG("toy", [one, reader], catalog)


def test_steps_get_locations_with_the_catalogs_file_names(tmp_path):
    loc = Location("evaluation", tmp_path / "eval", {"metrics": "scores.json"})
    assert loc.file("metrics") == tmp_path / "eval" / "scores.json"
    assert Path(loc) == tmp_path / "eval" and str(loc) == str(tmp_path / "eval")
    with pytest.raises(KeyError, match="artifact 'evaluation' declares no file 'plots'"):
        loc.file("plots")
