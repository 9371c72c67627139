"""Request and response shapes of the API, derived from the movie record, and the translation
of validation errors into messages a person can act on (which item, which field, what to do).

The request models are strict (no coercion: ``"explain": 0`` is refused, not read as false)
and each field's JSON schema is written from the same ``MovieField`` values the validators
check, with Python's ``re.search`` for patterns (what JSON-schema tools in Python apply), so
the OpenAPI document is exactly what the server enforces.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    create_model,
)

from imdbops.genres import IMDB_GENRES, normalize_genres
from imdbops.movies import MOVIE_FIELDS, MovieField

MAX_ITEMS = 1000
_STRICT = ConfigDict(extra="forbid", strict=True)
GENRE_SCHEMA = {"type": "string", "enum": list(IMDB_GENRES)}


def _printable(text: Any, limit: int = 60) -> str:
    """Text safe to echo back: valid UTF-8, bounded length."""
    text = str(text).encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "..."


def _genres(value: list[str]) -> list[str]:
    unknown = [g for g in value if g not in _GENRE_SET]
    if unknown:
        shown = ", ".join(repr(_printable(u)) for u in unknown[:5])
        raise ValueError(
            f"unknown genre(s) {shown}; use IMDb genres, spelt as listed: {', '.join(IMDB_GENRES)}"
        )
    return normalize_genres(value)  # canonical order, duplicates collapsed (cached)


_GENRE_SET = frozenset(IMDB_GENRES)


def _text_check(field: MovieField):
    pattern = re.compile(field.pattern) if field.pattern else None

    def check(value: str) -> str:
        if pattern is not None and not pattern.search(value):
            if field.kind == "text":
                raise ValueError(
                    f"{field.name} is blank; send the movie's {field.name}, e.g. {field.example!r}"
                )
            raise ValueError(f"{field.name} does not match {field.pattern}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{field.name} holds invalid Unicode (a lone surrogate); send UTF-8 text"
            ) from None
        return value

    return check


def _number_check(field: MovieField):
    low, high, exclusive = field.minimum, field.maximum, field.exclusive_minimum
    bounds = " and ".join(
        part
        for part in (
            None if low is None else f"{'>' if exclusive else '>='} {low:g}",
            None if high is None else f"<= {high:g}",
        )
        if part
    )

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{field.name} must be a finite number")
        if not field.within_bounds(value):
            raise ValueError(f"{field.name} must be {bounds}")
        return value

    return check


def _whole(value: Any) -> Any:
    # JSON Schema's "integer" is any number without a fractional part (1999.0 included);
    # everything else still meets the strict int check (1999.5, "1999" and true are refused).
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def field_json_schema(field: MovieField) -> dict[str, Any]:
    """The JSON schema of one record field in an API request (bounds, enum, pattern)."""
    schema: dict[str, Any]
    if field.kind == "genres":
        schema = {"type": "array", "items": GENRE_SCHEMA}
        if field.max_length is not None:
            schema["maxItems"] = field.max_length
    elif field.numeric:
        schema = {"type": "integer" if field.kind == "integer" else "number"}
        if field.minimum is not None:
            key = "exclusiveMinimum" if field.exclusive_minimum else "minimum"
            schema[key] = field.minimum
        if field.maximum is not None:
            schema["maximum"] = field.maximum
    else:
        schema = {"type": "string"}
        for key, value in (
            ("minLength", field.min_length),
            ("maxLength", field.max_length),
            ("pattern", field.pattern),
        ):
            if value is not None:
                schema[key] = value
    if not field.required:
        schema = {"anyOf": [schema, {"type": "null"}], "default": None}
    return {
        **schema,
        "title": field.name.replace("_", " ").capitalize(),
        "description": field.description,
    }


def _request_field(field: MovieField) -> tuple[Any, Any]:
    """(annotation, default) of ``field`` in the request model."""
    schema = WithJsonSchema(field_json_schema(field))
    if field.kind == "genres":
        base: Any = Annotated[
            list[str], Field(max_length=field.max_length), AfterValidator(_genres)
        ]
    elif field.kind == "integer":
        base = Annotated[int, BeforeValidator(_whole), AfterValidator(_number_check(field))]
    elif field.kind == "number":
        base = Annotated[float, AfterValidator(_number_check(field))]
    else:
        base = Annotated[
            str,
            Field(min_length=field.min_length, max_length=field.max_length),
            AfterValidator(_text_check(field)),
        ]
    if field.required:
        return Annotated[base, schema], ...
    return Annotated[base | None, schema], None


MovieItem = create_model(
    "MovieItem",
    __config__=ConfigDict(
        **_STRICT,
        title="MovieItem",
        json_schema_extra={
            "description": "One movie to score (the movie record, docs/architecture.md).",
            "examples": [
                {f.name: f.example for f in MOVIE_FIELDS if f.example is not None and f.required}
            ],
        },
    ),
    **{f.name: _request_field(f) for f in MOVIE_FIELDS},
)


class PredictRequest(BaseModel):
    model_config = _STRICT

    items: list[MovieItem] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=MAX_ITEMS, description="1 to 1,000 movies to score."
    )
    strict_genres: bool = Field(
        default=False,
        description="Answer 409 naming the genres the served model never saw in training, "
        "instead of ignoring them (each prediction lists them in unknown_to_model).",
    )
    explain: bool = Field(
        default=False,
        description="Add each prediction's explanation: contributions that add up to the "
        "model's raw score, the title words that pushed it, and short reasons. Costs about "
        "2-3 ms of CPU per item in batches (docs/explain-reproduce.md); 409 when the served "
        "model cannot explain.",
    )


# ---- responses ---------------------------------------------------------------------------
T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    """The envelope every answer (errors too) comes in."""

    model_config = ConfigDict(populate_by_name=True)

    message: str
    method: str
    status_code: int = Field(alias="status-code")
    timestamp: str
    url: str
    data: T


class Prediction(BaseModel):
    title: str
    label: Literal["like", "dislike"]
    probability: float = Field(ge=0, le=1, description="P(audiences like it)")
    model_version: str
    unknown_to_model: list[Annotated[str, WithJsonSchema(GENRE_SCHEMA)]] = Field(
        description="This item's genres the model never saw in training; they had no effect."
    )
    explanation: dict[str, Any] | None = Field(
        default=None, description="Only with explain: true (see docs/explain-reproduce.md)."
    )
    canary: bool | None = Field(
        default=None,
        description="Only on items the canary version answered (see docs/shadow.md).",
    )


class ModelRef(BaseModel):
    name: str
    version: str


class PredictData(BaseModel):
    predictions: list[Prediction]
    model: ModelRef


class GenresData(BaseModel):
    genres: list[Annotated[str, WithJsonSchema(GENRE_SCHEMA)]]


class ErrorDetail(BaseModel):
    item: int | None = Field(description="Index in items, or null for the request itself.")
    field: str
    problem: str
    fix: str


class ErrorData(BaseModel):
    """What an error carries: ``errors`` for a refused request; other keys by endpoint."""

    model_config = ConfigDict(extra="allow")

    errors: list[ErrorDetail] | None = None


# ---- validation errors -> messages --------------------------------------------------------
_NAMES = ", ".join(f.name for f in MOVIE_FIELDS)
_FIXES = {
    "missing": "add the field",
    "extra_forbidden": f"remove it (allowed: items, strict_genres, explain; per item: {_NAMES})",
    "bool_type": "send true or false",
    "string_type": "send a JSON string",
    "list_type": "send a JSON array",
    "int_type": "send a whole number",
    "int_from_float": "send a whole number",
    "float_type": "send a number",
    "finite_number": "send a finite number",
    "model_type": "send a JSON object",
    "model_attributes_type": "send a JSON object",
    "dict_type": "send a JSON object",
    "string_too_long": "shorten it to the documented maximum length",
    "string_too_short": "send a non-empty value",
    "too_short": "send at least one item",
    "too_long": f"split the request into batches of at most {MAX_ITEMS} items",
    "json_invalid": 'send a valid JSON body like {"items": [{"title": "The Matrix", "genres": ["Action"]}]}',
    "json_type": 'send a JSON object like {"items": [{"title": "The Matrix", "genres": ["Action"]}]}',
}
# A value error (the field's own check) has the field's fix.
_FIELD_FIXES = {
    "genres": "use IMDb's spelling, as GET /api/v1/genres lists them",
    "title": "send the movie's title",
    **{f.name: "send a value within the documented bounds" for f in MOVIE_FIELDS if f.numeric},
}
# Errors about the body's syntax (not its content): answered 400, the rest 422.
SYNTAX_ERRORS = frozenset({"json_invalid"})


def is_syntax_error(exc: ValidationError) -> bool:
    """True when the body is not JSON at all (400); content errors are 422."""
    return any(e.get("type") in SYNTAX_ERRORS for e in exc.errors(include_url=False))


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
                "fix": _FIXES.get(err.get("type", ""))
                or _FIELD_FIXES.get(field, "correct the value"),
            }
        )
    parts = []
    for d in details[:limit]:
        where = f"items[{d['item']}].{d['field']}" if d["item"] is not None else d["field"]
        parts.append(f"{where}: {d['problem']} ({d['fix']})")
    more = f" (and {len(details) - limit} more)" if len(details) > limit else ""
    return "invalid request: " + "; ".join(parts) + more, details[:100]
