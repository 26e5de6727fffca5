"""``kill -9`` of every long stage at seeded points, then the same command again: nothing lost, nothing
done twice, no partial file left, and the result of an uninterrupted run.

Each stage runs as a real ``domainemb`` process (``tests/kill_data.py``) that SIGKILLs itself at an
exact call of the stage's own code, drawn with a seeded :class:`random.Random` from the points where a
kill costs most: inside a task's write or between the renames of a benchmark swap (build-benchmark),
before, after or in the middle of an append to the generation log, or in the final write (synth),
inside a checkpoint save or the final model's save (adapt), inside or after a stage-cache entry, or
in the final swap (prune). The re-run happens in this process, with probes counting the work it does. ``DOMAINEMB_KILL_SEED`` draws other points (the
default is fixed, so CI kills at the same points every time).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest
from adapt_data import STEP_LOSS, adapt_command, pair_rows, write_pairs
from kill_data import assert_killed, hidden_leftovers, record_calls, run_stage, traced, tree_bytes
from typer.testing import CliRunner

from domainemb.cli.main import app

SEED = int(os.environ.get("DOMAINEMB_KILL_SEED", "17"))
runner = CliRunner()


def _draw(stage: str, choices: list):
    return random.Random(f"{SEED}-{stage}").choice(choices)


def _invoke(argv: list[str]) -> None:
    result = runner.invoke(app, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output


# ----------------------------------------------------------------------------- build-benchmark
ONLY_USER_TASKS = "import domainemb.domains.build as b; b.domain_tasks = lambda domain: ()"
BUILD_KILLS = [
    ("in a task's write", {"target": "domainemb.domains.build:_write_task", "nth": 2, "when": "before"}),
    ("after a task's write", {"target": "domainemb.domains.build:_write_task", "nth": 3, "when": "after"}),
    ("between the swap's renames", {"target": "domainemb.atomic:os.rename", "nth": 1, "when": "after"}),
]


@pytest.fixture
def user_tasks(tmp_path) -> list[Path]:
    from test_beir_folders import fiqa_folder

    folders = []
    for name in ("fiqa-a", "fiqa-b", "fiqa-c"):
        folder = fiqa_folder(tmp_path / "tasks" / name)
        folders.append(folder.rename(folder.parent / name))
    return folders


@pytest.mark.parametrize("rebuild", [False, True], ids=["first build", "rebuild"])
def test_build_benchmark(tmp_path, user_tasks, rebuild, monkeypatch):
    import domainemb.domains.build as build
    from domainemb.domains.benchmark import Benchmark

    monkeypatch.setattr(build, "domain_tasks", lambda domain: ())
    # a first build has no old benchmark to rename aside
    point, kill = _draw(f"build-{rebuild}", BUILD_KILLS if rebuild else BUILD_KILLS[:2])
    work = tmp_path / "work"
    work.mkdir()
    out = work / "bench"
    argv = ["build-benchmark", "finance", *[a for t in user_tasks for a in ("--task", str(t))], "--out", str(out)]
    _invoke([*argv[:-1], str(tmp_path / "reference")])
    reference = tree_bytes(tmp_path / "reference")
    if rebuild:
        _invoke(argv)

    proc, _ = run_stage(tmp_path, argv, kill=kill, setup=ONLY_USER_TASKS)
    assert_killed(proc)
    assert [p for p in hidden_leftovers(work) if ".building-" in p], "the kill left no staging folder to clean"
    if rebuild and point != "between the swap's renames":
        assert tree_bytes(out) == reference  # the previous benchmark is untouched
    elif not rebuild:
        assert not out.exists()
    _invoke(argv)
    assert tree_bytes(out) == reference, point
    assert hidden_leftovers(work) == [], point
    Benchmark.open(out)


# ----------------------------------------------------------------------------- synth
APPEND = "domainemb.synth.pairs:AppendLog.append"
#: The key of every item generated (ict: no LLM, deterministic), as its record goes into the generation log.
GENERATED = (APPEND, "lambda _, log, record: record['key'] if log.path.name.endswith('.raw.jsonl') else None")
SYNTH_KILLS = [
    ("before an append", {"target": APPEND, "nth": 9, "when": "before"}),
    ("after an append", {"target": APPEND, "nth": 14, "when": "after"}),
    ("inside an append (torn line)", {"target": APPEND, "nth": 11, "when": "torn"}),
    ("in the final write", {"target": "domainemb.atomic:os.replace", "nth": 1, "when": "before"}),
]


def _synth_argv(tmp_path: Path, out: Path) -> list[str]:
    from synth_data import retrieval_benchmark, write_corpus

    corpus, bench = tmp_path / "corpus", tmp_path / "bench"
    if not corpus.exists():
        write_corpus(corpus, docs=4, sentences=12)
        retrieval_benchmark(bench, ["an unrelated test document about enzymes and catalysis"], ["what is an enzyme"])
    return [
        "synth", "--domain", "finance", "--corpus", str(corpus), "--out", str(out), "--benchmark", str(bench),
        "--generator", "ict", "--per-chunk", "2", "--chunk-tokens", "40", "--chunk-overlap", "8",
        "--negatives", "0", "--consistency-top-k", "0", "--near-duplicate", "1.0",
    ]  # fmt: skip


def test_synth(tmp_path, monkeypatch):
    from synth_data import read_jsonl

    from domainemb.pairs import read_pairs

    point, kill = _draw("synth", SYNTH_KILLS)
    reference = tmp_path / "reference" / "pairs.jsonl"
    _invoke(_synth_argv(tmp_path, reference))
    planned = [r["key"] for r in read_jsonl(reference.with_name("pairs.raw.jsonl"))]

    out = tmp_path / "run" / "pairs.jsonl"
    raw = out.with_name("pairs.raw.jsonl")
    proc, trace = run_stage(tmp_path, _synth_argv(tmp_path, out), probes={"generated": GENERATED}, kill=kill)
    assert_killed(proc)
    (first,) = ([k for k in keys if k] for keys in traced(trace, "generated").values())
    at_kill = raw.read_bytes()
    whole = at_kill[: at_kill.rfind(b"\n") + 1]  # the lines written in full before the kill
    logged = [json.loads(line)["key"] for line in whole.splitlines()]
    assert logged == first, point  # every record appended before the kill is in the log, whole
    assert (whole != at_kill) == (kill["when"] == "torn"), point
    if point == "in the final write":  # generation was complete; the pairs file was being written
        assert logged == planned and [p for p in hidden_leftovers(out.parent) if p.startswith(".pairs.jsonl.")]
    assert not out.exists()

    appended = record_calls(monkeypatch, *GENERATED)
    _invoke(_synth_argv(tmp_path, out))
    generated = [key for key in appended if key]
    after = raw.read_bytes()
    assert after.startswith(whole), point  # the log keeps every line written before the kill
    assert not set(generated) & set(logged), point  # nothing logged before the kill is generated again
    keys = Counter(r["key"] for r in read_jsonl(raw))
    assert sorted(keys) == sorted(planned) and max(keys.values()) == 1, point  # nothing lost, nothing twice
    assert sorted(generated) == sorted(set(planned) - set(logged)), point
    card = json.loads(out.with_name("pairs.card.json").read_text())
    assert card["items"]["resumed"] == len(logged) and card["items"]["planned"] == len(planned)
    assert read_pairs(out, strict=True).pairs == read_pairs(reference, strict=True).pairs
    assert hidden_leftovers(out.parent) == [], point


# ----------------------------------------------------------------------------- adapt
ADAPT = {"max_steps": 12, "batch_size": 8, "eval_steps": 4, "dev_fraction": 0.25, "learning_rate": 1e-3}
SAVE = "transformers.trainer:Trainer."
ADAPT_KILLS = [  # (where, kill, steps run before it, the newest complete checkpoint it leaves)
    ("checkpoint 8's save, weights written", {"target": SAVE + "_save_optimizer_and_scheduler", "nth": 2}, 8, 4),
    ("checkpoint 12's save, weights written", {"target": SAVE + "_save_optimizer_and_scheduler", "nth": 3}, 12, 8),
    ("checkpoint 8's save, optimizer written", {"target": SAVE + "_save_rng_state", "nth": 2}, 8, 4),
    ("checkpoint 12's save, optimizer written", {"target": SAVE + "_save_rng_state", "nth": 3}, 12, 8),
    ("the final model's save", {"target": "domainemb.adapt.run:swap_into_place", "nth": 1}, 12, 12),
]


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return {k: v for p in sorted(folder.rglob("*.safetensors")) for k, v in load_file(p).items()}


@pytest.mark.slow
def test_adapt(tiny_model, tmp_path, monkeypatch):
    import torch

    from domainemb.adapt.train import checkpoint_problem

    point, kill, ran, complete = _draw("adapt", ADAPT_KILLS)
    base = tiny_model(max_seq_length=64, normalize=True)
    pairs = write_pairs(tmp_path / "pairs.jsonl", pair_rows(n_docs=12, per_doc=4))
    with pytest.MonkeyPatch.context() as mp:
        steps = record_calls(mp, *STEP_LOSS)
        _invoke(adapt_command(base, pairs, tmp_path / "reference", ADAPT))
    full_losses = dict(steps)
    assert sorted(full_losses) == list(range(1, 13))

    out = tmp_path / "run"
    argv = adapt_command(base, pairs, out, ADAPT)
    proc, trace = run_stage(tmp_path, argv, probes={"step": STEP_LOSS}, kill=dict(kill, when="before"))
    assert_killed(proc)
    (first,) = traced(trace, "step").values()
    assert [step for step, _ in first] == list(range(1, ran + 1)), point
    assert not (out / "adapt.json").exists()

    resumed = record_calls(monkeypatch, *STEP_LOSS)
    _invoke([*argv, "--resume"])
    # the resumed process ran only the steps after the newest complete checkpoint, with the uninterrupted run's losses
    assert [step for step, _ in resumed] == list(range(complete + 1, 13)), point
    for step, loss in resumed:
        assert loss == pytest.approx(full_losses[step], abs=1e-4), (point, step)
    training = json.loads((out / "adapt.json").read_text())["training"]
    assert training["resumed_from"] == (str(out / "checkpoints" / f"checkpoint-{complete}") if complete else None)
    steps = [h["step"] for h in training["log_history"] if "loss" in h]
    assert steps == [4, 8, 12], point  # each logged step once
    reference, adapted = _weights(tmp_path / "reference" / "model"), _weights(out / "model")
    assert reference.keys() == adapted.keys()
    for name, tensor in reference.items():
        assert torch.allclose(adapted[name], tensor, atol=1e-5), (point, name)
    assert hidden_leftovers(out) == [], point
    for folder in (out / "checkpoints").glob("checkpoint-*"):
        assert checkpoint_problem(folder) is None, (point, folder.name)


# ----------------------------------------------------------------------------- prune
CACHE = "domainemb.prune.stage_cache:StageCache."
PRUNE_KILLS = [  # (where, kill, calibration sets and moments in the stage cache after it)
    ("after the domain calibration's entry", {"target": CACHE + "put_calibration", "nth": 1, "when": "after"}, 1, 0),
    ("after both calibration entries", {"target": CACHE + "put_calibration", "nth": 2, "when": "after"}, 2, 0),
    ("in the domain moments' entry", {"target": CACHE + "put_moments", "nth": 1, "when": "before"}, 2, 0),
    ("after the domain moments' entry", {"target": CACHE + "put_moments", "nth": 1, "when": "after"}, 2, 1),
    ("in the final swap", {"target": "domainemb.prune.run:swap_into_place", "nth": 1, "when": "before"}, 2, 2),
]
COMPUTED = "lambda result, *args, **kwargs: 1"


@pytest.mark.slow
def test_prune(tiny_bert_folder, tiny_benchmark, tmp_path, monkeypatch):
    import torch
    import yaml
    from prune_data import calibration_pairs, write_pairs_file

    point, kill, calibrations, moments = _draw("prune", PRUNE_KILLS)
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(40))
    stages = tmp_path / "stages"
    settings = {
        "min_calibration_pairs": 16, "domain_calibration": 24, "general_calibration": 24, "batch_size": 8,
        "max_seq_length": 32, "domain_benchmark": str(tiny_benchmark), "general_benchmark": str(tiny_benchmark),
    }  # fmt: skip

    def argv(out: Path, **more) -> list[str]:
        config = out.parent / f"{out.name}.yaml"
        config.write_text(yaml.safe_dump(settings | more))
        return [
            "prune", "--model", str(tiny_bert_folder), "--domain", "finance", "--sparsity", "0.5",
            "--pairs", str(pairs), "--no-eval", "--out", str(out), "--config", str(config),
        ]  # fmt: skip

    _invoke(argv(tmp_path / "reference"))
    out = tmp_path / "work" / "run"
    out.parent.mkdir()
    proc, _ = run_stage(tmp_path, argv(out, stage_cache=str(stages)), kill=kill)
    assert_killed(proc)
    assert not out.exists()
    assert len(list(stages.glob("calibration-*.jsonl"))) == calibrations, point
    assert len(list(stages.glob("moments-*.safetensors"))) == moments, point

    chosen = record_calls(monkeypatch, "domainemb.prune.run:calibration_set", COMPUTED)
    scored = record_calls(monkeypatch, "domainemb.prune.run:infonce_moments", COMPUTED)
    _invoke(argv(out, stage_cache=str(stages)))
    # the rerun computes only the stages the killed run had not stored
    assert (len(chosen), len(scored)) == (2 - calibrations, 2 - moments), point
    reference, pruned = _weights(tmp_path / "reference" / "model"), _weights(out / "model")
    assert reference.keys() == pruned.keys()
    for name, tensor in reference.items():
        assert torch.equal(pruned[name] == 0, tensor == 0), (point, name)  # the same weights pruned
        assert torch.allclose(pruned[name], tensor, atol=1e-6), (point, name)
    for side in ("domain", "general"):
        assert (out / "calibration" / f"{side}.jsonl").read_bytes() == (
            tmp_path / "reference" / "calibration" / f"{side}.jsonl"
        ).read_bytes()
    assert hidden_leftovers(out.parent) == [] and hidden_leftovers(stages) == [], point
