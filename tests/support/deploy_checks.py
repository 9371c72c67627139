"""Offline checks of the deployment files, shared by the tests in this folder.

No Docker engine or cluster runs on the dev machines, so these read the files instead:
a Dockerfile parser plus the rules that matter to us, a secret scanner for manifests and
compose files, and compose's `${VAR...}` interpolation (the part of its spec we use).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imdbops.redaction import SECRET_KEY_PATTERN

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

# Values that say "fill me in" rather than being a credential.
PLACEHOLDER = re.compile(r"^(REPLACE[_-]?ME|CHANGE[_-]?ME|<[^>]*>|\*+|)$", re.IGNORECASE)
# Kubernetes / compose keys that match the secret pattern but never hold a secret value.
NOT_SECRET_KEYS = {"automountServiceAccountToken", "secretName", "secretRef", "secretKeyRef"}
# Credentials recognisable by their shape whatever key (if any) holds them.
SECRET_SHAPES = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "password in a URL": re.compile(r"://[^/\s:@$]+:(?!\$\{)[^@\s/]+@"),
}


# ---- secrets ----------------------------------------------------------------------------
def is_placeholder(value: str) -> bool:
    value = value.strip()
    # Interpolated from the environment (compose `${VAR:?...}`, Actions `${{ secrets.X }}`).
    return bool(PLACEHOLDER.match(value)) or value.startswith("${")


def _secret_key(key: str) -> bool:
    return key not in NOT_SECRET_KEYS and re.search(SECRET_KEY_PATTERN, key) is not None


def _pairs(obj: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Every (where, key, value) in a parsed document, including `name`/`value` env entries
    and compose's `KEY=value` list form."""
    if isinstance(obj, Mapping):
        if isinstance(obj.get("name"), str) and "value" in obj:
            yield f"{path}[{obj['name']}]", obj["name"], obj["value"]
        for key, value in obj.items():
            yield f"{path}.{key}", str(key), value
            yield from _pairs(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            if isinstance(item, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", item):
                key, _, value = item.partition("=")
                yield f"{path}[{i}]", key, value
            yield from _pairs(item, f"{path}[{i}]")


def find_secrets_in_document(doc: Any) -> list[str]:
    """Literal secrets in one parsed YAML document: secret-looking keys with real values,
    and any non-placeholder value in a Kubernetes Secret."""
    problems = []
    for where, key, value in _pairs(doc):
        if isinstance(value, str) and _secret_key(key) and not is_placeholder(value):
            problems.append(f"{where}: literal value for secret-looking key {key!r}")
    if isinstance(doc, Mapping) and doc.get("kind") == "Secret":
        for section in ("data", "stringData"):
            for key, value in (doc.get(section) or {}).items():
                if not is_placeholder(str(value)):
                    problems.append(f"Secret {section}.{key}: not a placeholder")
    return problems


def find_secret_shapes(text: str) -> list[str]:
    problems = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for name, shape in SECRET_SHAPES.items():
            if shape.search(line):
                problems.append(f"line {lineno}: looks like a {name}")
    return problems


# ---- Dockerfile -------------------------------------------------------------------------
@dataclass
class Instruction:
    lineno: int
    cmd: str
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions grouped by build stage (continuations joined, comments dropped).

    A stage's base has the global ``ARG`` defaults (those before the first FROM) filled in,
    so ``ARG BASE=python:3.11-slim`` + ``FROM ${BASE}`` reads as the image users get.
    """
    stages: list[Stage] = []
    global_args: dict[str, str] = {}
    pending, start = "", 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = lineno
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        cmd, _, args = full.partition(" ")
        inst = Instruction(start, cmd.upper(), args.strip())
        if inst.cmd == "ARG" and not stages:
            key, _, default = inst.args.partition("=")
            global_args[key.strip()] = default.strip().strip('"')
        elif inst.cmd == "FROM":
            args = re.sub(
                r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), inst.args
            )
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append(inst)
    return stages


def exec_form(inst: Instruction) -> list[str]:
    try:
        value = json.loads(inst.args)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"line {inst.lineno}: {inst.cmd} is not in JSON exec form") from exc
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value


def final(stages: list[Stage], cmd: str) -> Instruction | None:
    """The instruction that wins in the image: the last one in the final stage."""
    found = [i for i in stages[-1].instructions if i.cmd == cmd]
    return found[-1] if found else None


def _env_keys(inst: Instruction) -> list[str]:
    if "=" not in inst.args.split()[0]:
        return [inst.args.split()[0]]  # legacy `ENV KEY value`
    return re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", inst.args)


def dockerfile_problems(text: str) -> list[str]:
    """The rules we hold our Dockerfiles to (hadolint covers the generic ones too)."""
    stages = parse_dockerfile(text)
    if not stages:
        return ["no FROM instruction"]
    problems = []
    names = {s.name for s in stages if s.name}
    for stage in stages:
        image = stage.base
        if image in names:
            continue
        tag = image.rsplit("/", 1)[-1]
        if "@sha256:" not in image and ":" not in tag:
            problems.append(f"FROM {image}: pin a tag or digest")
        if tag.endswith(":latest"):
            problems.append(f"FROM {image}: the latest tag is not reproducible")
        for inst in stage.instructions:
            if inst.cmd == "ADD" and re.search(r"\bhttps?://", inst.args):
                problems.append(f"line {inst.lineno}: ADD of a URL; download with a checksum")
            if inst.cmd in ("ENV", "ARG"):
                for key in _env_keys(inst):
                    if _secret_key(key):
                        problems.append(f"line {inst.lineno}: {inst.cmd} {key} bakes a secret")
            if inst.cmd == "RUN" and "apt-get install" in inst.args:
                if "--no-install-recommends" not in inst.args:
                    problems.append(
                        f"line {inst.lineno}: apt-get install without --no-install-recommends"
                    )
                if "rm -rf /var/lib/apt/lists" not in inst.args:
                    problems.append(f"line {inst.lineno}: apt lists not removed in the same RUN")
    user = final(stages, "USER")
    if user is None or user.args.split(":")[0] in ("root", "0"):
        problems.append("the final stage must switch to a non-root USER")
    health = final(stages, "HEALTHCHECK")
    if health is None or health.args.upper().startswith("NONE"):
        problems.append("the final stage has no HEALTHCHECK")
    return problems


# ---- compose ----------------------------------------------------------------------------
class MissingVariable(ValueError):
    pass


_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `$$`."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op and op.endswith("?") and unset:
            raise MissingVariable(f"{name}: {arg or 'required'}")
        if op and op.endswith("-") and unset:
            return arg
        return value or ""

    return _VAR.sub(sub, text)


def required_variables(text: str) -> set[str]:
    return {m.group(1) for m in _VAR.finditer(text) if m.group(2) and m.group(2).endswith("?")}


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _strings(item)


def interpolate_tree(obj: Any, env: Mapping[str, str]) -> Any:
    """Interpolate a parsed compose file as compose does: values, after YAML parsing (so
    comments never count)."""
    if isinstance(obj, str):
        return interpolate(obj, env)
    if isinstance(obj, Mapping):
        return {k: interpolate_tree(v, env) for k, v in obj.items()}
    if isinstance(obj, list):
        return [interpolate_tree(v, env) for v in obj]
    return obj


def required_in_tree(obj: Any) -> set[str]:
    return {name for text in _strings(obj) for name in required_variables(text)}


def unknown_config_keys(names: Iterator[str] | list[str]) -> list[str]:
    """``IMDBOPS_<SECTION>__<KEY>`` names that match no Config field (the config loader
    would refuse them at start-up; this finds them before anything is deployed)."""
    from imdbops.config import Config

    unknown = []
    for name in names:
        if not name.startswith("IMDBOPS_") or name == "IMDBOPS_CONFIG":
            continue
        section, sep, key = name[len("IMDBOPS_") :].lower().partition("__")
        field_info = Config.model_fields.get(section)
        if not sep or field_info is None or key not in field_info.annotation.model_fields:
            unknown.append(name)
    return unknown
