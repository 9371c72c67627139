"""Request and response shapes of the API, and the translation of validation errors into
messages a person can act on (which item, which field, what to do)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from imdbops.genres import IMDB_GENRES, UnknownGenreError, normalize_genres

MAX_TITLE_CHARS = 300
MAX_ITEMS = 1000


class MovieItem(BaseModel):
    """One movie to score."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"title": "The Matrix", "genres": ["Action", "Sci-Fi"], "year": 1999}]
        },
    )

    title: str = Field(
        min_length=1, max_length=MAX_TITLE_CHARS, description="The movie's title (1-300 chars)."
    )
    genres: list[str] = Field(
        max_length=len(IMDB_GENRES),
        description="IMDb genres, matched case-insensitively; may be empty.",
    )
    year: int | None = Field(default=None, ge=1870, le=2100, description="Release year.")
    runtime_minutes: float | None = Field(
        default=None, gt=0, le=10_000, allow_inf_nan=False, description="Runtime in minutes."
    )
    tconst: str | None = Field(
        default=None,
        pattern=r"^tt[0-9]{1,12}$",
        description="IMDb id (e.g. tt0133093), optional: logged so `imdbops monitor "
        "performance` can match the prediction with the rating once it exists.",
    )

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title is blank; send the movie's title, e.g. 'The Matrix'")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                "title holds invalid Unicode (a lone surrogate); send UTF-8 text"
            ) from None
        return value

    @field_validator("genres")
    @classmethod
    def _genres(cls, value: list[str]) -> list[str]:
        return _normalized(value)  # cached in normalize_genres: requests repeat a few lists


def _normalized(value: Any) -> list[str]:
    try:
        return normalize_genres(value)
    except UnknownGenreError as exc:
        unknown = ", ".join(repr(_printable(u)) for u in exc.unknown[:5])
        raise ValueError(
            f"unknown genre(s) {unknown}; use IMDb genres: {', '.join(IMDB_GENRES)}"
        ) from None


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[MovieItem] = Field(
        min_length=1, max_length=MAX_ITEMS, description="1 to 1,000 movies to score."
    )
    strict_genres: bool = Field(
        default=False,
        description="Answer 422 naming the genres the served model never saw in training, "
        "instead of ignoring them (each prediction lists them in unknown_to_model).",
    )
    explain: bool = Field(
        default=False,
        description="Add each prediction's explanation: contributions that add up to the "
        "model's raw score, the title words that pushed it, and short reasons. Costs about "
        "2-3 ms of CPU per item in batches (docs/explain-reproduce.md); 422 when the served "
        "model cannot explain.",
    )


class Prediction(BaseModel):
    title: str
    label: str = Field(description="'like' or 'dislike'")
    probability: float = Field(description="P(audiences like it), 0..1")
    model_version: str
    unknown_to_model: list[str] = Field(
        description="This item's genres the model never saw in training; they had no effect."
    )
    explanation: dict[str, Any] | None = Field(
        default=None, description="Only with explain: true (see docs/explain-reproduce.md)."
    )
    canary: bool | None = Field(
        default=None,
        description="Only on items the canary version answered (see docs/shadow.md).",
    )


class Envelope(BaseModel):
    """The envelope every answer (errors too) comes in."""

    model_config = ConfigDict(populate_by_name=True)

    message: str
    method: str
    status_code: int = Field(alias="status-code")
    timestamp: str
    url: str
    data: Any = None


def _printable(text: Any, limit: int = 60) -> str:
    """Text safe to echo back: valid UTF-8, bounded length."""
    text = str(text).encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "..."


_FIXES = {
    "missing": "add the field",
    "extra_forbidden": "remove it (allowed: items, strict_genres, explain; per item: title, genres, "
    "year, runtime_minutes, tconst)",
    "bool_type": "send true or false",
    "bool_parsing": "send true or false",
    "string_pattern_mismatch": "send an IMDb id: 'tt' followed by digits, e.g. tt0133093",
    "string_type": "send a JSON string",
    "list_type": "send a JSON array",
    "int_parsing": "send a whole number",
    "int_type": "send a whole number",
    "int_from_float": "send a whole number",
    "float_parsing": "send a number",
    "float_type": "send a number",
    "model_type": "send a JSON object",
    "dict_type": "send a JSON object",
    "string_too_long": f"shorten it to at most {MAX_TITLE_CHARS} characters",
    "string_too_short": "send a non-empty value",
    "too_short": "send at least one item",
    "too_long": f"split the request into batches of at most {MAX_ITEMS} items",
    "json_invalid": 'send a valid JSON body like {"items": [{"title": "The Matrix", "genres": ["Action"]}]}',
}


def describe_errors(exc: ValidationError, limit: int = 10) -> tuple[str, list[dict[str, Any]]]:
    """(one-line message, list of {item, field, problem, fix}) for a request ValidationError."""
    details: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err.get("loc", ()))
        item = None
        if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
            item = loc[1]
            field_path = loc[2:]
        else:
            field_path = loc
        field = ".".join(str(p) for p in field_path) or "body"
        problem = err.get("msg", "invalid value")
        if problem.startswith("Value error, "):
            problem = problem[len("Value error, ") :]
        details.append(
            {
                "item": item,
                "field": field,
                "problem": _printable(problem, 600),
                "fix": _FIXES.get(err.get("type", ""), "correct the value"),
            }
        )
    parts = []
    for d in details[:limit]:
        where = f"items[{d['item']}].{d['field']}" if d["item"] is not None else d["field"]
        parts.append(f"{where}: {d['problem']} ({d['fix']})")
    more = f" (and {len(details) - limit} more)" if len(details) > limit else ""
    return "invalid request: " + "; ".join(parts) + more, details[:100]
