"""Writing a table of our own (e.g. predictions) and reading it back, on every backend."""

from __future__ import annotations

import pandas as pd
import pytest

from imdbops.dataops.warehouse_backends import QueryError
from imdbops.dataops.warehouse_tables import read_query, write_table


def test_write_replace_append_and_read_back(cfg):
    first = pd.DataFrame(
        {
            "tconst": ["tt1", "tt2"],
            "Proba": [0.25, 0.75],  # upper case: stored and read back lower case
            "n": pd.array([1, None], dtype="Int64"),
            "scored_at": pd.to_datetime(["2026-01-01 10:00", "2026-01-02 11:30"]),
        }
    )
    assert write_table(cfg, "predictions", first) == 2
    back = read_query(cfg, "select tconst, proba, n, scored_at from predictions order by tconst")
    assert list(back.columns) == ["tconst", "proba", "n", "scored_at"]
    assert back["tconst"].tolist() == ["tt1", "tt2"]
    assert back["proba"].tolist() == [0.25, 0.75]
    assert back.loc[0, "n"] == 1 and pd.isna(back.loc[1, "n"])
    assert pd.Timestamp(back.loc[1, "scored_at"]) == pd.Timestamp("2026-01-02 11:30")

    write_table(cfg, "predictions", first.head(1).assign(tconst="tt3"), mode="append")
    assert read_query(cfg, "select count(*) as n from predictions")["n"].tolist() == [3]
    write_table(cfg, "predictions", first.head(1))  # replace
    assert read_query(cfg, "select tconst from predictions")["tconst"].tolist() == ["tt1"]


def test_a_failed_write_leaves_the_table_as_it_was(cfg):
    write_table(cfg, "predictions", pd.DataFrame({"tconst": ["tt1"], "proba": [0.5]}))
    with pytest.raises(QueryError):
        # append with a column the table lacks: fails inside the transaction
        write_table(cfg, "predictions", pd.DataFrame({"tconst": ["tt2"], "oops": [1.0]}),
                    mode="append")  # fmt: skip
    assert read_query(cfg, "select tconst from predictions")["tconst"].tolist() == ["tt1"]
    with pytest.raises(QueryError, match="no_such_table"):
        read_query(cfg, "select * from no_such_table")
