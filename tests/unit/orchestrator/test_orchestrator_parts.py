"""Smaller parts: the ``>>``/decorator forms, folder hashing, the progress view."""

from __future__ import annotations

from imdbops.orchestrator import DAG, Task, task
from imdbops.orchestrator.cache import hash_path
from imdbops.orchestrator.progress import LiveProgress


def noop(**_):
    return None


def test_rshift_with_lists_and_decorator():
    a, b, c, d = (Task(n, noop) for n in "abcd")
    a >> [b, c] >> d
    dag = DAG("fan", [d, c, b, a], catalog={})
    assert dag.upstream("d") == {"b", "c"}
    assert dag.topological_order()[0] == "a" and dag.topological_order()[-1] == "d"

    @task(inputs={"src": "raw"}, outputs=["clean"], params={"k": 1}, retries=2)
    def clean(src, clean, k):
        return None

    assert (clean.name, clean.inputs, clean.input_args, clean.retries) == (
        "clean",
        ("raw",),
        {"src": "raw"},
        2,
    )


def test_folder_hash_covers_names_and_contents_not_temp_files(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.txt").write_text("1")
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_text("2")
    first = hash_path(folder)
    (folder / ".a.txt.x1y2.tmp").write_text("half-written")
    assert hash_path(folder) == first
    (folder / "sub" / "b.txt").write_text("3")
    assert hash_path(folder) != first
    (folder / "sub" / "b.txt").write_text("2")
    (folder / "sub" / "b.txt").rename(folder / "sub" / "c.txt")
    assert hash_path(folder) != first
    assert hash_path(tmp_path / "absent") is None


def test_progress_plain_lines(capsys):
    progress = LiveProgress(["a", "b"], live=False)
    with progress:
        progress("run_started", "r1", {"order": ["a", "b"]})
        progress("task_started", "a", {})
        progress("task_succeeded", "a", {"reasons": ["no previous successful run"]})
        progress("task_failed", "b", {"error": "ValueError: bad"})
    err = capsys.readouterr().err
    assert "a" in err and "succeeded" in err and "no previous successful run" in err
    assert "ValueError: bad" in err
    assert progress.state == {"a": "succeeded", "b": "failed"}
