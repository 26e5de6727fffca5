"""Calibration pairs: train splits only, same-label positives, k-means coverage, mined hard negatives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from evaluation_data import TOPICS

from domainemb.domains.benchmark import Benchmark
from domainemb.errors import DomainembError
from domainemb.pairs import Pair
from domainemb.prune.calibration import calibration_set, coverage_indices, mine_negatives, train_split_pairs


class TopicEncoder:
    """A fake model: one dimension per topic of the tiny benchmark's sentences (the ``encode`` seam)."""

    def encode(self, texts, normalize_embeddings=True, **kwargs) -> np.ndarray:
        topics = sorted(TOPICS)
        out = np.full((len(texts), len(topics)), 0.01, dtype=np.float32)
        for row, text in enumerate(texts):
            for col, topic in enumerate(topics):
                out[row, col] += sum(phrase in text.lower() for phrase in TOPICS[topic])
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def tiny_bench(tiny_benchmark) -> Benchmark:
    return Benchmark.open(tiny_benchmark)


def test_pairs_come_from_train_splits_with_same_label(tiny_bench):
    pairs, tasks = train_split_pairs(tiny_bench)
    assert tasks == ["TinyClassification", "TinyMultilabelClassification"]
    train_texts, test_texts, label_of = set(), set(), {}
    for task in tasks:
        tables = tiny_bench.tables(task)
        column = "label" if "label" in tables["train"].columns else "labels"
        for text, label in zip(tables["train"]["text"], tables["train"][column], strict=True):
            train_texts.add(text)
            label_of[(task, text)] = label if isinstance(label, str) else min(label)
        test_texts.update(tables["test"]["text"])
    assert pairs and all(p.query in train_texts and p.positive in train_texts for p in pairs)
    assert not any(p.query in test_texts or p.positive in test_texts for p in pairs)
    for p in pairs:
        task, label = p.doc_id.split("/")
        assert label_of[(task, p.query)] == label_of[(task, p.positive)] == label and p.query != p.positive


def test_coverage_takes_one_row_nearest_each_centroid():
    rng = np.random.default_rng(0)
    centres = np.array([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    points = np.concatenate([c + rng.normal(size=(30, 2)) for c in centres])  # rows 0-29, 30-59, 60-89
    chosen = coverage_indices(points, 3, seed=0)
    assert sorted(i // 30 for i in chosen) == [0, 1, 2]
    assert coverage_indices(points[:2], 5, seed=0) == [0, 1]
    assert len(set(coverage_indices(points, 40, seed=0))) == 40


def test_mined_negative_is_the_closest_other_group():
    pairs = [
        Pair("interest rates and inflation", "the central bank raised rates", (), "a"),
        Pair("the reaction needs a catalyst", "a solvent and the polymer", (), "b"),
        Pair("bond yields and monetary policy", "the rate hike surprised", (), "c"),
    ]
    mined = mine_negatives(pairs, TopicEncoder())
    assert mined[0].negatives == ("the rate hike surprised",)  # same topic, other group: a hard negative
    assert mined[1].negatives in {("the central bank raised rates",), ("the rate hike surprised",)}
    kept = mine_negatives([Pair("q", "p", ("given",), "a"), Pair("q2", "p2", ("n2",), "b")], TopicEncoder())
    assert [p.negatives for p in kept] == [("given",), ("n2",)]


def test_calibration_set_size_and_minimum(tiny_bench):
    pairs, _ = train_split_pairs(tiny_bench)
    chosen = calibration_set(
        "general", pairs, "tiny", "0" * 64, TopicEncoder(), size=10, minimum=8, candidate_pool=1000, seed=1
    )
    assert len(chosen.pairs) == 10 and chosen.candidates == len(pairs)
    assert all(len(p.negatives) == 1 for p in chosen.pairs)
    with pytest.raises(DomainembError, match="too few general calibration pairs"):
        calibration_set(
            "general", pairs[:3], "tiny", "0" * 64, TopicEncoder(), size=10, minimum=8, candidate_pool=1000, seed=1
        )


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("alpha: high\n", "alpha must be a number"),
        ("alpha: 2.0\n", "alpha must be in [0, 1]"),
        ("ranking: by-row\n", "ranking must be one of"),
    ],
)
def test_config_file_values_are_checked(tmp_path, yaml_text, message):
    from domainemb.prune.config import PruneConfig

    path = tmp_path / "prune.yaml"
    path.write_text(yaml_text)
    with pytest.raises(DomainembError, match=message.replace("[", r"\[")):
        PruneConfig.from_yaml(path, model="minilm", domain="finance", method="gaprune", sparsity=0.5, out=Path("x"))
