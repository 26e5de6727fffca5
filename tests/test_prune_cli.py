"""`domainemb prune` end to end on tiny models and the tiny benchmark, and its bad-input errors:
each one line, exit code 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from prune_data import calibration_pairs, tokenizer_json, write_pairs_file
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.errors import DomainembError, UnknownNameError
from domainemb.prune.architecture import ffn_model
from domainemb.prune.config import PruneConfig
from domainemb.prune.report import PruneReport
from domainemb.prune.sparse_io import load_sparse

runner = CliRunner()


def _config(tmp_path: Path, bench: Path | None = None, **settings) -> Path:
    values = {
        "min_calibration_pairs": 16,
        "domain_calibration": 24,
        "general_calibration": 24,
        "batch_size": 8,
        "max_seq_length": 32,
    }
    if bench is not None:
        values |= {"domain_benchmark": str(bench), "general_benchmark": str(bench)}
    path = tmp_path / "prune.yaml"
    path.write_text(yaml.safe_dump(values | settings))
    return path


def _prune(*args: str):
    return runner.invoke(app, ["prune", *args], catch_exceptions=False)


def _assert_clean_failure(result, out: Path, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    # transformers' own weight-loading bars: tqdm was imported before the CLI could switch them off.
    lines = [
        ln
        for ln in result.output.strip().splitlines()
        if ln.strip() and not ln.lstrip("\r").startswith(("Loading weights", "Writing model"))
    ]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


# ----------------------------------------------------------------------------- runs
def test_unstructured_run_with_synth_pairs(tiny_bert_folder, tmp_path):
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(40))
    out = tmp_path / "run"
    result = _prune(
        "--model",
        str(tiny_bert_folder),
        "--domain",
        "finance",
        "--method",
        "fisher-domain",
        "--sparsity",
        "0.5",
        "--pairs",
        str(pairs),
        "--no-eval",
        "--out",
        str(out),
        "--config",
        str(_config(tmp_path)),
    )
    assert result.exit_code == 0, result.output
    report = PruneReport.from_disk(out)
    assert report.method == "fisher-domain" and report.variant is None and not report.structured
    assert report.ffn_sparsity == 0.5 and len(report.per_layer) == 2
    assert report.calibration["domain"]["pairs"] == 24 and report.calibration["domain"]["candidates"] == 40
    assert report.size_on_disk["sparse_weights_bytes"] < report.size_on_disk["model_weights_bytes"]
    assert "scoring" in report.seconds and report.scoring_peak_memory_mb > 0
    assert len((out / "calibration" / "domain.jsonl").read_text().splitlines()) == 24
    model = SentenceTransformer(str(out / "model"), device="cpu")
    sparse = load_sparse(out / "model.sparse", device="cpu")
    for name, w in ffn_model(model).weights().items():
        assert float((w == 0).float().mean()) == pytest.approx(
            report.per_layer[int(name.split(".")[2])]["up" if "intermediate" in name else "down"], abs=1e-6
        )
        assert (ffn_model(sparse).weights()[name] == w).all()
    assert "0.500" in result.output  # the per-layer table
    assert tokenizer_json(out / "model") == tokenizer_json(tiny_bert_folder)  # calibration encoding left no trace


def test_gaprune_run_evaluated_on_the_suites(tiny_bert_folder, tiny_benchmark, tmp_path, caplog):
    out = tmp_path / "run"
    config = _config(  # InfoNCE retraining: the same-label warning below is about it
        tmp_path,
        tiny_benchmark,
        variant="normalized",
        domain_tasks=["TinyClassification"],
        general_tasks=["TinySTS"],
        retrain_loss="infonce",
    )
    result = _prune(
        "--model",
        str(tiny_bert_folder),
        "--domain",
        "finance",
        "--sparsity",
        "0.3",
        "--retrain-steps",
        "2",
        "--out",
        str(out),
        "--config",
        str(config),
    )
    assert result.exit_code == 0, result.output
    report = PruneReport.from_disk(out / "prune_report.json")
    assert (report.method, report.variant, report.retrain_steps) == ("gaprune", "normalized", 2)
    assert report.ffn_sparsity == pytest.approx(0.3, abs=1e-3)  # round(0.3 · n) weights
    assert set(report.calibration) == {"domain", "general"}
    assert "train splits" in report.calibration["general"]["source"]
    assert set(report.suites) == {"domain", "general"}
    domain = report.suites["domain"]
    assert set(domain.dense) == set(domain.pruned) == {"TinyClassification"}
    assert domain.relative_change_pct == pytest.approx(
        100 * (domain.pruned_mean - domain.dense_mean) / domain.dense_mean, abs=1e-3
    )
    assert report.hyperparameters["alpha"] == 0.2 and report.versions["domainemb"]
    assert 0 < report.diagnostics["pruned_overlap_with_magnitude"] <= 1
    assert report.diagnostics["mean_magnitude_term"] > 0 and 0 <= report.diagnostics["mean_alignment_abs"] <= 1
    assert (out / "results" / "results").is_dir()
    assert "mean main score" in result.output
    assert any(
        "retraining on same-label train-split pairs" in r.getMessage() for r in caplog.records
    )  # no --pairs: told


def test_cache_pruned_reuses_an_identical_pruned_model(tiny_bert_folder, tiny_benchmark, tmp_path):
    """Magnitude prunes the same weights for every domain: with ``cache_pruned`` the second run
    encodes nothing new and scores the same; without it the pruned model never enters the cache."""
    from domainemb.evaluation.cache import EmbeddingCache, default_cache_path
    from domainemb.evaluation.encoders import fingerprint_folder

    tasks = {"domain_tasks": ["TinyClassification"], "general_tasks": ["TinySTS"]}
    plain_out = tmp_path / "plain"
    result = _prune(
        "--model",
        str(tiny_bert_folder),
        "--domain",
        "finance",
        "--method",
        "magnitude",
        "--sparsity",
        "0.4",
        "--out",
        str(plain_out),
        "--config",
        str(_config(tmp_path, tiny_benchmark, **tasks)),
    )
    assert result.exit_code == 0, result.output
    fingerprint = fingerprint_folder(plain_out / "model")
    with EmbeddingCache(default_cache_path()) as cache:
        assert cache.count(fingerprint) == 0

    reports = []
    for domain in ("finance", "chemistry"):
        out = tmp_path / domain
        config = _config(tmp_path, tiny_benchmark, cache_pruned=True, **tasks)
        result = _prune(
            "--model",
            str(tiny_bert_folder),
            "--domain",
            domain,
            "--method",
            "magnitude",
            "--sparsity",
            "0.4",
            "--out",
            str(out),
            "--config",
            str(config),
        )
        assert result.exit_code == 0, result.output
        assert fingerprint_folder(out / "model") == fingerprint
        with EmbeddingCache(default_cache_path()) as cache:
            reports.append((PruneReport.from_disk(out), cache.count(fingerprint)))
    (first, stored), (second, stored_again) = reports
    assert stored > 0 and stored_again == stored
    assert (
        second.suites["general"].pruned
        == first.suites["general"].pruned
        == PruneReport.from_disk(plain_out).suites["general"].pruned
    )


def test_stage_cache_reuses_calibration_and_moments(tiny_bert_folder, tiny_benchmark, tmp_path, monkeypatch):
    """A second GAPrune run with the same stage cache neither chooses pairs nor runs a gradient
    pass, and prunes exactly the weights an uncached run prunes."""
    from domainemb.evaluation.encoders import fingerprint_folder

    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(40))
    stages = tmp_path / "stages"

    def run(name: str, **settings) -> Path:
        out = tmp_path / name
        result = _prune(
            "--model",
            str(tiny_bert_folder),
            "--domain",
            "finance",
            "--sparsity",
            "0.5",
            "--pairs",
            str(pairs),
            "--no-eval",
            "--out",
            str(out),
            "--config",
            str(_config(tmp_path, tiny_benchmark, **settings)),
        )
        assert result.exit_code == 0, result.output
        return out

    uncached = run("uncached")
    filled = run("filled", stage_cache=str(stages))
    assert len(list(stages.glob("calibration-*.jsonl"))) == 2 and len(list(stages.glob("moments-*.safetensors"))) == 2

    def must_not_run(*args, **kwargs):
        raise AssertionError("recomputed a cached stage")

    monkeypatch.setattr("domainemb.prune.run.calibration_set", must_not_run)
    monkeypatch.setattr("domainemb.prune.run.infonce_moments", must_not_run)
    reused = run("reused", stage_cache=str(stages))
    assert (
        fingerprint_folder(uncached / "model")
        == fingerprint_folder(filled / "model")
        == fingerprint_folder(reused / "model")
    )
    for side in ("domain", "general"):
        assert (reused / "calibration" / f"{side}.jsonl").read_text() == (
            uncached / "calibration" / f"{side}.jsonl"
        ).read_text()
    calibration = PruneReport.from_disk(reused).calibration
    for side in ("domain", "general"):
        assert calibration[side].pop("reused_from_stage_cache") == {"pairs": True, "moments": True}
        assert PruneReport.from_disk(filled).calibration[side]["reused_from_stage_cache"] == {
            "pairs": False,
            "moments": False,
        }
        assert calibration[side] == {
            k: v for k, v in PruneReport.from_disk(uncached).calibration[side].items() if k != "reused_from_stage_cache"
        }

    # another calibration size is another key: computed again, not a stale hit
    with pytest.raises(AssertionError, match="recomputed a cached stage"):
        run("resized", stage_cache=str(stages), domain_calibration=20)


def test_reference_variant_runs_its_gradient_pass_in_micro_batches_of_eight(
    tiny_bert_folder, tiny_benchmark, tmp_path, monkeypatch
):
    import domainemb.prune.run as prune_run

    sizes = []
    real = prune_run.infonce_moments

    def recording(model, weights, pairs, batch_size, scale, *args, **kwargs):
        sizes.append(batch_size)
        return real(model, weights, pairs, batch_size, scale, *args, **kwargs)

    monkeypatch.setattr(prune_run, "infonce_moments", recording)
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(40))
    out = tmp_path / "reference"
    result = _prune(
        *("--model", str(tiny_bert_folder), "--domain", "finance", "--sparsity", "0.5", "--pairs", str(pairs)),
        *(
            "--no-eval",
            "--out",
            str(out),
            "--config",
            str(_config(tmp_path, tiny_benchmark, variant="reference", batch_size=16)),
        ),
    )
    assert result.exit_code == 0, result.output
    assert sizes == [8, 8]  # domain and general, whatever the run's batch_size
    report = PruneReport.from_disk(out)
    assert (report.method, report.variant) == ("gaprune", "reference")


def test_dense_results_are_scored_once_across_runs(tiny_bert_folder, tiny_benchmark, tmp_path):
    dense = tmp_path / "dense"
    config = _config(
        tmp_path,
        tiny_benchmark,
        dense_results=str(dense),
        domain_tasks=["TinyClassification"],
        general_tasks=["TinySTS"],
    )
    stamps, reports = [], []
    for method in ("magnitude", "random"):
        out = tmp_path / method
        result = _prune(
            "--model",
            str(tiny_bert_folder),
            "--domain",
            "finance",
            "--method",
            method,
            "--sparsity",
            "0.4",
            "--out",
            str(out),
            "--config",
            str(config),
        )
        assert result.exit_code == 0, result.output
        stamps.append({p.name: p.stat().st_mtime_ns for p in dense.rglob("Tiny*.json")})
        reports.append(PruneReport.from_disk(out))
        assert not [
            p for p in (out / "results").rglob("Tiny*.json") if "pruned" not in p.as_posix()
        ]  # only the pruned model's
    assert set(stamps[0]) == {"TinyClassification.json", "TinySTS.json"} and stamps[1] == stamps[0]
    assert reports[1].suites["domain"].dense == reports[0].suites["domain"].dense
    assert reports[1].suites["general"].dense == reports[0].suites["general"].dense
    assert reports[1].suites["general"].pruned != reports[0].suites["general"].pruned  # two different pruned models


def test_structured_run_loads_with_plain_sentence_transformers(tiny_bert_folder, tmp_path, caplog):
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(32))
    out = tmp_path / "run"
    result = _prune(
        "--model",
        str(tiny_bert_folder),
        "--domain",
        "chemistry",
        "--method",
        "magnitude",
        "--structured",
        "--retrain-steps",
        "2",
        "--pairs",
        str(pairs),
        "--no-eval",
        "--out",
        str(out),
        "--config",
        str(_config(tmp_path)),
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "prune_report.json").read_text())
    assert report["ffn_width"] == {"dense": 64, "pruned": 32} and report["ffn_sparsity"] == 0.5
    assert not any("same-label" in r.getMessage() for r in caplog.records)  # synth pairs: no warning
    assert not (out / "model.sparse").exists()
    model = SentenceTransformer(str(out / "model"), device="cpu")
    assert model.encode(["a shrunk model"]).shape == (1, 32)
    assert (out / "model" / "model.safetensors").stat().st_size < (
        tiny_bert_folder / "model.safetensors"
    ).stat().st_size


@pytest.mark.slow
def test_minilm_gaprune_with_retraining(tiny_benchmark, tmp_path):
    """The real model: every stage of a GAPrune run with retraining, scored on two tiny tasks."""
    out = tmp_path / "run"
    config = _config(tmp_path, tiny_benchmark, domain_tasks=["TinyClassification"], general_tasks=["TinySTS"])
    result = _prune(
        "--model", "minilm", "--domain", "medicine", "--retrain-steps", "3", "--out", str(out), "--config", str(config)
    )
    assert result.exit_code == 0, result.output
    report = PruneReport.from_disk(out)
    assert report.model_fingerprint and report.ffn_sparsity == 0.5 and report.retrain_steps == 3
    assert report.size_on_disk["sparse_weights_bytes"] < 0.9 * report.size_on_disk["model_weights_bytes"]
    model = SentenceTransformer(str(out / "model"), device="cpu")
    for w in ffn_model(model).weights().values():
        assert float((w == 0).float().mean()) >= 0.3


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("sparsity", ["0", "1", "1.5", "-0.2", "nan"])
def test_sparsity_outside_open_interval(sparsity, tmp_path):
    out = tmp_path / "run"
    result = _prune("--model", "minilm", "--domain", "finance", "--sparsity", sparsity, "--out", str(out))
    _assert_clean_failure(result, out, "sparsity must be in (0, 1)")


def test_unknown_method(tmp_path):
    out = tmp_path / "run"
    result = _prune("--model", "minilm", "--domain", "finance", "--method", "magnitud", "--out", str(out))
    assert result.exit_code == 2 and "magnitud" in result.output and "gaprune" in result.output
    assert not out.exists()
    with pytest.raises(UnknownNameError, match="did you mean magnitude"):
        PruneConfig(model="minilm", domain="finance", method="magnitud", sparsity=0.5, out=out)


def test_unknown_config_key(tmp_path):
    out = tmp_path / "run"
    config = tmp_path / "prune.yaml"
    config.write_text("alpah: 0.3\n")
    result = _prune("--model", "minilm", "--domain", "finance", "--out", str(out), "--config", str(config))
    _assert_clean_failure(result, out, "unknown key 'alpah'", "did you mean 'alpha'")


def test_model_without_known_ffn_layers(tiny_model, tmp_path):
    folder = tiny_model("albert")
    out = tmp_path / "run"
    result = _prune(
        "--model", str(folder), "--domain", "finance", "--method", "magnitude", "--no-eval", "--out", str(out)
    )
    _assert_clean_failure(result, out, "'albert'", "not of a known architecture")


def test_too_few_calibration_pairs(tiny_bert_folder, tmp_path):
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(5))
    out = tmp_path / "run"
    result = _prune(
        "--model",
        str(tiny_bert_folder),
        "--domain",
        "finance",
        "--method",
        "fisher-domain",
        "--pairs",
        str(pairs),
        "--no-eval",
        "--out",
        str(out),
    )
    _assert_clean_failure(result, out, "too few domain calibration pairs: 5", "at least 64")


def test_output_folder_that_is_not_a_run(tiny_bert_folder, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = _prune(
        "--model", str(tiny_bert_folder), "--domain", "finance", "--method", "random", "--no-eval", "--out", str(out)
    )
    assert result.exit_code == 2 and "not an earlier prune run" in result.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_general_domain_is_refused():
    with pytest.raises(DomainembError, match="general"):
        PruneConfig(model="minilm", domain="general", method="gaprune", sparsity=0.5, out=Path("x"))


def test_killed_run_leaves_nothing_behind(tiny_bert_folder, tmp_path):
    """A real process stopped with SIGTERM mid-run (retraining) removes its staging folder."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(40))
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "domainemb.cli.main",
        "prune",
        "--model",
        str(tiny_bert_folder),
        "--domain",
        "finance",
        "--method",
        "magnitude",
        "--sparsity",
        "0.5",
        "--retrain-steps",
        "100000",
        "--pairs",
        str(pairs),
        "--no-eval",
        "--out",
        str(out),
        "--config",
        str(_config(tmp_path)),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 120
        while not [p for p in tmp_path.iterdir() if p.name.startswith(".run.pruning-")]:
            assert process.poll() is None and time.monotonic() < deadline, "the run ended before it was stopped"
            time.sleep(0.2)
        time.sleep(2)  # into the retraining
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by signal" in stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]
