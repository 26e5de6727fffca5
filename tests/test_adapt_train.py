"""Training runs on a tiny model: saved folder and card, losses, resume after a kill, minilm (DDP: test_adapt_ddp)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from adapt_data import SYNTH_CARD, InterruptAt, Interrupted, pair_rows, write_pairs

from domainemb.adapt.compare import Comparison
from domainemb.adapt.config import AdaptConfig, LossName
from domainemb.adapt.run import AdaptHooks, adapt
from domainemb.errors import DomainembError
from domainemb.types import Domain

#: A few steps at a high learning rate: enough to move a random 2-layer model, seconds on 2 cores.
TINY = {
    "max_steps": 8,
    "batch_size": 8,
    "eval_steps": 4,
    "dev_fraction": 0.25,
    "learning_rate": 1e-3,
    "bootstrap_samples": 500,
}


@pytest.fixture(scope="module")
def base_model(tiny_model) -> Path:
    return tiny_model(max_seq_length=64, normalize=True)


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    return write_pairs(
        tmp_path_factory.mktemp("pairs") / "pairs.jsonl", pair_rows(n_docs=12, per_doc=4), card=SYNTH_CARD
    )


@pytest.fixture(scope="module")
def suites(tiny_suites) -> tuple[Path, Path]:
    return tiny_suites("adapt")


def _config(base: Path, pairs: Path, out: Path, **settings) -> AdaptConfig:
    return AdaptConfig(
        base=str(base), pairs=pairs, domain=Domain.FINANCE, out=out, **{**TINY, "evaluate": False, **settings}
    )


def test_adapt_writes_a_loadable_model_card_comparison_and_record(tmp_path, base_model, pairs_file, suites):
    from sentence_transformers import SentenceTransformer

    domain_suite, general_suite = suites
    out = tmp_path / "run"
    config = _config(
        base_model, pairs_file, out, evaluate=True, domain_benchmark=domain_suite, general_benchmark=general_suite
    )
    result = adapt(config)

    model = SentenceTransformer(str(result.model_dir))
    assert model.encode(["interest rates rose"]).shape == (1, 32)
    assert model.max_seq_length == 64  # the base's limit, not the training one

    record = json.loads((tmp_path / "run" / "adapt.json").read_text())
    assert record["training"]["steps"] == 8
    assert record["training"]["dev_score_before"] is not None and record["training"]["dev_score_after"] is not None
    assert record["data"]["train_documents"] == 9 and record["data"]["dev_documents"] == 3
    assert record["base"]["fingerprint"] != record["adapted"]["fingerprint"]
    assert record["peak_memory_mb"]["rss"] > 0 and record["wall_time_s"] > 0
    assert record["hyperparameters"]["learning_rate"] == 1e-3

    comparison = Comparison.from_disk(tmp_path / "run" / "comparison.json")
    assert set(comparison.suites) == {"domain", "general"}
    assert {t.task for t in comparison.suites["domain"].tasks} == {"TinyFinRetrieval", "TinyFinSTS"}
    assert comparison.headline["domain_retrieval_ndcg_at_10"].n_tasks == 1
    assert comparison.base.fingerprint == record["base"]["fingerprint"]
    assert (tmp_path / "run" / "results").is_dir()
    assert not (tmp_path / "run" / "checkpoints").exists()

    card = (result.model_dir / "README.md").read_text()
    expected = (
        "Domain adaptation (finance)",
        "local/",
        "ict 48",
        "| learning_rate | 0.001 |",
        "| domain | Retrieval | 1 |",
    )
    for text in (*expected, "MultipleNegativesRankingLoss"):
        assert text in card

    # --resume on a finished run does not train again; it only (re)scores, reusing stored results.
    again = adapt(replace(config, resume=True))
    assert again.record["training"] == record["training"]
    assert again.comparison.suites["domain"].tasks == comparison.suites["domain"].tasks


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, base_model, pairs_file):
    settings = {"max_steps": 12, "eval_steps": 4}
    full = adapt(_config(base_model, pairs_file, tmp_path / "full", **settings))

    cut = _config(base_model, pairs_file, tmp_path / "cut", **settings)
    with pytest.raises(Interrupted):
        adapt(cut, AdaptHooks(callbacks=[InterruptAt(6)]))
    assert (tmp_path / "cut" / "checkpoints" / "checkpoint-4").is_dir()
    assert not (tmp_path / "cut" / "model").exists()

    with pytest.raises(DomainembError, match="pass --resume"):
        adapt(cut)
    with pytest.raises(DomainembError, match="different training_settings"):
        adapt(replace(cut, resume=True, learning_rate=5e-4))

    resumed = adapt(replace(cut, resume=True))
    assert resumed.record["training"]["resumed_from"].endswith("checkpoint-4")
    assert resumed.record["training"]["steps"] == full.record["training"]["steps"] == 12
    assert resumed.record["training"]["dev_score_after"] == pytest.approx(
        full.record["training"]["dev_score_after"], abs=1e-3
    )
    assert resumed.record["training"]["best_checkpoint"] == full.record["training"]["best_checkpoint"]


def test_cached_loss_with_matryoshka_and_no_dev_split(tmp_path, base_model, pairs_file):
    settings = {
        "loss": LossName.CACHED_MNRL,
        "mini_batch_size": 4,
        "matryoshka_dims": (32, 16),
        "dev_fraction": 0.0,
        "max_steps": 4,
    }
    config = _config(base_model, pairs_file, tmp_path / "run", **settings)
    result = adapt(config)
    assert result.record["training"]["dev_score_after"] is None
    assert result.record["training"]["best_checkpoint"] is None
    card = (result.model_dir / "README.md").read_text()
    assert "MatryoshkaLoss" in card and "CachedMultipleNegativesRankingLoss" in card


def test_matryoshka_dims_larger_than_the_model_fail_before_training(tmp_path, base_model, pairs_file):
    with pytest.raises(DomainembError, match="exceed the base model's 32 dimensions"):
        adapt(_config(base_model, pairs_file, tmp_path / "run", matryoshka_dims=(64,)))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_minilm_adapts_and_is_scored(tmp_path, suites):
    """The default base model end to end: a few steps, then both suites through the evaluation engine."""
    from sentence_transformers import SentenceTransformer

    pairs = write_pairs(tmp_path / "pairs.jsonl", pair_rows(n_docs=12, per_doc=4))
    domain_suite, general_suite = suites
    config = AdaptConfig(
        base="minilm", pairs=pairs, domain=Domain.FINANCE, out=tmp_path / "run", max_steps=6, batch_size=8, eval_steps=3,
        max_seq_length=64, domain_benchmark=domain_suite, general_benchmark=general_suite, bootstrap_samples=500,
    )  # fmt: skip
    result = adapt(config)
    assert SentenceTransformer(str(result.model_dir)).get_embedding_dimension() == 384
    assert result.comparison.base.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert "sentence-transformers/all-MiniLM-L6-v2" in (result.model_dir / "README.md").read_text()
    assert result.record["training"]["dev_score_after"] >= result.record["training"]["dev_score_before"] - 0.05
