"""Teachers: models that score (query, passage) pairs for synth, stronger than the student being trained.

synth's teacher, not the student, decides ranking consistency, guards mined hard negatives against
false ones, and labels each kept (query, positive, negative) with its score margin (GPL's MarginMSE
labels, written to the pairs file's ``margins``). Three kinds sit behind the :class:`Teacher` seam:

* :class:`BiEncoderTeacher`: any sentence-transformers bi-encoder; it scores a whole pool
  (the model's own similarity function over its embeddings).
* :class:`CrossEncoderTeacher`: a sentence-transformers ``CrossEncoder``; its score is the raw
  logit (no sigmoid, as GPL's margins are). It scores pairs only, so it cannot rank a whole pool: synth
  has it rerank the student's top candidates plus the positive.
* :class:`HybridTeacher`: BM25 (bm25s, English stop words and Snowball stemmer, as the project's
  BM25 baseline) plus a bi-encoder. For each query both score rows are min-max normalised over the
  pool (the best passage 1, the worst 0; a constant row is all 0), then combined as
  ``w * bm25 + (1 - w) * dense``. Min-max rather than z-score keeps the combined score in [0, 1],
  so the guard's relative margin and the margins mean the same on every query.

The ``--teacher`` values (:func:`load_teacher`)::

    none                 no teacher: the embedding model decides consistency, no margins are written
    minilm | mpnet | glove   a packaged bi-encoder (no download)
    PATH                 a local folder: a sentence-transformers bi-encoder (modules.json), a CrossEncoder
                         saved by sentence-transformers (config_sentence_transformers.json model_type
                         "CrossEncoder"), or a transformers *ForSequenceClassification model with one label
    ORG/NAME             a hub id (downloaded; offline, only from the hub cache), told apart as a folder is
    hybrid:MODEL[@W]     BM25 plus the bi-encoder MODEL (any of the above), BM25 weight W in [0, 1], default 0.5

Teacher embeddings and cross-encoder scores go through the project's embedding cache
(:class:`~domainemb.evaluation.cache.EmbeddingCache`, keyed by the teacher's fingerprint), so a
rerun computes none of them again.

Example:
    >>> teacher = load_teacher("hybrid:mpnet@0.3")
    >>> teacher.kind, teacher.ranks_pool
    (<TeacherKind.HYBRID: 'hybrid'>, True)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from domainemb.errors import DomainembError

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from domainemb.evaluation.cache import EmbeddingCache

log = logging.getLogger(__name__)

NONE = "none"
HYBRID_PREFIX = "hybrid:"
DEFAULT_BM25_WEIGHT = 0.5
#: Registry names that are bi-encoders (the other registry models are lexical baselines).
BI_ENCODER_NAMES = ("minilm", "mpnet", "glove")
_BATCH_TEXTS = 512  # texts (or pairs) encoded, then stored in the cache, at a time


class TeacherKind(StrEnum):
    BI_ENCODER = "bi-encoder"
    CROSS_ENCODER = "cross-encoder"
    HYBRID = "hybrid"


class Teacher(ABC):
    """Scores (query, passage) pairs; higher is more relevant. Scores are comparable within one query.

    Attributes:
        name: The ``--teacher`` value.
        kind: A :class:`TeacherKind`.
        ranks_pool: Whether :meth:`score_pool` is available (a bi-encoder or hybrid ranks a whole pool;
            a cross-encoder scores pairs only).
        forward_texts: Texts (or pairs) this process handed to the model itself: cache misses.
        normalises_per_query: Whether a query's scores depend on the other texts scored with it (the hybrid's
            min-max), so that :meth:`score_candidates` must get all of a query's texts in one call.
    """

    name: str
    kind: TeacherKind
    ranks_pool: bool = True
    normalises_per_query: bool = False

    def __init__(self) -> None:
        self.forward_texts = 0

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """sha256 hex of everything that decides the scores (weights, config, settings)."""

    def score_pool(self, queries: Sequence[str], pool: Sequence[str]) -> np.ndarray:
        """``(len(queries), len(pool))`` scores of every pool passage for every query."""
        raise NotImplementedError(f"a {self.kind} teacher cannot rank a pool; score pairs with score_pairs")

    def score_pairs(self, queries: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        """``(n,)`` scores of the pairs ``(queries[i], passages[i])``."""
        raise NotImplementedError(f"a {self.kind} teacher scores a pool only; use score_pool")

    def score_candidates(
        self, queries: Sequence[str], pool: Sequence[str], candidates: Sequence[Sequence[int]]
    ) -> list[np.ndarray]:
        """Each query's scores of its own candidates, ``pool[j]`` for ``j`` in ``candidates[i]``, without
        scoring the rest of the pool: ``(len(candidates[i]),)`` per query. By default :meth:`score_pairs`."""
        flat = self.score_pairs(
            [q for q, c in zip(queries, candidates) for _ in c], [pool[j] for c in candidates for j in c]
        )
        return np.split(flat, np.cumsum([len(c) for c in candidates])[:-1]) if len(candidates) else []

    def describe(self) -> dict[str, str]:
        """What the run card records: name, kind and fingerprint."""
        return {"name": self.name, "kind": self.kind.value, "fingerprint": self.fingerprint}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class BiEncoderTeacher(Teacher):
    """A sentence-transformers bi-encoder: the model's similarity of query and passage embeddings.

    Args:
        name: The ``--teacher`` value.
        load: Returns ``(model, fingerprint)``; called on first use, so naming a teacher is cheap.
        cache: Where embeddings are kept; ``None``: the default embedding cache, opened on first use.
        batch_size: Texts per forward pass.
    """

    kind = TeacherKind.BI_ENCODER

    def __init__(
        self,
        name: str,
        load: Callable[[], tuple[SentenceTransformer, str]],
        cache: EmbeddingCache | None = None,
        batch_size: int = 32,
    ) -> None:
        super().__init__()
        self.name = name
        self._load = load
        self._model: SentenceTransformer | None = None
        self._fingerprint: str | None = None
        self._cache = cache
        self.batch_size = batch_size
        self._pool: tuple[str, np.ndarray] | None = None  # (key of the last pool, its embeddings)

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            self._model, self._fingerprint = self._load()
        return self._model

    @property
    def fingerprint(self) -> str:
        self.model  # noqa: B018 - loading sets the fingerprint
        assert self._fingerprint is not None
        return self._fingerprint

    def score_pool(self, queries: Sequence[str], pool: Sequence[str]) -> np.ndarray:
        q = self.embed(queries, "query")  # (n_queries, dim)
        key = _texts_key(pool)
        if self._pool is None or self._pool[0] != key:  # synth scores one pool block by block: embed it once
            self._pool = (key, self.embed(pool, "document"))
        return _to_numpy(self.model.similarity(q, self._pool[1]))  # (n_queries, n_pool)

    def score_pairs(self, queries: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        if len(queries) != len(passages):
            raise ValueError(f"{len(queries)} queries for {len(passages)} passages")
        if not queries:
            return np.zeros(0, dtype=np.float32)
        q, p = self.embed(queries, "query"), self.embed(passages, "document")
        return _to_numpy(self.model.similarity_pairwise(q, p))  # (n,)

    def embed(self, texts: Sequence[str], role: str) -> np.ndarray:
        """Embeddings of ``texts`` as a query or a document; cached texts are not encoded again."""
        model = self.model
        prompt_name = _prompt_name(model, role)
        prompt_key = f"teacher|{model.prompts.get(prompt_name, '') if prompt_name else ''}"
        cache = self._open_cache()
        found = cache.get(self.fingerprint, prompt_key, texts)
        vectors = {t: v for t, v in zip(texts, found) if v is not None}
        # longest first, as sentence-transformers orders one call: little padding per batch
        missing = sorted((t for t in dict.fromkeys(texts) if t not in vectors), key=len, reverse=True)
        for start in range(0, len(missing), _BATCH_TEXTS):
            batch = missing[start : start + _BATCH_TEXTS]
            encoded = model.encode(
                batch,
                batch_size=self.batch_size,
                prompt_name=prompt_name,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32)  # (len(batch), dim)
            cache.put(self.fingerprint, prompt_key, batch, encoded)
            self.forward_texts += len(batch)
            vectors.update(zip(batch, encoded))
        if not texts:
            return np.zeros((0, model.get_sentence_embedding_dimension() or 0), dtype=np.float32)
        return np.stack([vectors[t] for t in texts])  # (len(texts), dim)

    def _open_cache(self) -> EmbeddingCache:
        if self._cache is None:
            from domainemb.evaluation.cache import EmbeddingCache

            self._cache = EmbeddingCache()
        return self._cache


class CrossEncoderTeacher(Teacher):
    """A sentence-transformers ``CrossEncoder`` with one output: its raw logit for each pair.

    Args:
        name: The ``--teacher`` value.
        folder: The model folder.
        cache: Where scores are kept; ``None``: the default embedding cache, opened on first use.
        batch_size: Pairs per forward pass.
    """

    kind = TeacherKind.CROSS_ENCODER
    ranks_pool = False

    def __init__(self, name: str, folder: Path, cache: EmbeddingCache | None = None, batch_size: int = 32) -> None:
        super().__init__()
        self.name = name
        self.folder = folder
        self._model: CrossEncoder | None = None
        self._fingerprint: str | None = None
        self._cache = cache
        self.batch_size = batch_size

    @property
    def model(self) -> CrossEncoder:
        if self._model is None:
            from sentence_transformers import CrossEncoder

            try:
                self._model = CrossEncoder(str(self.folder), local_files_only=True)
            except Exception as exc:  # torch/transformers raise many types on a broken folder
                raise DomainembError(
                    f"--teacher {self.name}: cannot load as a cross-encoder: {_first_line(exc)}"
                ) from None
        return self._model

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            from domainemb.evaluation.encoders import fingerprint_folder

            self._fingerprint = fingerprint_folder(self.folder, {"teacher": "cross-encoder", "score": "logit"})
        return self._fingerprint

    def score_pairs(self, queries: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        if len(queries) != len(passages):
            raise ValueError(f"{len(queries)} queries for {len(passages)} passages")
        import torch

        pairs = list(zip(queries, passages))
        cache = self._open_cache()
        found = cache.get_scores(self.fingerprint, "cross-encoder|logit", pairs)
        scores = {p: s for p, s in zip(pairs, found) if s is not None}
        missing = sorted((p for p in dict.fromkeys(pairs) if p not in scores), key=lambda p: len(p[0]) + len(p[1]))
        for start in range(0, len(missing), _BATCH_TEXTS):
            batch = missing[start : start + _BATCH_TEXTS]
            logits = self.model.predict(
                batch,
                batch_size=self.batch_size,
                activation_fn=torch.nn.Identity(),
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            logits = np.asarray(logits, dtype=np.float32).reshape(len(batch))  # (len(batch),)
            cache.put_scores(self.fingerprint, "cross-encoder|logit", batch, logits)
            self.forward_texts += len(batch)
            scores.update(zip(batch, logits.tolist()))
        return np.array([scores[p] for p in pairs], dtype=np.float32)  # (n,)

    def _open_cache(self) -> EmbeddingCache:
        if self._cache is None:
            from domainemb.evaluation.cache import EmbeddingCache

            self._cache = EmbeddingCache()
        return self._cache


class BM25Pool:
    """BM25 over one pool of passages: bm25s with English stop words and the Snowball stemmer (the
    project's BM25 baseline's settings). It ranks for the hybrid teacher and mines negatives (GPL).

    Args:
        pool: The passages, indexed once.
        k1, b, method: bm25s settings.
    """

    def __init__(self, pool: Sequence[str], k1: float = 1.5, b: float = 0.75, method: str = "lucene") -> None:
        import bm25s

        self.params = {"k1": k1, "b": b, "method": method, "stopwords": "en", "stemmer": "english"}
        self.size = len(pool)
        self.key = _texts_key(pool)
        self._retriever = bm25s.BM25(k1=k1, b=b, method=method)
        if pool:
            self._retriever.index(bm25_tokenize(pool), show_progress=False)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Raw BM25 scores ``(len(queries), len(pool))``."""
        if not self.size:
            return np.zeros((len(queries), 0), dtype=np.float32)
        # a query of stop words only has no token: it matches nothing (bm25s cannot score an empty query)
        rows = [
            np.asarray(self._retriever.get_scores(t), dtype=np.float32) if t else np.zeros(self.size, np.float32)
            for t in bm25_tokenize(queries)
        ]
        return np.stack(rows).reshape(len(queries), self.size) if rows else np.zeros((0, self.size), np.float32)


