"""The teacher losses of adapt: margin-mse (GPL), the combined loss, in-batch score distillation, and their bad input."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from adapt_data import InterruptAt, Interrupted, pair_rows, write_pairs
from typer.testing import CliRunner

from domainemb.adapt.config import AdaptConfig, LossName
from domainemb.adapt.data import (
    IN_BATCH_ONLY,
    LABEL,
    WITH_MARGINS,
    WITH_NEGATIVES,
    load_teacher_encoder,
    teacher_vectors,
    train_datasets,
)
from domainemb.adapt.losses import InBatchDistillKLLoss, WeightedLossSum, build_loss, describe_loss
from domainemb.adapt.run import AdaptHooks, adapt
from domainemb.cli.main import app
from domainemb.errors import DomainembError
from domainemb.evaluation.cache import EmbeddingCache
from domainemb.evaluation.encoders import sentence_transformer_from_folder
from domainemb.pairs import pair_from_record
from domainemb.types import Domain

runner = CliRunner()

#: A few steps at a high learning rate: enough to move a random 2-layer model, seconds on 2 cores.
TINY = {
    "max_steps": 12,
    "batch_size": 8,
    "eval_steps": 4,
    "dev_fraction": 0.25,
    "learning_rate": 1e-3,
    "evaluate": False,
}


def labelled_rows(negatives: int = 2, unlabelled_every: int = 0) -> list[dict]:
    """Pairs whose every document carries ``negatives`` negatives and a margin for each (the
    positive's topic matches the query's, a negative's does not: margin 0.6, 0.5, ...); every
    ``unlabelled_every``-th row loses its margins (0: none does)."""
    rows = pair_rows(n_docs=12, per_doc=4, negatives=negatives)
    for i, row in enumerate(rows):
        if not row["negatives"]:  # pair_rows gives negatives to every other document only
            row["negatives"] = [rows[i - 4]["positive"], *(rows[i - 4 - k]["positive"] for k in range(1, negatives))]
        row["negatives"] = row["negatives"][:negatives]
        if not (unlabelled_every and i % unlabelled_every == 0):
            row["margins"] = [round(0.6 - 0.1 * k, 3) for k in range(negatives)]
    return rows


@pytest.fixture(scope="module")
def student_folder(tiny_model) -> Path:
    return tiny_model(max_seq_length=64, normalize=True)


@pytest.fixture(scope="module")
def other_folder(tiny_model) -> Path:
    """A second tiny model with other random weights: a teacher that disagrees with the student."""
    return tiny_model(seed=1, max_seq_length=64, normalize=True)


@pytest.fixture
def student(student_folder):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(student_folder), device="cpu")
    model.eval()  # no dropout: a fixed batch gives the same loss every time
    return model


def _features(model, columns: list[list[str]]) -> list[dict]:
    return [model.preprocess(texts) for texts in columns]


def _config(student_folder: Path, pairs: Path, out: Path, **settings) -> AdaptConfig:
    return AdaptConfig(base=str(student_folder), pairs=pairs, domain=Domain.FINANCE, out=out, **{**TINY, **settings})


# --- margin-mse ---------------------------------------------------------------------------------


def test_the_label_column_is_the_pairs_first_margins():
    pairs = [pair_from_record(r) for r in labelled_rows(negatives=3, unlabelled_every=5)]
    data = train_datasets(pairs, 2, margins=True)
    labelled = [p for p in pairs if p.margins]
    assert set(data) == {WITH_MARGINS, WITH_NEGATIVES}  # unlabelled pairs keep their negatives, without labels
    assert data[WITH_MARGINS].column_names == ["anchor", "positive", "negative_1", "negative_2", LABEL]
    assert data[WITH_MARGINS][LABEL] == [list(p.margins[:2]) for p in labelled]
    assert data[WITH_MARGINS]["negative_2"] == [p.negatives[1] for p in labelled]
    assert LABEL not in data[WITH_NEGATIVES].column_names
    assert len(data[WITH_NEGATIVES]) == len(pairs) - len(labelled)
    # Without margins=True (loss mnrl) the same file trains as before: one dataset, no label.
    plain = train_datasets(pairs, 2)
    assert LABEL not in plain.column_names and len(plain) == len(pairs)


def test_margin_mse_trains_resumes_and_names_its_loss(tmp_path, student_folder):
    pairs = write_pairs(tmp_path / "pairs.jsonl", labelled_rows())
    config = _config(
        student_folder, pairs, tmp_path / "run", loss=LossName.MARGIN_MSE, hard_negatives=2, max_steps=8, eval_steps=2
    )
    with pytest.raises(Interrupted):
        adapt(config, AdaptHooks(callbacks=[InterruptAt(5)]))
    # A resume must keep the loss settings: another margin weight is a different run.
    with pytest.raises(DomainembError, match="training_settings"):
        adapt(replace(config, resume=True, loss=LossName.MNRL_MARGIN_MSE, margin_mse_weight=2.0))
    result = adapt(replace(config, resume=True))

    record = result.record
    assert record["training"]["resumed_from"].endswith("checkpoint-4")
    assert record["training"]["loss"] == "MarginMSELoss"
    assert record["hyperparameters"]["loss"] == "margin-mse"
    assert record["data"]["train_with_margins"] == record["data"]["train_pairs"]
    losses = [line["loss"] for line in record["training"]["log_history"] if "loss" in line]
    assert len(losses) >= 3 and losses[-1] < losses[0], losses
    card = (result.model_dir / "README.md").read_text(encoding="utf-8")
    assert "MarginMSELoss" in card and "margin-mse" in card


def test_the_combined_loss_is_the_sum_of_its_parts(student):
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.util import pairwise_cos_sim

    rows = labelled_rows(negatives=2)[:6]
    features = _features(student, [[r["query"] for r in rows], [r["positive"] for r in rows]])
    features += _features(student, [[r["negatives"][k] for r in rows] for k in range(2)])
    labels = torch.tensor([[0.3, -0.2]] * 3 + [[0.9, 0.1]] * 3)
    config = AdaptConfig(
        base="x", pairs=Path("p"), domain=Domain.FINANCE, out=Path("o"), loss=LossName.MNRL_MARGIN_MSE,
        hard_negatives=2, margin_mse_weight=0.7, scale=15.0,
    )  # fmt: skip
    combined = build_loss(student, config)
    assert isinstance(combined, WeightedLossSum)
    with torch.no_grad():
        parts = combined(features, labels)
        mnrl = losses.MultipleNegativesRankingLoss(student, scale=15.0)(features, None)
        margin = losses.MarginMSELoss(student, similarity_fct=pairwise_cos_sim)(features, labels)
    assert set(parts) == {"mnrl", "margin_mse"}
    assert torch.allclose(parts["mnrl"], mnrl) and torch.allclose(parts["margin_mse"], 0.7 * margin)
    assert torch.allclose(sum(parts.values()), mnrl + 0.7 * margin)
    assert margin > 0 and mnrl > 0
    assert describe_loss(combined) == "MultipleNegativesRankingLoss + 0.7 * MarginMSELoss"
    # Pairs without margins train on MNRL alone: the trainer gets one loss per dataset.
    per_dataset = build_loss(student, config, [WITH_MARGINS, IN_BATCH_ONLY])
    assert isinstance(per_dataset[WITH_MARGINS], WeightedLossSum)
    assert isinstance(per_dataset[IN_BATCH_ONLY], losses.MultipleNegativesRankingLoss)


# --- in-batch distillation ----------------------------------------------------------------------


def _reference_kl(queries, passages, teacher_queries, teacher_passages, temperature: float) -> float:
    """KL(teacher || student) per query over all passages of the batch, averaged, in plain numpy."""

    def probs(q, p):
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        p = p / np.linalg.norm(p, axis=1, keepdims=True)
        logits = q @ p.T / temperature
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    s, t = probs(queries, passages), probs(teacher_queries, teacher_passages)
    return float(np.mean(np.sum(t * (np.log(t) - np.log(s)), axis=1)))


def _batch(rows):
    return [[r["query"] for r in rows], [r["positive"] for r in rows], [r["negatives"][0] for r in rows]]


def _teacher_labels(encoder, rows) -> torch.Tensor:
    pairs = [pair_from_record(r) for r in rows]
    vectors = teacher_vectors(encoder, pairs, 1)
    return torch.tensor([vectors.label(p, 1) for p in pairs])


def test_distillation_is_zero_when_the_student_is_the_teacher(student, student_folder):
    rows = labelled_rows(negatives=1)[:8]
    labels = _teacher_labels(sentence_transformer_from_folder(student_folder, name="same"), rows)
    loss = InBatchDistillKLLoss(student, temperature=0.05)
    with torch.no_grad():
        value = loss(_features(student, _batch(rows)), labels)
    assert abs(float(value)) < 1e-5
    # The labels are in column order: the same embeddings with two rows' negatives swapped are another teacher.
    swapped = labels.reshape(8, 3, -1).clone()
    swapped[[0, 1], 2] = swapped[[1, 0], 2]
    with torch.no_grad():
        assert float(loss(_features(student, _batch(rows)), swapped.flatten(1))) > 1e-3


def test_distillation_matches_a_reference_and_pulls_the_student_towards_the_teacher(student, other_folder):
    rows = labelled_rows(negatives=1)[:8]
    texts = _batch(rows)
    labels = _teacher_labels(sentence_transformer_from_folder(other_folder, name="other"), rows)
    teacher = labels.reshape(8, 3, -1).numpy()
    loss = InBatchDistillKLLoss(student, temperature=0.1)

    def student_embeddings():
        with torch.no_grad():
            return [student(f)["sentence_embedding"].numpy() for f in _features(student, texts)]

    def reference() -> float:
        q, pos, neg = student_embeddings()
        passages = np.concatenate([pos, neg])  # every positive, then every negative
        return _reference_kl(q, passages, teacher[:, 0], np.concatenate([teacher[:, 1], teacher[:, 2]]), 0.1)

    before = reference()
    with torch.no_grad():
        value = loss(_features(student, texts), labels)
    assert before > 1e-3
    assert math.isclose(float(value), before, rel_tol=1e-4, abs_tol=1e-6)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.05)
    for _ in range(5):
        optimizer.zero_grad()
        loss(_features(student, texts), labels).backward()
        optimizer.step()
    assert reference() < 0.9 * before  # measured against the reference, not against the loss itself


def test_teacher_embeddings_go_through_the_embedding_cache(tmp_path, other_folder, monkeypatch):
    encoder = sentence_transformer_from_folder(other_folder, name="teacher")
    pairs = [pair_from_record(r) for r in labelled_rows(negatives=2)[:10]]
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        first = teacher_vectors(encoder, pairs, 2, cache=cache)
        stored = cache.count(encoder.fingerprint)
    assert stored == len({p.query for p in pairs}) + len({t for p in pairs for t in (p.positive, *p.negatives)})

    def no_encoding(*args, **kwargs):
        raise AssertionError("a cached text was encoded again")

    monkeypatch.setattr(encoder.model, "encode_query", no_encoding)
    monkeypatch.setattr(encoder.model, "encode_document", no_encoding)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        again = teacher_vectors(encoder, pairs, 2, cache=cache)
    for p in pairs:
        assert np.array_equal(first.label(p, 2), again.label(p, 2))
    assert len(first.label(pairs[0], 2)) == 4 * first.dim


def test_distill_kl_run_records_its_teacher(tmp_path, student_folder, other_folder):
    pairs = write_pairs(tmp_path / "pairs.jsonl", pair_rows(n_docs=12, per_doc=4))  # mixed: with and without negatives
    config = _config(
        student_folder,
        pairs,
        tmp_path / "run",
        loss=LossName.MNRL_DISTILL_KL,
        teacher=str(other_folder),
        max_steps=2,
        eval_steps=2,
        dev_fraction=0.0,
    )
    result = adapt(config)
    record = json.loads((result.out / "adapt.json").read_text())
    teacher = sentence_transformer_from_folder(other_folder, name="t")
    assert record["teacher"]["fingerprint"] == teacher.fingerprint
    assert record["training"]["loss"] == "MultipleNegativesRankingLoss + InBatchDistillKLLoss"
    assert json.loads((result.out / "run.json").read_text())["teacher_fingerprint"] == teacher.fingerprint
    logged = [line for line in record["training"]["log_history"] if "loss" in line]
    assert logged and {"mnrl", "distill_kl"} <= set(logged[0])  # the trainer logs each part
    assert "InBatchDistillKLLoss" in (result.model_dir / "README.md").read_text(encoding="utf-8")


# --- configuration and bad input ----------------------------------------------------------------


def test_yaml_selects_the_new_losses_and_resume_checks_their_settings(tmp_path):
    path = tmp_path / "adapt.yaml"
    path.write_text("loss: mnrl+margin-mse\nhard_negatives: 2\nmargin_mse_weight: 0.5\n", encoding="utf-8")
    run = dict(base="minilm", pairs=Path("p.jsonl"), domain=Domain.FINANCE, out=Path("o"))
    config = AdaptConfig.from_yaml(path, **run)
    assert config.loss is LossName.MNRL_MARGIN_MSE and config.margin_mse_weight == 0.5
    settings = config.training_settings()
    for key in ("loss", "margin_mse_weight", "teacher", "distill_temperature", "distill_kl_weight"):
        assert key in settings
    path.write_text("loss: distill-kl\nteacher: mpnet\ndistill_temperature: 0.1\n", encoding="utf-8")
    config = AdaptConfig.from_yaml(path, **run)
    assert (config.loss, config.teacher, config.distill_temperature) == (LossName.DISTILL_KL, "mpnet", 0.1)
    assert AdaptConfig.from_yaml(path, **run, teacher="other").teacher == "other"  # the command line wins


def _cli(student: Path, pairs: Path, out: Path, config: str, *extra: str):
    path = out.parent / "adapt.yaml"
    path.write_text(config, encoding="utf-8")
    args = ["adapt", "--base", str(student), "--pairs", str(pairs), "--domain", "finance", "--out", str(out)]
    return runner.invoke(app, [*args, "--config", str(path), *extra])


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)


QUICK = "max_steps: 1\nbatch_size: 4\nevaluate: false\n"


@pytest.mark.parametrize("loss", ["margin-mse", "mnrl+margin-mse"])
def test_margin_loss_on_a_file_without_margins(tmp_path, student_folder, loss):
    pairs = write_pairs(tmp_path / "data" / "pairs.jsonl", pair_rows(n_docs=8, per_doc=3))
    result = _cli(student_folder, pairs, tmp_path / "run", QUICK + f"loss: {loss}\n")
    _one_line_error(result, str(pairs), f"loss {loss} needs teacher margins", "none of its 24 pairs", "--teacher")
    assert not (tmp_path / "run").exists()


def test_margin_mse_with_fewer_margins_than_hard_negatives(tmp_path, student_folder):
    pairs = write_pairs(tmp_path / "data" / "pairs.jsonl", labelled_rows(negatives=2, unlabelled_every=0))
    result = _cli(student_folder, pairs, tmp_path / "run", QUICK + "loss: margin-mse\nhard_negatives: 3\n")
    _one_line_error(result, str(pairs), "3 teacher margin(s) per pair", "48 of its 48 pairs have fewer")
    assert not (tmp_path / "run").exists()
    partly = write_pairs(tmp_path / "data" / "partly.jsonl", labelled_rows(negatives=2, unlabelled_every=4))
    result = _cli(student_folder, partly, tmp_path / "run", QUICK + "loss: margin-mse\nhard_negatives: 2\n")
    _one_line_error(result, "12 of its 48 pairs have fewer", "mnrl+margin-mse")
    assert not (tmp_path / "run").exists()


def test_mnrl_plus_margin_mse_trains_the_unlabelled_pairs_on_mnrl(tmp_path, student_folder):
    pairs = write_pairs(tmp_path / "pairs.jsonl", labelled_rows(negatives=2, unlabelled_every=4))
    config = _config(
        student_folder,
        pairs,
        tmp_path / "run",
        loss=LossName.MNRL_MARGIN_MSE,
        hard_negatives=2,
        max_steps=2,
        dev_fraction=0.0,
    )
    record = adapt(config).record
    assert 0 < record["data"]["train_with_margins"] < record["data"]["train_pairs"]
    assert record["training"]["loss"].startswith("with_teacher_margins: MultipleNegativesRankingLoss + MarginMSELoss")


@pytest.mark.parametrize(
    ("config", "extra", "needles"),
    [
        ("loss: distill-kl\n", (), ("loss distill-kl needs a teacher", "--teacher")),
        ("loss: mnrl\n", ("--teacher", "mpnet"), ("teacher 'mpnet' is used only by loss distill-kl",)),
        ("loss: distill-kl\n", ("--teacher", "bm25"), ("teacher 'bm25' is not a bi-encoder",)),
        ("loss: distill-kl\n", ("--teacher", "CROSS"), ("is a CrossEncoder, not a bi-encoder",)),
        ("loss: margin-mse\nhard_negatives: 0\n", (), ("hard_negatives must be >= 1",)),
        ("loss: mnrl+margin-mse\nmatryoshka_dims: [16]\n", (), ("matryoshka_dims works with loss",)),
        ("loss: distill-kl\nteacher: mpnet\ndistill_temperature: 0\n", (), ("distill_temperature must be > 0",)),
    ],
)
def test_bad_teacher_settings_are_one_line_before_any_work(tmp_path, student_folder, config, extra, needles):
    from sentence_transformers import CrossEncoder

    if "CROSS" in extra:
        cross = tmp_path / "cross-encoder"
        CrossEncoder(str(student_folder), num_labels=1, device="cpu").save(str(cross))
        extra = ("--teacher", str(cross))
    pairs = write_pairs(tmp_path / "data" / "pairs.jsonl", pair_rows(n_docs=8, per_doc=3))
    result = _cli(student_folder, pairs, tmp_path / "run", QUICK + config, *extra)
    _one_line_error(result, *needles)
    assert not (tmp_path / "run").exists()


def test_load_teacher_encoder_accepts_a_bi_encoder_folder(other_folder):
    encoder = load_teacher_encoder(str(other_folder))
    assert encoder.model.get_embedding_dimension() == 32


def test_the_documented_loss_configs_read(tmp_path):
    import re

    docs = (Path(__file__).resolve().parents[1] / "docs" / "adapt.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", docs, flags=re.S) if "loss: " in b]
    losses = set()
    for i, block in enumerate(blocks):
        path = tmp_path / f"{i}.yaml"
        path.write_text(block, encoding="utf-8")
        config = AdaptConfig.from_yaml(path, base="minilm", pairs=Path("p"), domain=Domain.FINANCE, out=Path("o"))
        losses.add(config.loss)
    assert {LossName.MNRL_MARGIN_MSE, LossName.MNRL_DISTILL_KL} <= losses
