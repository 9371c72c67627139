"""The domain core: what a movie row looks like at each stage, and what "liked" means.

Every layer reads these names from here and nowhere else: the extract query's result, the
raw validation schema, the transform, the model's input frame, the API's decision and the
monitoring profile. IMDb's genre vocabulary, the other half of the domain core, lives in
``imdbops.genres``. This module is stdlib-only so the CLI and the DAG definition can import
it at start-up for free.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from imdbops.genres import IMDB_GENRES

# ---- the movie record -----------------------------------------------------------------
# One movie as a client describes it: the fields, their types, bounds, nullability and
# vocabulary, written once. Everything that carries a movie derives from this tuple: the
# API's request model (and so the OpenAPI document), the prediction log's schema and WAL
# checks, the batch-scoring reader, the warehouse's unrated query, the model frame, the
# page's form (served at /api/v1/movie-record) and the CLI's options. Adding an optional
# field is one ``MovieField`` here plus the feature code that uses it (docs/architecture.md
# has the recipe; tests/unit/core/test_movie_record.py walks every consumer).

# What a field holds, and so how each consumer carries it:
#   text    a non-empty string (a title); "" never means unknown
#   genres  IMDb genres: a JSON array of the enum in the API, comma-separated text elsewhere
#   integer a whole number; float64 (NaN when unknown) in frames, the log and the warehouse
#   number  a finite number; float64 (NaN when unknown) likewise
#   id      an identifier matched by ``pattern``; carried along, never a model input
KINDS = ("text", "genres", "integer", "number", "id")


@dataclass(frozen=True)
class MovieField:
    """One field of the movie record."""

    name: str  # the API's, the log's, the model frame's and the batch files' column name
    kind: str  # one of KINDS
    description: str
    required: bool = False  # required fields are never null; optional ones default to null
    model_input: bool = True  # a column of the model's input frame
    minimum: float | None = None  # numbers: inclusive lower bound ...
    exclusive_minimum: bool = False  # ... or exclusive when this is set
    maximum: float | None = None  # numbers: inclusive upper bound
    min_length: int | None = None  # text: characters
    max_length: int | None = None  # text: characters; genres: list items
    pattern: str | None = None  # text and id: a regex the value must contain (re.search)
    raw_column: str | None = None  # IMDb's column in title_basics; None: not in the dumps
    label: str = ""  # the page form's label
    cli_flag: str | None = None  # the ``imdbops predict`` option (default --<name>)
    example: Any = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"movie field {self.name}: kind {self.kind!r} is not one of {KINDS}")

    @property
    def numeric(self) -> bool:
        return self.kind in ("integer", "number")

    def within_bounds(self, value: float) -> bool:
        """Whether a finite number meets this field's bounds (what the API accepts)."""
        low, high = self.minimum, self.maximum
        if low is not None and (value <= low if self.exclusive_minimum else value < low):
            return False
        return high is None or value <= high

    @property
    def flag(self) -> str:
        return self.cli_flag or "--" + self.name.replace("_", "-")


MAX_TITLE_CHARS = 300
MOVIE_FIELDS: tuple[MovieField, ...] = (
    MovieField(
        "title", "text", "The movie's title (1-300 characters, not blank).", required=True,
        min_length=1, max_length=MAX_TITLE_CHARS, pattern=r"\S", raw_column="primaryTitle",
        label="Movie title", example="The Matrix",
    ),
    MovieField(
        "genres", "genres", "IMDb genres, spelt as IMDb does (the API's enum; the CLI and batch files "
        "also match them case-insensitively); may be empty, duplicates collapse.",
        required=True, max_length=len(IMDB_GENRES), raw_column="genres", label="Genres",
        example=["Action", "Sci-Fi"],
    ),
    MovieField(
        "year", "integer", "Release year.", minimum=1870, maximum=2100,
        raw_column="startYear", label="Year", example=1999,
    ),
    MovieField(
        "runtime_minutes", "number", "Runtime in minutes.", minimum=0, exclusive_minimum=True,
        maximum=10_000, raw_column="runtimeMinutes", label="Runtime, minutes",
        cli_flag="--runtime", example=136,
    ),
    MovieField(
        "tconst", "id", "IMDb id (e.g. tt0133093), optional: logged so `imdbops monitor "
        "performance` can match the prediction with the rating once it exists.",
        model_input=False, pattern=r"^tt[0-9]{1,12}$", raw_column="tconst", example="tt0133093",
    ),
)  # fmt: skip
MOVIE_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in MOVIE_FIELDS)
FIELDS: dict[str, MovieField] = {f.name: f for f in MOVIE_FIELDS}
MODEL_FIELDS: tuple[MovieField, ...] = tuple(f for f in MOVIE_FIELDS if f.model_input)
# The optional numbers of the model frame (NaN when unknown): year, runtime, ...
NUMERIC_INPUTS: tuple[str, ...] = tuple(f.name for f in MODEL_FIELDS if f.numeric)
# The fields IMDb's dumps hold (the warehouse's title_basics columns).
RAW_FIELDS: tuple[MovieField, ...] = tuple(f for f in MOVIE_FIELDS if f.raw_column)


