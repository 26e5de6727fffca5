"""Data-parallel adapt: the unchanged command under torchrun, two CPU processes over gloo, gradients all-reduced.

Each subprocess carries a probe (``ddp_probe.py``, loaded by a ``sitecustomize.py`` on ``PYTHONPATH``)
that records the batches each process trained on and its weights after every optimizer step.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from adapt_data import SYNTH_CARD, pair_rows, write_pairs
from ddp_probe import probe_environment

from domainemb.adapt.compare import Comparison

STEPS = 4
#: A DDP run and the one-process run on its rank-0 shard differ by far more than this; a run equal to it, not at all.
WEIGHT_TOLERANCE = 1e-5


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


def _adapt(
    launcher: list[str], tmp_path: Path, name: str, base: Path, pairs: Path, settings: str, shard: str | None = None
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run ``domainemb adapt`` under ``launcher`` with the probe; the result and each rank's probe record."""
    import torch

    config = tmp_path / f"{name}.yaml"
    config.write_text(
        f"max_steps: {STEPS}\nbatch_size: 4\neval_steps: 2\ndev_fraction: 0.25\nlearning_rate: 1.0e-3\n{settings}"
    )
    script = Path(sys.executable).parent / "domainemb"
    arguments = ["--base", str(base), "--pairs", str(pairs), "--domain", "finance", "--out", str(tmp_path / name)]
    records = tmp_path / f"{name}-probe"
    env = {**probe_environment(tmp_path / f"{name}-site", records, shard), "OMP_NUM_THREADS": "1"}
    command = [*launcher, str(script), "adapt", *arguments, "--config", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(path) for path in sorted(records.glob("rank-*.pt"))]
    return done, ranks


def _max_abs_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[name] - b[name]).abs().max().item() for name in a)


@pytest.mark.slow
def test_two_process_ddp_run_over_gloo(tmp_path, base_model, pairs_file, suites):
    """Two processes train on different batches, end every step with the same weights, and those weights
    are not what one process alone would reach on its half of the data; rank 0 alone writes and scores."""
    import torch

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    settings = (
        f"bootstrap_samples: 200\ndomain_benchmark: {suites[0]}\ngeneral_benchmark: {suites[1]}\n"
        "domain_tasks: [TinyFinRetrieval]\ngeneral_tasks: [TinyGenRetrieval]\n"
    )
    done, (rank0, rank1) = _adapt(torchrun, tmp_path, "run", base_model, pairs_file, settings)
    record = json.loads((tmp_path / "run" / "adapt.json").read_text())
    assert record["training"]["world_size"] == 2
    assert record["training"]["steps"] == STEPS
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert (
        Comparison.from_disk(tmp_path / "run" / "comparison.json").suites["domain"].tasks[0].task == "TinyFinRetrieval"
    )
    assert done.stderr.count("adapted model ->") == 1  # only rank 0 reports

    # The data is sharded: at every step the two processes trained on different batches.
    assert len(rank0["batches"]) == len(rank1["batches"]) == STEPS
    assert all(a != b for a, b in zip(rank0["batches"], rank1["batches"], strict=True))
    # The gradients are all-reduced: after every optimizer step both processes hold the very same weights.
    assert len(rank0["weights"]) == STEPS
    assert rank0["weights"] == rank1["weights"]
    assert rank0["final"].keys() == rank1["final"].keys()
    for name, weights in rank0["final"].items():
        assert torch.equal(weights, rank1["final"][name]), name

    # One process on exactly rank 0's shard (same batches, same order, same seed and steps) ends elsewhere:
    # rank 1's gradients reached rank 0's weights.
    _, (alone,) = _adapt([sys.executable], tmp_path, "alone", base_model, pairs_file, "evaluate: false\n", "0/2")
    assert alone["batches"] == rank0["batches"]
    moved = _max_abs_diff(alone["final"], rank0["final"])
    assert moved > WEIGHT_TOLERANCE, f"the DDP weights are those of one process on its own shard (diff {moved:.2e})"
    assert _max_abs_diff(alone["final"], _base_parameters(base_model)) > WEIGHT_TOLERANCE  # it trained too


def _base_parameters(folder: Path) -> dict:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return {name: p.detach().clone() for name, p in model.named_parameters()}
