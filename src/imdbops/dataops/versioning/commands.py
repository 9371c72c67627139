"""The versioning verbs: add, push, pull, checkout, status, log.

Compatible with DVC 3 on disk: the same ``.dvc`` files, cache layout and remote layout, so
either tool can read what the other wrote. Neither git nor DVC needs to be installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imdbops.dataops.versioning.cache import Cache, Progress
from imdbops.dataops.versioning.dvcfile import (
    DVC_SUFFIX,
    DvcOut,
    dvc_file_for,
    ensure_gitignored,
    read_dvc_file,
    write_dvc_file,
)
from imdbops.dataops.versioning.errors import MissingObjectError
from imdbops.dataops.versioning.hashing import (
    DirEntry,
    dir_listing,
    dir_md5,
    is_dir_hash,
    md5_file,
)
from imdbops.dataops.versioning.history import (
    Version,
    git_versions,
    index_versions,
    record_version,
)
from imdbops.dataops.versioning.remote import Remote, remote_for
from imdbops.dataops.versioning.state import HashState
from imdbops.log import get_logger

log = get_logger(__name__)
STATE_NAME = "versioning/hashes.json"
_SKIP_DIRS = {"node_modules", "__pycache__", "venv", "site-packages"}


def _cache(cfg: Any) -> Cache:
    return Cache(cfg.paths.cache_dir, HashState(Path(cfg.paths.state_dir) / STATE_NAME))


def add(cfg: Any, path: str | Path, progress: Progress | None = None, link: str = "copy") -> DvcOut:
    """Track ``path`` (file or directory): cache it, write ``PATH.dvc``, git-ignore it.

    ``link="hardlink"`` skips copying the bytes into the cache (see ``Cache.add_file``).
    """
    path = Path(path).absolute()
    if path.name.endswith(DVC_SUFFIX):
        raise ValueError(f"{path} is a .dvc file; add the data path it describes instead")
    if not path.exists():
        raise FileNotFoundError(f"cannot add {path}: no such file or directory")
    cache = _cache(cfg)
    if path.is_dir():
        md5, size, nfiles = cache.add_dir(path, progress, link)
        out = DvcOut(md5=md5, size=size, path=path.name, nfiles=nfiles)
    else:
        md5, size = cache.add_file(path, progress, link)
        out = DvcOut(md5=md5, size=size, path=path.name)
    write_dvc_file(dvc_file_for(path), [out])
    ensure_gitignored(path.parent, path.name)
    record_version(cfg, path, md5, size)
    cache.save_state()
    log.info("versioned %s as %s (%d bytes)", path, md5, size)
    return out


def find_dvc_files(cfg: Any) -> list[Path]:
    """Every ``.dvc`` file under the project root (hidden folders and venvs skipped)."""
    root = Path(cfg.paths.root)
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        found += [Path(folder) / f for f in sorted(files) if f.endswith(DVC_SUFFIX)]
    return found


def _targets(cfg: Any, targets: list[str | Path] | str | Path | None) -> list[Path]:
    if targets is None:
        return find_dvc_files(cfg)
    if isinstance(targets, (str, Path)):
        targets = [targets]
    return [dvc_file_for(Path(t).absolute()) for t in targets]


@dataclass
class PushResult:
    remote: str
    pushed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def push(
    cfg: Any,
    targets: list[str | Path] | str | Path | None = None,
    remote: str | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Copy the cache objects behind ``targets`` (default: every .dvc file) to the remote."""
    cache, rem = _cache(cfg), remote_for(cfg, remote)
    result = PushResult(remote=rem.url)
    rem.lake.sweep_stale_tmp("files")  # leftovers of a push that was killed mid-upload
    for dvc_file in _targets(cfg, targets):
        for out in read_dvc_file(dvc_file):
            objects = cache.objects_for(out.md5)
            # Files before their .dir listing: a listing on the remote implies its files are.
            for md5 in objects[1:] + objects[:1]:
                if md5 in result.pushed or md5 in result.skipped:
                    continue
                if not cache.has(md5):
                    raise MissingObjectError(
                        md5,
                        f"the cache {cache.root} (needed by {dvc_file})",
                        f"run `imdbops data add {dvc_file.parent / out.path}` again",
                    )
                if rem.has(md5):
                    result.skipped.append(md5)
                    continue
                rem.upload(cache, md5, progress)
                result.pushed.append(md5)
    log.info(
        "push to %s: %d sent, %d already there", rem.url, len(result.pushed), len(result.skipped)
    )
    return result


def _fetch(cache: Cache, rem: Remote, out: DvcOut) -> int:
    fetched = 0
    if not cache.has(out.md5):
        rem.download(cache, out.md5)
        fetched += 1
    for md5 in cache.objects_for(out.md5)[1:]:
        if not cache.has(md5):
            rem.download(cache, md5)
            fetched += 1
    return fetched


