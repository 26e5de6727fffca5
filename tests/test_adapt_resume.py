"""Resume after a kill: from the newest complete checkpoint (a half-written one is skipped, not read),
with no step run twice and the losses of a run that was never interrupted."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from adapt_data import STEP_LOSS, InterruptAt, Interrupted, adapt_command, pair_rows, write_pairs
from kill_data import assert_killed, record_calls, run_stage, traced
from typer.testing import CliRunner

from domainemb.adapt.config import AdaptConfig
from domainemb.adapt.run import AdaptHooks, adapt
from domainemb.adapt.train import checkpoint_problem, last_complete_checkpoint
from domainemb.cli.main import app
from domainemb.types import Domain

TINY = {"max_steps": 12, "batch_size": 8, "eval_steps": 4, "dev_fraction": 0.25, "learning_rate": 1e-3}


@pytest.fixture(scope="module")
def run_config(tiny_model, tmp_path_factory) -> AdaptConfig:
    root = tmp_path_factory.mktemp("resume")
    pairs = write_pairs(root / "pairs.jsonl", pair_rows(n_docs=12, per_doc=4))
    base = tiny_model(max_seq_length=64, normalize=True)
    return AdaptConfig(base=str(base), pairs=pairs, domain=Domain.FINANCE, out=root / "cut", evaluate=False, **TINY)


@pytest.fixture(scope="module")
def uninterrupted(run_config) -> tuple[dict, dict[int, float]]:
    """The record of a run that was never interrupted, and the loss of each of its 12 steps."""
    with pytest.MonkeyPatch.context() as mp:
        steps = record_calls(mp, *STEP_LOSS)
        full = adapt(replace(run_config, out=run_config.out.parent / "full"))
    assert [step for step, _ in steps] == list(range(1, 13))
    return full.record, dict(steps)


@pytest.fixture(scope="module")
def interrupted(run_config, uninterrupted) -> tuple[AdaptConfig, dict]:
    """A run stopped at step 10 (checkpoints 4 and 8 on disk), and the record of an uninterrupted run."""
    with pytest.raises(Interrupted):
        adapt(run_config, AdaptHooks(callbacks=[InterruptAt(10)]))
    return run_config, uninterrupted[0]


def adapt_argv(config: AdaptConfig, out: Path) -> list[str]:
    return adapt_command(config.base, config.pairs, out, TINY)


def _history(entries: list[dict], key: str) -> list[tuple[int, float]]:
    return [(h["step"], h[key]) for h in entries if key in h]


#: Where the kill lands: inside a step after checkpoint 8 and before checkpoint 12 (seeded, so the same every run).
KILL_STEP, KILL_WHEN = random.Random(17).choice([9, 10, 11]), random.Random(18).choice(["before", "after"])


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_at_its_checkpoint_and_runs_no_step_twice(
    run_config, uninterrupted, tmp_path
):
    """A real ``kill -9`` of ``domainemb adapt`` in the middle of step 9, 10 or 11, then ``--resume``: the
    resumed process starts at step 9 (it runs none of the 8 steps checkpoint 8 holds), and its log
    history is the first process's up to step 8, each step once, then the uninterrupted run's."""
    full_record, full_losses = uninterrupted
    out = tmp_path / "run"
    argv = adapt_argv(run_config, out)
    proc, trace = run_stage(
        tmp_path, argv, probes={"step": STEP_LOSS}, kill={"target": STEP_LOSS[0], "nth": KILL_STEP, "when": KILL_WHEN}
    )
    assert_killed(proc)
    (first,) = traced(trace, "step").values()
    assert [step for step, _ in first] == list(range(1, KILL_STEP + (KILL_WHEN == "after")))
    for step, loss in first:  # the same training as the uninterrupted run, until the kill
        assert loss == pytest.approx(full_losses[step], abs=1e-4), step
    checkpoints = out / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-8"]
    assert not (out / "adapt.json").exists() and not (out / "model").exists()
    saved = json.loads((checkpoints / "checkpoint-8" / "trainer_state.json").read_text())["log_history"]
    # the loss logged at step 8 is the mean of the first process's steps 5-8
    assert dict(_history(saved, "loss"))[8] == pytest.approx(sum(loss for _, loss in first[4:8]) / 4, abs=1e-4)

    with pytest.MonkeyPatch.context() as mp:
        resumed_steps = record_calls(mp, *STEP_LOSS)
        result = CliRunner().invoke(app, [*argv, "--resume"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # (b) the resumed process ran steps 9 to 12 only, with the uninterrupted run's losses
    assert [step for step, _ in resumed_steps] == [9, 10, 11, 12]
    for step, loss in resumed_steps:
        assert loss == pytest.approx(full_losses[step], abs=1e-4), step

    # (a) the resumed run's log history: the first process's entries up to step 8, unchanged and once each,
    # then entries of steps after 8 only, equal to the uninterrupted run's
    training = json.loads((out / "adapt.json").read_text())["training"]
    assert training["resumed_from"] == str(checkpoints / "checkpoint-8") and training["steps"] == 12
    history = training["log_history"]
    final_state = json.loads((checkpoints / "checkpoint-12" / "trainer_state.json").read_text())["log_history"]
    assert final_state == history[: len(final_state)]
    assert history[: len(saved)] == saved
    assert all(h["step"] > 8 for h in history[len(saved) :])
    full_history = full_record["training"]["log_history"]
    for key in ("loss", "grad_norm", "learning_rate", "eval_dev_cosine_ndcg@10"):
        logged, expected = _history(history, key), _history(full_history, key)
        steps = [step for step, _ in logged]
        assert steps == sorted(set(steps)) and steps == [step for step, _ in expected], key  # each step once
        for (step, value), (_, reference) in zip(logged, expected, strict=True):
            assert value == pytest.approx(reference, abs=1e-4), (key, step)


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
