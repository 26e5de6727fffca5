"""The embedding cache: every text is encoded once per model and prompt, across tasks and runs.

Vectors live in one sqlite file (``$DOMAINEMB_CACHE/embeddings.sqlite`` by default), keyed by
(model fingerprint, prompt key, sha256 of the exact text). sqlite runs in WAL mode and each batch
of new vectors is one transaction, so a killed run loses at most the batch in flight and never
leaves a corrupt or half-written entry; another run can read while one writes.

:class:`CachedModel` puts the cache in front of any mteb encoder: it looks up the texts of each
``encode`` call and hands only the misses to the model, in batches that are stored as they finish.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.types import PromptType
    from torch.utils.data import DataLoader

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,         -- model fingerprint
    prompt TEXT NOT NULL,        -- prompt type and prompt text the model was given
    text_sha256 BLOB NOT NULL,   -- sha256 of the exact text (utf-8)
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,        -- float32, little-endian
    PRIMARY KEY (model, prompt, text_sha256)
) WITHOUT ROWID
"""
_SQL_VARIABLES = 500  # below sqlite's limit on host parameters per statement


def default_cache_path() -> Path:
    root = os.environ.get("DOMAINEMB_CACHE") or Path.home() / ".cache" / "domainemb"
    return Path(root).expanduser() / "embeddings.sqlite"


@dataclass
class CacheStats:
    """Texts looked up in this process: found (``hits``) and encoded then stored (``stored``)."""

    hits: int = 0
    stored: int = 0


class EmbeddingCache:
    """Vectors on disk keyed by (model fingerprint, prompt key, exact text).

    Args:
        path: The sqlite file (created with its folder when missing).
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are opened explicitly, one per stored batch
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash never corrupts the file
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(_SCHEMA)
        self.stats = CacheStats()

    def get(self, model: str, prompt: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        """The cached vector of each text, or ``None`` where there is none."""
        keys = [_text_key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _SQL_VARIABLES):
            chunk = unique[start : start + _SQL_VARIABLES]
            rows = self._db.execute(
                "SELECT text_sha256, dim, vector FROM embeddings WHERE model = ? AND prompt = ? "
                f"AND text_sha256 IN ({','.join('?' * len(chunk))})",
                (model, prompt, *chunk),
            )
            for key, dim, blob in rows:
                found[key] = np.frombuffer(blob, dtype="<f4", count=dim)
        vectors = [found.get(k) for k in keys]
        self.stats.hits += sum(v is not None for v in vectors)
        return vectors

    def put(self, model: str, prompt: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store one batch in one transaction (all of it or none of it)."""
        vectors = np.ascontiguousarray(vectors, dtype="<f4")  # (len(texts), dim)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ValueError(f"expected {len(texts)} vectors, got an array of shape {vectors.shape}")
        rows = [(model, prompt, _text_key(t), vectors.shape[1], v.tobytes()) for t, v in zip(texts, vectors)]
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?)", rows)
        self.stats.stored += len(rows)

    def get_scores(self, model: str, prompt: str, pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        """The cached score of each (query, passage) pair (a cross-encoder's), or ``None`` where there is none.

        A score is kept as a one-dimensional vector keyed by the exact pair, beside the embeddings.
        """
        return [None if v is None else float(v[0]) for v in self.get(model, prompt, [_pair_text(*p) for p in pairs])]

    def put_scores(self, model: str, prompt: str, pairs: Sequence[tuple[str, str]], scores: Sequence[float]) -> None:
        """Store the scores of one batch of (query, passage) pairs in one transaction."""
        self.put(model, prompt, [_pair_text(*p) for p in pairs], np.asarray(scores, dtype=np.float32).reshape(-1, 1))

    def count(self, model: str | None = None) -> int:
        """Number of stored vectors (of one model when given)."""
        if model is None:
            return self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM embeddings WHERE model = ?", (model,)).fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _pair_text(query: str, passage: str) -> str:
    """One unambiguous text for a (query, passage) pair: the query's length prefixes the two."""
    return f"{len(query)}:{query}{passage}"


class CachedModel:
    """An mteb encoder in front of another: cached texts are looked up, only misses are encoded.

    Misses are de-duplicated and encoded ``batch_texts`` at a time; each such batch is stored in
    one transaction as soon as it is encoded.

    Args:
        model: The mteb encoder to wrap (``EncoderProtocol``).
        cache: Where vectors are kept.
        fingerprint: The model's fingerprint (the cache key's first part).
        batch_texts: Texts per stored batch.
    """

    def __init__(self, model: Any, cache: EmbeddingCache, fingerprint: str, batch_texts: int = 512) -> None:
        self.model = model
        self.cache = cache
        self.fingerprint = fingerprint
        self.batch_texts = batch_texts

    @property
    def mteb_model_meta(self) -> Any:
        return self.model.mteb_model_meta

    def encode(
        self,
        inputs: DataLoader,
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        from datasets import Dataset
        from torch.utils.data import DataLoader

        texts = [text for batch in inputs for text in batch["text"]]
        prompt = self._prompt_key(task_metadata, prompt_type)
        vectors = {t: v for t, v in zip(texts, self.cache.get(self.fingerprint, prompt, texts)) if v is not None}
        # Longest first, as sentence-transformers orders one call: batches stay length-homogeneous
        # (little padding) although they are encoded and stored one at a time.
        missing = sorted((t for t in dict.fromkeys(texts) if t not in vectors), key=len, reverse=True)
        if missing:
            log.info("%s: encoding %d of %d texts (the rest cached)", task_metadata.name, len(missing), len(texts))
        batch_size = int(kwargs.get("batch_size", 32))
        for start in range(0, len(missing), self.batch_texts):
            batch = missing[start : start + self.batch_texts]
            loader = DataLoader(Dataset.from_dict({"text": batch}), batch_size=batch_size)
            encoded = _to_numpy(
                self.model.encode(
                    loader,
                    task_metadata=task_metadata,
                    hf_split=hf_split,
                    hf_subset=hf_subset,
                    prompt_type=prompt_type,
                    **kwargs,
                )
            )
            self.cache.put(self.fingerprint, prompt, batch, encoded)
            vectors.update(zip(batch, encoded.astype(np.float32)))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([vectors[t] for t in texts])  # (len(texts), dim)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self.model.similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self.model.similarity_pairwise(embeddings1, embeddings2)

    def _prompt_key(self, task_metadata: TaskMetadata, prompt_type: PromptType | None) -> str:
        """What, besides the text, the model is given: the prompt type and any prompt it resolves to."""
        prompt = ""
        prompts = getattr(self.model, "model_prompts", None)
        if prompts:
            from mteb.models.abs_encoder import get_prompt_name

            prompt = prompts.get(get_prompt_name(prompts, task_metadata, prompt_type) or "", "") or ""
        return f"{prompt_type.value if prompt_type is not None else 'none'}|{prompt}"


def _to_numpy(vectors: Any) -> np.ndarray:
    if hasattr(vectors, "detach"):  # torch tensor
        vectors = vectors.detach().cpu().float().numpy()
    return np.asarray(vectors)
