"""Per-item scores rebuilt from mteb's prediction files, for bootstrap intervals within tasks.

With ``prediction_folder``, mteb writes one file per task::

    {"mteb_model_meta": {"model_name", "revision"}, "<subset>": {"<split>": PREDICTIONS}}

For each task type we pair the predictions with the task's gold data and build
:class:`ItemScores`: a function from resampled item indices (queries, pairs, test texts) to the
task's main score, computed with the library functions mteb itself uses (pytrec_eval through
mteb's ``calculate_retrieval_scores``, scipy's ``spearmanr``, scikit-learn's
``average_precision_score``). Before it is used, the score on all items must reproduce the main
score mteb stored; otherwise the interval is "not computed" and the reason recorded.

Clustering has no per-item form: mteb's predictions are the cluster assignments of its own k-means
subsamples, without the indices of the documents drawn, and V-measure is not a mean over items.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from domainemb.domains.benchmark import Benchmark
from domainemb.domains.manifest import TaskEntry
from domainemb.evaluation.results import prediction_path  # noqa: F401  (where the engine keeps predictions)
from domainemb.types import TaskType

log = logging.getLogger(__name__)

#: Largest difference between the score recomputed from predictions and the stored main score
#: (mteb rounds stored retrieval scores to 5 decimals and task results to 6).
TOLERANCE = 2e-5


@dataclass(frozen=True)
class ItemScores:
    """A task's main score as a function of which of its items are scored.

    Args:
        n_items: Items the task is resampled over (queries, pairs, test texts).
        unit: What an item is, for the report ("query", "pair", "text").
        score: Maps index arrays ``(samples, n_items)`` to main scores ``(samples,)``.
    """

    n_items: int
    unit: str
    score: Callable[[np.ndarray], np.ndarray]

    @property
    def point(self) -> float:
        """The main score on every item once."""
        return float(self.score(np.arange(self.n_items)[None, :])[0])


@dataclass(frozen=True)
class Unavailable:
    """Why a task's interval is not computed."""

    reason: str


