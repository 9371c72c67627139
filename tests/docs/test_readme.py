"""The README stays a five-minute read whose links and commands still work.

`mkdocs build --strict` (in `make test`) checks the links inside docs/; nothing else reads
README.md, so its relative links and the `imdbops` commands of its tour are checked here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer

from imdbops.cli import app

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MAX_LINES = 150
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def readme() -> str:
    return README.read_text(encoding="utf-8")


def relative_links(text: str) -> list[str]:
    return [
        target
        for target in LINK.findall(text)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")
    ]


def tour_commands(text: str) -> list[list[str]]:
    """Every `imdbops ...` line inside the README's ```bash blocks, as argv lists."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("imdbops "):
                commands.append(shlex.split(line))
    return commands


def is_group(command) -> bool:
    # Typer vendors its own click, so test for a group by what it has, not by its class.
    return hasattr(command, "commands")


def resolve(argv: list[str]) -> tuple[object, list[str]]:
    """The leaf command an argv names and the words after it (e.g. ['--explain'])."""
    command = typer.main.get_command(app)
    words = argv[1:]
    while is_group(command) and words and not words[0].startswith("-"):
        name = words.pop(0)
        sub = command.commands.get(name)
        assert sub is not None, (
            f"README runs `{' '.join(argv)}`, but `{name}` is not a command of "
            f"`{command.name}` (its commands: {', '.join(sorted(command.commands))})"
        )
        command = sub
    return command, words


def test_readme_is_short():
    lines = readme().splitlines()
    assert len(lines) <= MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {MAX_LINES}): move the detail into a docs page"
    )


def test_readme_relative_links_resolve():
    links = relative_links(readme())
    assert links, "README.md should link into the docs pages"
    missing = [t for t in links if not (REPO / t.split("#", 1)[0]).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_readme_commands_exist_with_their_options():
    commands = tour_commands(readme())
    assert commands, "README.md's tour should show imdbops commands in ```bash blocks"
    for argv in commands:
        command, words = resolve(argv)
        assert not is_group(command), f"`{' '.join(argv)}` names a command group"
        known = {opt for param in command.params for opt in param.opts}
        unknown = [w.split("=", 1)[0] for w in words if w.startswith("--")]
        unknown = [w for w in unknown if w not in known]
        assert not unknown, f"README runs `{' '.join(argv)}`; unknown option(s) {unknown}"


def test_checks_catch_what_they_claim():
    # The helpers must see a broken link, a wrong command and a wrong option.
    text = "[a](docs/nowhere.md) [b](https://example.org) [c](#top)\n```bash\nimdbops pipeline runn\n```"
    assert relative_links(text) == ["docs/nowhere.md"]
    (argv,) = tour_commands(text)
    try:
        resolve(argv)
    except AssertionError as exc:
        assert "runn" in str(exc)
    else:
        raise AssertionError("a misspelt command was not caught")
    command, words = resolve(["imdbops", "pipeline", "run", "--explian"])
    assert command.name == "run" and words == ["--explian"]
    assert "--explian" not in {o for p in command.params for o in p.opts}
