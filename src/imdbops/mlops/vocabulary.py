"""The input vocabulary a model learnt: which genres its training data held, with counts.

The API accepts all 28 IMDb genres, but a model only learns from the genres its training
rows carry (the bundled data has 7 genre flags). A genre it never saw is silently ignored
by the features, so serving and monitoring need to know which ones those are.

Recorded at registration as the model-version tag ``input_vocabulary`` (compact JSON:
``{"rows": N, "genres": {"Action": 1234, ...}}``), beside the other lineage tags. Versions
registered before this existed get it computed once, on first load, from their run's logged
training split (``split/train_tconst.txt`` + the processed dataset ``split/split.json``
names) or, when that dataset is gone, from the reference profile built on the same rows;
the result is written back as the tag so the next load reads it directly.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imdbops.artifact_names import RUN_PROFILE
from imdbops.genres import IMDB_GENRES
from imdbops.log import get_logger

log = get_logger("mlops.vocabulary")

VOCABULARY_TAG = "input_vocabulary"
_ORDER = {g: i for i, g in enumerate(IMDB_GENRES)}


@dataclass(frozen=True)
class Vocabulary:
    """Genres seen in training (IMDb order) with their row counts, and the row count."""

    genres: dict[str, int]
    rows: int
    source: str = "registration"

    # Cached: serving reads these on every request (a frozen dataclass allows it: the cache
    # writes to __dict__ directly).
    @functools.cached_property
    def known(self) -> frozenset[str]:
        return frozenset(g for g, n in self.genres.items() if n > 0)

    @functools.cached_property
    def unseen(self) -> frozenset[str]:
        """IMDb genres this model never saw."""
        return frozenset(IMDB_GENRES) - self.known

    def unknown(self) -> list[str]:
        """IMDb genres this model never saw, in IMDb order."""
        return [g for g in IMDB_GENRES if g in self.unseen]

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "genres": dict(self.genres), "source": self.source}

    def to_tag(self) -> str:
        return json.dumps({"rows": self.rows, "genres": self.genres}, separators=(",", ":"))


def _ordered(counts: Mapping[str, int]) -> dict[str, int]:
    return {g: int(counts[g]) for g in sorted(counts, key=lambda g: _ORDER.get(g, 99)) if counts[g]}


def from_genre_strings(genres: Iterable[Any], source: str = "registration") -> Vocabulary:
    """Count genres over training rows' IMDb-style comma-separated genre strings."""
    counts: Counter[str] = Counter()
    rows = 0
    for value in genres:
        rows += 1
        if isinstance(value, str) and value and value != "\\N":
            counts.update(g for g in value.split(",") if g in _ORDER)
    return Vocabulary(_ordered(counts), rows, source)


def from_frame(frame: Any, source: str = "registration") -> Vocabulary:
    """The vocabulary of a model-input (or processed) frame with a ``genres`` column."""
    return from_genre_strings(frame["genres"].tolist(), source)


def from_profile(profile: Mapping[str, Any]) -> Vocabulary:
    """From a reference profile: its genre frequencies were computed on the training rows,
    so frequency x rows gives the counts back exactly."""
    rows = int(profile.get("n_rows") or 0)
    freqs = profile.get("genre_frequencies") or {}
    counts = {g: round(float(f) * rows) for g, f in freqs.items() if g in _ORDER and f}
    return Vocabulary(_ordered(counts), rows, "reference profile")


def from_tag(value: str | None) -> Vocabulary | None:
    """Parse the version tag; None when absent or unreadable (then it is recomputed)."""
    if not value:
        return None
    try:
        data = json.loads(value)
        genres = {str(g): int(n) for g, n in data["genres"].items() if g in _ORDER}
        return Vocabulary(_ordered(genres), int(data["rows"]), "registration")
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("ignoring an unreadable %s tag: %.80s", VOCABULARY_TAG, value)
        return None


def from_run_split(cfg: Any, run_id: str) -> Vocabulary | None:
    """Recompute from a run's logged training split; None when the run logged none."""
    import pandas as pd

    from imdbops.mlops.run_split import logged_split

    with logged_split(cfg, run_id) as split:
        if split is None:
            return None
        ids_file, meta_file = split.file("train_ids"), split.file("meta")
        if not ids_file.is_file() or not meta_file.is_file():
            return None
        ids = set(ids_file.read_text(encoding="utf-8").split())
        source = Path(json.loads(meta_file.read_text(encoding="utf-8")).get("source", ""))
        if not source.is_file():
            log.info("the processed dataset %s of run %s is gone", source, run_id)
            return None
        frame = pd.read_parquet(source, columns=["tconst", "genres"])
        train = frame[frame["tconst"].astype(str).isin(ids)]
        if len(train) != len(ids):
            log.info("run %s: the processed dataset no longer holds its training rows", run_id)
            return None
        return from_frame(train, "training split (computed on first load)")


def from_run_profile(cfg: Any, run_id: str) -> Vocabulary | None:
    from imdbops.mlops.tracking import mlflow_session

    if not run_id:
        return None
    with _scratch(cfg) as dest, mlflow_session(cfg) as mlflow:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=RUN_PROFILE, dst_path=str(dest)
            )
            profile = json.loads(Path(path).read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001 - no profile logged, or unreadable
            log.debug("run %s has no usable reference profile: %s", run_id, exc)
            return None
    vocab = from_profile(profile)
    return vocab if vocab.rows > 0 else None


def for_run(cfg: Any, run_id: str) -> Vocabulary | None:
    """Best source for a run: its logged training split, else its reference profile."""
    return from_run_split(cfg, run_id) or from_run_profile(cfg, run_id)


def ensure_for_version(cfg: Any, version: str, tags: Mapping[str, str], run_id: str):
    """The version's vocabulary: its tag, else computed from its run and written back."""
    vocab = from_tag(tags.get(VOCABULARY_TAG))
    if vocab is not None:
        return vocab
    vocab = for_run(cfg, run_id)
    if vocab is None:
        log.warning(
            "model version %s has no input vocabulary and none can be computed from its run; "
            "serving will not report genres unknown to it",
            version,
        )
        return None
    try:
        from imdbops.mlops.tracking import get_client

        get_client(cfg).set_model_version_tag(
            cfg.tracking.model_name, str(version), VOCABULARY_TAG, vocab.to_tag()
        )
    except Exception as exc:  # noqa: BLE001 - a read-only registry still serves the answer
        log.warning("could not record the vocabulary of version %s: %s", version, exc)
    log.info("computed the input vocabulary of version %s from its %s", version, vocab.source)
    return vocab


@contextlib.contextmanager
def _scratch(cfg: Any) -> Iterator[Path]:
    root = cfg.paths.cache_dir / "registry"
    root.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix="vocabulary-", dir=root))
    try:
        yield dest
    finally:
        shutil.rmtree(dest, ignore_errors=True)