def item_scores(
    predictions_file: Path, benchmark: Benchmark, entry: TaskEntry, stored_score: float, seed: int = 42
) -> ItemScores | Unavailable:
    """Per-item scores of one model on one task, checked against its stored main score.

    Args:
        predictions_file: mteb's predictions for the task.
        benchmark: The benchmark the task was scored on (its gold data).
        entry: The task.
        stored_score: The main score in the task's result file.
        seed: The seed the task was evaluated with (mteb's multilabel test subsampling uses it).
    """
    if not predictions_file.is_file():
        return Unavailable(f"no prediction file ({predictions_file.name})")
    builder = _BUILDERS.get(TaskType(entry.type))
    if builder is None:
        return Unavailable(_NO_ITEMS.get(TaskType(entry.type), f"no per-item form for {entry.type}"))
    try:
        raw = json.loads(predictions_file.read_text(encoding="utf-8"))
        predictions = raw["default"]["test"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Unavailable(f"unreadable prediction file: {exc}")
    try:
        items = builder(predictions, benchmark, entry, seed)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        return Unavailable(f"predictions do not match the task data: {exc}")
    if isinstance(items, Unavailable):
        return items
    point = items.point
    if not np.isfinite(point) or abs(point - stored_score) > TOLERANCE:
        return Unavailable(f"predictions give {point:.6f}, not the stored main score {stored_score:.6f}")
    return items


def draws(seed: int, task: str, n_items: int, samples: int) -> np.ndarray:
    """Seeded item indices ``(samples, n_items)`` drawn with replacement.

    The draws depend only on the seed, the task and its size, so every model of a comparison is
    resampled on the same items: model differences are paired.
    """
    rng = np.random.default_rng([seed, zlib.crc32(task.encode("utf-8")), n_items])
    return rng.integers(0, n_items, size=(samples, n_items))


# ----------------------------------------------------------------------------- per type
def _mean_of(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda idx: values[idx].mean(axis=-1)


def _retrieval(predictions: dict[str, dict[str, float]], benchmark: Benchmark, entry: TaskEntry, seed: int):
    from mteb._evaluators.retrieval_metrics import calculate_retrieval_scores

    metric, _, k = entry.main_score.rpartition("_at_")
    key = {"ndcg": "ndcg_cut_", "map": "map_cut_", "recall": "recall_", "precision": "P_"}.get(metric)
    if key is None or not k.isdigit():
        return Unavailable(f"main score {entry.main_score} has no per-query value")
    qrels: dict[str, dict[str, int]] = {}
    for query, doc, score in benchmark.tables(entry)["qrels"].iter_rows():
        qrels.setdefault(query, {})[doc] = int(score)
    per_query = calculate_retrieval_scores(predictions, qrels, [int(k)]).all_scores
    values = np.array([per_query[q][f"{key}{k}"] for q in sorted(per_query)], dtype=np.float64)
    return ItemScores(n_items=len(values), unit="query", score=_mean_of(values))


_STS_PREDICTIONS = {
    "cosine": "cosine_scores",
    "manhattan": "manhattan_distances",
    "euclidean": "euclidean_distances",
    "": "similarity_scores",
}


def _sts(predictions: dict[str, list[float]], benchmark: Benchmark, entry: TaskEntry, seed: int):
    from scipy.stats import pearsonr, spearmanr

    function, _, statistic = entry.main_score.rpartition("_")
    if function not in _STS_PREDICTIONS or statistic not in ("spearman", "pearson"):
        return Unavailable(f"main score {entry.main_score} is not a correlation mteb's STS evaluator reports")
    gold = np.asarray(benchmark.tables(entry)["test"]["score"].to_list(), dtype=np.float64)
    predicted = np.asarray(predictions[_STS_PREDICTIONS[function]], dtype=np.float64)
    if len(gold) != len(predicted):
        raise ValueError(f"{len(predicted)} predicted scores for {len(gold)} pairs")
    correlate = spearmanr if statistic == "spearman" else pearsonr

    def score(idx: np.ndarray) -> np.ndarray:
        return np.array([_statistic(correlate, gold[row], predicted[row]) for row in idx])

    return ItemScores(n_items=len(gold), unit="pair", score=score)


def _statistic(correlate, x: np.ndarray, y: np.ndarray) -> float:
    if np.all(x == x[0]) or np.all(y == y[0]):  # a constant resample has no correlation
        return float("nan")
    return float(correlate(x, y)[0])


# (prediction key, higher score = more similar), as mteb's pair-classification metrics use them.
_PAIR_PREDICTIONS = {
    "similarity": ("similarity_scores", True),
    "cosine": ("cosine_scores", True),
    "manhattan": ("manhattan_distances", False),
    "euclidean": ("euclidean_distances", False),
    "dot": ("dot_scores", True),
}


def _pair_classification(predictions: dict[str, list[float]], benchmark: Benchmark, entry: TaskEntry, seed: int):
    function, _, metric = entry.main_score.rpartition("_")
    if metric != "ap" or (function != "max" and function not in _PAIR_PREDICTIONS):
        return Unavailable(f"main score {entry.main_score}: only average precision has a bootstrap here")
    labels = np.asarray(benchmark.tables(entry)["test"]["label"].to_list(), dtype=np.int64)
    used = _PAIR_PREDICTIONS if function == "max" else {function: _PAIR_PREDICTIONS[function]}
    signed: dict[bytes, np.ndarray] = {}
    for key, higher_is_similar in used.values():
        if predictions.get(key) is None:
            continue
        values = np.asarray(predictions[key], dtype=np.float64)
        if len(values) != len(labels):
            raise ValueError(f"{len(values)} {key} for {len(labels)} pairs")
        values = values if higher_is_similar else -values
        signed[values.tobytes()] = values  # cosine, dot and similarity often coincide

    def score(idx: np.ndarray) -> np.ndarray:
        counts = np.stack([np.bincount(row, minlength=len(labels)) for row in idx])  # (samples, pairs)
        return np.max([average_precision(labels, s, counts) for s in signed.values()], axis=0)

    return ItemScores(n_items=len(labels), unit="pair", score=score)


def average_precision(labels: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """scikit-learn's ``average_precision_score`` for many resamples at once.

    A resample is given by how often each item was drawn (``counts``, ``(samples, items)``): the
    average precision of the resample equals scikit-learn's with those counts as sample weights
    (tied scores form one threshold; items drawn zero times drop out). The tests check it against
    scikit-learn.

    Returns:
        ``(samples,)`` average precisions; NaN where a resample holds no positive pair.
    """
    order = np.argsort(-scores, kind="mergesort")
    ranked = scores[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # last position of each distinct score
    weights = counts[:, order].astype(np.float64)  # (samples, items)
    positive = labels[order].astype(np.float64)
    tps = np.cumsum(weights * positive, axis=1)[:, last_of_tie]  # (samples, thresholds)
    fps = np.cumsum(weights * (1 - positive), axis=1)[:, last_of_tie]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tps + fps > 0, tps / (tps + fps), 0.0)
        recall = tps / tps[:, -1:]
    gained = np.diff(recall, axis=1, prepend=0.0)
    return np.where(tps[:, -1] > 0, np.sum(gained * precision, axis=1), np.nan)


def _gold_labels(benchmark: Benchmark, entry: TaskEntry, seed: int) -> Any:
    """The test split exactly as mteb scored it (label ids, multilabel subsampling)."""
    from domainemb.evaluation.mteb_tasks import to_mteb_task

    task = type(to_mteb_task(benchmark, entry))(seed=seed)
    task.load_data()
    test = task.dataset["test"]
    limit = getattr(task, "max_eval_samples", None)
    if TaskType(entry.type) is TaskType.MULTILABEL_CLASSIFICATION and limit is not None and len(test) > limit:
        from datasets import DatasetDict
        from mteb.abstasks.abstask import _multilabel_subsampling

        test = _multilabel_subsampling(
            DatasetDict({"test": test}), seed=seed, splits=["test"], label="label", n_samples=limit
        )["test"]
    return test["label"]


def _classification(predictions: list[list[int]], benchmark: Benchmark, entry: TaskEntry, seed: int):
    if entry.main_score != "accuracy":
        return Unavailable(f"main score {entry.main_score}: only accuracy is a mean over test texts")
    gold = np.asarray(_gold_labels(benchmark, entry, seed))
    predicted = np.asarray(predictions)  # (experiments, texts)
    if predicted.ndim != 2 or predicted.shape[1] != len(gold):
        raise ValueError(f"predictions of shape {predicted.shape} for {len(gold)} test texts")
    correct = (predicted == gold[None, :]).mean(axis=0)  # per text: share of experiments right
    return ItemScores(n_items=len(gold), unit="text", score=_mean_of(correct))


def _multilabel(predictions: list[list[list[int]]], benchmark: Benchmark, entry: TaskEntry, seed: int):
    from sklearn.preprocessing import MultiLabelBinarizer

    if entry.main_score != "accuracy":
        return Unavailable(f"main score {entry.main_score}: only subset accuracy is a mean over test texts")
    gold = MultiLabelBinarizer().fit_transform(_gold_labels(benchmark, entry, seed))
    predicted = np.asarray(predictions)  # (experiments, texts, labels)
    if predicted.ndim != 3 or predicted.shape[1:] != gold.shape:
        raise ValueError(f"predictions of shape {predicted.shape} for gold labels of shape {gold.shape}")
    exact = (predicted == gold[None]).all(axis=2).mean(axis=0)  # per text: share of experiments exactly right
    return ItemScores(n_items=len(gold), unit="text", score=_mean_of(exact))


def _summarization(predictions: dict[str, list[list[float]]], benchmark: Benchmark, entry: TaskEntry, seed: int):
    from scipy.stats import pearsonr, spearmanr

    function, _, statistic = entry.main_score.rpartition("_")
    key = {"cosine": "cosine_scores", "dot": "dot_scores", "": "similarity_scores"}.get(function)
    if key is None or statistic not in ("spearman", "pearson"):
        return Unavailable(f"main score {entry.main_score} is not a correlation mteb's summarization evaluator reports")
    correlate = spearmanr if statistic == "spearman" else pearsonr
    human = predictions["human_scores"]
    per_text = np.array([float(correlate(h, p)[0]) for h, p in zip(human, predictions[key], strict=True)])
    return ItemScores(n_items=len(per_text), unit="text", score=_mean_of(per_text))


_BUILDERS: dict[TaskType, Callable[..., ItemScores | Unavailable]] = {
    TaskType.RETRIEVAL: _retrieval,
    TaskType.RERANKING: _retrieval,
    TaskType.STS: _sts,
    TaskType.PAIR_CLASSIFICATION: _pair_classification,
    TaskType.CLASSIFICATION: _classification,
    TaskType.MULTILABEL_CLASSIFICATION: _multilabel,
    TaskType.SUMMARIZATION: _summarization,
}
_NO_ITEMS = {
    TaskType.CLUSTERING: (
        "clustering: mteb's predictions are assignments of its own k-means subsamples (which documents "
        "were drawn is not recorded) and V-measure is not a mean over items"
    ),
}
