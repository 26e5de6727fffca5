"""``prune --teacher``: a stronger model labels distillation's MarginMSE triples, the dense model stays the
target of the embedding MSE; bad teacher values fail before any work; without one the dense model labels."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from cli_checks import assert_clean_failure
from prune_data import calibration_pairs, write_pairs_file
from sentence_transformers import SentenceTransformer
from synth_data import save_tiny_cross_encoder
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.errors import DomainembError
from domainemb.evaluation.cache import EmbeddingCache
from domainemb.pairs import Pair, read_pairs
from domainemb.prune.config import PruneConfig
from domainemb.prune.distill import teacher_margins
from domainemb.prune.report import PruneReport
from domainemb.synth.teacher import CrossEncoderTeacher, load_teacher

runner = CliRunner()


@pytest.fixture(scope="module")
def cross_encoder_folder(tmp_path_factory) -> Path:
    """A random 2-layer BERT ``CrossEncoder`` with one output, saved by sentence-transformers (MiniLM's tokenizer)."""
    from sentence_transformers import CrossEncoder

    root = tmp_path_factory.mktemp("prune-cross-encoder")
    save_tiny_cross_encoder(root / "hf", seed=3)
    CrossEncoder(str(root / "hf"), device="cpu").save(str(root / "model"))
    return root / "model"


@pytest.fixture
def seen(monkeypatch) -> dict:
    """What retraining got: the :class:`DistillTargets` handed to ``distill`` and every MarginMSELoss label batch."""
    from sentence_transformers.sentence_transformer import losses

    import domainemb.prune.distill as distill_module

    record: dict = {"targets": None, "labels": []}
    distill, forward = distill_module.distill, losses.MarginMSELoss.forward

    def spy_distill(model, targets, config, **kwargs):
        record["targets"] = targets
        return distill(model, targets, config, **kwargs)

    def spy_forward(self, sentence_features, labels):
        record["labels"].append(labels.detach().cpu().numpy().copy())
        return forward(self, sentence_features, labels)

    monkeypatch.setattr(distill_module, "distill", spy_distill)
    monkeypatch.setattr(losses.MarginMSELoss, "forward", spy_forward)
    return record


def _yaml(tmp_path: Path, **settings) -> Path:
    values = {"min_calibration_pairs": 16, "domain_calibration": 24, "general_calibration": 24, "batch_size": 8}
    path = tmp_path / "prune.yaml"
    path.write_text(yaml.safe_dump(values | {"max_seq_length": 32} | settings))
    return path


def _prune(model: Path, out: Path, config: Path, *extra: str):
    return runner.invoke(
        app,
        [
            *("prune", "--model", str(model), "--domain", "finance", "--method", "magnitude", "--sparsity", "0.5"),
            *("--no-eval", "--out", str(out), "--config", str(config), *extra),
        ],
        catch_exceptions=False,
    )


def _run(model: Path, bench: Path, tmp_path: Path, *extra: str, pairs: list[Pair] | None = None, **settings) -> Path:
    """A magnitude run choosing 24 calibration pairs of ``pairs`` (``calibration_pairs(40)``); 12 steps cover one
    epoch of the 8 MSE and 3 MarginMSE batches, so that MarginMSE batches surely run. ``bench`` is the suite
    the texts are decontaminated against (the registered tasks' test texts take seconds to read)."""
    path = write_pairs_file(tmp_path / "pairs.jsonl", pairs or calibration_pairs(40))
    out = tmp_path / "run"
    config = _yaml(tmp_path, domain_benchmark=str(bench), general_benchmark=str(bench), **settings)
    result = _prune(model, out, config, "--pairs", str(path), *extra)
    assert result.exit_code == 0, result.output
    return out


def _chosen_triples(out: Path) -> list[tuple[str, str, str]]:
    """The run's domain calibration pairs as (query, positive, negative), in the order it wrote them."""
    return [(p.query, p.positive, p.negatives[0]) for p in read_pairs(out / "calibration" / "domain.jsonl").pairs]


def _dense_margins(folder: Path, triples) -> np.ndarray:
    """``q·p − q·n`` of the dense model's own embeddings (what labels the margins without a teacher)."""
    model = SentenceTransformer(str(folder), device="cpu")
    q, p, n = (model.encode([t[i] for t in triples], convert_to_numpy=True) for i in range(3))
    return (q * p).sum(axis=1) - (q * n).sum(axis=1)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _assert_labels_are(labels: list[np.ndarray], margins: np.ndarray) -> None:
    """Every MarginMSELoss label the trainer fed is one of ``margins``."""
    assert labels, "no MarginMSELoss batch ran"
    for value in np.concatenate(labels):
        assert np.min(np.abs(margins - value)) < 1e-5, (value, margins)


# ----------------------------------------------------------------------------- the teacher labels the margins
def test_a_bi_encoder_teachers_margins_are_what_retraining_trains_on(
    tiny_model, tiny_bert_folder, tiny_benchmark, tmp_path, seen
):
    teacher_folder = tiny_model(seed=1)  # another random model than the one pruned
    out = _run(tiny_bert_folder, tiny_benchmark, tmp_path, "--retrain-steps", "12", "--teacher", str(teacher_folder))

    targets = seen["targets"]
    triples = _chosen_triples(out)
    assert len(triples) == 24 and sorted(targets.triples) == sorted(triples)  # nothing touched a test text
    teacher = SentenceTransformer(str(teacher_folder), device="cpu")
    q, p, n = (teacher.encode([t[i] for t in targets.triples], convert_to_numpy=True) for i in range(3))
    expected = _cosine(q, p) - _cosine(q, n)  # the teacher's own similarity (cosine) of its embeddings
    np.testing.assert_allclose(targets.margins, expected, atol=1e-5, rtol=1e-4)
    dense = _dense_margins(tiny_bert_folder, targets.triples)
    assert not np.allclose(targets.margins, dense, atol=1e-3)  # not the dense model's margins
    _assert_labels_are(seen["labels"], targets.margins)
    assert any(np.min(np.abs(dense - v)) > 1e-3 for v in np.concatenate(seen["labels"]))  # fed no dense margin
    # the embedding MSE keeps the dense model as its target: its labels are the dense model's vectors
    dense_model = SentenceTransformer(str(tiny_bert_folder), device="cpu")
    np.testing.assert_allclose(
        targets.embeddings, dense_model.encode(list(targets.texts), convert_to_numpy=True), atol=1e-5
    )

    report = PruneReport.from_disk(out)
    labels = report.retraining["margin_labels"]
    assert labels["by"] == "teacher" and labels["name"] == str(teacher_folder) and labels["kind"] == "bi-encoder"
    assert labels["fingerprint"] == load_teacher(str(teacher_folder)).fingerprint and labels["triples"] == 24
    assert report.retraining["losses"] == ["MSELoss", "MarginMSELoss"]
    assert report.hyperparameters["teacher"] == str(teacher_folder)
    assert report.hyperparameters["distill_margins"] is True  # --teacher turned the margin batches on


def test_a_cross_encoder_folder_teaches_end_to_end_and_the_report_names_it(
    cross_encoder_folder, tiny_bert_folder, tiny_benchmark, tmp_path, seen, monkeypatch
):
    """A saved CrossEncoder labels the margins of the triples left once those touching a test text of the suite
    are dropped (it never scores those), its logits through the embedding cache; the report names it."""
    from sentence_transformers import CrossEncoder
    from torch import nn

    from domainemb.domains.benchmark import Benchmark
    from domainemb.synth.decontam import test_texts

    bench = Benchmark.open(tiny_benchmark)
    planted = next(test_texts(bench.tables(bench.task("TinyClassification"))))  # a test text of the suite
    pairs = [
        dataclasses.replace(p, negatives=(planted,)) if i % 4 == 0 else p for i, p in enumerate(calibration_pairs(40))
    ]
    scored: list[str] = []
    score_pairs = CrossEncoderTeacher.score_pairs

    def spy(self, queries, passages):
        scored.extend([*queries, *passages])
        return score_pairs(self, queries, passages)

    monkeypatch.setattr(CrossEncoderTeacher, "score_pairs", spy)
    out = _run(
        tiny_bert_folder, tiny_benchmark, tmp_path, "--retrain-steps", "12", "--teacher", str(cross_encoder_folder),
        pairs=pairs,
    )  # fmt: skip
    targets = seen["targets"]
    chosen = _chosen_triples(out)
    assert any(n == planted for *_, n in chosen)  # some chosen pairs carry the test text ...
    assert list(targets.triples) == [t for t in chosen if t[2] != planted]  # ... and are not labelled
    assert scored and planted not in scored
    assert PruneReport.from_disk(out).retraining["texts"]["dropped_touching_test_texts"] == 1
    scored.clear()
    cross = CrossEncoder(str(cross_encoder_folder), device="cpu")

    def logits(pairs):
        return cross.predict(pairs, activation_fn=nn.Identity(), convert_to_numpy=True, show_progress_bar=False)

    expected = logits([(q, p) for q, p, _ in targets.triples]) - logits([(q, n) for q, _, n in targets.triples])
    np.testing.assert_allclose(targets.margins, expected, atol=1e-4, rtol=1e-4)
    assert np.ptp(targets.margins) > 1e-2  # the logits do spread: a constant teacher would prove nothing
    assert not np.allclose(targets.margins, _dense_margins(tiny_bert_folder, targets.triples), atol=1e-3)
    _assert_labels_are(seen["labels"], targets.margins)

    report = PruneReport.from_disk(out)
    assert report.retrain_steps == 12
    labels = report.retraining["margin_labels"]
    fingerprint = CrossEncoderTeacher("x", cross_encoder_folder).fingerprint
    assert labels == {
        "by": "teacher",
        "name": str(cross_encoder_folder),
        "kind": "cross-encoder",
        "fingerprint": fingerprint,
        "forward_texts": 2 * len(targets.triples),  # every (query, passage) scored once, nothing was cached
        "triples": len(targets.triples),
    }
    assert SentenceTransformer(str(out / "model"), device="cpu").encode(["still loads"]).shape == (1, 32)
    # the scores went through the embedding cache: the same teacher now computes none of them
    with EmbeddingCache() as cache:
        again = load_teacher(str(cross_encoder_folder), cache)
        np.testing.assert_array_equal(teacher_margins(again, targets.triples), targets.margins)
        assert again.forward_texts == 0


def test_a_hybrid_teachers_margins_are_normalised_over_the_triples_passages(tiny_model, tmp_path):
    """With BM25 weight 0 the hybrid is its bi-encoder min-max normalised per query over every positive and
    negative of the triples."""
    folder = tiny_model(seed=1)
    triples = [(x.query, x.positive, x.negatives[0]) for x in calibration_pairs(10)]
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        margins = teacher_margins(load_teacher(f"hybrid:{folder}@0", cache), triples)
    model = SentenceTransformer(str(folder), device="cpu")
    pool = list(dict.fromkeys(t for _, p, n in triples for t in (p, n)))
    q = model.encode([t[0] for t in triples], convert_to_numpy=True)
    d = model.encode(pool, convert_to_numpy=True)
    cos = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (d / np.linalg.norm(d, axis=1, keepdims=True)).T
    scaled = (cos - cos.min(axis=1, keepdims=True)) / (cos.max(axis=1, keepdims=True) - cos.min(axis=1, keepdims=True))
    rows = np.arange(len(triples))
    expected = scaled[rows, [pool.index(p) for _, p, _ in triples]] - scaled[rows, [pool.index(n) for *_, n in triples]]
    np.testing.assert_allclose(margins, expected, atol=1e-5)


# ----------------------------------------------------------------------------- without a teacher
def test_without_a_teacher_the_dense_model_labels_the_margins(tiny_bert_folder, tiny_benchmark, tmp_path, seen):
    out = _run(tiny_bert_folder, tiny_benchmark, tmp_path, "--retrain-steps", "12", distill_margins=True)
    targets = seen["targets"]
    np.testing.assert_allclose(targets.margins, _dense_margins(tiny_bert_folder, targets.triples), atol=1e-5)
    _assert_labels_are(seen["labels"], targets.margins)
    report = PruneReport.from_disk(out)
    assert report.retraining["margin_labels"] == {
        "by": "dense model",
        "name": str(tiny_bert_folder),
        "fingerprint": report.model_fingerprint,
        "triples": 24,
    }
    assert report.hyperparameters["teacher"] is None


# ----------------------------------------------------------------------------- bad input
@pytest.fixture
def must_not_load(monkeypatch):
    def refuse(config):
        raise AssertionError("loaded the model before checking --teacher")

    monkeypatch.setattr("domainemb.prune.run._load", refuse)


@pytest.mark.parametrize("bad", ["bm25", "folder"])
def test_a_teacher_that_is_no_bi_encoder_or_cross_encoder_fails_before_any_work(
    bad, tiny_bert_folder, tmp_path, must_not_load
):
    if bad == "folder":
        folder = tmp_path / "not-a-model"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
        bad = str(folder)
    out = tmp_path / "run"
    result = _prune(tiny_bert_folder, out, _yaml(tmp_path), "--retrain-steps", "2", "--teacher", bad)
    assert_clean_failure(
        result, out, f"--teacher {bad}", "neither a sentence-transformers bi-encoder nor a cross-encoder"
    )


@pytest.mark.parametrize(
    ("settings", "extra"),
    [
        ({"retrain_loss": "infonce"}, ("--retrain-steps", "2", "--teacher", "mpnet")),  # InfoNCE takes no teacher
        ({}, ("--teacher", "mpnet")),  # one-shot: nothing is retrained
        ({"teacher": "mpnet"}, ()),  # the config's teacher, one-shot
        ({"teacher": "mpnet"}, ("--retrain-steps", "0")),
    ],
)
def test_a_teacher_without_distillation_retraining_fails_before_any_work(
    settings, extra, tiny_bert_folder, tmp_path, must_not_load
):
    out = tmp_path / "run"
    result = _prune(tiny_bert_folder, out, _yaml(tmp_path, **settings), *extra)
    assert_clean_failure(result, out, "teacher mpnet is used only by distillation retraining")


def test_a_teacher_with_margins_turned_off_fails_before_any_work(tiny_bert_folder, tmp_path, must_not_load):
    out = tmp_path / "run"
    result = _prune(
        tiny_bert_folder, out, _yaml(tmp_path, distill_margins=False), "--retrain-steps", "2", "--teacher", "mpnet"
    )
    assert_clean_failure(result, out, "distill_margins: false", "teacher mpnet")


def test_the_command_lines_teacher_wins_over_the_configs(tmp_path):
    config = _yaml(tmp_path, teacher="bm25")
    run = dict(model="minilm", domain="finance", method="magnitude", sparsity=0.5, out=tmp_path / "run")
    chosen = PruneConfig.from_yaml(config, **run, retrain_steps=2, teacher="mpnet")
    assert chosen.teacher == "mpnet" and chosen.distill_margins
    assert PruneConfig.from_yaml(config, **run, retrain_steps=2).teacher == "bm25"  # refused later, before any work
    none = PruneConfig.from_yaml(config, **run, teacher=" None ")  # no teacher: one-shot is fine again
    assert none.teacher is None and not none.distill_margins
    with pytest.raises(DomainembError, match="teacher is empty"):
        PruneConfig(**run, retrain_steps=2, teacher=" ")