def record_document() -> dict[str, Any]:
    """The record as JSON-ready data (the page builds its form from it)."""
    return {
        "fields": [
            {k: v for k, v in asdict(f).items() if v is not None} | {"flag": f.flag}
            for f in MOVIE_FIELDS
        ],
        "genres": list(IMDB_GENRES),
    }


# ---- column contracts (derived from the record) -----------------------------------------
# Raw extract frame: the warehouse query's result, ``data/raw/movies.csv`` and the input of
# the transform, with IMDb's own column names. "str" columns never hold nulls ("" for a
# movie without genres); the Int64 ones are nullable.
_RAW_DTYPE = {"text": "str", "genres": "str", "id": "str", "integer": "Int64", "number": "Int64"}
RAW_EXTRACT_COLUMNS: dict[str, str] = {
    **{"tconst": "str"},
    **{f.raw_column: _RAW_DTYPE[f.kind] for f in RAW_FIELDS if f.model_input},  # type: ignore[misc]
    "averageRating": "float64",
    "numVotes": "Int64",
}
RAW_TEXT_COLUMNS: tuple[str, ...] = tuple(
    c for c, dtype in RAW_EXTRACT_COLUMNS.items() if dtype == "str"
)
RAW_NUMBER_COLUMNS: tuple[str, ...] = tuple(
    c for c, dtype in RAW_EXTRACT_COLUMNS.items() if dtype != "str"
)

# Model input frame: what the sklearn Pipeline's ``predict_proba`` takes, at training and at
# serving. Column 1 of ``predict_proba`` is P(like). Text and genres are objects; numbers
# are float64, NaN when unknown.
MODEL_INPUT_DTYPES: dict[str, str] = {
    f.name: "float64" if f.numeric else "object" for f in MODEL_FIELDS
}
MODEL_INPUT_COLUMNS: list[str] = list(MODEL_INPUT_DTYPES)

# Processed frame: one row per movie with its label (``processed/movies.parquet``). Genres
# are comma-separated in IMDb's canonical order; the numbers are NaN when unknown.
PROCESSED_COLUMNS: dict[str, str] = {
    "tconst": "str",
    "title": "str",
    "text": "str",
    **{f.name: "float64" if f.numeric else "str" for f in MODEL_FIELDS if f.name != "title"},
    "label": "int64",
}

# ---- the label rule -------------------------------------------------------------------
# A movie is liked when its IMDb rating rounds to more than 5, i.e. averageRating >= 5.5.
# Python's round() and numpy/pandas' .round() both round half to even, so the scalar and the
# vectorised form below agree on every rating, 4.5 and 5.5 included.
LABEL_THRESHOLD = 5


def label_from_rating(rating: float) -> int:
    """1 when a movie with this IMDb rating counts as liked, else 0."""
    return int(round(float(rating)) > LABEL_THRESHOLD)


def labels_from_ratings(ratings: Any) -> Any:
    """The label rule on a whole pandas Series or numpy array (booleans; NaN stays False)."""
    return ratings.round() > LABEL_THRESHOLD


# ---- the decision threshold -----------------------------------------------------------
# The API answers "like" when P(like) reaches this; the same cut is used for the confusion
# matrix, accuracy/F1 at evaluation and the predicted-positive rate that monitoring tracks.
LIKE_THRESHOLD = 0.5


def is_liked(probability: float) -> bool:
    """The decision for one predicted probability."""
    return probability >= LIKE_THRESHOLD


def predicted_labels(proba: Any) -> Any:
    """The decision on a numpy array of probabilities, as 0/1 ints."""
    return (proba >= LIKE_THRESHOLD).astype(int)
