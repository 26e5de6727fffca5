"""Retrain a pruned model by distillation from the dense model it was pruned from, masks held.

The dense model is the teacher: before any weight is pruned it encodes the domain texts once, in
fp32 (through the embedding cache, keyed by its fingerprint and the sequence length), and the
pruned model then learns to reproduce those embeddings with sentence-transformers' ``MSELoss``
(student embedding vs. the teacher's, given as the label; the dimensions match, so there is no
projection). It needs no labels: the texts are passages of the domain, either the queries,
positives and negatives of the domain calibration pairs or a corpus folder (``distill_texts``: what
``domainemb export-corpus`` writes). With ``distill_margins`` the calibration pairs' (query,
positive, negative) triples add ``MarginMSELoss`` batches whose target margins ``q·p − q·n`` come
from the same teacher embeddings. A stronger model may label the triples instead (``teacher``, any
``--teacher`` value of :func:`domainemb.synth.teacher.load_teacher`): the target margins are then its
``score(q, p) − score(q, n)`` (:func:`teacher_margins`, through the embedding cache), while the MSE
batches keep the dense model's embeddings (another model's would not match the dimensions).

A seeded slice of the texts (a tenth, at most :data:`MAX_HELDOUT`) is held out of the MSE batches:
the report gives the pruned model's embedding MSE to the dense model on it before and after
retraining. :class:`~domainemb.prune.retrain.MaskCallback` writes the masks back after every
optimizer step, as for InfoNCE retraining.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor, nn

from domainemb.errors import DomainembError
from domainemb.pairs import Pair

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import TrainerCallback

    from domainemb.adapt.train import TrainOutcome
    from domainemb.evaluation.cache import EmbeddingCache
    from domainemb.prune.config import PruneConfig
    from domainemb.synth.decontam import HeldOut
    from domainemb.synth.teacher import Teacher

log = logging.getLogger(__name__)

#: Names of the training datasets (and of their losses) in the trainer.
EMBEDDINGS = "embeddings"
MARGINS = "margins"
#: At most this many texts are held out of training to measure the embedding MSE.
MAX_HELDOUT = 256
#: Queries a hybrid teacher scores against the triples' passages at a time (one score matrix).
_TEACHER_BLOCK = 256


@dataclass(frozen=True)
class DistillTexts:
    """The domain texts distillation trains on, before the teacher has seen them.

    Attributes:
        texts: Distinct texts, in a seeded order, at most ``distill_max_texts`` of them.
        source: Where they come from (a corpus folder, or the domain calibration pairs).
        checksum: sha256 over the chosen texts.
        available: Distinct texts the source had before the cap.
        decontaminated: Texts dropped because they are, or share a 13-gram with, a test text of the suites.
    """

    texts: tuple[str, ...]
    source: str
    checksum: str
    available: int
    decontaminated: int = 0


def corpus_texts(
    folder: Path, max_words: int, max_texts: int, seed: int, held_out: HeldOut | None = None
) -> DistillTexts:
    """The passages of a corpus folder (``export-corpus`` output, or any folder ``synth`` reads).

    Each document is cut into chunks of at most ``max_words`` whitespace tokens (export passages
    are shorter and stay whole).

    Raises:
        DomainembError: ``folder`` is missing, not a folder, or holds no usable document; the
            message names it.
    """
    from domainemb.synth.corpus import chunk_corpus, read_corpus

    folder = Path(folder)
    if not folder.exists():
        raise DomainembError(f"distill_texts {folder}: no such folder")
    if not folder.is_dir():
        raise DomainembError(
            f"distill_texts {folder}: not a folder (give a corpus folder, such as domainemb export-corpus writes)"
        )
    try:
        corpus = read_corpus(folder)
    except DomainembError as exc:
        raise DomainembError(f"distill_texts {exc}") from None
    chunks = chunk_corpus(corpus.documents, size=max_words, overlap=0)
    return choose_texts((c.text for c in chunks), str(folder), max_texts, seed, held_out)


def without_test_texts(texts: DistillTexts, held_out: HeldOut) -> DistillTexts:
    """``texts`` less those that are, or share a 13-gram with, a test text of the suites (counted).

    A corpus folder is read (and capped) before the model loads, so that a bad folder fails early;
    its texts are decontaminated here, once the suites are open.

    Raises:
        DomainembError: fewer than two texts are left.
    """
    clean = tuple(t for t in texts.texts if not held_out.touches(t))
    dropped = len(texts.texts) - len(clean)
    if len(clean) < 2:
        raise DomainembError(
            f"distillation needs at least 2 distinct texts, {texts.source} has {len(clean)} "
            f"once {dropped} touching the suites' test texts are dropped"
        )
    checksum = hashlib.sha256("\x1e".join(clean).encode("utf-8", "surrogatepass")).hexdigest()
    return DistillTexts(
        texts=clean,
        source=texts.source,
        checksum=checksum,
        available=texts.available - dropped,
        decontaminated=texts.decontaminated + dropped,
    )


def pair_texts(
    pairs: Sequence[Pair], source: str, max_texts: int, seed: int, held_out: HeldOut | None = None
) -> DistillTexts:
    """The queries, positives and negatives of ``pairs`` as distillation texts (decontaminated against ``held_out``)."""
    texts = (text for p in pairs for text in (p.query, p.positive, *p.negatives))
    return choose_texts(texts, f"calibration pairs ({source})", max_texts, seed, held_out)


def choose_texts(
    texts: Iterable[str], source: str, max_texts: int, seed: int, held_out: HeldOut | None = None
) -> DistillTexts:
    """Distinct non-blank ``texts`` in a seeded order (independent of the input order), the first ``max_texts``.

    Args:
        held_out: The suites' test side: a text that touches it (:meth:`HeldOut.touches`) is dropped
            and counted, since nothing that trains a model may contain a suite's test text.

    Raises:
        DomainembError: fewer than two distinct texts (after decontamination).
    """
    distinct = sorted({t for t in texts if t.strip()}, key=lambda t: _hash(seed, t))
    clean = [t for t in distinct if held_out is None or not held_out.touches(t)]
    if len(clean) < 2:
        dropped = f" once {len(distinct) - len(clean)} touching the suites' test texts are dropped" if held_out else ""
        raise DomainembError(f"distillation needs at least 2 distinct texts, {source} has {len(clean)}{dropped}")
    chosen = tuple(clean[:max_texts])
    checksum = hashlib.sha256("\x1e".join(chosen).encode("utf-8", "surrogatepass")).hexdigest()
    return DistillTexts(
        texts=chosen,
        source=source,
        checksum=checksum,
        available=len(clean),
        decontaminated=len(distinct) - len(clean),
    )


@dataclass(frozen=True)
class DistillTargets:
    """What the dense model says about the texts: the labels of the distillation losses.

    Attributes:
        texts / embeddings: Training texts and the dense model's fp32 embeddings, ``(len(texts), dim)``.
        heldout_texts / heldout_embeddings: Texts kept out of the MSE batches, and theirs.
        triples / margins: ``(query, positive, negative)`` and their target margins, ``(len(triples),)``: the
            dense model's ``q·p − q·n``, or the teacher's ``score(q, p) − score(q, n)``.
        source: The :class:`DistillTexts` the texts came from.
        teacher: The teacher that labelled the margins (:meth:`~domainemb.synth.teacher.Teacher.describe`:
            name, kind, fingerprint, and ``forward_texts``, what it computed rather than found in the
            cache); ``None`` when the dense model did.
    """

    texts: tuple[str, ...]
    embeddings: np.ndarray
    heldout_texts: tuple[str, ...]
    heldout_embeddings: np.ndarray
    triples: tuple[tuple[str, str, str], ...]
    margins: np.ndarray
    source: DistillTexts
    teacher: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """What the report records of the texts."""
        return {
            "source": self.source.source,
            "texts_sha256": self.source.checksum,
            "available": self.source.available,
            "dropped_touching_test_texts": self.source.decontaminated,
            "train_texts": len(self.texts),
            "heldout_texts": len(self.heldout_texts),
            "margin_triples": len(self.triples),
        }


def distill_targets(
    model: SentenceTransformer,
    fingerprint: str,
    texts: DistillTexts,
    pairs: Sequence[Pair],
    max_seq_length: int,
    batch_size: int,
    cache: EmbeddingCache | None = None,
    teacher: Teacher | None = None,
) -> DistillTargets:
    """Encode the texts (and, without a ``teacher``, the texts of the triples of ``pairs``) with the dense ``model``.

    Call it before pruning changes the weights.

    Args:
        model: The dense model.
        fingerprint: Its fingerprint (the cache key).
        texts: The distillation texts; a seeded tenth (at most :data:`MAX_HELDOUT`) is held out.
        pairs: Pairs whose ``(query, positive, first negative)`` become MarginMSE triples; pairs
            without a negative are skipped. Empty: no MarginMSE.
        max_seq_length: Tokens per text, as in retraining.
        batch_size: Texts per forward pass.
        cache: Where embeddings are kept and reused; ``None`` encodes everything.
        teacher: Labels the triples' margins instead of the dense model (:func:`teacher_margins`); it
            keeps its scores in its own cache (the one :func:`~domainemb.synth.teacher.load_teacher` got).
    """
    triples = tuple((p.query, p.positive, p.negatives[0]) for p in pairs if p.negatives)
    if pairs and not triples:
        labeller = f"teacher {teacher.name} labels nothing and " if teacher is not None else ""
        log.warning("no calibration pair has a hard negative: %sdistillation runs without MarginMSE", labeller)
    dense_triples = triples if teacher is None else ()
    needed = list(dict.fromkeys([*texts.texts, *(t for triple in dense_triples for t in triple)]))
    vectors = dict(zip(needed, teacher_embeddings(model, fingerprint, needed, max_seq_length, batch_size, cache)))
    heldout = min(MAX_HELDOUT, len(texts.texts) // 10)
    train, held = texts.texts[heldout:], texts.texts[:heldout]
    if teacher is not None:
        margins = teacher_margins(teacher, triples)
    elif triples:
        q, p, n = (np.stack([vectors[t[i]] for t in triples]) for i in range(3))  # (triples, dim) each
        margins = ((q * p).sum(axis=1) - (q * n).sum(axis=1)).astype(np.float32)  # MarginMSELoss's dot product
    else:
        margins = np.zeros(0, dtype=np.float32)
    return DistillTargets(
        texts=train,
        embeddings=_stack(vectors, train),
        heldout_texts=held,
        heldout_embeddings=_stack(vectors, held),
        triples=triples,
        margins=margins,
        source=texts,
        teacher=teacher.describe() | {"forward_texts": teacher.forward_texts} if teacher is not None else None,
    )


def teacher_margins(teacher: Teacher, triples: Sequence[tuple[str, str, str]]) -> np.ndarray:
    """``(len(triples),)`` margins ``score(q, p) − score(q, n)`` of ``teacher`` for each ``(q, p, n)``.

    A bi-encoder's score is its own similarity of the two embeddings, a cross-encoder's its raw logit
    (:meth:`~domainemb.synth.teacher.Teacher.score_pairs`; both through the embedding cache). A hybrid
    teacher normalises each query's scores over a pool (min-max, see
    :class:`~domainemb.synth.teacher.HybridTeacher`): its pool is every positive and negative of the
    triples, as synth's is every chunk, so that a margin means the same for every query.
    """
    if not triples:
        return np.zeros(0, dtype=np.float32)
    if teacher.normalises_per_query:
        pool = list(dict.fromkeys(t for _, positive, negative in triples for t in (positive, negative)))
        index = {t: j for j, t in enumerate(pool)}
        blocks = []
        for start in range(0, len(triples), _TEACHER_BLOCK):
            block = triples[start : start + _TEACHER_BLOCK]
            scores = teacher.score_pool([q for q, _, _ in block], pool)  # (len(block), len(pool))
            rows = np.arange(len(block))
            positives = scores[rows, [index[p] for _, p, _ in block]]  # (len(block),)
            negatives = scores[rows, [index[n] for _, _, n in block]]  # (len(block),)
            blocks.append(positives - negatives)
        return np.concatenate(blocks).astype(np.float32)
    queries = [q for q, _, _ in triples]
    positives = teacher.score_pairs(queries, [p for _, p, _ in triples])  # (len(triples),)
    negatives = teacher.score_pairs(queries, [n for _, _, n in triples])  # (len(triples),)
    return (np.asarray(positives, dtype=np.float32) - np.asarray(negatives, dtype=np.float32)).astype(np.float32)


def teacher_embeddings(
    model: SentenceTransformer,
    fingerprint: str,
    texts: Sequence[str],
    max_seq_length: int,
    batch_size: int,
    cache: EmbeddingCache | None = None,
) -> np.ndarray:
    """``(len(texts), dim)`` fp32 embeddings of ``texts`` by ``model`` at ``max_seq_length`` tokens.

    Cached vectors (same fingerprint, same sequence length, same text) are not encoded again;
    new ones are stored.
    """
    key = f"prune-distill|max_seq_length={max_seq_length}"
    found = cache.get(fingerprint, key, texts) if cache is not None else [None] * len(texts)
    vectors = {t: v for t, v in zip(texts, found) if v is not None}
    missing = sorted((t for t in dict.fromkeys(texts) if t not in vectors), key=len, reverse=True)
    if missing:
        encoded = _encode(model, missing, max_seq_length, batch_size)
        if cache is not None:
            cache.put(fingerprint, key, missing, encoded)
        vectors.update(zip(missing, encoded))
    return _stack(vectors, texts)


def embedding_mse(
    model: SentenceTransformer, texts: Sequence[str], targets: np.ndarray, max_seq_length: int, batch_size: int
) -> float | None:
    """Mean squared difference between ``model``'s embeddings of ``texts`` and ``targets`` (``MSELoss``'s reduction).

    ``None`` when there are no texts.
    """
    if not texts:
        return None
    return float(np.mean((_encode(model, texts, max_seq_length, batch_size) - targets) ** 2))


def distill(
    model: SentenceTransformer,
    targets: DistillTargets,
    config: PruneConfig,
    weights: Mapping[str, nn.Parameter] | None = None,
    masks: Mapping[str, Tensor] | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> TrainOutcome:
    """Train ``model`` in place for ``config.retrain_steps`` steps towards the dense embeddings.

    Args:
        model: The pruned model.
        targets: The dense model's embeddings (and margins) of the domain texts.
        config: Steps, batch size, learning rate, sequence length and seed.
        weights / masks: The pruned parameters and their masks (unstructured pruning); ``None``
            when the model was shrunk (structured) and nothing needs holding at zero.
        callbacks: Extra trainer callbacks.
    """
    import torch
    from datasets import Dataset, DatasetDict, Features, Value
    from datasets import Sequence as SequenceFeature
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import MultiDatasetBatchSamplers
    from sentence_transformers.sentence_transformer import losses
    from transformers.trainer_callback import PrinterCallback

    from domainemb.adapt.config import AdaptConfig
    from domainemb.adapt.train import TrainOutcome
    from domainemb.prune.retrain import MaskCallback

    # float32 labels, bit for bit the teacher's vectors (datasets would otherwise widen them to float64)
    parts = {
        EMBEDDINGS: Dataset.from_dict(
            {"text": list(targets.texts), "label": targets.embeddings},
            features=Features({"text": Value("string"), "label": SequenceFeature(Value("float32"))}),
        )
    }
    loss: dict[str, nn.Module] = {EMBEDDINGS: losses.MSELoss(model)}
    if targets.triples:
        query, positive, negative = (list(column) for column in zip(*targets.triples))
        parts[MARGINS] = Dataset.from_dict(
            {"query": query, "positive": positive, "negative": negative, "label": targets.margins},
            features=Features(
                {c: Value("string") for c in ("query", "positive", "negative")} | {"label": Value("float32")}
            ),
        )
        loss[MARGINS] = losses.MarginMSELoss(model)
    # Warm-up and weight decay as InfoNCE retraining has them (the adapter's defaults).
    adapt_defaults = {f.name: f.default for f in fields(AdaptConfig)}
    with tempfile.TemporaryDirectory(prefix="domainemb-distill-") as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=str(Path(tmp) / "checkpoints"),
            max_steps=config.retrain_steps,
            per_device_train_batch_size=min(config.batch_size, min(len(d) for d in parts.values())),
            learning_rate=config.learning_rate,
            warmup_steps=adapt_defaults["warmup_ratio"],  # transformers 5: a float below 1 is a fraction of the steps
            weight_decay=adapt_defaults["weight_decay"],
            seed=config.seed,
            data_seed=config.seed,
            multi_dataset_batch_sampler=MultiDatasetBatchSamplers.PROPORTIONAL,
            save_strategy="no",
            logging_steps=min(10, config.retrain_steps),
            report_to="none",
            disable_tqdm=True,
            use_cpu=model.device.type != "cuda",
            dataloader_pin_memory=model.device.type == "cuda",
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=DatasetDict(parts) if len(parts) > 1 else parts[EMBEDDINGS],
            loss=loss if len(loss) > 1 else loss[EMBEDDINGS],
            callbacks=[*([MaskCallback(weights, masks)] if masks else []), *callbacks],
        )
        trainer.remove_callback(PrinterCallback)
        previous_length = model.max_seq_length
        model.max_seq_length = config.max_seq_length
        start = time.perf_counter()
        try:
            trainer.train()
        finally:
            model.max_seq_length = previous_length
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return TrainOutcome(
        steps=trainer.state.global_step,
        resumed_from=None,
        best_checkpoint=None,
        dev_score=None,
        log_history=tuple(trainer.state.log_history),
        seconds=time.perf_counter() - start,
        main_process=trainer.is_world_process_zero(),
    )


def _encode(model: SentenceTransformer, texts: Sequence[str], max_seq_length: int, batch_size: int) -> np.ndarray:
    """``(len(texts), dim)`` fp32 embeddings, the model's own output (its Normalize module, if any, included)."""
    previous_length = model.max_seq_length
    model.max_seq_length = max_seq_length
    try:
        vectors = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    finally:
        model.max_seq_length = previous_length
    return np.asarray(vectors, dtype=np.float32)


def _stack(vectors: Mapping[str, np.ndarray], texts: Sequence[str]) -> np.ndarray:
    if not texts:
        dim = len(next(iter(vectors.values()))) if vectors else 0
        return np.zeros((0, dim), dtype=np.float32)
    return np.stack([np.asarray(vectors[t], dtype=np.float32) for t in texts])  # (len(texts), dim)


def _hash(seed: int, text: str) -> bytes:
    return hashlib.blake2b(f"{seed}\x1f{text}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
