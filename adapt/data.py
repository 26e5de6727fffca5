"""Turn training pairs into the trainer's datasets and the dev split into a retrieval evaluator.

Column order is what the ranking losses read: ``anchor``, ``positive``, then ``negative_1`` ...
``negative_k``. Pairs with at least ``k`` mined negatives form one dataset; the rest (in-batch
negatives only) another. The trainer draws each batch from one of them, in proportion to size,
so no pair is padded with made-up negatives and none is dropped.

Two layouts add a ``label`` column, which the losses read and the samplers ignore:

- the margin losses: pairs with at least ``k`` teacher margins form their own dataset
  (:data:`WITH_MARGINS`) whose label is the first ``k`` margins (``MarginMSELoss``'s label);
- the distillation losses: every row's label is the teacher's embeddings of its texts, flattened,
  ``[query, positive, negative_1, ..., negative_k]`` (:class:`TeacherVectors`, computed once before
  training through the embedding cache, so a re-run or a resume does not encode them again).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from domainemb.errors import DomainembError
from domainemb.pairs import Pair, PairFile

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from domainemb.evaluation.cache import EmbeddingCache
    from domainemb.evaluation.encoders import SentenceTransformerEncoder
    from domainemb.progress import OnEvent

log = logging.getLogger(__name__)

#: Names of the training datasets (they show in the trainer's logs and the model card).
WITH_MARGINS = "with_teacher_margins"
WITH_NEGATIVES = "with_hard_negatives"
IN_BATCH_ONLY = "in_batch_negatives"
#: The column the losses read their labels from (sentence-transformers' default label column).
LABEL = "label"
#: The evaluator's name and the metric that picks the best checkpoint.
DEV_NAME = "dev"
DEV_METRIC = f"{DEV_NAME}_cosine_ndcg@10"


def train_datasets(
    pairs: Sequence[Pair],
    hard_negatives: int,
    *,
    margins: bool = False,
    teacher: TeacherVectors | None = None,
) -> Dataset | DatasetDict:
    """The training data: one dataset, or one per layout when several occur.

    Args:
        pairs: Training pairs.
        hard_negatives: Mined negatives per pair to use; pairs with fewer use in-batch negatives only.
        margins: Put the pairs with at least ``hard_negatives`` teacher margins into
            :data:`WITH_MARGINS`, labelled with those margins (the margin losses).
        teacher: Label every row with the teacher's embeddings of its texts (the distillation losses).
    """
    from datasets import Dataset, DatasetDict

    def layout(pair: Pair) -> str:
        if margins and hard_negatives and len(pair.margins) >= hard_negatives:
            return WITH_MARGINS
        if hard_negatives and len(pair.negatives) >= hard_negatives:
            return WITH_NEGATIVES
        return IN_BATCH_ONLY

    parts: dict[str, Dataset] = {}
    for name in (WITH_MARGINS, WITH_NEGATIVES, IN_BATCH_ONLY):
        chosen = [p for p in pairs if layout(p) == name]
        if not chosen:
            continue
        negatives = 0 if name == IN_BATCH_ONLY else hard_negatives
        columns: dict[str, list] = {"anchor": [p.query for p in chosen], "positive": [p.positive for p in chosen]}
        for i in range(negatives):
            columns[f"negative_{i + 1}"] = [p.negatives[i] for p in chosen]
        if name == WITH_MARGINS:
            columns[LABEL] = [list(p.margins[:hard_negatives]) for p in chosen]
        if teacher is not None:
            columns[LABEL] = [teacher.label(p, negatives) for p in chosen]
        parts[name] = Dataset.from_dict(columns)
    if len(parts) == 1:
        return next(iter(parts.values()))
    return DatasetDict(parts)


def check_margins(pair_file: PairFile, loss: str, hard_negatives: int, *, every_pair: bool) -> None:
    """Check that a pairs file carries the teacher margins a margin loss trains on.

    Args:
        pair_file: The pairs read.
        loss: The loss's name, for the message.
        hard_negatives: Margins per pair the loss uses.
        every_pair: Every pair needs them (``margin-mse`` alone); otherwise one pair is enough
            (``mnrl+margin-mse`` trains the others on MNRL alone).

    Raises:
        DomainembError: naming the file: no pair has margins, or (``every_pair``) some have fewer than
            ``hard_negatives``.
    """
    total = len(pair_file.pairs)
    labelled = sum(1 for p in pair_file.pairs if p.margins)
    if not labelled:
        raise DomainembError(
            f"{pair_file.path}: loss {loss} needs teacher margins; none of its {total} pairs has them; "
            "run `domainemb synth --teacher MODEL` to label them, or train with loss mnrl"
        )
    short = sum(1 for p in pair_file.pairs if len(p.margins) < hard_negatives)
    if every_pair and short:
        raise DomainembError(
            f"{pair_file.path}: loss {loss} trains on {hard_negatives} teacher margin(s) per pair (hard_negatives), "
            f"but {short} of its {total} pairs have fewer; lower hard_negatives, or use loss mnrl+margin-mse "
            "(which trains those pairs on MNRL alone)"
        )
    if short == total:
        raise DomainembError(
            f"{pair_file.path}: none of its {total} pairs has {hard_negatives} teacher margins (hard_negatives); "
            "lower hard_negatives"
        )


# ----------------------------------------------------------------------------- the distillation teacher


@dataclass(frozen=True)
class TeacherVectors:
    """A bi-encoder teacher's embeddings of the training texts: queries as queries, passages as documents.

    Args:
        fingerprint: The teacher's fingerprint.
        queries: Each anchor text's embedding.
        passages: Each positive's and negative's embedding.
    """

    fingerprint: str
    queries: dict[str, np.ndarray]
    passages: dict[str, np.ndarray]

    @property
    def dim(self) -> int:
        return len(next(iter(self.queries.values())))

    def label(self, pair: Pair, negatives: int) -> list[float]:
        """The ``label`` of one row: its texts' embeddings, ``[query, positive, negative_1..]``, concatenated."""
        texts = [pair.positive, *pair.negatives[:negatives]]
        return np.concatenate([self.queries[pair.query], *(self.passages[t] for t in texts)]).tolist()