def bm25_tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s
    import Stemmer

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG on import
    return bm25s.tokenize(
        list(texts), stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False
    )


def _texts_key(texts: Sequence[str]) -> str:
    return hashlib.sha256("\0".join(texts).encode("utf-8", "surrogatepass")).hexdigest()


class HybridTeacher(Teacher):
    """BM25 and a bi-encoder, each min-max normalised per query over the pool, combined with a weight.

    Scoring only some candidates (:meth:`score_candidates`: synth's ``rerank`` and ``pairs`` modes), both
    are min-max normalised per query over that query's candidates instead, so the pool is never embedded.

    Args:
        name: The ``--teacher`` value.
        dense: The bi-encoder.
        bm25_weight: ``w`` in ``w * bm25 + (1 - w) * dense``.
    """

    kind = TeacherKind.HYBRID
    normalises_per_query = True

    def __init__(self, name: str, dense: BiEncoderTeacher, bm25_weight: float = DEFAULT_BM25_WEIGHT) -> None:
        super().__init__()
        self.name = name
        self.dense = dense
        self.bm25_weight = bm25_weight
        self._bm25: BM25Pool | None = None  # the last pool scored, indexed once for a run

    @property
    def fingerprint(self) -> str:
        import bm25s

        settings = {
            "teacher": "hybrid",
            "dense": self.dense.fingerprint,
            "bm25_weight": self.bm25_weight,
            "bm25": {"k1": 1.5, "b": 0.75, "method": "lucene", "stopwords": "en", "stemmer": "english",
                     "bm25s": bm25s.__version__},
            "normalisation": "min-max per query over the pool",
        }  # fmt: skip
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    @property
    def forward_texts(self) -> int:  # type: ignore[override]
        return self.dense.forward_texts

    @forward_texts.setter
    def forward_texts(self, value: int) -> None:
        pass  # the dense model's count is the teacher's

    def score_pool(self, queries: Sequence[str], pool: Sequence[str]) -> np.ndarray:
        dense = min_max_rows(self.dense.score_pool(queries, pool))  # (n_queries, n_pool)
        lexical = min_max_rows(self.bm25_scores(queries, pool))  # (n_queries, n_pool)
        return (self.bm25_weight * lexical + (1.0 - self.bm25_weight) * dense).astype(np.float32)

    def score_candidates(
        self, queries: Sequence[str], pool: Sequence[str], candidates: Sequence[Sequence[int]]
    ) -> list[np.ndarray]:
        dense = self.dense.score_candidates(queries, pool, candidates)  # only the candidates are embedded
        lexical = self.bm25_scores(queries, pool)  # (n_queries, n_pool): BM25 over the pool is cheap
        out = []
        for row, (subset, d) in enumerate(zip(candidates, dense)):
            d_norm = min_max_rows(d.reshape(1, -1))[0]
            l_norm = min_max_rows(lexical[row, list(subset)].reshape(1, -1))[0]
            out.append((self.bm25_weight * l_norm + (1.0 - self.bm25_weight) * d_norm).astype(np.float32))
        return out

    def bm25_scores(self, queries: Sequence[str], pool: Sequence[str]) -> np.ndarray:
        """Raw BM25 scores ``(len(queries), len(pool))``."""
        if self._bm25 is None or self._bm25.key != _texts_key(pool):
            self._bm25 = BM25Pool(pool)
        return self._bm25.scores(queries)


