"""Batch scoring: movies in, one probability per movie out, with the model version beside it.

Three steps, which the ``imdb_scoring`` DAG runs as three tasks and ``imdbops score`` runs
back to back:

1. :func:`imdbops.dataops.predictions_store.extract_unrated` (warehouse source only);
2. :func:`score_file`: read chunks, check them, skip rows this model already scored on the
   same input (``data_md5``), ``predict_proba``, append to a scores Parquet file (temp name,
   renamed at the end: a failed run leaves nothing);
3. :func:`publish`: a lake copy under the model version, then one warehouse transaction.

Memory stays flat: one chunk (``chunk_rows``) is in memory at a time.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdbops import clock
from imdbops.atomic import atomic_path
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.movies import MODEL_FIELDS, predicted_labels
from imdbops.scoring.inputs import Chunk, count_rows, file_format, read_chunks

if TYPE_CHECKING:
    import pyarrow as pa

log = get_logger("scoring")

LAKE_PREFIX = "predictions"
META_VERSION, META_SCORED_AT = b"imdbops.model_version", b"imdbops.scored_at"
Progress = Callable[[int], None]


class NoChampionError(RuntimeError):
    """Nothing to score with: the registry has no champion yet."""


@dataclass
class ScoreResult:
    source: str
    model_version: str
    rows_read: int
    rows_scored: int
    rows_skipped: int  # already scored by this model version on identical input
    seconds: float
    scores: str | None  # the scores file for the predictions table (rows with a tconst)
    output: str | None = None
    published: dict[str, Any] | None = None

    @property
    def rows_per_s(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_s": round(self.rows_per_s, 1)}


def resolve_model(cfg: Config, model_version: str | None = None) -> Any:
    """The champion (or ``model_version``), hash-verified; a clear error when there is none."""
    from imdbops.mlops.registry import load_version
    from imdbops.mlops.registry_read import load_champion  # no MLflow start on SQLite

    if model_version:
        try:
            return load_version(cfg, str(model_version))
        except Exception as exc:
            if "not found" in str(exc).lower() or "RESOURCE_DOES_NOT_EXIST" in str(exc):
                raise NoChampionError(
                    f"model {cfg.tracking.model_name} has no version {model_version}; "
                    "`imdbops model list` shows the registered versions"
                ) from None
            raise
    loaded = load_champion(cfg)
    if loaded is None:
        raise NoChampionError(
            f"no champion model in the registry ({cfg.tracking.model_name}); train one "
            "first: `imdbops pipeline run` (or pass --model-version N)"
        )
    return loaded


def scores_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("tconst", pa.string()),
            ("probability", pa.float64()),
            ("label", pa.int8()),
            ("model_version", pa.string()),
            ("data_md5", pa.string()),
            ("scored_at", pa.timestamp("us")),
        ]
    )


# Every model input, in the record's order (an unknown number hashes as ''): a field added to
# the record changes every row's hash, so the next run re-scores with it.
_HASHED = ", ".join(
    f"coalesce(cast({f.name} as varchar), '')" if f.numeric else f.name for f in MODEL_FIELDS
)


def row_md5(frame: Any) -> Any:
    """md5 of each model-input row: what makes "same input" checkable on the next run."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    try:
        con.register("rows", frame)
        hashes = con.execute(
            f"select md5(concat_ws(chr(31), {_HASHED})) as h from rows"
        ).fetchnumpy()["h"]
        return pa.array(hashes, pa.string())
    finally:
        con.close()


def _unscored(chunk: Chunk, lookup: Callable[[Any], Any]) -> tuple[Any, Any]:
    """(the chunk's rows still to score, None for all of them; each row's input md5)."""
    import pyarrow as pa

    md5 = row_md5(chunk.frame)
    if chunk.tconst is None:
        return None, md5
    done = lookup(pa.table({"tconst": pa.array(chunk.tconst, pa.string()), "data_md5": md5}))
    return (~done if done.any() else None), md5


