"""Distillation retraining: the pruned model moves towards the dense model's embeddings, masks held,
labels that are the dense model's own embeddings, structured runs, corpus folders, bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from cli_checks import assert_clean_failure
from prune_data import TOPICS, calibration_pairs, write_pairs_file
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.errors import DomainembError
from domainemb.prune.architecture import ffn_model
from domainemb.prune.config import PruneConfig, RetrainLoss
from domainemb.prune.distill import choose_texts, corpus_texts, distill, distill_targets, embedding_mse
from domainemb.prune.masks import apply_masks, masks_from_scores
from domainemb.prune.report import PruneReport

runner = CliRunner()
WORDS = ["rates", "yield", "bond", "equity", "margin", "credit", "ledger", "audit", "asset", "swap", "loan", "fund"]


def _texts(n: int, offset: int = 0) -> list[str]:
    """``n`` distinct short domain-like sentences (``offset`` gives a disjoint set)."""
    out = []
    for i in range(offset, offset + n):
        words = [WORDS[(i * k + 3) % len(WORDS)] for k in range(1, 6)]
        out.append(f"{TOPICS[i % len(TOPICS)]} as {' '.join(words)} moved in case {i}")
    return out


def _config(tmp_path: Path, steps: int, learning_rate: float = 2e-3, **settings) -> PruneConfig:
    return PruneConfig(
        model="tiny",
        domain="finance",
        method="magnitude",
        sparsity=0.5,
        out=tmp_path / "run",
        retrain_steps=steps,
        batch_size=8,
        max_seq_length=32,
        learning_rate=learning_rate,
        **settings,
    )


@pytest.fixture
def dense(tiny_bert):
    """The tiny model with its FFN weights scaled up 20x: at random init the FFN adds almost nothing
    to the residual stream, so pruning it would leave nothing for distillation to recover."""
    with torch.no_grad():
        for w in ffn_model(tiny_bert).weights().values():
            w.mul_(20)
    return tiny_bert


def _distilled(model: SentenceTransformer, tmp_path: Path, steps: int, learning_rate: float = 2e-3):
    """Teacher targets from the dense model, then 50% magnitude pruning, then distillation.

    Returns the held-out MSE to the dense model before and after, the outcome, the weights and the masks.
    """
    texts = choose_texts(_texts(80), "test texts", max_texts=80, seed=0)
    heldout = _texts(24, offset=500)  # no text of these is trained on
    targets = distill_targets(model, "tiny-dense", texts, (), max_seq_length=32, batch_size=16)
    heldout_dense = model.encode(heldout, convert_to_numpy=True)
    weights = ffn_model(model).weights()
    masks = masks_from_scores({n: w.detach().abs() for n, w in weights.items()}, 0.5)
    apply_masks(weights, masks)
    before = embedding_mse(model, heldout, heldout_dense, 32, 16)
    outcome = distill(model, targets, _config(tmp_path, steps, learning_rate), weights=weights, masks=masks)
    after = embedding_mse(model, heldout, heldout_dense, 32, 16)
    return before, after, outcome, weights, masks


def test_distillation_lowers_the_embedding_mse_to_the_dense_model_on_heldout_texts(dense, tmp_path):
    before, after, outcome, _, _ = _distilled(dense, tmp_path, steps=8)
    assert outcome.steps == 8
    assert before > 0.01  # pruning did move the embeddings
    assert after < 0.6 * before, (before, after)


def test_without_learning_the_heldout_mse_does_not_fall(dense, tmp_path, monkeypatch):
    """The control: the same run with a zero learning rate leaves the MSE where pruning put it."""
    from transformers import TrainingArguments

    original = TrainingArguments.__post_init__

    def zero_learning_rate(self):
        self.learning_rate = 0.0
        original(self)

    monkeypatch.setattr(TrainingArguments, "__post_init__", zero_learning_rate)
    before, after, outcome, _, _ = _distilled(dense, tmp_path, steps=3)
    assert outcome.steps == 3
    assert after == pytest.approx(before, rel=1e-5)


def test_masked_weights_stay_exactly_zero_after_distillation(dense, tmp_path):
    dense_weights = {n: w.detach().clone() for n, w in ffn_model(dense).weights().items()}
    _, _, _, weights, masks = _distilled(dense, tmp_path, steps=4, learning_rate=5e-2)
    for name, w in weights.items():
        assert torch.equal(w.detach()[~masks[name]], torch.zeros(int((~masks[name]).sum())))
        assert not torch.equal(w.detach()[masks[name]], dense_weights[name][masks[name]])  # training moved the rest


# ----------------------------------------------------------------------------- through `domainemb prune`
def _yaml(tmp_path: Path, **settings) -> Path:
    values = {
        "min_calibration_pairs": 16,
        "domain_calibration": 24,
        "general_calibration": 24,
        "batch_size": 8,
        "max_seq_length": 32,
    }
    path = tmp_path / "prune.yaml"
    path.write_text(yaml.safe_dump(values | settings))
    return path


def _prune(*args: str):
    return runner.invoke(app, ["prune", *args], catch_exceptions=False)


def _run(model: Path, out: Path, config: Path, *extra: str):
    return _prune(
        *("--model", str(model), "--domain", "finance", "--method", "magnitude", "--sparsity", "0.5"),
        *("--no-eval", "--out", str(out), "--config", str(config), *extra),
    )


def test_labels_fed_to_the_losses_are_the_dense_models_embeddings(tiny_bert_folder, tmp_path, monkeypatch):
    """Every MSELoss label is the dense model's embedding of that batch's text, and every
    MarginMSELoss label the dense model's ``q·p − q·n``: the teacher ran before pruning."""
    from sentence_transformers.sentence_transformer import losses

    seen: dict[str, list] = {"mse": [], "margin": []}
    mse_forward, margin_forward = losses.MSELoss.forward, losses.MarginMSELoss.forward

    def record(kind, forward):
        def spy(self, sentence_features, labels):
            seen[kind].append(
                (
                    [
                        {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in f.items()}
                        for f in sentence_features
                    ],
                    labels,
                )
            )
            return forward(self, sentence_features, labels)

        return spy

    monkeypatch.setattr(losses.MSELoss, "forward", record("mse", mse_forward))
    monkeypatch.setattr(losses.MarginMSELoss, "forward", record("margin", margin_forward))
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(40))
    out = tmp_path / "run"
    result = _run(
        tiny_bert_folder, out, _yaml(tmp_path, distill_margins=True), "--retrain-steps", "8", "--pairs", str(pairs)
    )
    assert result.exit_code == 0, result.output
    assert seen["mse"] and seen["margin"]

    dense = SentenceTransformer(str(tiny_bert_folder), device="cpu").eval()

    def embed(features):
        with torch.no_grad():
            return dense(copy.copy(features))["sentence_embedding"]  # (batch, dim)

    for features, labels in seen["mse"]:
        assert labels.dtype == torch.float32
        torch.testing.assert_close(labels, embed(features[0]), atol=1e-5, rtol=1e-4)
    for features, labels in seen["margin"]:
        q, p, n = (embed(f) for f in features)
        torch.testing.assert_close(labels, (q * p).sum(-1) - (q * n).sum(-1), atol=1e-5, rtol=1e-4)
    # the run's own model is not the dense one: the labels could not have come from it
    pruned = SentenceTransformer(str(out / "model"), device="cpu").eval()
    features, labels = seen["mse"][0]
    with torch.no_grad():
        assert not torch.allclose(pruned(copy.copy(features[0]))["sentence_embedding"], labels, atol=1e-3)

    report = PruneReport.from_disk(out)
    retraining = report.retraining
    assert retraining["loss"] == "distill" and retraining["losses"] == ["MSELoss", "MarginMSELoss"]
    assert retraining["steps"] == report.retrain_steps == 8
    texts = retraining["texts"]
    assert texts["source"].startswith("calibration pairs (") and str(pairs) in texts["source"]
    assert texts["available"] == 24 * 3  # query, positive, negative of each chosen pair, all distinct
    assert texts["train_texts"] + texts["heldout_texts"] == texts["available"] and texts["heldout_texts"] == 7
    assert texts["margin_triples"] == 24
    assert report.hyperparameters["retrain_loss"] == "distill"
    mse = retraining["heldout_mse_to_dense"]
    assert mse["before"] > 0 and mse["after"] is not None


