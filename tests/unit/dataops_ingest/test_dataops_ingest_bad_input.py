"""Bad input: one clear IngestError naming the file, and the warehouse exactly as before."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from support.warehouse_kit import rows

from imdbops.dataops.sources import IngestError
from imdbops.dataops.warehouse import ingest_imdb
from imdbops.dataops.warehouse_backends import get_warehouse
from imdbops.failpoints import InjectedFault


def snapshot(cfg) -> dict:
    """Every raw table's rows (ingest_log's JSON column as text: drivers decode it apart)."""
    return {
        "title_basics": rows(cfg, "select * from raw.title_basics order by tconst"),
        "title_ratings": rows(cfg, "select * from raw.title_ratings order by tconst"),
        "ingest_log": rows(
            cfg, "select loaded_at, source, cast(tables as varchar) from raw.ingest_log"
        ),
    }


def _many_rows(kit, n: int) -> list[list[str]]:
    return [[f"tt{i:07d}", f"{1 + i % 9}.5", str(i)] for i in range(n)]


def _truncated(kit, path: Path) -> Path:
    kit.write(path, kit.ratings_header, _many_rows(kit, 20_000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _raw_gz(path: Path, text: str) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(text)
    return path


# Each case builds one bad file; which dump it replaces; what the error must say (a regex:
# DuckDB's reader and PostgreSQL's COPY word a bad value or line differently).
CASES = {
    "missing file": ("basics", lambda kit, p: p, "file not found"),
    "empty file": ("ratings", lambda kit, p: (p.write_bytes(b""), p)[1], "empty"),
    "empty gzip": ("ratings", lambda kit, p: _raw_gz(p, ""), "empty"),
    "header only": ("ratings", lambda kit, p: kit.write(p, kit.ratings_header, []), "no rows"),
    "wrong columns": (
        "ratings",
        lambda kit, p: kit.write(p, ["tconst", "rating", "votes"], [["tt1", "5", "3"]]),
        "missing column(s) averageRating, numVotes",
    ),
    "missing column": (
        "basics",
        lambda kit, p: kit.write(p, kit.basics_header[:-1], [r[:-1] for r in kit.basics_rows]),
        "missing column(s) genres",
    ),
    "comma separated": (
        "ratings",
        lambda kit, p: _raw_gz(p, "tconst,averageRating,numVotes\ntt1,5.0,3\n"),
        "not tab-separated",
    ),
    "truncated gzip": ("ratings", _truncated, "truncated"),
    "non-numeric rating": (
        "ratings",
        lambda kit, p: kit.write(p, kit.ratings_header, [["tt0000001", "seven", "10"]]),
        r'converting column "averageRating"|column averageRating: invalid input syntax.*"seven"',
    ),
    "extra field in a row": (
        "ratings",
        lambda kit, p: kit.write(p, kit.ratings_header, [["tt0000001", "7.0", "10", "x"]]),
        "Expected Number of Columns: 3 Found: 4|line 2: extra data after last expected column",
    ),
    "duplicate tconst": (
        "ratings",
        lambda kit, p: kit.write(p, kit.ratings_header, [["tt1", "7.0", "1"], ["tt1", "6.0", "2"]]),
        "not unique",
    ),
}


REGEX_CASES = {"non-numeric rating", "extra field in a row"}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_dump_is_rejected_and_the_warehouse_is_unchanged(cfg, tmp_path, imdb_dumps, kit, case):
    which, make, expected = CASES[case]
    ingest_imdb(cfg, *imdb_dumps)
    before = snapshot(cfg)
    (tmp_path / "bad").mkdir()
    bad = make(kit, tmp_path / "bad" / f"title.{which}.tsv.gz")
    basics, ratings = (bad, imdb_dumps[1]) if which == "basics" else (imdb_dumps[0], bad)
    with pytest.raises(IngestError) as err:
        ingest_imdb(cfg, basics, ratings)
    message = str(err.value)
    assert str(bad) in message  # names the file
    assert re.search(expected if case in REGEX_CASES else re.escape(expected), message)
    assert any(
        fix in message
        for fix in ("pass IMDb", "download it again", "fix or remove", "pass a complete")
    )
    assert "\n" not in message and "Possible solutions" not in message
    assert snapshot(cfg) == before


def test_failed_first_load_leaves_no_warehouse(cfg, tmp_path, imdb_dumps, kit):
    bad = kit.write(tmp_path / "bad.tsv.gz", kit.ratings_header, [["tt0000001", "x", "1"]])
    with pytest.raises(IngestError):
        ingest_imdb(cfg, imdb_dumps[0], bad)
    assert not get_warehouse(cfg).exists()
    assert not cfg.warehouse.path.exists()  # DuckDB's file is not created; no server writes it


def test_crash_before_commit_rolls_back(cfg, tmp_path, imdb_dumps, kit, monkeypatch):
    ingest_imdb(cfg, *imdb_dumps)
    before = snapshot(cfg)
    rows = kit.ratings_rows
    rows[0][1] = "1.0"
    changed = kit.write(tmp_path / "v2" / "title.ratings.tsv.gz", kit.ratings_header, rows)
    monkeypatch.setenv("IMDBOPS_FAILPOINTS", "ingest.before_commit:raise")
    with pytest.raises(InjectedFault):
        ingest_imdb(cfg, imdb_dumps[0], changed)
    assert snapshot(cfg) == before