def score_file(
    cfg: Config,
    source: Path,
    scores_path: Path | None,
    *,
    model: Any,
    incremental: bool = True,
    output: Path | None = None,
    chunk_rows: int = 100_000,
    on_progress: Progress | None = None,
) -> ScoreResult:
    """Score every movie in ``source`` with ``model`` (a registry ``LoadedModel``).

    Rows with a ``tconst`` go to ``scores_path`` (the predictions table's columns); with
    ``output`` every row also goes there with its input columns. ``incremental`` skips rows
    the same model version already scored on identical input (not when writing ``output``,
    which must be complete).
    """
    from imdbops.dataops.predictions_store import scored_lookup

    started = time.perf_counter()
    version = str(model.version)
    scored_at = clock.now().replace(tzinfo=None)
    schema = scores_schema().with_metadata(
        {META_VERSION: version.encode(), META_SCORED_AT: scored_at.isoformat().encode()}
    )
    read = scored = skipped = 0
    has_tconst = False
    with contextlib.ExitStack() as stack:
        lookup = stack.enter_context(
            scored_lookup(cfg, version) if incremental and output is None else _no_lookup()
        )
        scores_writer = out_writer = None
        for chunk in read_chunks(source, chunk_rows):
            read += len(chunk.frame)
            has_tconst = has_tconst or chunk.tconst is not None
            keep, md5 = _unscored(chunk, lookup)
            skipped += 0 if keep is None else int((~keep).sum())
            frame = chunk.frame if keep is None else chunk.frame[keep]
            if len(frame):
                proba = model.model.predict_proba(frame)[:, 1]
                scored += len(frame)
                if chunk.tconst is not None and scores_path is not None:
                    if scores_writer is None:
                        scores_writer = stack.enter_context(_parquet_writer(scores_path, schema))
                    scores_writer.write_table(
                        _scores_table(chunk, keep, md5, proba, version, scored_at, schema)
                    )
                if output is not None:
                    if out_writer is None:
                        out_writer = stack.enter_context(_output_writer(output, chunk))
                    out_writer.write_table(_output_table(chunk, proba, version))
            if on_progress is not None:
                on_progress(len(chunk.frame))
        if read == 0:
            has_tconst = True  # an empty extract: nothing to publish, but not an error here
        if scores_path is not None and scores_writer is None and has_tconst:
            # Nothing new: still leave an (empty) scores file, so the publish step has its input.
            scores_writer = stack.enter_context(_parquet_writer(scores_path, schema))
    result = ScoreResult(
        source=str(source),
        model_version=version,
        rows_read=read,
        rows_scored=scored,
        rows_skipped=skipped,
        seconds=round(time.perf_counter() - started, 3),
        scores=str(scores_path) if scores_path is not None and has_tconst else None,
        output=str(output) if output is not None else None,
    )
    log.info(
        "scored %d of %d rows from %s with model version %s (%d already scored) in %.1fs",
        scored, read, source, version, skipped, result.seconds,
    )  # fmt: skip
    return result


def publish(cfg: Config, scores_path: Path) -> dict[str, Any]:
    """Lake copy under the model version, then one warehouse transaction (see the module doc).

    The lake copy goes first: if the run dies between the two, the next run re-scores what
    the table lacks, so the table never holds rows the lake has not seen.
    """
    import pyarrow.parquet as pq

    from imdbops.dataops.lake import open_lake
    from imdbops.dataops.predictions_store import write_predictions

    meta = pq.read_metadata(scores_path)
    if meta.num_rows == 0:
        return {"rows": 0, "lake_url": None, "note": "nothing new to score"}
    kv = meta.metadata or {}
    version = kv.get(META_VERSION, b"unknown").decode()
    stamp = kv.get(META_SCORED_AT, b"").decode().replace(":", "").replace("-", "")[:15]
    md5 = _md5_file(scores_path)
    key = f"{LAKE_PREFIX}/model_version={version}/scores-{stamp}-{md5[:12]}.parquet"
    lake = open_lake(cfg)
    lake.sweep_stale_tmp(LAKE_PREFIX)
    url = lake.put_file(scores_path, key, point="score.lake_put")
    result = write_predictions(cfg, scores_path).to_dict()
    lake_copy = {"key": key, "md5": md5, "size": Path(scores_path).stat().st_size}
    return {**result, "model_version": version, "lake_url": url, "lake_copy": lake_copy}


