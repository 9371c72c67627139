"""What every command shares: the loaded config, logging set-up, and clean error exits."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import typer

from imdbops.config import Config, ConfigError, load_config
from imdbops.log import get_logger, redact, setup_logging


class UserError(Exception):
    """An error the user can fix; the CLI prints its message (no traceback) and exits 1."""


@dataclass
class State:
    config_path: Path | None = None
    verbose: bool = False
    _config: Config | None = field(default=None, repr=False)


def get_config(ctx: typer.Context, run_name: str = "cli") -> Config:
    """The resolved Config for this invocation, with logging set up to a per-run file."""
    state: State = ctx.obj if isinstance(ctx.obj, State) else State()
    if state._config is None:
        try:
            state._config = load_config(state.config_path)
        except ConfigError as exc:
            fail(str(exc), code=2)
        setup_logging(state._config.paths.logs_dir, run_name, "DEBUG" if state.verbose else "INFO")
    return state._config


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {redact(message)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


# Exceptions that mean "bad input or environment", not a bug: print the message, exit non-zero.
def _expected_errors() -> tuple[type[BaseException], ...]:
    return (UserError, ConfigError, FileNotFoundError, ValueError, PermissionError, OSError)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected failures into one clear line and a non-zero exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        # Our own exception classes carry a message written for the user; so do the
        # standard "bad input / environment" ones. Anything else is a bug: re-raise it.
        ours = type(exc).__module__.startswith("imdbops.")
        if not (ours or isinstance(exc, _expected_errors())):
            raise
        get_logger("cli").debug("command failed", exc_info=True)
        fail(f"{type(exc).__name__}: {exc}" if not isinstance(exc, UserError) else str(exc))
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)
