"""`domainemb adapt` from the command line: a tiny run, and every bad input is exit 2 before training, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from adapt_data import pair_rows, write_pairs
from prune_data import tokenizer_json
from typer.testing import CliRunner

from domainemb.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def base_model(tiny_model) -> Path:
    return tiny_model(max_seq_length=64, normalize=True)


@pytest.fixture
def pairs_file(tmp_path) -> Path:
    return write_pairs(tmp_path / "data" / "pairs.jsonl", pair_rows(n_docs=8, per_doc=3))


def _adapt(base: Path | str, pairs: Path, out: Path, config: str | None = None, *extra: str):
    args = ["adapt", "--base", str(base), "--pairs", str(pairs), "--domain", "finance", "--out", str(out)]
    if config is not None:
        path = out.parent / "adapt.yaml"
        path.write_text(config, encoding="utf-8")
        args += ["--config", str(path)]
    return runner.invoke(app, [*args, *extra])


def test_tiny_run_prints_the_comparison(tmp_path, base_model, pairs_file, tiny_suites):
    domain_suite, general_suite = tiny_suites("adapt")
    config = (
        "max_steps: 4\nbatch_size: 8\neval_steps: 2\ndev_fraction: 0.25\nlearning_rate: 1.0e-3\nbootstrap_samples: 200\n"
        f"domain_benchmark: {domain_suite}\ngeneral_benchmark: {general_suite}\n"
    )
    result = _adapt(base_model, pairs_file, tmp_path / "run", config)
    assert result.exit_code == 0, result.output
    assert "adapted model ->" in result.output and "dev nDCG@10" in result.output
    assert "domain" in result.output and "general" in result.output and "Retrieval" in result.output
    assert json.loads((tmp_path / "run" / "comparison.json").read_text())["domain"] == "finance"
    assert tokenizer_json(tmp_path / "run" / "model") == tokenizer_json(base_model)  # training left no trace


def test_results_seeded_into_a_new_out_are_kept(tmp_path, base_model, pairs_file, tiny_suites):
    """An --out holding only results/ (the base's, from `evaluate`) is accepted, and the base is not scored again."""
    domain_suite, general_suite = tiny_suites("adapt")
    for suite in (domain_suite, general_suite):
        args = ["evaluate", "--benchmark", str(suite), "--model", str(base_model), "--out", str(tmp_path / "base")]
        assert runner.invoke(app, args).exit_code == 0
    seeded = tmp_path / "run" / "results"
    shutil.copytree(tmp_path / "base" / "results", seeded)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in seeded.rglob("*.json")}
    assert len(before) >= 2
    config = (
        "max_steps: 2\nbatch_size: 8\neval_steps: 2\ndev_fraction: 0.25\nbootstrap_samples: 200\n"
        f"domain_benchmark: {domain_suite}\ngeneral_benchmark: {general_suite}\n"
    )
    result = _adapt(base_model, pairs_file, tmp_path / "run", config)
    assert result.exit_code == 0, result.output
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before  # kept, not scored again
    assert (tmp_path / "run" / "comparison.json").is_file()


BAD_CONFIGS = [
    ("batch_size: 0\n", "batch_size must be >= 2"),
    ("learning_rate: -1.0e-5\n", "learning_rate must be > 0"),
    ("epochs: 0\n", "epochs must be > 0"),
    ("lerning_rate: 1.0e-5\n", "did you mean 'learning_rate'"),
    ("loss: contrastive\n", "loss must be one of"),
    ("matryoshka_dims: [512]\n", "exceed the base model's 32 dimensions"),
]


@pytest.mark.parametrize(("config", "message"), BAD_CONFIGS)
def test_bad_config_is_exit_2_and_writes_nothing(tmp_path, base_model, pairs_file, config, message):
    result = _adapt(base_model, pairs_file, tmp_path / "run", config)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def _bad_pairs(path: Path, kind: str) -> Path:
    rows = pair_rows(n_docs=4, per_doc=2)
    if kind == "missing positive":
        del rows[3]["positive"]
    if kind == "missing doc_id":
        del rows[0]["doc_id"]
    text = "" if kind == "empty" else "".join(json.dumps(r) + "\n" for r in rows)
    if kind == "not json":
        text += "query: q\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing positive", "line 4: missing field 'positive'"),
        ("missing doc_id", "line 1: missing field 'doc_id'"),
        ("empty", "no pairs (the file is empty)"),
        ("not json", "line 9: invalid JSON"),
    ],
)
def test_bad_pairs_are_exit_2_and_write_nothing(tmp_path, base_model, kind, message):
    pairs = _bad_pairs(tmp_path / "data" / "pairs.jsonl", kind)
    result = _adapt(base_model, pairs, tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_missing_pairs_file(tmp_path, base_model):
    result = _adapt(base_model, tmp_path / "nope.jsonl", tmp_path / "run")
    assert result.exit_code == 2 and "no such file" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("bm25", "not a sentence-transformers model"),
        ("minilmm", "did you mean minilm"),
        ("FOLDER", "not a sentence-transformers model folder"),
    ],
)
def test_base_that_is_not_a_sentence_transformers_model(tmp_path, pairs_file, base, message):
    if base == "FOLDER":
        base = tmp_path / "not-a-model"
        base.mkdir()
        (base / "config.json").write_text("{}")
    result = _adapt(base, pairs_file, tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_pairs_from_a_single_document(tmp_path, base_model):
    pairs = write_pairs(tmp_path / "data" / "pairs.jsonl", pair_rows(n_docs=1, per_doc=6))
    result = _adapt(base_model, pairs, tmp_path / "run")
    assert result.exit_code == 2 and "dev_fraction: 0" in result.output
    assert not (tmp_path / "run").exists()


def test_an_output_folder_holding_a_run_is_not_overwritten(tmp_path, base_model, pairs_file):
    out = tmp_path / "run"
    (out / "model").mkdir(parents=True)
    (out / "model" / "keep.txt").write_text("earlier run")
    result = _adapt(base_model, pairs_file, out)
    assert result.exit_code == 2 and "--resume" in result.output
    assert sorted(p.name for p in out.rglob("*")) == ["keep.txt", "model"]


def test_help_lists_the_options():
    result = runner.invoke(app, ["adapt", "--help"])
    assert result.exit_code == 0
    for option in ("--base", "--pairs", "--domain", "--out", "--config", "--resume"):
        assert option in result.output


# --- an existing folder that is not adapt's ----------------------------------------------------


@pytest.mark.parametrize("resume", [False, True])
def test_a_folder_that_is_not_an_adapt_run_is_refused(tmp_path, base_model, pairs_file, resume):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    quick = "max_steps: 1\nbatch_size: 4\nevaluate: false\n"  # without the check, a run that ends fast
    result = _adapt(base_model, pairs_file, out, quick, *(["--resume"] if resume else []))
    assert result.exit_code == 2, result.output
    assert "is not a domainemb adapt run" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
