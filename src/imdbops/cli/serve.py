"""``imdbops serve``: the API, web page and /metrics over the champion model (uvicorn)."""

from __future__ import annotations

import os
import socket

import typer

from imdbops.cli.common import State, UserError, get_config, user_errors
from imdbops.timeouts import SERVING_KEEP_ALIVE_S


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UserError(
                f"cannot listen on {host}:{port} ({exc.strerror}); "
                "pass --port or set serving.port to a free port"
            ) from None


def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(
        None, "--host", help="Interface to bind (default: serving.host)."
    ),
    port: int | None = typer.Option(None, "--port", "-p", help="Port (default: serving.port)."),
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=1, help="Worker processes (default: serving.workers)."
    ),
) -> None:
    """Serve the API (/api/v1), the web page (/) and Prometheus metrics (/metrics).

    Loads models:/<name>@champion at start and follows the alias when it moves.
    """
    with user_errors():
        cfg = get_config(ctx, "serve")
        host = host or cfg.serving.host
        port = port if port is not None else cfg.serving.port
        workers = workers or cfg.serving.workers
        if not 0 < port < 65536:
            raise UserError(f"--port {port} is not a TCP port; use 1-65535")
        _check_port_free(host, port)
        import uvicorn

        typer.echo(
            f"serving on http://{host}:{port}  (page /, API /api/v1/docs, metrics /metrics, "
            f"{workers} worker{'s' if workers > 1 else ''})"
        )
        common = dict(
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            log_level="warning",
            access_log=False,
            timeout_keep_alive=SERVING_KEEP_ALIVE_S,
        )
        if workers == 1:
            from imdbops.serving.app import create_app

            uvicorn.run(create_app(cfg), **common)
            return
        # Touch the registry once here: workers creating a fresh SQLite store at the same
        # moment race on its schema migration.
        try:
            from imdbops.mlops.registry import alias_version

            alias_version(cfg, "champion")
        except Exception as exc:  # noqa: BLE001 - the workers report registry problems
            typer.echo(f"warning: the model registry is not reachable yet: {exc}", err=True)
        # Worker processes rebuild the config from the environment, so pass ours on.
        state = ctx.obj if isinstance(ctx.obj, State) else State()
        if state.config_path is not None:
            os.environ["IMDBOPS_CONFIG"] = str(state.config_path.resolve())
        os.environ["IMDBOPS_PATHS__ROOT"] = str(cfg.paths.root)
        os.environ["IMDBOPS_SERVING__HOST"] = host
        os.environ["IMDBOPS_SERVING__PORT"] = str(port)
        uvicorn.run("imdbops.serving.app:app_from_env", factory=True, workers=workers, **common)
