"""Logging: rich console output plus one JSON-lines file per run, with secrets redacted.

Redaction runs on every record before any handler sees it, so neither the console nor the
file can leak a credential, whatever a caller passes in.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imdbops.redaction import REDACTED, redact, redact_mapping

__all__ = [
    "REDACTED",
    "JsonLinesFormatter",
    "RedactingFilter",
    "get_logger",
    "redact",
    "redact_mapping",
    "setup_logging",
]

LOGGER_NAME = "imdbops"


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