def min_max_rows(scores: np.ndarray) -> np.ndarray:
    """Each row scaled to [0, 1] (its best 1, its worst 0); a constant row becomes all 0."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.size == 0:
        return scores
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.where(span > 0, (scores - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


# ----------------------------------------------------------------------------- from a --teacher value


def load_teacher(spec: str, cache: EmbeddingCache | None = None) -> Teacher | None:
    """The teacher a ``--teacher`` value names (see the module docstring); ``None`` for ``none``.

    Only the value is checked here (a folder's files are read, no weights): models load on first use,
    so a bad value fails before any work starts.

    Raises:
        DomainembError: the value is neither a bi-encoder nor a cross-encoder, a hybrid's model is not
            a bi-encoder or its weight is not in [0, 1], or a hub id cannot be found.
    """
    spec = spec.strip()
    if spec.lower() == NONE:
        return None
    if spec.startswith(HYBRID_PREFIX):
        model, weight = _hybrid_parts(spec)
        dense = _teacher_for(model, spec, cache)
        if not isinstance(dense, BiEncoderTeacher):
            raise DomainembError(f"--teacher {spec}: {model} is not a sentence-transformers bi-encoder")
        return HybridTeacher(spec, dense, weight)
    return _teacher_for(spec, spec, cache)


def _hybrid_parts(spec: str) -> tuple[str, float]:
    rest = spec[len(HYBRID_PREFIX) :]
    model, sep, tail = rest.rpartition("@")
    weight = DEFAULT_BM25_WEIGHT
    if sep:
        try:
            weight = float(tail)
        except ValueError:
            model = rest  # an '@' that is part of the model's name
        else:
            if not 0.0 <= weight <= 1.0:
                raise DomainembError(f"--teacher {spec}: the BM25 weight must be in [0, 1], got {tail}")
    else:
        model = rest
    if not model:
        raise DomainembError(f"--teacher {spec}: name the dense model, e.g. hybrid:mpnet")
    return model, weight


def _teacher_for(value: str, spec: str, cache: EmbeddingCache | None) -> Teacher:
    from domainemb.evaluation.encoders import MODELS, _looks_like_hub_id

    if value in BI_ENCODER_NAMES:
        return BiEncoderTeacher(value, lambda: _registry_model(value), cache)
    if value in MODELS:
        raise DomainembError(
            f"--teacher {spec}: neither a sentence-transformers bi-encoder nor a cross-encoder "
            f"(for BM25 in the teacher, use hybrid:MODEL)"
        )
    path = Path(value).expanduser()
    if path.exists():
        return _teacher_from_folder(path, value, spec, cache)
    if _looks_like_hub_id(value):
        return _teacher_from_folder(_hub_folder(value, spec), value, spec, cache)
    from domainemb.errors import unknown_name

    raise unknown_name("teacher", spec, [NONE, *BI_ENCODER_NAMES, "hybrid:MODEL"])


def folder_kind(path: Path) -> TeacherKind | None:
    """Whether a model folder is a sentence-transformers bi-encoder, a cross-encoder, or neither (``None``).

    sentence-transformers 6 saves both kinds with ``modules.json``; its ``config_sentence_transformers.json``
    says ``"model_type": "CrossEncoder"`` for a cross-encoder. Older cross-encoders (the hub's
    ``cross-encoder/*``) are plain transformers folders whose ``config.json`` lists a
    ``*ForSequenceClassification`` architecture.
    """
    if not path.is_dir():
        return None
    st_config = _read_json(path / "config_sentence_transformers.json")
    model_type = st_config.get("model_type") if isinstance(st_config, dict) else None
    if model_type == "CrossEncoder":
        return TeacherKind.CROSS_ENCODER
    if (path / "modules.json").is_file() and model_type in (None, "SentenceTransformer"):
        return TeacherKind.BI_ENCODER
    config = _read_json(path / "config.json")
    architectures = config.get("architectures") if isinstance(config, dict) else None
    if model_type is None and any(str(a).endswith("ForSequenceClassification") for a in architectures or ()):
        return TeacherKind.CROSS_ENCODER
    return None


def _teacher_from_folder(path: Path, name: str, spec: str, cache: EmbeddingCache | None) -> Teacher:
    kind = folder_kind(path)
    if kind is TeacherKind.BI_ENCODER:
        return BiEncoderTeacher(name, lambda: _folder_model(path, name), cache)
    if kind is TeacherKind.CROSS_ENCODER:
        labels = _num_labels(path)
        if labels != 1:
            raise DomainembError(f"--teacher {spec}: a cross-encoder with {labels} labels; a teacher needs one score")
        return CrossEncoderTeacher(name, path, cache)
    raise DomainembError(f"--teacher {spec}: neither a sentence-transformers bi-encoder nor a cross-encoder")


def _num_labels(path: Path) -> int:
    config = _read_json(path / "config.json")
    if not isinstance(config, dict):
        return 1  # a CrossEncoder of sentence-transformers without a transformers config: let it load
    if "num_labels" in config:
        return int(config["num_labels"])
    return len(config.get("id2label") or {"0": None})


def _registry_model(name: str) -> tuple[SentenceTransformer, str]:
    from domainemb.evaluation.encoders import load_encoder

    encoder = load_encoder(name)
    return encoder.model, encoder.fingerprint


def _folder_model(path: Path, name: str) -> tuple[SentenceTransformer, str]:
    from domainemb.evaluation.encoders import sentence_transformer_from_folder

    encoder = sentence_transformer_from_folder(path, name=name)
    return encoder.model, encoder.fingerprint


def _hub_folder(hub_id: str, spec: str) -> Path:
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    try:
        return Path(snapshot_download(hub_id, local_files_only=offline))
    except Exception as exc:  # network, offline mode, missing repo
        hint = "the hub is unreachable here (HF_HUB_OFFLINE is set)" if offline else _first_line(exc)
        raise DomainembError(
            f"--teacher {spec}: cannot load {hub_id!r} from the Hugging Face hub: {hint}; "
            f"use a packaged model ({', '.join(BI_ENCODER_NAMES)}) or a local folder"
        ) from None


def _prompt_name(model: SentenceTransformer, role: str) -> str | None:
    """The model's own prompt for queries or documents, when it defines one (e5, bge ...)."""
    prompts = getattr(model, "prompts", None) or {}
    for name in ("query",) if role == "query" else ("document", "passage", "corpus"):
        if prompts.get(name):
            return name
    return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _to_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().cpu().float().numpy()
    return np.asarray(values, dtype=np.float32)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
