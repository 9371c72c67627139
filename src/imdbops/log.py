"""Logging: rich console output plus one JSON-lines file per run, with secrets redacted.

Redaction runs on every record before any handler sees it, so neither the console nor the
file can leak a credential, whatever a caller passes in.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imdbops.config import SECRET_KEY_PATTERN

LOGGER_NAME = "imdbops"
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


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            entry.update(redact_mapping(dict(extra)))
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


def get_logger(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def setup_logging(
    logs_dir: Path | None = None, run_name: str = "run", level: str | int = "INFO"
) -> Path | None:
    """Configure the ``imdbops`` logger; returns the JSON-lines file of this run (if any)."""
    from rich.logging import RichHandler

    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    for flt in list(logger.filters):
        logger.removeFilter(flt)
    logger.addFilter(RedactingFilter())

    console = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
    console.addFilter(RedactingFilter())
    logger.addHandler(console)

    log_file = None
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        log_file = logs_dir / f"{stamp}-{run_name}-{os.getpid()}.jsonl"
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(JsonLinesFormatter())
        file_handler.addFilter(RedactingFilter())
        logger.addHandler(file_handler)
    return log_file
