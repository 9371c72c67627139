"""A small real model, a registered champion and a real uvicorn server in a thread.

Shared by the integration, browser and reliability tests and ``benchmarks/serving.py``.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from imdbops.config import Config
from support.ports import free_port

EXAMPLE_ITEMS = [
    {"title": "The Matrix", "genres": ["Action", "Sci-Fi"], "year": 1999, "runtime_minutes": 136},
    {"title": "Toy Story", "genres": ["Animation", "Comedy"], "year": 1995},
    {"title": "Sharknado", "genres": ["Action", "Horror"], "year": 2013},
]


def bundled_items(n: int = 2000, seed: int = 0) -> tuple[list[dict[str, Any]], list[int]]:
    """``n`` rows of the bundled IMDb movies as API items, and their like/dislike labels."""
    from imdbops.dataops.bundled import GENRE_FLAGS, read_bundled_movies
    from imdbops.movies import label_from_rating

    frame = read_bundled_movies().sample(n=n, random_state=seed)
    items, labels = [], []
    for row in frame.itertuples(index=False):
        genres = [g for g in GENRE_FLAGS if getattr(row, g) == 1]
        items.append(
            {
                "title": str(row.title),
                "genres": genres,
                "year": int(row.year),
                "runtime_minutes": float(row.length),
            }
        )
        labels.append(label_from_rating(row.rating))
    return items, labels


_TRAINING_FRAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def train_small_model(n: int = 2000, seed: int = 0, params: dict | None = None):
    """A real fitted logreg pipeline from the model catalogue, and its input example."""
    from imdbops.mlops.models import get_spec
    from imdbops.mlops.transform import to_model_frame

    items, labels = bundled_items(n, seed)
    frame = to_model_frame(items)
    spec = get_spec("logreg")
    pipeline = spec.build(params, seed)
    pipeline.fit(frame, labels)
    _TRAINING_FRAMES[pipeline] = frame  # register_champion records its genre vocabulary
    return pipeline, frame.head(5)


def register_champion(
    cfg: Config,
    model: Any = None,
    *,
    metrics: dict | None = None,
    tag: str = "test",
    training_frame: Any = None,
) -> str:
    """Register ``model`` (default: a fresh small one) and point ``champion`` at it."""
    from imdbops.mlops.registry import log_model_version, set_alias

    example = None
    if model is None:
        model, example = train_small_model()
    info = log_model_version(
        cfg,
        model,
        metrics=metrics or {"roc_auc": 0.71, "accuracy": 0.66, "f1": 0.7},
        params={"C": 2.0, "model": "logreg"},
        tags={
            "data_md5": "0123456789abcdef0123456789abcdef",
            "git_commit": "deadbeef",
            "trained_at": "2026-01-01T00:00:00Z",
            "model_kind": "logreg",
            "split_md5": tag,
        },
        input_example=example,
        training_frame=training_frame
        if training_frame is not None
        else _TRAINING_FRAMES.get(model),
    )
    set_alias(cfg, info.version, "champion")
    return info.version


class ServerThread:
    """A real uvicorn server on 127.0.0.1 running an app in a background thread."""

    def __init__(self, app: Any, port: int | None = None):
        import uvicorn

        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, name=f"uvicorn-{self.port}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)


@contextlib.contextmanager
def running_server(app: Any) -> Iterator[ServerThread]:
    server = ServerThread(app).start()
    try:
        yield server
    finally:
        server.stop()
