"""What one imdbops Airflow task runs, in each workdir mode (standard library only).

Kept apart from the Airflow wiring (``imdbops_steps.py``) so that the core test suite can
check the commands without Airflow installed.

- ``shared``: ``cd <project root> && exec <core venv>/bin/imdbops ...``: every task of a run
  works in one project folder (one machine or a shared disk).
- ``fresh``: a new ``mktemp -d`` folder per task, which is HOME and ``paths.root``, removed on
  exit (success, failure or kill); nothing of the project folder is used. Inputs and outputs
  travel through ``paths.artifacts_url`` (an object store), so each task may run on another
  worker.
- ``kubernetes``: the same step in its own pod from the project image (``pod_command``);
  ``imdbops_pods.py`` builds the pod around it.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

MODES = ("shared", "fresh", "kubernetes")
ARTIFACTS_URL_ENV = "IMDBOPS_PATHS__ARTIFACTS_URL"
# Where KubernetesPodOperator's sidecar reads the task's XCom value from.
XCOM_FILE = "/airflow/xcom/return.json"

# The pod's command: run the step with its stdout kept in a file (logs and progress go to
# stderr, so they still stream), echo that stdout to the pod log, and on success put its last
# line, the task report, where the XCom sidecar reads it. The step's arguments arrive as "$@",
# so no JSON is ever re-quoted for a shell. No Jinja markers here: Airflow renders cmds.
POD_SCRIPT = (
    'out="${TMPDIR:-/tmp}/imdbops-task.stdout"; '
    '"$@" >"$out"; rc=$?; '
    'cat "$out"; '
    'if [ "$rc" -ne 0 ]; then exit "$rc"; fi; '
    f'tail -n 1 "$out" >{XCOM_FILE}'
)


def safe_run_id(run_id: str) -> str:
    """Airflow run ids (``manual__2026-01-01T00:00:00+00:00``) as an imdbops run id."""
    return re.sub(r"[^A-Za-z0-9._:+-]", "_", run_id)[:200] or "airflow"


def is_remote(url: str | None) -> bool:
    """``s3://``, ``gs://``, ``memory://``...: anything with a scheme but a local file."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", (url or "").strip())
    return bool(match) and match.group(1).lower() not in ("file", "local")


def artifacts_url_in_yaml(path: Path) -> str:
    """``paths.artifacts_url`` of an imdbops YAML file, or "" (missing, unreadable, unset).

    Only to choose the default mode while Airflow parses the DAG: a broken file is reported
    by the task itself, with the loader's full message."""
    try:
        import yaml  # Airflow and imdbops both depend on PyYAML

        data = yaml.safe_load(Path(path).read_text()) or {}
        url = (data.get("paths") or {}).get("artifacts_url")
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return ""
    return url if isinstance(url, str) else ""


def choose_mode(explicit: str | None, artifacts_url: str | None) -> str:
    """The explicit setting, else ``fresh`` when the artifacts live on an object store (no
    disk is shared between workers), else ``shared`` (one project folder)."""
    if explicit:
        mode = explicit.strip().lower()
        if mode not in MODES:
            raise ValueError(
                f"IMDBOPS_AIRFLOW_MODE / Variable imdbops_airflow_mode is {explicit!r}; "
                f"use one of: {', '.join(MODES)}"
            )
        return mode
    return "fresh" if is_remote(artifacts_url) else "shared"


def step_args(group: str, name: str, upstream: list, run_id: str) -> list[str]:
    """``<group> task <name> --run-id <run> --upstream <json>...`` (after ``imdbops``).

    An upstream report is the JSON line a task printed (a string from a bash task) or that
    line parsed (KubernetesPodOperator's XCom); both are passed on as the JSON text."""
    args = [group, "task", name, "--run-id", safe_run_id(run_id)]
    for report in upstream:
        text = report if isinstance(report, str) else json.dumps(report, sort_keys=True)
        args += ["--upstream", text]
    return args


def bash_command(
    mode: str,
    imdbops: str,
    args: list[str],
    *,
    root: str | None = None,
    exports: dict[str, str] | None = None,
) -> str:
    """The ``@task.bash`` command of one step; its last stdout line is the report."""
    env = "".join(f"export {k}={shlex.quote(v)}; " for k, v in (exports or {}).items())
    step = shlex.join([imdbops, *args])
    if mode == "shared":
        if root is None:
            raise ValueError("shared mode needs the project root")
        return f"{env}cd {shlex.quote(root)} && exec {step}"
    if mode != "fresh":
        raise ValueError(f"no bash command in {mode!r} mode")
    # Not `exec`: the EXIT trap must outlive the step to remove the folder. bash runs it on
    # SIGTERM too (how Airflow stops a task: to the whole process group).
    return (
        f"{env}"
        'case "${IMDBOPS_CONFIG:-/}" in /*) ;; *) '
        'echo "IMDBOPS_CONFIG=$IMDBOPS_CONFIG: give an absolute path (each task runs in its '
        'own empty folder)" >&2; exit 2;; esac; '
        'work="$(mktemp -d "${TMPDIR:-/tmp}/imdbops-task.XXXXXXXX")" || exit 1; '
        "trap 'cd / && rm -rf -- \"$work\"' EXIT; "
        'cd "$work" || exit 1; '
        'export HOME="$work" IMDBOPS_PATHS__ROOT="$work"; '
        f"{step}"
    )


def pod_command(group: str, name: str, upstream: list, run_id: str) -> list[str]:
    """The pod's command (the image's ``imdbops`` entrypoint is replaced by a shell that
    also writes the XCom file): ``/bin/sh -c POD_SCRIPT imdbops-task imdbops <args>``."""
    return [
        "/bin/sh",
        "-c",
        POD_SCRIPT,
        "imdbops-task",
        "imdbops",
        *step_args(group, name, upstream, run_id),
    ]
