"""Turn training pairs into the trainer's datasets and the dev split into a retrieval evaluator.

Column order is what the ranking losses read: ``anchor``, ``positive``, then ``negative_1`` ...
``negative_k``. Pairs with at least ``k`` mined negatives form one dataset; the rest (in-batch
negatives only) another. The trainer draws each batch from one of them, in proportion to size,
so no pair is padded with made-up negatives and none is dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from domainemb.pairs import Pair

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

#: Names of the training datasets (they show in the trainer's logs and the model card).
WITH_NEGATIVES = "with_hard_negatives"
IN_BATCH_ONLY = "in_batch_negatives"
#: The evaluator's name and the metric that picks the best checkpoint.
DEV_NAME = "dev"
DEV_METRIC = f"{DEV_NAME}_cosine_ndcg@10"


def train_datasets(pairs: Sequence[Pair], hard_negatives: int) -> Dataset | DatasetDict:
    """The training data: one dataset, or one per negatives layout when both occur.

    Args:
        pairs: Training pairs.
        hard_negatives: Mined negatives per pair to use; pairs with fewer use in-batch negatives only.
    """
    from datasets import Dataset, DatasetDict

    with_negatives = [p for p in pairs if hard_negatives and len(p.negatives) >= hard_negatives]
    without = [p for p in pairs if not (hard_negatives and len(p.negatives) >= hard_negatives)]
    parts: dict[str, Dataset] = {}
    if with_negatives:
        columns = {"anchor": [p.query for p in with_negatives], "positive": [p.positive for p in with_negatives]}
        for i in range(hard_negatives):
            columns[f"negative_{i + 1}"] = [p.negatives[i] for p in with_negatives]
        parts[WITH_NEGATIVES] = Dataset.from_dict(columns)
    if without:
        parts[IN_BATCH_ONLY] = Dataset.from_dict(
            {"anchor": [p.query for p in without], "positive": [p.positive for p in without]}
        )
    if len(parts) == 1:
        return next(iter(parts.values()))
    return DatasetDict(parts)


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
