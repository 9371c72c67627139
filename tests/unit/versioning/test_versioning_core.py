"""Versioning against a local-folder remote: DVC 3 file formats, round trips, bad objects."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess

import pytest

from imdbops.dataops.versioning import (
    CorruptObjectError,
    MissingObjectError,
    add,
    checkout,
    hashing,
    log,
    md5_file,
    pull,
    push,
    status,
)
from imdbops.dataops.versioning.cache import object_key


@pytest.fixture
def movies(cfg):
    path = cfg.paths.raw_dir / "movies.csv"
    path.write_text("tconst,primaryTitle\ntt0000001,Carmencita\n")
    return path


@pytest.fixture
def remote_dir(cfg):
    return cfg.paths.root / "data" / "lake" / "dvc"


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 64 + 3])
def test_md5_file_streams_across_chunk_boundaries(tmp_path, monkeypatch, size):
    monkeypatch.setattr(hashing, "CHUNK_SIZE", 8)
    data = os.urandom(size)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert md5_file(path) == hashlib.md5(data).hexdigest()


def test_add_writes_dvc3_file_cache_object_and_gitignore(cfg, movies):
    (movies.parent / ".gitignore").write_text("*.tmp")  # existing content, no newline
    out = add(cfg, movies)
    md5 = hashlib.md5(movies.read_bytes()).hexdigest()
    assert out.md5 == md5 and out.size == movies.stat().st_size
    assert (movies.parent / "movies.csv.dvc").read_text() == (
        f"outs:\n- md5: {md5}\n  size: {out.size}\n  hash: md5\n  path: movies.csv\n"
    )
    obj = cfg.paths.cache_dir / "files" / "md5" / md5[:2] / md5[2:]
    assert obj.read_bytes() == movies.read_bytes()
    assert not obj.stat().st_mode & stat.S_IWUSR, "cache objects are read-only"
    add(cfg, movies)  # again: the ignore entry is not duplicated
    assert (movies.parent / ".gitignore").read_text() == "*.tmp\n/movies.csv\n"
    assert not list((cfg.paths.cache_dir / "tmp").iterdir()), "no staging leftovers"


def _make_dir(root):
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a\n")
    (root / "sub" / "b.txt").write_text("bb\n")


def test_directory_hash_matches_dvc(cfg):
    folder = cfg.paths.processed_dir / "d"
    _make_dir(folder)
    out = add(cfg, folder)
    # The value stock `dvc add` (3.67) gives this exact tree.
    assert out.md5 == "3ccabac68ff12f7672d6f8e3bb43c241.dir"
    assert (out.size, out.nfiles) == (5, 2)
    assert (folder.parent / "d.dvc").read_text() == (
        f"outs:\n- md5: {out.md5}\n  size: 5\n  nfiles: 2\n  hash: md5\n  path: d\n"
    )
    listing = (cfg.paths.cache_dir / object_key(out.md5)).read_text()
    assert listing == (
        '[{"md5": "60b725f10c9c85c70d97880dfe8191b3", "relpath": "a.txt"}, '
        '{"md5": "bfcc9da4f2e1d313c63cd0a4ee7604e9", "relpath": "sub/b.txt"}]'
    )


def test_push_pull_roundtrip_local_remote(cfg, movies, remote_dir):
    folder = cfg.paths.processed_dir / "d"
    _make_dir(folder)
    file_out, dir_out = add(cfg, movies), add(cfg, folder)
    first = push(cfg)
    assert set(first.pushed) == {file_out.md5, dir_out.md5, *_dir_files()}
    assert (remote_dir / object_key(file_out.md5)).read_bytes() == movies.read_bytes()
    assert push(cfg).pushed == [], "objects already on the remote are skipped"

    original = movies.read_bytes()
    shutil.rmtree(cfg.paths.cache_dir)
    movies.unlink()
    shutil.rmtree(folder)
    restored = pull(cfg)
    assert movies.read_bytes() == original
    assert (folder / "sub" / "b.txt").read_text() == "bb\n"
    assert sorted(p.name for p in restored) == ["d", "movies.csv"]


def _dir_files():
    return {"60b725f10c9c85c70d97880dfe8191b3", "bfcc9da4f2e1d313c63cd0a4ee7604e9"}


def test_checkout_restores_an_older_version(cfg, movies):
    add(cfg, movies)
    dvc_file = movies.with_name("movies.csv.dvc")
    v1_dvc, v1_data = dvc_file.read_text(), movies.read_bytes()
    movies.write_text("tconst,primaryTitle\ntt0000002,Le clown et ses chiens\n")
    add(cfg, movies)
    dvc_file.write_text(v1_dvc)  # what `git checkout <old> -- movies.csv.dvc` does
    assert [e.workspace for e in status(cfg)] == ["modified"]
    checkout(cfg, dvc_file)
    assert movies.read_bytes() == v1_data
    assert [e.workspace for e in status(cfg)] == ["unchanged"]


def test_status_reports_missing_and_remote_state(cfg, movies):
    add(cfg, movies)
    (entry,) = status(cfg, check_remote=True)
    assert (entry.workspace, entry.in_cache, entry.on_remote) == ("unchanged", True, False)
    push(cfg)
    movies.unlink()
    (entry,) = status(cfg, check_remote=True)
    assert (entry.workspace, entry.on_remote, entry.clean) == ("missing", True, False)


def test_pull_of_corrupted_remote_object_names_md5_and_remote(cfg, movies, remote_dir):
    out = add(cfg, movies)
    push(cfg)
    obj = remote_dir / object_key(out.md5)
    os.chmod(obj, 0o644)
    obj.write_text("tampered")
    shutil.rmtree(cfg.paths.cache_dir)
    movies.write_text("my local edits")
    with pytest.raises(CorruptObjectError) as info:
        pull(cfg, movies)
    assert out.md5 in str(info.value) and str(remote_dir) in str(info.value)
    assert movies.read_text() == "my local edits", "working file untouched"
    assert not (cfg.paths.cache_dir / object_key(out.md5)).exists(), "bad bytes not cached"


def test_pull_of_missing_remote_object_names_md5_and_remote(cfg, movies, remote_dir):
    out = add(cfg, movies)
    shutil.rmtree(cfg.paths.cache_dir)  # never pushed, and the cache is gone
    movies.write_text("local")
    with pytest.raises(MissingObjectError) as info:
        pull(cfg, movies.with_name("movies.csv.dvc"))
    message = str(info.value)
    assert out.md5 in message and str(remote_dir) in message
    assert movies.read_text() == "local"


def test_checkout_refuses_corrupted_cache_object(cfg, movies):
    out = add(cfg, movies)
    obj = cfg.paths.cache_dir / object_key(out.md5)
    os.chmod(obj, 0o644)
    obj.write_text("bit rot")
    movies.write_text("current")
    with pytest.raises(CorruptObjectError, match=out.md5):
        checkout(cfg, movies)
    assert movies.read_text() == "current"
    assert [p.name for p in movies.parent.iterdir() if ".tmp" in p.name] == []


def test_log_from_local_index(cfg, movies):
    first = add(cfg, movies)
    movies.write_text("v2\n")
    second = add(cfg, movies)
    add(cfg, movies)  # unchanged: no new entry
    versions = log(cfg, movies)
    assert [v.md5 for v in versions] == [second.md5, first.md5]
    assert all(v.source == "index" for v in versions)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_log_from_git_history(cfg, movies):
    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=cfg.paths.root,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    first = add(cfg, movies)
    git("add", "data/raw/movies.csv.dvc", "data/raw/.gitignore")
    git("commit", "-qm", "first snapshot")
    movies.write_text("v2\n")
    second = add(cfg, movies)
    git("commit", "-qam", "second snapshot")
    versions = log(cfg, movies.with_name("movies.csv.dvc"))
    assert [(v.md5, v.message, v.source) for v in versions] == [
        (second.md5, "second snapshot", "git"),
        (first.md5, "first snapshot", "git"),
    ]


def test_hardlink_mode_shares_the_inode_and_push_refuses_damage(cfg, movies, remote_dir):
    out = add(cfg, movies, link="hardlink")
    obj = cfg.paths.cache_dir / object_key(out.md5)
    assert obj.stat().st_ino == movies.stat().st_ino
    assert not movies.stat().st_mode & stat.S_IWUSR, "linked workspace file is read-only"
    # An in-place edit (as root, permissions do not stop it) damages the shared object...
    os.chmod(movies, 0o644)
    with open(movies, "r+b") as fh:
        fh.write(b"X")
    # ...and push refuses to spread it.
    with pytest.raises(CorruptObjectError, match=out.md5):
        push(cfg)
    assert not (remote_dir / object_key(out.md5)).exists()
    assert not [p for p in remote_dir.rglob("*") if p.is_file()], "no temp left on remote"


def test_unknown_link_type_is_rejected(cfg, movies):
    with pytest.raises(ValueError, match="hardlink"):
        add(cfg, movies, link="symlink")


def test_unchanged_files_are_not_rehashed(cfg, movies, monkeypatch):
    from imdbops.dataops.versioning import commands

    first = add(cfg, movies)
    calls = []
    real = commands.md5_file
    monkeypatch.setattr(commands, "md5_file", lambda p, *a: calls.append(p) or real(p, *a))
    assert [e.workspace for e in status(cfg)] == ["unchanged"]
    assert calls == [], "size, mtime and inode unchanged: the remembered hash is used"
    movies.write_text("edited\n")
    assert [e.workspace for e in status(cfg)] == ["modified"]
    assert calls == [movies]
    assert add(cfg, movies).md5 != first.md5


@pytest.mark.parametrize(
    "text, problem",
    [
        ("outs: []\n", "no 'outs' list"),
        ("outs:\n- size: 3\n  path: x\n", "needs 'md5' and 'path'"),
        ("outs:\n- md5: abc\n  hash: sha256\n  path: x\n", "only DVC 3 'md5'"),
        ("outs: [\n", "not valid YAML"),
    ],
)
def test_malformed_dvc_files_are_named(cfg, text, problem):
    from imdbops.dataops.versioning import DvcFileError

    dvc_file = cfg.paths.raw_dir / "x.dvc"
    dvc_file.write_text(text)
    with pytest.raises(DvcFileError, match=problem) as info:
        checkout(cfg, dvc_file)
    assert "x.dvc" in str(info.value)


@pytest.mark.parametrize("size", [0, 5, 3 * 8 + 1])
def test_md5_copy_hashes_and_copies_in_one_pass(tmp_path, monkeypatch, size):
    monkeypatch.setattr(hashing, "CHUNK_SIZE", 8)
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(os.urandom(size))
    assert hashing.md5_copy(src, dst) == (hashlib.md5(src.read_bytes()).hexdigest(), size)
    assert dst.read_bytes() == src.read_bytes()


def test_a_file_written_during_add_is_refused_and_nothing_is_stored(cfg, movies, monkeypatch):
    monkeypatch.setattr(hashing, "CHUNK_SIZE", 8)
    movies.write_bytes(os.urandom(64))
    grew = []

    def writer_appends(_n):  # another process appending while the hash is being read
        if not grew:
            grew.append(True)
            with open(movies, "ab") as fh:
                fh.write(b"late rows\n")

    with pytest.raises(hashing.ChangedWhileReadingError, match="changed while it was being read"):
        add(cfg, movies, progress=writer_appends)
    objects = cfg.paths.cache_dir / "files"
    assert not objects.exists() or not [p for p in objects.rglob("*") if p.is_file()]
    assert not [p for p in (cfg.paths.cache_dir / "tmp").iterdir()]
    assert not movies.with_name("movies.csv.dvc").exists()
    assert add(cfg, movies).md5 == hashlib.md5(movies.read_bytes()).hexdigest()
