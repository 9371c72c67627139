"""What each Airflow task runs in each workdir mode (dags/imdbops_commands.py), run for real
under bash and /bin/sh: no Airflow needed, so these run in the core virtualenv.

The step itself is the real ``imdbops`` CLI where its behaviour is the point (a failing step),
and a small recorder script where the point is what the wrapper hands it (folder, HOME,
environment, arguments) and does with its output.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.airflow_kit import CORE_BIN, DAGS, make_recorder


def _load_commands():
    spec = importlib.util.spec_from_file_location("imdbops_commands", DAGS / "imdbops_commands.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


commands = _load_commands()

RUN_ID = "manual__2026-11-27T07:00:00+00:00"
# An upstream report with everything a shell could mangle: quotes, spaces, $, backslash.
REPORT = {
    "task": "split",
    "outputs": {"splits": {"path": "/x/it's a $HOME \\ dir", "sha256": "ab" * 32}},
}


@pytest.fixture
def recorder(tmp_path) -> Path:
    return make_recorder(tmp_path / "venv" / "bin")


@pytest.fixture
def scratch(tmp_path) -> Path:
    """TMPDIR of the task: empty before, and must be empty after."""
    path = tmp_path / "tmp"
    path.mkdir()
    return path


def _bash(command: str, scratch: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")}
    full.update(TMPDIR=str(scratch), **env)
    return subprocess.run(
        ["bash", "-c", command], env=full, capture_output=True, text=True, timeout=120
    )


def _fresh(exe: Path, **kwargs) -> str:
    args = commands.step_args("pipeline", "tune", [REPORT], RUN_ID)
    return commands.bash_command("fresh", str(exe), args, **kwargs)


# ---- which mode -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("explicit", "url", "mode"),
    [
        (None, None, "shared"),
        (None, "", "shared"),
        (None, "/srv/imdbops/artifacts", "shared"),
        (None, "file:///srv/imdbops/artifacts", "shared"),
        (None, "s3://bucket/imdbops", "fresh"),
        (None, "gs://bucket/imdbops", "fresh"),
        ("shared", "s3://bucket/imdbops", "shared"),
        (" Kubernetes ", None, "kubernetes"),
        ("fresh", None, "fresh"),
    ],
)
def test_mode_defaults_to_fresh_only_for_remote_artifacts(explicit, url, mode):
    assert commands.choose_mode(explicit, url) == mode


def test_an_unknown_mode_names_the_setting_and_the_choices():
    with pytest.raises(ValueError, match=r"imdbops_airflow_mode is 'pods'.*shared, fresh, kube"):
        commands.choose_mode("pods", "s3://bucket/x")


def test_artifacts_url_is_read_from_the_yaml_config(tmp_path):
    config = tmp_path / "imdbops.yaml"
    config.write_text("paths:\n  root: /srv\n  artifacts_url: s3://bucket/imdbops\n")
    assert commands.artifacts_url_in_yaml(config) == "s3://bucket/imdbops"
    config.write_text("paths: {root: /srv}\n")
    assert commands.artifacts_url_in_yaml(config) == ""
    config.write_text("paths: [unclosed\n")
    assert commands.artifacts_url_in_yaml(config) == "", "the task reports a broken file"
    assert commands.artifacts_url_in_yaml(tmp_path / "missing.yaml") == ""


# ---- shared: today's command ------------------------------------------------------------
def test_shared_mode_command_is_unchanged(tmp_path):
    args = commands.step_args("pipeline", "train", [json.dumps(REPORT)], RUN_ID)
    command = commands.bash_command("shared", "/v/bin/imdbops", args, root=str(tmp_path))
    assert command == (
        f"cd {shlex.quote(str(tmp_path))} && exec /v/bin/imdbops pipeline task train "
        f"--run-id {RUN_ID} --upstream {shlex.quote(json.dumps(REPORT))}"
    )


def test_upstream_reports_pass_as_json_text_whatever_their_form():
    as_text = commands.step_args("pipeline", "tune", [json.dumps(REPORT)], RUN_ID)
    as_dict = commands.step_args("pipeline", "tune", [REPORT], RUN_ID)
    for args in (as_text, as_dict):
        assert json.loads(args[args.index("--upstream") + 1]) == REPORT
    assert commands.safe_run_id("manual__2026 01/01") == "manual__2026_01_01"


# ---- fresh: a folder of its own per task ------------------------------------------------
def test_fresh_command_never_goes_to_the_project_root(recorder, tmp_path):
    command = _fresh(recorder, root=str(tmp_path / "project"))
    assert "project" not in command
    assert "mktemp -d" in command and "trap" in command and "EXIT" in command
    assert "exec" not in command, "the EXIT trap must outlive the step"


def test_fresh_task_runs_in_an_empty_folder_of_its_own_then_removes_it(recorder, scratch):
    command = _fresh(recorder)
    config = scratch.parent / "imdbops.yaml"
    env = {"IMDBOPS_CONFIG": str(config), "IMDBOPS_TRAINING__N_TRIALS": "2"}
    first = _bash(command, scratch, **env)
    second = _bash(command, scratch, **env)
    seen = []
    for proc in (first, second):
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.strip().splitlines()
        assert lines[0] == "some progress line"
        seen.append(json.loads(lines[-1]))  # the last line: what Airflow keeps as XCom
    a, b = seen
    assert a["cwd"] != b["cwd"], "each task gets a new folder"
    for s in seen:
        assert Path(s["cwd"]).parent == scratch
        assert s["home"] == s["root"] == s["cwd"]
        assert s["files"] == []
        assert s["config"] == str(config) and s["inherited"] == "2"
        assert s["artifacts_url"] is None
        assert s["argv"] == commands.step_args("pipeline", "tune", [REPORT], RUN_ID)
    assert list(scratch.iterdir()) == [], "both folders removed"


def test_fresh_task_passes_on_an_artifacts_url_from_an_airflow_variable(recorder, scratch):
    command = _fresh(recorder, exports={commands.ARTIFACTS_URL_ENV: "s3://b/it's here"})
    proc = _bash(command, scratch)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["artifacts_url"] == "s3://b/it's here"


def test_fresh_task_failure_keeps_its_exit_code_and_removes_the_folder(scratch):
    """The real CLI, asked for a task that does not exist, in a fresh folder."""
    args = commands.step_args("pipeline", "no_such_task", [], RUN_ID)
    command = commands.bash_command("fresh", str(CORE_BIN / "imdbops"), args)
    direct = subprocess.run(
        [str(CORE_BIN / "imdbops"), *args], capture_output=True, text=True, timeout=120
    )
    assert direct.returncode not in (0, None)
    proc = _bash(command, scratch)
    assert proc.returncode == direct.returncode, proc.stderr
    assert "unknown task 'no_such_task'" in proc.stderr
    assert list(scratch.iterdir()) == []


def test_fresh_task_killed_by_airflow_removes_its_folder(recorder, scratch):
    """Airflow stops a bash task with SIGTERM to its process group."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")}
    full.update(TMPDIR=str(scratch), RECORDER_SLEEP="60")
    proc = subprocess.Popen(
        ["bash", "-c", _fresh(recorder)],
        env=full,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        workdir = Path(proc.stdout.readline().strip())  # the step is running in it
        assert workdir.parent == scratch and workdir.is_dir()
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
    deadline = time.monotonic() + 5
    while workdir.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not workdir.exists()


def test_fresh_task_refuses_a_relative_config_path(recorder, scratch):
    proc = _bash(_fresh(recorder), scratch, IMDBOPS_CONFIG="imdbops.yaml")
    assert proc.returncode == 2
    assert "IMDBOPS_CONFIG=imdbops.yaml: give an absolute path" in proc.stderr
    assert list(scratch.iterdir()) == []


# ---- kubernetes: the pod's command ------------------------------------------------------
def _pod_script(tmp_path: Path) -> tuple[list[str], Path]:
    """The pod command with the XCom file moved under ``tmp_path`` (no /airflow here)."""
    xcom = tmp_path / "xcom" / "return.json"
    xcom.parent.mkdir()
    cmd = commands.pod_command("pipeline", "tune", [REPORT], RUN_ID)
    assert cmd[:2] == ["/bin/sh", "-c"] and commands.XCOM_FILE in cmd[2]
    cmd[2] = cmd[2].replace(commands.XCOM_FILE, str(xcom))
    return cmd, xcom


@pytest.mark.parametrize("code", [0, 2])
def test_pod_command_writes_the_report_for_xcom_and_keeps_the_exit_code(recorder, tmp_path, code):
    cmd, xcom = _pod_script(tmp_path)
    assert cmd[4] == "imdbops", "the image's entrypoint, run by the shell"
    cmd[4] = str(recorder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")}
    proc = subprocess.run(
        cmd,
        env={**env, "TMPDIR": str(tmp_path), "RECORDER_EXIT": str(code)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == code, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert json.loads(last)["argv"] == commands.step_args("pipeline", "tune", [REPORT], RUN_ID)
    if code == 0:
        assert xcom.read_text().strip() == last, "the sidecar reads the report"
    else:
        assert not xcom.exists(), "a failed step publishes no XCom"
