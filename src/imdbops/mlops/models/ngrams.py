"""Character n-gram TF-IDF that tokenises each distinct word once.

``char_wb`` n-grams never cross a word boundary, so a title's n-gram counts are the sum of
its words' counts. sklearn's ``CountVectorizer`` still cuts every n-gram of every title in
Python, which was the largest single cost of the default model's fit, and titles repeat
their words (Zipf): at IMDb scale there are ~20 word occurrences per distinct word.
``CharNgramTfidf`` finds the distinct words (pandas' C hash table), cuts each one's n-grams
with sklearn's own ``_char_wb_ngrams``, and forms the title x n-gram counts as one sparse
product (titles x words) @ (words x n-grams).

The counts, vocabulary and everything after them (sorting, ``min_df``, ``max_features``,
IDF) are sklearn's: the matrix equals ``TfidfVectorizer(analyzer="char_wb")``'s exactly
(``tests/unit/models/test_models_ngrams.py``). Fewer than ``WORDWISE_MIN_DOCS`` titles (a
request, a serving micro-batch) go through sklearn's loop: so few titles hardly repeat a word,
and the set-up would cost more than it saves.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

try:  # sklearn >= 1.8 hands out the sparse type its config asks for
    from sklearn.feature_extraction.text import _align_api_if_sparse
except ImportError:  # pragma: no cover - older sklearn: always scipy's spmatrix

    def _align_api_if_sparse(X):
        return X


# Measured: at 100-400 titles both ways cost the same; from a few thousand on (a fit, an
# evaluation, batch scoring) the word-wise one wins, by ~3x on the bundled training split.
WORDWISE_MIN_DOCS = 1000


class CharNgramTfidf(TfidfVectorizer):
    """``TfidfVectorizer(analyzer="char_wb")`` with counting per distinct word (module doc)."""

    def _count_vocab(self, raw_documents, fixed_vocab):
        documents = raw_documents if isinstance(raw_documents, list) else list(raw_documents)
        if self.analyzer != "char_wb" or len(documents) < WORDWISE_MIN_DOCS:
            return super()._count_vocab(documents, fixed_vocab)
        import pandas as pd

        preprocess = self.build_preprocessor()
        decode = self.decode
        words_per_doc = [preprocess(decode(doc)).split() for doc in documents]
        lengths = np.fromiter(map(len, words_per_doc), dtype=np.int64, count=len(documents))
        flat = np.fromiter(
            (w for words in words_per_doc for w in words), dtype=object, count=int(lengths.sum())
        )
        word_codes, distinct = pd.factorize(flat)
        doc_indptr = np.concatenate([[0], np.cumsum(lengths)])
        by_doc = sp.csr_matrix(
            (np.ones(len(word_codes), dtype=np.int64), word_codes, doc_indptr),
            shape=(len(documents), len(distinct)),
        )

        cut = self._char_wb_ngrams
        grams_per_word = [cut(word) for word in distinct]
        if fixed_vocab:
            vocabulary = self.vocabulary_
            lookup = vocabulary.get
            ids_per_word = [
                [i for i in map(lookup, grams) if i is not None] for grams in grams_per_word
            ]
            gram_codes = np.fromiter(
                (i for ids in ids_per_word for i in ids),
                dtype=np.int64,
                count=sum(map(len, ids_per_word)),
            )
            word_lengths = map(len, ids_per_word)
            n_grams = len(vocabulary)
        else:
            all_grams = np.fromiter(
                (g for grams in grams_per_word for g in grams),
                dtype=object,
                count=sum(map(len, grams_per_word)),
            )
            gram_codes, gram_names = pd.factorize(all_grams)
            if not len(gram_names):
                raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
            vocabulary = dict(zip(gram_names.tolist(), range(len(gram_names)), strict=True))
            word_lengths = map(len, grams_per_word)
            n_grams = len(gram_names)
        word_indptr = np.concatenate(
            [[0], np.cumsum(np.fromiter(word_lengths, dtype=np.int64, count=len(distinct)))]
        )
        by_word = sp.csr_matrix(
            (np.ones(len(gram_codes), dtype=np.int64), gram_codes, word_indptr),
            shape=(len(distinct), n_grams),
        )
        counts = (by_doc @ by_word).tocsr()
        counts.sum_duplicates()
        counts.eliminate_zeros()
        index_dtype = np.int32 if counts.nnz <= np.iinfo(np.int32).max else np.int64
        X = sp.csr_matrix(
            (
                counts.data.astype(self.dtype),
                counts.indices.astype(index_dtype),
                counts.indptr.astype(index_dtype),
            ),
            shape=counts.shape,
        )
        X.sort_indices()
        return vocabulary, _align_api_if_sparse(X)