def test_distillation_is_the_default_retraining():
    config = PruneConfig(model="minilm", domain="finance", method="magnitude", sparsity=0.5, out=Path("x"))
    assert config.retrain_loss is RetrainLoss.DISTILL and config.distill_texts is None and not config.distill_margins


def test_structured_distillation_saves_a_plain_sentence_transformers_model(tiny_bert_folder, tmp_path):
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(32))
    out = tmp_path / "run"
    result = _run(tiny_bert_folder, out, _yaml(tmp_path), "--structured", "--retrain-steps", "3", "--pairs", str(pairs))
    assert result.exit_code == 0, result.output
    report = PruneReport.from_disk(out)
    assert report.ffn_width == {"dense": 64, "pruned": 32} and report.retraining["loss"] == "distill"
    assert report.retraining["steps"] == 3
    model = SentenceTransformer(str(out / "model"), device="cpu")
    assert model.encode(["a shrunk, distilled model"]).shape == (1, 32)
    assert ffn_model(model).layers[0].width == 32


def _export_folder(tmp_path: Path) -> Path:
    """A folder laid out as ``domainemb export-corpus`` writes it (per-corpus JSONL and ``.export.json``)."""
    folder = tmp_path / "export"
    folder.mkdir()
    with open(folder / "maec.jsonl", "w", encoding="utf-8") as fh:
        for i, text in enumerate(_texts(30)):
            fh.write(
                json.dumps({"id": f"p{i}", "text": text, "title": "", "corpus": "maec", "doc_id": "d", "licence": "x"})
            )
            fh.write("\n")
    (folder / "TinyClassification.jsonl").write_text(
        "".join(json.dumps({"id": f"t{i}", "text": t}) + "\n" for i, t in enumerate(_texts(10, offset=100)))
    )
    (folder / ".export.json").write_text("{}")
    return folder


