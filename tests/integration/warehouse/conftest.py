"""Tiny IMDb-format dumps for the warehouse tests (gzipped TSV, \\N nulls, no quoting)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from support.imdb_dumps import BASICS_ROWS, RATINGS_ROWS, write_dumps
from support.warehouse_kit import backend_cfg_fixture


class Dumps:
    """Writes versions of a small title.basics / title.ratings pair."""

    def __init__(self, root: Path):
        self.root = root
        self.basics = copy.deepcopy(BASICS_ROWS)
        self.ratings = copy.deepcopy(RATINGS_ROWS)
        self.version = 0

    def write(self) -> tuple[Path, Path]:
        self.version += 1
        return write_dumps(self.root / f"v{self.version}", self.basics, self.ratings)

    def set_rating(self, tconst: str, rating: str) -> None:
        next(r for r in self.ratings if r[0] == tconst)[1] = rating


@pytest.fixture
def dumps(tmp_path) -> Dumps:
    return Dumps(tmp_path / "dumps")


# Every test here runs on DuckDB and on PostgreSQL (a fresh database on the session's server).
cfg = backend_cfg_fixture()
