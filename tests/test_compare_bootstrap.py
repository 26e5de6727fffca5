"""Per-item scores from mteb's real prediction files reproduce mteb's main scores, type by type."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mteb
import numpy as np
import pytest
from evaluation_data import KeywordEncoder
from sklearn.metrics import average_precision_score

from domainemb.compare.bootstrap import ItemScores, Unavailable, average_precision, draws, item_scores, prediction_path
from domainemb.domains.benchmark import Benchmark
from domainemb.evaluation.mteb_tasks import to_mteb_task


@pytest.fixture(scope="module")
def scored(tiny_benchmark, tmp_path_factory) -> tuple[Benchmark, Path, dict[str, float]]:
    """The eight tiny tasks scored by mteb with a keyword model, predictions kept."""
    folder = tmp_path_factory.mktemp("bootstrap")
    bench = Benchmark.open(tiny_benchmark)
    encoder = KeywordEncoder()
    predictions = prediction_path(folder, encoder.model_name, encoder.revision, "x").parent
    scores = {}
    for entry in bench.tasks:
        task = type(to_mteb_task(bench, entry))(seed=42)
        outcome = mteb.evaluate(
            encoder.mteb_model(),
            [task],
            cache=None,
            prediction_folder=predictions,
            show_progress_bar=False,
            raise_error=True,
        )
        scores[entry.name] = float(outcome.task_results[0].get_score())
    return bench, folder, scores


def _items(scored, name: str, stored: float | None = None) -> ItemScores | Unavailable:
    bench, folder, scores = scored
    encoder = KeywordEncoder()
    path = prediction_path(folder, encoder.model_name, encoder.revision, name)
    return item_scores(path, bench, bench.task(name), scores[name] if stored is None else stored)


@pytest.mark.parametrize(
    "task, unit",
    [
        ("TinyRetrieval", "query"),
        ("TinyReranking", "query"),
        ("TinySTS", "pair"),
        ("TinyPairClassification", "pair"),
        ("TinyClassification", "text"),
        ("TinyMultilabelClassification", "text"),
        ("TinySummarization", "text"),
    ],
)
def test_item_scores_reproduce_mteb_main_score(scored, task, unit):
    items = _items(scored, task)
    assert isinstance(items, ItemScores), items
    assert items.unit == unit and items.n_items > 1
    assert math.isclose(items.point, scored[2][task], abs_tol=2e-5)
    replicates = items.score(draws(42, task, items.n_items, 50))
    assert replicates.shape == (50,) and np.nanmin(replicates) >= -1 and np.nanmax(replicates) <= 1


def test_clustering_has_no_per_item_scores(scored):
    items = _items(scored, "TinyClustering")
    assert isinstance(items, Unavailable) and "V-measure is not a mean over items" in items.reason


def test_predictions_that_do_not_reproduce_the_score_are_refused(scored):
    items = _items(scored, "TinySTS", stored=0.123)
    assert isinstance(items, Unavailable) and "not the stored main score 0.123000" in items.reason


def test_missing_or_mismatched_prediction_files(scored, tmp_path):
    bench, folder, scores = scored
    entry = bench.task("TinySTS")
    missing = item_scores(tmp_path / "none.json", bench, entry, scores["TinySTS"])
    assert isinstance(missing, Unavailable) and "no prediction file" in missing.reason
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"default": {"test": {"cosine_scores": [0.1, 0.2]}}}))
    mismatched = item_scores(short, bench, entry, scores["TinySTS"])
    assert isinstance(mismatched, Unavailable) and "do not match the task data" in mismatched.reason


def test_average_precision_matches_scikit_learn_on_resamples():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n = int(rng.integers(2, 40))
        labels = rng.integers(0, 2, n)
        scores = np.round(rng.normal(size=n), int(rng.integers(0, 3)))  # rounding makes ties
        idx = rng.integers(0, n, size=(4, n))
        counts = np.stack([np.bincount(row, minlength=n) for row in idx])
        got = average_precision(labels, scores, counts)
        for i, row in enumerate(idx):
            if labels[row].sum() == 0:
                assert np.isnan(got[i])
            else:
                assert math.isclose(got[i], average_precision_score(labels[row], scores[row]), abs_tol=1e-12)
