"""Secret redaction: the one place that decides what counts as a credential.

The config (``Config.redacted()``), the logger (every record) and anything that prints
user-supplied text share these rules. Stdlib-only and at the bottom of the layers, so both
``config`` and ``log`` can use it without importing each other.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

# Keys whose values are secrets wherever they appear (config, env, logs).
SECRET_KEY_PATTERN = (
    r"(?i)(secret|token|password|passwd|pwd|api[_-]?key|access[_-]?key|credential|auth)"
)
REDACTED = "***"

_SECRET_KEY = re.compile(SECRET_KEY_PATTERN)
_NOT_SECRET_ENV = frozenset({"PWD", "OLDPWD"})
_PATTERNS = [
    # key=value / key: value where the key names a secret
    re.compile(
        r"(?i)\b([\w.-]*(?:secret|token|password|passwd|pwd|api[_-]?key|access[_-]?key|credential)[\w.-]*)"
        r"(\s*[=:]\s*)(['\"]?)([^\s'\",;&]+)"
    ),
    # credentials inside URLs: scheme://user:pass@host
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/\s@]+:)([^@\s/]+)(@)"),
    # AWS access key ids and bearer tokens
    re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]{8,})"),
]


def _env_secrets() -> list[str]:
    """Values of environment variables whose names say they are secrets."""
    values = []
    for key, value in os.environ.items():
        # PWD/OLDPWD match "pwd" but hold the shell's working directory, not a password.
        if key in _NOT_SECRET_ENV:
            continue
        if value and len(value) >= 6 and _SECRET_KEY.search(key):
            values.append(value)
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """Replace anything that looks like a credential in ``text`` with ``***``."""
    if not text:
        return text
    for value in _env_secrets():
        text = text.replace(value, REDACTED)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)
    text = _PATTERNS[2].sub(REDACTED, text)
    text = _PATTERNS[3].sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return text


def redact_mapping(data: Any, _key: str = "") -> Any:
    """Redact a nested structure: values under secret-looking keys, and secret-looking text."""
    if isinstance(data, Mapping):
        return {k: redact_mapping(v, str(k)) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_mapping(v, _key) for v in data]
    if _key and _SECRET_KEY.search(_key) and data not in (None, "", {}):
        return REDACTED
    if isinstance(data, str):
        return redact(data)
    return data