def test_distillation_on_an_exported_corpus_needs_no_pairs(tiny_bert_folder, tmp_path):
    """Magnitude pruning with distillation on a corpus folder: no calibration pairs, no suite."""
    folder = _export_folder(tmp_path)
    out = tmp_path / "run"
    config = _yaml(tmp_path, distill_texts=str(folder), benchmarks=str(tmp_path / "no-benchmarks"))
    result = _run(tiny_bert_folder, out, config, "--retrain-steps", "3")
    assert result.exit_code == 0, result.output
    report = PruneReport.from_disk(out)
    assert report.calibration == {}  # nothing read any pairs
    texts = report.retraining["texts"]
    assert texts["source"] == str(folder) and texts["available"] == 40 and texts["margin_triples"] == 0
    assert report.retraining["losses"] == ["MSELoss"]


def test_corpus_texts_cut_long_documents_and_cap_the_count(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "book.txt").write_text(" ".join(f"w{i}" for i in range(100)))
    chosen = corpus_texts(folder, max_words=30, max_texts=3, seed=1)
    assert chosen.available == 4 and len(chosen.texts) == 3  # 30 + 30 + 30 + 10 words, capped at 3
    assert all(len(t.split()) <= 30 for t in chosen.texts)
    assert corpus_texts(folder, max_words=30, max_texts=3, seed=1) == chosen


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kind", ["missing", "file", "empty"])
def test_bad_distill_texts_fails_before_any_work(kind, tiny_bert_folder, tmp_path, monkeypatch):
    bad = tmp_path / "texts"
    if kind == "file":
        bad.write_text('{"text": "one passage"}\n')
    elif kind == "empty":
        bad.mkdir()

    def must_not_load(config):
        raise AssertionError("loaded the model before checking distill_texts")

    monkeypatch.setattr("domainemb.prune.run._load", must_not_load)
    out = tmp_path / "run"
    result = _run(tiny_bert_folder, out, _yaml(tmp_path, distill_texts=str(bad)), "--retrain-steps", "2")
    assert_clean_failure(result, out, "distill_texts", str(bad))


