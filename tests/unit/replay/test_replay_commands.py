"""The replay's command runner: each step's wall seconds and the CPU seconds of its own
process (what the replay benchmark judges growth on), and its log kept."""

from __future__ import annotations

import pytest

from imdbops.replay.commands import Commands, ReplayStepError


def _commands(tmp_path) -> Commands:
    clock = tmp_path / "clock.json"
    clock.write_text('{"now": "1999-12-31T12:00:00Z", "wall": 0}')
    return Commands(root=tmp_path, clock_file=clock, logs=tmp_path / "logs", timeout_s=120)


def test_a_step_records_the_cpu_of_its_process_and_keeps_its_log(tmp_path):
    result = _commands(tmp_path).run("p0", "help", "--help")
    assert result.exit_code == 0 and "Usage" in result.stdout
    # Starting Python and the CLI costs CPU in the child, none of it in this process.
    assert result.cpu_seconds is not None and 0 < result.cpu_seconds
    assert result.seconds > 0
    assert result.log == tmp_path / "logs" / "p0" / "help.log"
    assert result.log.read_text().startswith("$ imdbops --help\n# exit 0")


def test_a_failed_step_names_the_command_and_its_log(tmp_path):
    with pytest.raises(ReplayStepError, match=r"p1 bad: `imdbops no-such-command` exited 2"):
        _commands(tmp_path).run("p1", "bad", "no-such-command")
    assert (tmp_path / "logs" / "p1" / "bad.log").exists()
