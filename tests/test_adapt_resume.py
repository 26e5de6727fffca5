"""Resume after a kill during a checkpoint save: the half-written checkpoint is skipped, not read."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from adapt_data import InterruptAt, Interrupted, pair_rows, write_pairs

from domainemb.adapt.config import AdaptConfig
from domainemb.adapt.run import AdaptHooks, adapt
from domainemb.adapt.train import checkpoint_problem, last_complete_checkpoint
from domainemb.types import Domain

TINY = {"max_steps": 12, "batch_size": 8, "eval_steps": 4, "dev_fraction": 0.25, "learning_rate": 1e-3}


@pytest.fixture(scope="module")
def interrupted(tiny_model, tmp_path_factory) -> tuple[AdaptConfig, Path]:
    """A run stopped at step 10 (checkpoints 4 and 8 on disk), and the folder of an uninterrupted run."""
    root = tmp_path_factory.mktemp("resume")
    pairs = write_pairs(root / "pairs.jsonl", pair_rows(n_docs=12, per_doc=4))
    base = tiny_model(max_seq_length=64, normalize=True)
    config = AdaptConfig(base=str(base), pairs=pairs, domain=Domain.FINANCE, out=root / "cut", evaluate=False, **TINY)
    with pytest.raises(Interrupted):
        adapt(config, AdaptHooks(callbacks=[InterruptAt(10)]))
    full = adapt(replace(config, out=root / "full"))
    return config, full.record


@pytest.mark.parametrize("missing", ["trainer_state.json", "optimizer.pt", "cut-weights"])
def test_resume_skips_a_half_written_newest_checkpoint(interrupted, tmp_path, missing):
    config, full = interrupted
    out = tmp_path / "run"
    shutil.copytree(config.out, out)
    checkpoints = out / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-8"]
    # What a kill -9 during the save of step 12's checkpoint leaves: a copy of a real one, short of a file.
    torn = checkpoints / "checkpoint-12"
    shutil.copytree(checkpoints / "checkpoint-8", torn)
    if missing == "cut-weights":
        weights = torn / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    else:
        (torn / missing).unlink()
    assert checkpoint_problem(torn) is not None and checkpoint_problem(checkpoints / "checkpoint-8") is None

    resumed = adapt(replace(config, out=out, resume=True))
    training = resumed.record["training"]
    assert training["resumed_from"] == str(checkpoints / "checkpoint-8")
    assert training["steps"] == full["training"]["steps"] == 12
    assert training["dev_score_after"] == pytest.approx(full["training"]["dev_score_after"], abs=1e-3)
    # the steps after checkpoint 8 ran once, with the losses of the uninterrupted run
    losses = {h["step"]: h["loss"] for h in training["log_history"] if "loss" in h}
    expected = {h["step"]: h["loss"] for h in full["training"]["log_history"] if "loss" in h}
    assert losses.keys() <= expected.keys() and max(losses) == 12
    for step, loss in losses.items():
        assert loss == pytest.approx(expected[step], abs=1e-4), step


def test_no_complete_checkpoint_means_none(tmp_path):
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text("{")
    assert last_complete_checkpoint(tmp_path) is None
    assert not (tmp_path / "checkpoint-4").exists()  # removed: the run writes that step again


def test_the_newest_complete_checkpoint_is_chosen(interrupted, tmp_path):
    config, _ = interrupted
    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(config.out / "checkpoints", checkpoints)
    shutil.copytree(checkpoints / "checkpoint-8", checkpoints / "checkpoint-12")
    (checkpoints / "checkpoint-12" / "scheduler.pt").write_bytes(b"PK\x03\x04 cut short")
    assert last_complete_checkpoint(checkpoints) == str(checkpoints / "checkpoint-8")
    assert not (checkpoints / "checkpoint-12").exists() and (checkpoints / "checkpoint-4").is_dir()