def test_distill_settings_with_infonce_are_refused(tmp_path):
    with pytest.raises(DomainembError, match="distill_texts and distill_margins apply to retrain_loss: distill"):
        _config(tmp_path, 2, retrain_loss="infonce", distill_texts=tmp_path)
    with pytest.raises(DomainembError, match="unknown prune retrain_loss"):
        _config(tmp_path, 2, retrain_loss="mse")


def test_infonce_retraining_stays_available(tiny_bert_folder, tmp_path):
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(32))
    out = tmp_path / "run"
    result = _run(
        tiny_bert_folder, out, _yaml(tmp_path, retrain_loss="infonce"), "--retrain-steps", "2", "--pairs", str(pairs)
    )
    assert result.exit_code == 0, result.output
    retraining = PruneReport.from_disk(out).retraining
    assert retraining["loss"] == "infonce" and retraining["losses"] == ["MultipleNegativesRankingLoss"]
    assert retraining["pairs"] == {"source": str(pairs), "pairs": 24} and "texts" not in retraining
    assert np.isfinite(retraining["mean_train_loss"])


def test_teacher_embeddings_go_through_the_embedding_cache(tiny_bert, tmp_path, monkeypatch):
    """A second run with the same dense model encodes nothing; another sequence length is another key."""
    from domainemb.evaluation.cache import EmbeddingCache
    from domainemb.prune.distill import teacher_embeddings

    texts = _texts(12)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        first = teacher_embeddings(tiny_bert, "dense-fp", texts, 32, 8, cache)
        assert cache.count("dense-fp") == 12
        np.testing.assert_allclose(first, tiny_bert.encode(texts, convert_to_numpy=True), atol=1e-6)  # other batches

        def must_not_encode(*args, **kwargs):
            raise AssertionError("encoded a cached text")

        monkeypatch.setattr(tiny_bert, "encode", must_not_encode)
        np.testing.assert_array_equal(teacher_embeddings(tiny_bert, "dense-fp", texts, 32, 8, cache), first)
        with pytest.raises(AssertionError, match="encoded a cached text"):
            teacher_embeddings(tiny_bert, "dense-fp", texts, 16, 8, cache)


def test_domain_calibration_on_train_splits_warns_and_names_the_way_out(
    tiny_bert_folder, tiny_benchmark, tmp_path, caplog, monkeypatch
):
    class Checked(Exception):
        """Raised where the run's input checks (and their warnings) are done."""

    def stop(*args, **kwargs):
        raise Checked

    monkeypatch.setattr("domainemb.prune.run._calibrate", stop)
    out = tmp_path / "run"
    config = _yaml(tmp_path, domain_benchmark=str(tiny_benchmark), general_benchmark=str(tiny_benchmark))
    with pytest.raises(Checked):
        _prune(
            *(
                "--model",
                str(tiny_bert_folder),
                "--domain",
                "finance",
                "--method",
                "fisher-domain",
                "--sparsity",
                "0.5",
            ),
            *("--no-eval", "--out", str(out), "--config", str(config)),
        )
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "calibrating the domain side on same-label train-split pairs" in m and "export-corpus" in m for m in messages
    )
    assert not any("retraining on same-label" in m for m in messages)  # one-shot: nothing retrained
    assert not out.exists()


