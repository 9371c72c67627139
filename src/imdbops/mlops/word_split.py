"""Split a linear model's logit on one row into title words (and genres), exactly.

A word n-gram's weight is shared by its words; a character n-gram's weight by the words it
occurs in, in proportion to its occurrences; genre one-hots and pairs go to their genres.
Used by ``mlops.explain`` for the stack's text models and the linear baselines.
"""

from __future__ import annotations

import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imdbops.genres import IMDB_GENRES
from imdbops.mlops.models.features import pair_index

N_GENRES = len(IMDB_GENRES)


class ExplainUnsupportedError(ValueError):
    """This model cannot explain its predictions (the reason says why)."""


@dataclass
class TextModelExplanation:
    name: str
    raw_score: float  # this text model's own logit
    intercept: float
    words: list[dict[str, Any]] = field(default_factory=list)  # sorted by |contribution|
    genres: float = 0.0  # the genre columns' share of the logit


@dataclass
class Block:
    kind: str  # word | char_wb | genres
    start: int
    stop: int
    transformer: Any
    names: np.ndarray | None  # feature names of a vectorizer


_NAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _vocabulary(vectorizer: Any) -> np.ndarray:
    """Feature names by column, computed once per fitted vectorizer (not per request)."""
    names = _NAMES.get(vectorizer)
    if names is None:
        names = vectorizer.get_feature_names_out()
        _NAMES[vectorizer] = names
    return names


def block_kind(transformer: Any) -> str:
    if type(transformer).__name__ == "GenreOneHot":
        return "genres"
    analyzer = getattr(transformer, "analyzer", None)
    if analyzer in ("word", "char_wb"):
        return analyzer
    raise ExplainUnsupportedError(f"no word split for a {type(transformer).__name__} feature")


def sparse_blocks(parts: Iterable[tuple[str, Any]]) -> list[Block]:
    blocks, start = [], 0
    for kind, transformer in parts:
        if kind == "genres":
            width = N_GENRES + (N_GENRES * (N_GENRES - 1) // 2 if transformer.pairs else 0)
            names = None
        else:
            names = _vocabulary(transformer)
            width = len(names)
        blocks.append(Block(kind, start, start + width, transformer, names))
        start += width
    return blocks


def linear_text_model(
    name: str,
    row: Any,
    coef: np.ndarray,
    intercept: float,
    blocks: list[Block],
    text: str,
    top_words: int | None,
) -> TextModelExplanation:
    """Split one linear model's logit on one row by title word (exactly)."""
    row = row.tocsr() if hasattr(row, "tocsr") else row
    cols, values = row.indices, row.data.astype(np.float64)
    parts = values * coef[cols].astype(np.float64)
    words: dict[str, float] = defaultdict(float)
    genres = 0.0
    char_counts: dict[int, list[Counter]] = {}
    title_words = text.split()
    for col, part in zip(cols, parts, strict=True):
        block = next(b for b in blocks if b.start <= col < b.stop)
        if block.kind == "genres":
            genres += part
            continue
        gram = str(block.names[col - block.start])
        if block.kind == "word":
            tokens = gram.split(" ")
            for token in tokens:
                words[token] += part / len(tokens)
            continue
        counts = char_counts.get(block.start)
        if counts is None:
            analyzer = block.transformer.build_analyzer()
            counts = [Counter(analyzer(w)) for w in title_words]
            char_counts[block.start] = counts
        total = sum(c[gram] for c in counts)
        if total == 0:  # cannot happen for a gram the vectorizer found in this text
            words["(other)"] += part
            continue
        for word, c in zip(title_words, counts, strict=True):
            if c[gram]:
                words[word] += part * c[gram] / total
    ranked = sorted(words.items(), key=lambda kv: -abs(kv[1]))
    if top_words is not None:
        ranked = ranked[:top_words]
    raw = intercept + float(parts.sum())
    return TextModelExplanation(
        name,
        raw,
        intercept,
        [{"word": w, "contribution": float(c)} for w, c in ranked],
        float(genres),
    )


def genre_split(row: Any, coef: np.ndarray, blocks: list[Block]) -> dict[str, float]:
    """The genre columns' part of a linear logit, per genre (a pair's weight shared by both)."""
    block = next((b for b in blocks if b.kind == "genres"), None)
    if block is None:
        return {}
    pair_of = {}
    for a in range(N_GENRES):
        for b in range(a + 1, N_GENRES):
            pair_of[N_GENRES + pair_index(a, b, N_GENRES)] = (a, b)
    out: dict[str, float] = defaultdict(float)
    for col, value in zip(row.indices, row.data, strict=True):
        if not block.start <= col < block.stop:
            continue
        local = col - block.start
        part = float(value) * float(coef[col])
        if local < N_GENRES:
            out[IMDB_GENRES[local]] += part
        else:
            a, b = pair_of[local]
            out[IMDB_GENRES[a]] += part / 2
            out[IMDB_GENRES[b]] += part / 2
    return dict(out)