def load_teacher_encoder(spec: str) -> SentenceTransformerEncoder:
    """The distillation teacher: a sentence-transformers bi-encoder (registry name, folder or hub id).

    What kind of model ``spec`` names is decided where every ``--teacher`` is read,
    :func:`domainemb.synth.teacher.load_teacher`; distillation needs the embeddings of a bi-encoder.

    Raises:
        DomainembError: ``spec`` names a cross-encoder or a hybrid teacher, a model that is not a
            sentence-transformers bi-encoder (``bm25``), or nothing loadable.
    """
    from domainemb.evaluation.encoders import SentenceTransformerEncoder, load_encoder
    from domainemb.synth.teacher import BiEncoderTeacher, TeacherKind, load_teacher

    try:
        teacher = load_teacher(spec)
    except DomainembError:  # not a teacher at all: loading it says what it is (bm25, a missing hub id, ...)
        teacher = None
    if teacher is not None and not isinstance(teacher, BiEncoderTeacher):
        what = "a CrossEncoder" if teacher.kind is TeacherKind.CROSS_ENCODER else f"a {teacher.kind} teacher"
        raise DomainembError(
            f"teacher {spec!r} is {what}, not a bi-encoder: in-batch distillation needs the teacher's embeddings "
            "of every query and passage; a cross-encoder teacher labels margins instead "
            "(synth --teacher, then loss margin-mse)"
        )
    encoder = load_encoder(spec)
    if not isinstance(encoder, SentenceTransformerEncoder):
        raise DomainembError(
            f"teacher {spec!r} is not a bi-encoder (a sentence-transformers embedding model such as mpnet); "
            "in-batch distillation needs the teacher's embeddings"
        )
    return encoder


