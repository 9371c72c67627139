"""Fixtures for the ML lifecycle tests: a small raw extract made from the bundled IMDb data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from imdbops.dataops.bundled import GENRE_FLAGS, read_bundled_movies


def bundled_as_raw_extract(rows: int, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of the bundled movies in the raw-extract shape (docs/design.md)."""
    movies = read_bundled_movies().sample(n=rows, random_state=seed).reset_index(drop=True)
    genres = [
        ",".join(g for g in GENRE_FLAGS if int(row[g]) == 1)
        for _, row in movies[list(GENRE_FLAGS)].iterrows()
    ]
    return pd.DataFrame(
        {
            "tconst": [f"tt{i:07d}" for i in range(len(movies))],
            "primaryTitle": movies["title"].astype(str),
            "genres": genres,
            "startYear": movies["year"].astype("Int64"),
            "runtimeMinutes": movies["length"].astype("Int64"),
            "averageRating": movies["rating"].astype("float64"),
            "numVotes": movies["votes"].astype("Int64"),
        }
    )


@pytest.fixture(scope="session")
def raw_sample() -> pd.DataFrame:
    return bundled_as_raw_extract(3000)


@pytest.fixture
def raw_csv(cfg, raw_sample) -> Path:
    path = cfg.paths.raw_dir / "movies.csv"
    raw_sample.to_csv(path, index=False)
    return path


@pytest.fixture
def splits_dir(cfg, raw_csv):
    """transform + split of the 3,000-row sample: the catalog's Location of the folder."""
    from imdbops.mlops.split import split_file
    from imdbops.mlops.transform_step import transform_file
    from imdbops.pipelines.training import catalog

    where = catalog(cfg)
    processed = transform_file(cfg, raw_csv, where["processed"].path)
    split_file(cfg, processed, where["splits"])
    return where["splits"]
