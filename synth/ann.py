"""The student's search over synth's retrieval pool: exact below a pool size, an ANN index at or above it.

synth ranks every pair's query against the whole chunk pool (ranking consistency, hard-negative
mining), but needs only each query's top ``k`` chunks: the consistency depth, or the mining window's
last rank, whichever is deeper, plus room for the chunks of the query's own document (left out
afterwards). Two searches sit behind :class:`PoolSearch`:

* :class:`ExactSearch`: the dense score matrix, block by block, each row ordered by a stable sort
  (ties: the lower pool index first). Below ``--ann-threshold`` synth orders candidates exactly
  as it always has.
* :class:`IVFSearch`: a faiss ``IndexIVFFlat`` with inner product over the L2-normalised embeddings
  (cosine). The coarse centroids are trained by spherical k-means with the run's seed on a seeded sample
  of the pool, so a run is deterministic; they are saved atomically beside the output
  (``<stem>.pool.ivf.npz``, keyed by a hash of the pool embeddings and the index settings), so a
  resumed run rebuilds the same index without training again. Scores of the chunks found are exact inner
  products; only chunks the probed lists miss are lost. Before searching, :meth:`IVFSearch.calibrate`
  measures recall@k against the exact search on a seeded sample of the run's own queries and doubles
  ``nprobe`` until that recall reaches :data:`TARGET_RECALL` (at worst every list is probed: exact).

IVF rather than HNSW: its build is a seeded k-means plus an assignment, deterministic with any number
of threads, and what a resumed run needs again is a few megabytes of centroids (an HNSW graph built by
several threads depends on their timing, and is as large as the pool).

Example:
    >>> search = pool_search(pool_emb, threshold=100_000, seed=42)
    >>> search.calibrate(query_emb, k=250)
    >>> scores, ids = search.search(query_emb[:512], k=250)  # (512, 250) each; id -1: no chunk
"""

from __future__ import annotations

import hashlib
import logging
import math
from abc import ABC, abstractmethod
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from domainemb.atomic import write_atomic

log = logging.getLogger(__name__)

#: Pool size from which synth searches with the ANN index (``--ann-threshold``; 0: always exact).
DEFAULT_ANN_THRESHOLD = 100_000
#: The recall@k the IVF search is calibrated to on a sample of the run's queries.
TARGET_RECALL = 0.99
#: Queries in the calibration sample (all of them when there are fewer).
RECALL_SAMPLE = 256
#: Coarse lists: about 4 sqrt(pool), and at least this many pool vectors per list to train on.
MIN_POINTS_PER_LIST = 39
#: First ``nprobe`` tried; calibration doubles it.
START_NPROBE = 16
KMEANS_ITERATIONS = 20
_TRAIN_POINTS_PER_LIST = 64  # the k-means sample: at most this many points per centroid
_BLOCK = 512


class SearchKind(StrEnum):
    EXACT = "exact"
    IVF_FLAT = "ivf-flat"


