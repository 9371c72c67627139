"""``.dvc`` files and ``.gitignore`` entries, written the way DVC 3 writes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from imdbops.atomic import atomic_write_text

DVC_SUFFIX = ".dvc"


class DvcFileError(ValueError):
    """A ``.dvc`` file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class DvcOut:
    """One output of a ``.dvc`` file: what the content is and where it goes."""

    md5: str
    size: int
    path: str  # relative to the .dvc file's folder (DVC writes the basename)
    nfiles: int | None = None  # set for directories
    hash: str = "md5"

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")

    def to_dict(self) -> dict:
        out: dict = {"md5": self.md5, "size": self.size}
        if self.nfiles is not None:
            out["nfiles"] = self.nfiles
        out["hash"] = self.hash
        out["path"] = self.path
        return out


def dvc_file_for(path: str | Path) -> Path:
    path = Path(path)
    return path if path.name.endswith(DVC_SUFFIX) else path.with_name(path.name + DVC_SUFFIX)


def render(outs: list[DvcOut]) -> str:
    """DVC 3's layout: key order md5, size, nfiles, hash, path; list items not indented."""
    lines = ["outs:"]
    for out in outs:
        for i, (key, value) in enumerate(out.to_dict().items()):
            lines.append(f"{'- ' if i == 0 else '  '}{key}: {_scalar(value)}")
    return "\n".join(lines) + "\n"


def _scalar(value: object) -> str:
    # yaml.safe_dump quotes what needs quoting (odd file names) and leaves the rest bare.
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...")
    )


def write_dvc_file(dvc_path: str | Path, outs: list[DvcOut]) -> Path:
    return atomic_write_text(dvc_path, render(outs))


def read_dvc_file(dvc_path: str | Path) -> list[DvcOut]:
    dvc_path = Path(dvc_path)
    try:
        data = yaml.safe_load(dvc_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DvcFileError(
            f"{dvc_path} does not exist; create it with `imdbops data add <path>`"
        ) from None
    except yaml.YAMLError as exc:
        raise DvcFileError(f"{dvc_path} is not valid YAML: {exc}") from None
    outs = data.get("outs") if isinstance(data, dict) else None
    if not isinstance(outs, list) or not outs:
        raise DvcFileError(f"{dvc_path} has no 'outs' list; it is not a DVC 3 .dvc file")
    result = []
    for i, item in enumerate(outs):
        if not isinstance(item, dict) or "path" not in item or "md5" not in item:
            raise DvcFileError(
                f"{dvc_path}: outs[{i}] needs 'md5' and 'path' (found {item!r}); "
                "re-create it with `imdbops data add`"
            )
        hash_name = item.get("hash", "md5")
        if hash_name != "md5":
            raise DvcFileError(
                f"{dvc_path}: outs[{i}] uses hash {hash_name!r}; only DVC 3 'md5' is supported"
            )
        result.append(
            DvcOut(
                md5=str(item["md5"]),
                size=int(item.get("size") or 0),
                path=str(item["path"]),
                nfiles=item.get("nfiles"),
            )
        )
    return result


def ensure_gitignored(folder: str | Path, name: str) -> Path:
    """Add ``/name`` to ``folder/.gitignore`` once, keeping whatever else is there."""
    gitignore = Path(folder) / ".gitignore"
    entry = f"/{name}"
    existing = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    if entry in existing.splitlines():
        return gitignore
    prefix = existing if not existing or existing.endswith("\n") else existing + "\n"
    return atomic_write_text(gitignore, prefix + entry + "\n")
