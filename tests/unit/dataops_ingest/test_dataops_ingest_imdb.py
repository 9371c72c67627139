"""Loading IMDb's TSV dumps into the warehouse's raw tables."""

from __future__ import annotations

from support.warehouse_kit import rows as _rows

from imdbops.dataops.warehouse import ingest_bundled, ingest_imdb

# information_schema's names for the raw column types, per backend.
RATINGS_TYPES = {
    "duckdb": {"tconst": "VARCHAR", "averageRating": "DOUBLE", "numVotes": "BIGINT",
               "last_modified": "TIMESTAMP"},
    "postgres": {"tconst": "text", "averagerating": "double precision", "numvotes": "bigint",
                 "last_modified": "timestamp without time zone"},
}  # fmt: skip


def test_imdb_dumps_load_with_nulls_quotes_and_types(cfg, imdb_dumps):
    result = ingest_imdb(cfg, *imdb_dumps)
    assert result.source == "imdb"
    assert [(t.table, t.rows, t.inserted) for t in result.tables] == [
        ("title_basics", 8, 8),
        ("title_ratings", 7, 7),
    ]
    rows = {r[0]: r for r in _rows(cfg, "select * from raw.title_basics")}
    assert rows["tt0000003"][1:9] == (
        "movie", 'The "Great" Train', "The Great Train", 0, 1903, None, 12, "Action,Crime,Western"
    )  # fmt: skip
    assert rows["tt0000005"][5] is None and rows["tt0000005"][8] is None  # \N -> NULL
    assert rows["tt0000004"][6] == 1995
    assert rows["tt0000008"][2] == "It's a Title, with commas"
    types = dict(_rows(cfg, "select column_name, data_type from information_schema.columns "
                            "where table_name = 'title_ratings'"))  # fmt: skip
    assert types == RATINGS_TYPES[cfg.warehouse.backend]
    stamps = _rows(cfg, "select distinct last_modified from raw.title_basics")
    assert len(stamps) == 1 and stamps[0][0].isoformat() == result.last_modified


def test_reload_stamps_only_changed_rows(cfg, tmp_path, imdb_dumps, kit):
    first = ingest_imdb(cfg, *imdb_dumps)
    same = ingest_imdb(cfg, *imdb_dumps)
    assert [(t.inserted, t.updated, t.unchanged, t.removed) for t in same.tables] == [
        (0, 0, 8, 0),
        (0, 0, 7, 0),
    ]
    assert _rows(cfg, "select max(last_modified) from raw.title_ratings")[0][0].isoformat() == (
        first.last_modified
    )
    ratings = [r for r in kit.ratings_rows if r[0] != "tt0000008"]  # one title lost its rating
    ratings[0][1] = "9.9"
    ratings.append(["tt0000006", "6.6", "10"])
    path = kit.write(tmp_path / "v2" / "title.ratings.tsv.gz", kit.ratings_header, ratings)
    third = ingest_imdb(cfg, imdb_dumps[0], path)
    t = third.tables[1]
    assert (t.rows, t.inserted, t.updated, t.unchanged, t.removed) == (7, 1, 1, 5, 1)
    assert third.last_modified > first.last_modified
    changed = _rows(
        cfg,
        f"select tconst from raw.title_ratings where last_modified = timestamp "
        f"'{third.last_modified}' "
        "order by tconst",
    )
    assert [r[0] for r in changed] == ["tt0000001", "tt0000006"]
    assert len(_rows(cfg, "select * from raw.ingest_log")) == 3


def test_uncompressed_tsv_is_accepted(cfg, tmp_path, kit):
    basics = tmp_path / "title.basics.tsv"
    basics.write_text("\t".join(kit.basics_header) + "\n" + "\t".join(kit.basics_rows[2]) + "\n")
    ratings = tmp_path / "title.ratings.tsv"
    ratings.write_text("\t".join(kit.ratings_header) + "\n" + "\t".join(kit.ratings_rows[2]) + "\n")
    result = ingest_imdb(cfg, basics, ratings)
    assert [t.rows for t in result.tables] == [1, 1]


def test_bundled_ingest_goes_through_the_same_load(cfg):
    result = ingest_bundled(cfg)
    assert result.source == "bundled"
    assert [t.rows for t in result.tables] == [58_788, 58_788]
    genres = _rows(cfg, "select count(*) filter (where genres is null), "
                        "count(*) filter (where genres like '%Action%') from raw.title_basics")  # fmt: skip
    assert genres[0][0] == 12_786  # the ~22% with none of the 7 genres
    assert genres[0][1] > 4_000
    assert _rows(cfg, "select source from raw.ingest_log") == [("bundled",)]
    # The temporary dumps do not outlive the load.
    assert not list(cfg.paths.state_dir.glob("bundled-*"))