def fetch(
    cfg: Any,
    md5: str,
    dest: str | Path,
    remote: str | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """The file with content ``md5`` from the remote, verified, written to ``dest``.

    No ``.dvc`` file needed: this is how a registered model's training data comes back from
    its ``data_md5`` lineage tag. ``cache_dir`` (default: the project's cache) set to an
    empty folder forces the download. Raises MissingObjectError / CorruptObjectError naming
    where it looked.
    """
    cache = Cache(cache_dir) if cache_dir is not None else _cache(cfg)
    if not cache.has(md5):
        remote_for(cfg, remote).download(cache, md5)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    cache.checkout_file(md5, dest)
    return dest


def _file_md5(cache: Cache, path: Path) -> str:
    known = cache.known_md5(path)
    if known is None:
        known = md5_file(path)
        cache.remember(path, known)
    return known


def workspace_md5(path: Path, cache: Cache | None = None) -> str | None:
    """The hash the workspace content has now (None when it does not exist).

    With a cache, files unchanged since they were last hashed are not read again.
    """
    cache = cache or Cache(Path(path).parent)  # stateless: hashes everything

    if path.is_dir():
        entries = [
            DirEntry(f.relative_to(path).as_posix(), _file_md5(cache, f), f.stat().st_size)
            for f in dir_listing(path)
        ]
        return dir_md5(entries)
    if path.is_file():
        return _file_md5(cache, path)
    return None


def _checkout_out(cache: Cache, dvc_file: Path, out: DvcOut, progress: Progress | None) -> Path:
    dest = dvc_file.parent / out.path
    if workspace_md5(dest, cache) == out.md5:
        return dest
    if is_dir_hash(out.md5):
        cache.checkout_dir(out.md5, dest, progress)
        for entry in cache.read_dir(out.md5):
            cache.remember(dest / entry["relpath"], entry["md5"])
    else:
        cache.checkout_file(out.md5, dest, progress)
        cache.remember(dest, out.md5)
    return dest


def checkout(
    cfg: Any, dvc_file: str | Path | None = None, progress: Progress | None = None
) -> list[Path]:
    """Restore the workspace from the cache to what ``dvc_file`` (default: all) records."""
    cache, restored = _cache(cfg), []
    for target in _targets(cfg, dvc_file):
        for out in read_dvc_file(target):
            restored.append(_checkout_out(cache, target, out, progress))
    cache.save_state()
    return restored


def pull(
    cfg: Any,
    dvc_file: str | Path | None = None,
    remote: str | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Fetch missing objects from the remote (hash-verified), then check them out."""
    cache, rem, restored = _cache(cfg), remote_for(cfg, remote), []
    for target in _targets(cfg, dvc_file):
        for out in read_dvc_file(target):
            _fetch(cache, rem, out)
            restored.append(_checkout_out(cache, target, out, progress))
    cache.save_state()
    return restored


@dataclass(frozen=True)
class StatusEntry:
    dvc_file: str
    path: str
    md5: str
    workspace: str  # "unchanged" | "modified" | "missing"
    in_cache: bool
    on_remote: bool | None = None  # None when the remote was not asked

    @property
    def clean(self) -> bool:
        return self.workspace == "unchanged" and self.in_cache and self.on_remote is not False


def status(
    cfg: Any,
    targets: list[str | Path] | str | Path | None = None,
    remote: str | None = None,
    check_remote: bool = False,
) -> list[StatusEntry]:
    """What changed: workspace vs .dvc file, and whether cache / remote hold the version."""
    cache = _cache(cfg)
    rem = remote_for(cfg, remote) if check_remote else None
    entries = []
    for dvc_file in _targets(cfg, targets):
        for out in read_dvc_file(dvc_file):
            path = dvc_file.parent / out.path
            current = workspace_md5(path, cache)
            state = (
                "missing" if current is None else "unchanged" if current == out.md5 else "modified"
            )
            entries.append(
                StatusEntry(
                    dvc_file=str(dvc_file),
                    path=str(path),
                    md5=out.md5,
                    workspace=state,
                    in_cache=cache.has(out.md5),
                    on_remote=rem.has(out.md5) if rem is not None else None,
                )
            )
    cache.save_state()
    return entries


def history(cfg: Any, path: str | Path) -> list[Version]:
    """Versions of ``path``, newest first: git history of its .dvc file, else the local index."""
    path = Path(path).absolute()
    data_path = (
        path.with_name(path.name.removesuffix(DVC_SUFFIX))
        if path.name.endswith(DVC_SUFFIX)
        else path
    )
    dvc_path = dvc_file_for(data_path)
    versions = git_versions(dvc_path) if dvc_path.exists() else []
    return versions or index_versions(cfg, data_path)
