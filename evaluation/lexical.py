"""Lexical baselines: BM25 (retrieval and reranking) and a TF-IDF bag-of-words encoder (every type).

BM25 is mteb's own bm25s search model (English stopwords and Snowball stemmer, picked from the
task language). Bag-of-words is a vector encoder, so it runs wherever a dense model runs: FinMTEB
found it beats dense models on financial STS.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from domainemb.evaluation.encoders import SEARCH_TYPES, Encoder, ModelIdentity, VectorEncoder, fingerprint_params

log = logging.getLogger(__name__)


class BM25(Encoder):
    """BM25 via bm25s, through mteb's ``BM25Search`` (it indexes each task's corpus).

    Args:
        k1: Term-frequency saturation.
        b: Length normalisation.
        method: bm25s scoring variant (``"lucene"``, ``"robertson"``, ``"atire"``).
    """

    serves = SEARCH_TYPES
    cacheable = False

    def __init__(self, k1: float = 1.5, b: float = 0.75, method: str = "lucene") -> None:
        import bm25s  # noqa: F401  (installed, and quiet from now on)

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG on import
        self.name = "bm25"
        self.model_name = BM25_NAME
        self.params = _bm25_params(k1, b, method)
        self.fingerprint = fingerprint_params("bm25", self.params)
        self._mteb: Any = None

    def mteb_model(self) -> Any:
        if self._mteb is None:
            try:
                import Stemmer  # noqa: F401  (mteb's BM25 stems English with PyStemmer)
            except ImportError:
                from domainemb.errors import DomainembError

                raise DomainembError("model 'bm25' needs PyStemmer: pip install PyStemmer") from None
            from mteb.models.model_implementations.bm25 import BM25Search

            search = BM25Search(k1=self.params["k1"], b=self.params["b"], method=self.params["method"])
            search.mteb_model_meta = self.model_meta(model_type=["sparse"], framework=["bm25s"])
            self._mteb = search
        return self._mteb


class BagOfWords(VectorEncoder):
    """TF-IDF bag-of-words vectors, fitted on the sorted unique texts of each task.

    Fitting on the task's own texts (all splits, queries and corpus together) gives queries and
    documents one vocabulary, and the same data always give the same vectors.

    Args:
        max_features: Vocabulary size (the most frequent terms). Vectors are dense for mteb's
            evaluators, and clustering k-means runs on 16k sampled rows, so this stays modest.
        sublinear_tf: Use ``1 + log(tf)``.
        stop_words: sklearn stop-word list name, or ``None``.
    """

    cacheable = False  # the vectors depend on the task's vocabulary, not on the text alone

    def __init__(self, max_features: int = 4096, sublinear_tf: bool = True, stop_words: str | None = "english") -> None:
        super().__init__()
        self.name = "bow"
        self.model_name = BOW_NAME
        self.params = _bow_params(max_features, sublinear_tf, stop_words)
        self.fingerprint = fingerprint_params("tfidf", self.params)
        self._vectorizer: Any = None

    def prepare(self, texts: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            max_features=self.params["max_features"],
            sublinear_tf=self.params["sublinear_tf"],
            stop_words=self.params["stop_words"],
            dtype=np.float32,
        )
        unique = sorted(set(texts))
        try:
            vectorizer.fit(unique)
        except ValueError:  # every text was empty or a stop word: fall back to every token
            vectorizer.set_params(stop_words=None, token_pattern=r"(?u)\b\w+\b")
            vectorizer.fit(unique)
        log.info("bag-of-words: %d terms from %d texts", len(vectorizer.vocabulary_), len(unique))
        self._vectorizer = vectorizer

    def embed(self, texts: list[str], prompt_type: str | None = None) -> np.ndarray:
        if self._vectorizer is None:
            raise RuntimeError("BagOfWords.prepare(task texts) must run before embed (domainemb evaluate does this)")
        return self._vectorizer.transform(texts).toarray()  # (len(texts), vocabulary) float32, L2-normalised


def bm25() -> BM25:
    return BM25()


def bag_of_words() -> BagOfWords:
    return BagOfWords()


BM25_NAME = "domainemb/bm25s"
BOW_NAME = "domainemb/tfidf-bow"


def _bm25_params(k1: float = 1.5, b: float = 0.75, method: str = "lucene") -> dict[str, Any]:
    """BM25's settings and library version (read from the installed metadata: no import)."""
    return {"k1": k1, "b": b, "method": method, "bm25s": _version("bm25s"), "stemmer": "from task language"}


def _bow_params(max_features: int = 4096, sublinear_tf: bool = True, stop_words: str | None = "english") -> dict:
    return {
        "max_features": max_features,
        "sublinear_tf": sublinear_tf,
        "stop_words": stop_words,
        "sklearn": _version("scikit-learn"),
    }


def bm25_identity() -> ModelIdentity:
    return ModelIdentity("bm25", BM25_NAME, fingerprint_params("bm25", _bm25_params()))


def bag_of_words_identity() -> ModelIdentity:
    return ModelIdentity("bow", BOW_NAME, fingerprint_params("tfidf", _bow_params()))


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        from domainemb.errors import DomainembError

        raise DomainembError(f"{distribution} is not installed: pip install {distribution}") from None
