"""Tiny dumps in IMDb's exact format (tab-separated, \\N nulls, no quoting), gzipped here."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.imdb_dumps import (
    BASICS_HEADER,
    BASICS_ROWS,
    RATINGS_HEADER,
    RATINGS_ROWS,
    write_dumps,
    write_tsv_gz,
)
from support.warehouse_kit import backend_cfg_fixture


@pytest.fixture
def imdb_dumps(tmp_path) -> tuple[Path, Path]:
    """(title.basics.tsv.gz, title.ratings.tsv.gz) holding the shared rows."""
    return write_dumps(tmp_path / "dumps")


class DumpKit:
    """Headers, sample rows and the writer, for tests (conftest is not importable)."""

    basics_header = BASICS_HEADER
    ratings_header = RATINGS_HEADER

    @property
    def basics_rows(self) -> list[list[str]]:
        return [list(r) for r in BASICS_ROWS]

    @property
    def ratings_rows(self) -> list[list[str]]:
        return [list(r) for r in RATINGS_ROWS]

    write = staticmethod(write_tsv_gz)


@pytest.fixture
def kit() -> DumpKit:
    return DumpKit()


# Every test here runs on DuckDB and on PostgreSQL (a fresh database on the session's server).
cfg = backend_cfg_fixture()