def teacher_vectors(
    teacher: SentenceTransformerEncoder,
    pairs: Sequence[Pair],
    hard_negatives: int,
    *,
    cache: EmbeddingCache | None = None,
    batch_size: int = 32,
    on_event: OnEvent | None = None,
) -> TeacherVectors:
    """Encode every query and passage of ``pairs`` with ``teacher``, reusing and filling ``cache``.

    Queries are encoded with the teacher's ``query`` prompt and passages with its ``document``
    prompt, where it has them (``encode_query`` / ``encode_document``); the cache key records the
    prompt, so a model's vectors for another prompt are never mixed in.

    Args:
        teacher: The bi-encoder.
        pairs: Training pairs; the first ``hard_negatives`` negatives of each are encoded.
        hard_negatives: Negatives per pair that training uses.
        cache: The embedding cache; ``None`` encodes everything.
        batch_size: Texts per forward pass.
        on_event: Called as each batch of new texts is encoded.
    """
    from domainemb.progress import StageEvent

    model = teacher.model
    queries = list(dict.fromkeys(p.query for p in pairs))
    passages = list(
        dict.fromkeys(t for p in pairs for t in (p.positive, *(p.negatives[:hard_negatives] if hard_negatives else ())))
    )
    found: dict[str, dict[str, np.ndarray]] = {}
    for role, texts, encode in (
        ("query", queries, model.encode_query),
        ("document", passages, model.encode_document),
    ):
        prompt = f"adapt-teacher:{role}|{(model.prompts or {}).get(role, '')}"
        cached = cache.get(teacher.fingerprint, prompt, texts) if cache is not None else [None] * len(texts)
        vectors = {t: v for t, v in zip(texts, cached, strict=True) if v is not None}
        missing = [t for t in texts if t not in vectors]
        if missing:
            log.info(
                "teacher %s: encoding %d of %d %s texts (the rest cached)", teacher.name, len(missing), len(texts), role
            )
        step = max(batch_size * 16, 1)
        for start in range(0, len(missing), step):
            if on_event is not None:
                on_event(StageEvent(f"teacher embeddings ({role})", done=start, total=len(missing)))
            batch = missing[start : start + step]
            encoded = np.asarray(
                encode(batch, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False), dtype=np.float32
            )  # (len(batch), dim)
            if cache is not None:
                cache.put(teacher.fingerprint, prompt, batch, encoded)
            vectors.update(zip(batch, encoded))
        found[role] = vectors
    return TeacherVectors(fingerprint=teacher.fingerprint, queries=found["query"], passages=found["document"])


def dev_evaluator(dev: Sequence[Pair], max_queries: int, batch_size: int, seed: int) -> InformationRetrievalEvaluator:
    """nDCG@10 retrieval over the dev split: dev queries against every dev positive and negative.

    Args:
        dev: Held-out pairs.
        max_queries: Keep at most this many distinct queries (a seeded, order-independent choice).
        batch_size: Texts per forward pass.
        seed: Seed of the query choice.
    """
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    from sentence_transformers.util import cos_sim

    texts = sorted({p.positive for p in dev} | {n for p in dev for n in p.negatives})
    corpus = {f"d{i}": text for i, text in enumerate(texts)}
    corpus_id = {text: cid for cid, text in corpus.items()}
    relevant: dict[str, set[str]] = {}
    for pair in dev:
        relevant.setdefault(pair.query, set()).add(corpus_id[pair.positive])
    chosen = sorted(relevant, key=lambda q: hashlib.sha256(f"{seed}:{q}".encode()).hexdigest())[:max_queries]
    queries = {f"q{i}": q for i, q in enumerate(sorted(chosen))}
    return InformationRetrievalEvaluator(
        queries=queries,
        corpus=corpus,
        relevant_docs={qid: relevant[q] for qid, q in queries.items()},
        name=DEV_NAME,
        batch_size=batch_size,
        score_functions={"cosine": cos_sim},
        main_score_function="cosine",
        write_csv=False,
        show_progress_bar=False,
    )