def run_score(
    cfg: Config,
    *,
    warehouse: bool = False,
    include_rated: bool = False,
    input_path: Path | None = None,
    output: Path | None = None,
    model_version: str | None = None,
    model: Any = None,
    incremental: bool = True,
    chunk_rows: int = 100_000,
    on_total: Callable[[int | None], None] | None = None,
    on_progress: Progress | None = None,
) -> ScoreResult:
    """``imdbops score``: one source -> scores -> published (and/or ``output``)."""
    from imdbops.dataops.predictions_store import extract_unrated

    if warehouse == (input_path is not None):
        raise ValueError("choose one source: --warehouse or --input FILE")
    if output is not None:
        file_format(output)  # refuse a bad --output suffix before any work
    if input_path is not None:
        file_format(input_path)
    if model is None:  # a caller may pass a LoadedModel it already has
        model = resolve_model(cfg, model_version)
    work = Path(cfg.paths.state_dir) / "scoring"
    work.mkdir(parents=True, exist_ok=True)
    _sweep_dead_scratch(work)
    with _temp_file(work, "unrated") as unrated, _temp_file(work, "scores") as scores:
        source = Path(input_path) if input_path is not None else unrated
        if warehouse:
            extract_unrated(cfg, unrated, include_rated=include_rated)
        if on_total is not None:
            on_total(count_rows(source))
        result = score_file(
            cfg,
            source,
            scores,
            model=model,
            incremental=incremental,
            output=output,
            chunk_rows=chunk_rows,
            on_progress=on_progress,
        )
        if warehouse:
            result.source = f"warehouse ({'all movies' if include_rated else 'unrated movies'})"
        elif result.rows_read == 0:
            raise ValueError(f"{source}: the file has no rows; nothing to score")
        if result.scores is not None:
            result.published = publish(cfg, scores)
        elif output is None:
            raise ValueError(
                f"{source}: no tconst column, so the scores cannot go into the predictions "
                "table; pass --output FILE to write them to a file"
            )
        result.seconds = round(result.seconds, 3)
    return result


# ---- helpers -------------------------------------------------------------------------
@contextlib.contextmanager
def _no_lookup() -> Iterator[Callable[[Any], Any]]:
    import numpy as np

    yield lambda chunk: np.zeros(chunk.num_rows, dtype=bool)


_SCRATCH = re.compile(r"^\.?(?:unrated|scores)-(\d+)-\d+\.parquet")


def _sweep_dead_scratch(folder: Path) -> None:
    """Delete scratch files of runs that were killed (their pid, in the name, is gone)."""
    for path in folder.iterdir():
        match = _SCRATCH.match(path.name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
            log.info("removed %s, left by a scoring run that was killed", path)
        except PermissionError:
            pass  # a live process of another user


@contextlib.contextmanager
def _temp_file(folder: Path, stem: str) -> Iterator[Path]:
    path = folder / f"{stem}-{os.getpid()}-{time.time_ns()}.parquet"
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _parquet_writer(path: Path, schema: pa.Schema) -> Iterator[Any]:
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        writer = pq.ParquetWriter(tmp, schema, compression="zstd")
        try:
            yield writer
        finally:
            writer.close()


@contextlib.contextmanager
def _output_writer(path: Path, first: Chunk) -> Iterator[Any]:
    schema = _output_table(first, None, "").schema
    if file_format(path) == "parquet":
        with _parquet_writer(path, schema) as writer:
            yield writer
        return
    import pyarrow.csv as pacsv

    with atomic_path(path) as tmp:
        writer = pacsv.CSVWriter(str(tmp), schema)
        try:
            yield writer
        finally:
            writer.close()


def _scores_table(
    chunk: Chunk, keep: Any, md5: Any, proba: Any, version: str, at: datetime, schema: Any
) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    tconst = chunk.tconst if keep is None else chunk.tconst[keep]
    if keep is not None:
        md5 = md5.filter(pa.array(keep))
    n = len(proba)
    return pa.table(
        {
            "tconst": pa.array(tconst, pa.string()),
            "probability": pa.array(proba, pa.float64()),
            "label": pa.array(predicted_labels(proba).astype(np.int8)),
            "model_version": pa.array([version] * n, pa.string()),
            "data_md5": md5,
            "scored_at": pa.array(np.full(n, np.datetime64(at, "us"))),
        },
        schema=schema,
    )


def _output_table(chunk: Chunk, proba: Any, version: str) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    n = len(chunk.frame)
    proba = np.zeros(n) if proba is None else proba
    columns = {} if chunk.tconst is None else {"tconst": pa.array(chunk.tconst, pa.string())}
    for field in MODEL_FIELDS:  # the model's inputs as read: numbers null when unknown
        values = chunk.frame[field.name].to_numpy()
        kind = pa.float64() if field.numeric else pa.string()
        columns[field.name] = pa.array(values, kind, from_pandas=field.numeric)
    columns.update(
        {
            "probability": pa.array(proba, pa.float64()),
            "label": pa.array(predicted_labels(proba).astype(np.int8)),
            "model_version": pa.array([version] * n, pa.string()),
        }
    )
    return pa.table(columns)


def _md5_file(path: Path) -> str:
    from imdbops.dataops.versioning.filehash import hash_path

    return hash_path(path)[0]
