"""Hashing started before the CLI finishes importing: used when valid, never when stale."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imdbops.dataops.versioning import filehash, hashing, prehash
from imdbops.entry import data_add_paths

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="prehash forks (POSIX only)")


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(prehash, "MIN_BYTES", 1)
    monkeypatch.setattr(prehash, "REPORT_BYTES", 4096)
    monkeypatch.setattr(filehash, "CHUNK_SIZE", 1024)
    monkeypatch.setattr(prehash, "_PENDING", {})


@pytest.fixture
def in_process_hashes(monkeypatch):
    """Files this process hashed itself (the forked child's work is not seen here)."""
    calls = []
    real = hashing.hash_path

    def counting(path, progress=None):
        calls.append(Path(path).name)
        return real(path, progress)

    monkeypatch.setattr(hashing, "hash_path", counting)
    return calls


def test_a_prehash_is_used_once_and_reports_progress(tmp_path, small_threshold, in_process_hashes):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(50_000))
    prehash.start([str(src)])
    seen = []
    md5, size = hashing.md5_copy(src, tmp_path / "copy.bin", seen.append)
    assert (md5, size) == (hashlib.md5(src.read_bytes()).hexdigest(), 50_000)
    assert (tmp_path / "copy.bin").read_bytes() == src.read_bytes()
    assert sum(seen) == 50_000
    assert in_process_hashes == [], "the child's hash was used"
    assert prehash._PENDING == {}
    hashing.md5_file(src)
    assert in_process_hashes == ["big.bin"], "a prehash is consumed by one reader only"


def test_a_file_replaced_after_the_prehash_is_hashed_again(
    tmp_path, small_threshold, in_process_hashes
):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(50_000))
    prehash.start([str(src)])
    replacement = tmp_path / "new.bin"
    replacement.write_bytes(os.urandom(50_000))
    os.replace(replacement, src)  # same size, new inode and content
    assert hashing.md5_file(src) == hashlib.md5(src.read_bytes()).hexdigest()
    assert in_process_hashes == ["big.bin"]
    assert prehash._PENDING == {}


def test_a_failed_child_falls_back_to_hashing_here(tmp_path, small_threshold, monkeypatch):
    parent, real = os.getpid(), hashing.hash_path

    def fails_in_the_child(path, progress=None):
        if os.getpid() != parent:
            raise OSError("disk read error")
        return real(path, progress)

    monkeypatch.setattr(prehash, "hash_path", fails_in_the_child)  # what the child runs
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(50_000))
    prehash.start([str(src)])
    pending = prehash._PENDING[os.path.realpath(src)]
    assert pending.wait(None) is None
    prehash._PENDING[os.path.realpath(src)] = pending  # hand it back, already failed
    assert hashing.md5_copy(src, tmp_path / "c.bin") == (
        hashlib.md5(src.read_bytes()).hexdigest(),
        50_000,
    )


def test_small_missing_and_folder_paths_are_not_prehashed(tmp_path, monkeypatch):
    monkeypatch.setattr(prehash, "_PENDING", {})
    (tmp_path / "small.csv").write_text("a\n")
    prehash.start([str(tmp_path / "small.csv"), str(tmp_path / "nope"), str(tmp_path)])
    assert prehash._PENDING == {}


@pytest.mark.parametrize(
    ("argv", "paths"),
    [
        (["data", "add", "a.csv", "b"], ["a.csv", "b"]),
        (["-c", "x.yaml", "data", "add", "--link", "hardlink", "a.csv"], ["a.csv"]),
        (["data", "push", "a.csv"], []),
        (["pipeline", "run"], []),
        (["data"], []),
    ],
)
def test_data_add_paths_from_argv(argv, paths):
    assert data_add_paths(argv) == paths


def test_console_script_adds_a_large_file(tmp_path):
    """The installed ``imdbops`` entry point, end to end, on a file above the threshold."""
    exe = Path(sys.executable).with_name("imdbops")
    if not exe.exists():
        exe = shutil.which("imdbops")
    data = tmp_path / "big.bin"
    with open(data, "wb") as fh:
        for _ in range(prehash.MIN_BYTES // (1 << 20) + 2):
            fh.write(os.urandom(1 << 20))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")}
    proc = subprocess.run(
        [str(exe), "data", "add", str(data)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    expected = hashlib.md5(data.read_bytes()).hexdigest()
    assert f"md5: {expected}" in (tmp_path / "big.bin.dvc").read_text()
    obj = tmp_path / ".imdbops" / "cache" / "files" / "md5" / expected[:2] / expected[2:]
    assert hashlib.md5(obj.read_bytes()).hexdigest() == expected
