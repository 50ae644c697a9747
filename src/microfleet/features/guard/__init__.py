"""A prompt-injection screen: MiniLM embeddings (the knowledge base's own) scored by a
logistic regression whose weights ship with the package (`screen.npz`), trained on a
labelled set of injections and ordinary questions and document text (the repository's
`bench/data/injection_labelled.jsonl`). Nothing is downloaded. `bench/guard.py` measures it
and rebuilds the weights.

Ingest marks flagged chunks (payload `flags`), which are kept and searchable but never put
into a prompt; a flagged request gets the deployment's answer (refuse, or answer without tools).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
WEIGHTS = HERE / "screen.npz"


@dataclass(frozen=True)
class Labelled:
    text: str
    injection: bool


def labelled_set(path: Path) -> list[Labelled]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [Labelled(r["text"], bool(r["injection"])) for r in rows]


class InjectionScreen:
    """Two logistic regressions, averaged: one over the MiniLM vector (what a text is about
    and how it is said), one over TF-IDF word unigrams and bigrams (the words of an attack:
    "ignore ... instructions", "system prompt"). Either alone misses what the other sees."""

    def __init__(self, weights: dict[str, Any], threshold: float | None = None) -> None:
        self.weights = weights
        self.threshold = float(weights["threshold"]) if threshold is None else threshold
        self._terms = _vectorizer(weights["terms"], weights["idf"])

    @classmethod
    def load(cls, path: Path = WEIGHTS, threshold: float | None = None) -> InjectionScreen:
        with np.load(path, allow_pickle=False) as saved:
            return cls({name: saved[name] for name in saved.files}, threshold)

    def save(self, path: Path = WEIGHTS) -> None:
        np.savez_compressed(path, **{**self.weights, "threshold": self.threshold})

    def scores(self, texts: Sequence[str], vectors: Any) -> Any:
        """The probability that each text (with its MiniLM vector) is an injection."""
        w = self.weights
        dense = np.asarray(vectors, dtype=np.float64) @ w["coef"] + w["intercept"]
        sparse = self._terms.transform(list(texts)) @ w["term_coef"] + w["term_intercept"]
        return (_sigmoid(dense) + _sigmoid(np.asarray(sparse).ravel())) / 2

    def flagged(self, texts: Sequence[str], vectors: Any) -> list[bool]:
        return [bool(s >= self.threshold) for s in self.scores(texts, vectors)]


def fit_screen(
    texts: Sequence[str], vectors: Any, labels: Any, threshold: float
) -> InjectionScreen:
    """Both regressions on a labelled set (bench/guard.py measures and writes them)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    terms = TfidfVectorizer(**TERM_OPTIONS)
    counted = terms.fit_transform(list(texts))
    dense = LogisticRegression(C=4.0, class_weight="balanced", max_iter=3000)
    dense.fit(vectors, labels)
    sparse = LogisticRegression(C=10.0, class_weight="balanced", max_iter=3000)
    sparse.fit(counted, labels)
    vocabulary = sorted(terms.vocabulary_, key=terms.vocabulary_.__getitem__)
    weights = {
        "coef": dense.coef_[0],
        "intercept": np.float64(dense.intercept_[0]),
        "terms": np.array(vocabulary),
        "idf": terms.idf_,
        "term_coef": sparse.coef_[0],
        "term_intercept": np.float64(sparse.intercept_[0]),
        "threshold": np.float64(threshold),
    }
    return InjectionScreen(weights)


TERM_OPTIONS: dict[str, Any] = {"ngram_range": (1, 2), "sublinear_tf": True}


def _vectorizer(terms: Any, idf: Any) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(**TERM_OPTIONS, vocabulary=[str(t) for t in terms])
    vectorizer.idf_ = np.asarray(idf)
    return vectorizer


def _sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))
