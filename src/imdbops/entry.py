"""The ``imdbops`` console script.

Importing the CLI (typer, pydantic, the config) takes ~0.4 s before a command can read a
byte. ``data add`` first starts hashing its large input files in forked children
(``dataops.versioning.prehash``), so on a big file that start-up costs no wall time.
"""

from __future__ import annotations

import sys


def data_add_paths(argv: list[str]) -> list[str]:
    """The PATH arguments of ``imdbops [opts] data add [--link X] PATH...``, else ``[]``.

    A guess from raw argv is enough: a wrong one only hashes a file nobody asked for, and
    a prehash is used only when its file is unchanged when the command reads it.
    """
    for i in range(len(argv) - 1):
        if argv[i : i + 2] == ["data", "add"]:
            break
    else:
        return []
    paths, skip_value = [], False
    for arg in argv[i + 2 :]:
        if skip_value:
            skip_value = False
        elif arg == "--link":
            skip_value = True
        elif not arg.startswith("-"):
            paths.append(arg)
    return paths


def main() -> None:
    paths = data_add_paths(sys.argv[1:])
    if paths:
        from imdbops.dataops.versioning import prehash

        prehash.start(paths)
    from imdbops.cli import app

    app()


if __name__ == "__main__":
    main()