class PoolSearch(ABC):
    """Top-``k`` inner-product search of query embeddings over the pool's embeddings."""

    kind: SearchKind

    def __init__(self, pool_emb: np.ndarray) -> None:
        self.pool_emb = np.ascontiguousarray(pool_emb, dtype=np.float32)  # (pool, dim)

    @property
    def size(self) -> int:
        return len(self.pool_emb)

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best pool chunks of each query, best first (ties: the lower index first).

        Args:
            queries: ``(n, dim)`` float32.
            k: Chunks per query (at most the pool's size is returned).

        Returns:
            ``(scores, ids)``, each ``(n, min(k, pool))``; an id of -1 (score ``-inf``) where fewer were found.
        """

    def calibrate(self, queries: np.ndarray, k: int) -> None:
        """Tune the search for these queries and ``k`` (an exact search has nothing to tune)."""
        return None

    def describe(self) -> dict[str, Any]:
        """What the run card records of the search."""
        return {"kind": self.kind.value, "pool": self.size}


class ExactSearch(PoolSearch):
    """The dense score matrix: every chunk scored, each row ordered by a stable sort."""

    kind = SearchKind.EXACT

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.size)
        scores_out = np.empty((len(queries), k), dtype=np.float32)
        ids_out = np.empty((len(queries), k), dtype=np.int64)
        for a in range(0, len(queries), _BLOCK):
            scores = queries[a : a + _BLOCK] @ self.pool_emb.T  # (block, pool)
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (block, k)
            ids_out[a : a + _BLOCK] = order
            scores_out[a : a + _BLOCK] = np.take_along_axis(scores, order, axis=1)
        return scores_out, ids_out


class IVFSearch(PoolSearch):
    """faiss ``IndexIVFFlat`` (inner product) over the pool, with seeded spherical k-means centroids.

    Args:
        pool_emb: ``(pool, dim)`` L2-normalised float32.
        seed: Seed of the k-means sample and initialisation, and of the calibration sample.
        cache: Where the centroids are kept (``None``: not kept).
        nlist: Coarse lists; ``None``: about ``4 * sqrt(pool)``, at most ``pool / 39``.
    """

    kind = SearchKind.IVF_FLAT

    def __init__(self, pool_emb: np.ndarray, seed: int, cache: Path | None = None, nlist: int | None = None) -> None:
        import faiss

        super().__init__(pool_emb)
        self.seed = seed
        self.nlist = nlist or default_nlist(self.size)
        if not 1 <= self.nlist <= max(1, self.size):
            raise ValueError(f"nlist must be in [1, {self.size}], got {self.nlist}")
        self.nprobe = min(START_NPROBE, self.nlist)
        self.recall: float | None = None  # measured by calibrate()
        self.recall_queries = 0
        self.centroids_reused = False
        dim = self.pool_emb.shape[1]
        centroids = self._centroids(cache)  # (nlist, dim)
        self._quantizer = faiss.IndexFlatIP(dim)  # the index keeps a pointer only: keep the object alive
        self._quantizer.add(centroids)
        self._index = faiss.IndexIVFFlat(self._quantizer, dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        self._index.is_trained = True
        self._index.add(self.pool_emb)

    def _settings_key(self) -> str:
        digest = hashlib.sha256(self.pool_emb.tobytes())
        digest.update(repr(("ivf-flat", self.nlist, self.seed, KMEANS_ITERATIONS, _TRAIN_POINTS_PER_LIST)).encode())
        return digest.hexdigest()

    def _centroids(self, cache: Path | None) -> np.ndarray:
        key = self._settings_key() if cache is not None else ""
        if cache is not None and cache.is_file():
            try:
                with np.load(cache) as data:
                    if str(data["key"]) == key:
                        self.centroids_reused = True
                        return np.ascontiguousarray(data["centroids"], dtype=np.float32)
            except (OSError, ValueError, KeyError):
                log.warning("%s: unreadable index cache; training the index again", cache)
        centroids = self._train()
        if cache is not None:

            def save(tmp: Path) -> None:
                with open(tmp, "wb") as fh:  # a file object, so numpy does not append ".npz" to the name
                    np.savez(fh, centroids=centroids, key=np.array(key))

            write_atomic(cache, save)
        return centroids

    def _train(self) -> np.ndarray:
        import faiss

        dim = self.pool_emb.shape[1]
        if self.nlist == 1:  # one list: nothing to cluster
            centre = self.pool_emb.mean(axis=0, keepdims=True)
            return (centre / max(float(np.linalg.norm(centre)), 1e-12)).astype(np.float32)
        rng = np.random.default_rng(self.seed)
        n_train = min(self.size, _TRAIN_POINTS_PER_LIST * self.nlist)
        sample = self.pool_emb[np.sort(rng.choice(self.size, n_train, replace=False))]
        kmeans = faiss.Kmeans(
            dim, self.nlist, niter=KMEANS_ITERATIONS, seed=self.seed, spherical=True, verbose=False,
            max_points_per_centroid=_TRAIN_POINTS_PER_LIST,
        )  # fmt: skip
        kmeans.train(sample)
        log.info("trained %d IVF centroids on %d of %d pool vectors", self.nlist, n_train, self.size)
        return np.ascontiguousarray(kmeans.centroids, dtype=np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.size)
        self._index.nprobe = self.nprobe
        scores, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)  # (n, k) each
        scores = np.where(ids >= 0, scores, -np.inf).astype(np.float32)
        # best first, ties by pool index (as the exact search's stable sort); -1 (not found) last
        order = np.lexsort((np.where(ids >= 0, ids, np.iinfo(np.int64).max), -scores), axis=1)
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)

    def calibrate(self, queries: np.ndarray, k: int) -> None:
        """Double ``nprobe`` until recall@k on a seeded sample of ``queries`` reaches :data:`TARGET_RECALL`."""
        k = min(k, self.size)
        if not len(queries) or not k:
            return
        rng = np.random.default_rng(self.seed)
        n = min(RECALL_SAMPLE, len(queries))
        sample = np.ascontiguousarray(queries[np.sort(rng.choice(len(queries), n, replace=False))])
        _, exact = ExactSearch(self.pool_emb).search(sample, k)
        while True:
            _, found = self.search(sample, k)
            self.recall = recall_at_k(found, exact)
            self.recall_queries = n
            log.info("IVF nprobe %d of %d lists: recall@%d %.4f on %d queries", self.nprobe, self.nlist, k,
                     self.recall, n)  # fmt: skip
            if self.recall >= TARGET_RECALL or self.nprobe >= self.nlist:
                return
            self.nprobe = min(2 * self.nprobe, self.nlist)

    def describe(self) -> dict[str, Any]:
        import faiss

        return {
            **super().describe(),
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "seed": self.seed,
            "kmeans_iterations": KMEANS_ITERATIONS,
            "target_recall": TARGET_RECALL,
            "recall": None if self.recall is None else round(self.recall, 4),
            "recall_queries": self.recall_queries,
            "centroids_reused": self.centroids_reused,
            "faiss": faiss.__version__,
        }


def default_nlist(size: int) -> int:
    """About ``4 * sqrt(size)`` coarse lists, with at least :data:`MIN_POINTS_PER_LIST` vectors each to train on."""
    return max(1, min(round(4 * math.sqrt(size)), size // MIN_POINTS_PER_LIST))


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row's exact ids (ignoring -1) that ``found``'s row holds."""
    shares = []
    for f, e in zip(found, exact):
        wanted = set(e[e >= 0].tolist())
        if wanted:
            shares.append(len(wanted & set(f[f >= 0].tolist())) / len(wanted))
    return float(np.mean(shares)) if shares else 1.0


def uses_ann(pool_size: int, threshold: int) -> bool:
    """Whether a pool this large is searched with the ANN index (threshold 0: never)."""
    return threshold > 0 and pool_size >= threshold


def pool_search(pool_emb: np.ndarray, threshold: int, seed: int, cache: Path | None = None) -> PoolSearch:
    """The exact search below ``threshold`` chunks (or with threshold 0), the IVF index at or above it."""
    if uses_ann(len(pool_emb), threshold):
        return IVFSearch(pool_emb, seed, cache)
    return ExactSearch(pool_emb)
