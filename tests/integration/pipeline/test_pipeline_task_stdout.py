"""``imdbops pipeline task`` prints its JSON report alone on stdout, so it pipes into ``jq``.

What a task prints (its own ``print``, MLflow's "View run" links, a child process such as a
task run in its own worker process) goes to stderr: the redirection is made on file
descriptor 1, not only on ``sys.stdout``. The real command piped into ``jq`` is in
tests/reliability/test_rel_service_faults.py (the server stack).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from support.ci_guard import skip_unless_ci

SCRIPT = r"""
import json, logging, subprocess, sys
from imdbops.cli.pipeline import stdout_to_stderr

logging.basicConfig(stream=sys.stdout, level=logging.INFO)  # a library logging to stdout
with stdout_to_stderr():
    print("View run fancy-cat-42 at: http://127.0.0.1:5000/#/experiments/1/runs/abc")
    logging.getLogger("noisy").info("a log line")
    subprocess.run([sys.executable, "-c", "print('from a child process')"], check=True)
print(json.dumps({"task": "train", "outputs": {"model": {"sha256": "ab12"}}}))
"""


def test_only_the_report_reaches_stdout():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"task": "train", "outputs": {"model": {"sha256": "ab12"}}}
    for noise in ("View run fancy-cat-42", "a log line", "from a child process"):
        assert noise in done.stderr and noise not in done.stdout
    if not shutil.which("jq"):
        skip_unless_ci("jq is not installed: apt-get install jq (.ci/run does)")
    jq = subprocess.run(
        ["jq", "-r", ".outputs.model.sha256"], input=done.stdout, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert jq.stdout.strip() == "ab12"