def test_exported_passages_calibrate_through_ict_pairs(tiny_bert_folder, tmp_path):
    """export-corpus's layout -> ``synth --generator ict`` (no LLM) -> ``prune --pairs``: domain
    calibration and distillation on query-passage pairs from the domain's own passages."""
    from synth_data import retrieval_benchmark

    from domainemb.pairs import read_pairs

    folder = tmp_path / "export"
    folder.mkdir()
    with open(folder / "maec.jsonl", "w", encoding="utf-8") as fh:
        for i in range(30):
            text = " ".join(_texts(3, offset=3 * i)).replace(" moved in", ". It moved in") + "."
            fh.write(json.dumps({"id": f"p{i}", "text": text, "corpus": "maec", "doc_id": f"call{i // 5}"}) + "\n")
    (folder / ".export.json").write_text("{}")
    bench = retrieval_benchmark(tmp_path / "bench", ["an unrelated test document about enzymes"], ["what is an enzyme"])
    pairs = tmp_path / "pairs.jsonl"
    synth = runner.invoke(
        app,
        [
            *("synth", "--domain", "finance", "--corpus", str(folder), "--out", str(pairs), "--generator", "ict"),
            *("--benchmark", str(bench), "--negatives", "0", "--consistency-top-k", "0", "--near-duplicate", "1.0"),
        ],
    )
    assert synth.exit_code == 0, synth.output
    made = read_pairs(pairs).pairs
    assert len(made) >= 16 and {p.generator.value for p in made} == {"ict"}

    out = tmp_path / "run"
    result = _prune(
        *("--model", str(tiny_bert_folder), "--domain", "finance", "--method", "fisher-domain", "--sparsity", "0.5"),
        *(
            "--pairs",
            str(pairs),
            "--retrain-steps",
            "2",
            "--no-eval",
            "--out",
            str(out),
            "--config",
            str(_yaml(tmp_path)),
        ),
    )
    assert result.exit_code == 0, result.output
    report = PruneReport.from_disk(out)
    assert report.calibration["domain"]["source"] == str(pairs)
    assert report.calibration["domain"]["candidates"] == len(made)
    assert report.retraining["texts"]["source"] == f"calibration pairs ({pairs})"


def test_a_test_text_planted_in_the_distillation_corpus_is_removed(tiny_bert_folder, tiny_benchmark, tmp_path):
    """Nothing that trains a model may contain a suite's test text: distillation drops what touches one."""
    from domainemb.domains.benchmark import Benchmark
    from domainemb.synth.decontam import test_texts

    bench = Benchmark.open(tiny_benchmark)
    planted = sorted(t for task in bench.tasks for t in test_texts(bench.tables(task)) if len(t.split()) >= 3)[:3]
    assert planted
    folder = _export_folder(tmp_path)
    with open(folder / "planted.jsonl", "w", encoding="utf-8") as fh:
        for i, text in enumerate(planted):
            fh.write(json.dumps({"id": f"x{i}", "text": text}) + "\n")
    seen: list[str] = []
    import domainemb.prune.run as prune_run

    real = prune_run.distill_targets

    def recording(model, fingerprint, texts, *args, **kwargs):
        seen.extend(texts.texts)
        return real(model, fingerprint, texts, *args, **kwargs)

    prune_run.distill_targets = recording
    try:
        out = tmp_path / "run"
        config = _yaml(
            tmp_path,
            distill_texts=str(folder),
            domain_benchmark=str(tiny_benchmark),
            general_benchmark=str(tiny_benchmark),
        )
        result = _run(tiny_bert_folder, out, config, "--retrain-steps", "2")
    finally:
        prune_run.distill_targets = real
    assert result.exit_code == 0, result.output
    assert seen and not set(planted) & set(seen)
    texts = PruneReport.from_disk(out).retraining["texts"]
    assert texts["dropped_touching_test_texts"] == len(planted) and texts["available"] == 40
