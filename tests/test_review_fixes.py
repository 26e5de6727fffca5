"""Regression tests for defects found in review of the prune --teacher, model-origin and partly-kept compare work."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from prune_data import calibration_pairs, write_pairs_file
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.errors import DomainembError
from domainemb.model_origin import ORIGIN_FILE, ORIGIN_FORMAT, origin_of

_ORIGIN = {
    "format": ORIGIN_FORMAT,
    "kind": "adapted",
    "domain": "finance",
    "base": {"name": "minilm", "fingerprint": "b" * 64},
    "fingerprint": "a" * 64,
    "data": None,
    "teacher": None,
    "recipe": "loss mnrl, 3 steps",
    "command": None,
}


@pytest.mark.parametrize(
    "patch",
    [{"fingerprint": None}, {"fingerprint": 5}, {"base": {"name": "minilm", "fingerprint": None}}, {"domain": None}],
)
def test_an_origin_with_a_field_of_the_wrong_type_is_one_error_naming_the_file(tmp_path, patch):
    """A hand-edited origin whose fingerprint is not text was a TypeError traceback out of compare
    (the fingerprint mismatch warning sliced it); it is a DomainembError naming the file."""
    (tmp_path / "modules.json").write_text("[]")
    (tmp_path / ORIGIN_FILE).write_text(json.dumps({**_ORIGIN, **patch}))
    with pytest.raises(DomainembError, match=re.escape(str(tmp_path / ORIGIN_FILE))):
        origin_of(str(tmp_path))


@pytest.fixture(scope="module")
def pruned(tiny_model, tmp_path_factory):
    """A tiny one-shot prune run's folder (as tests/test_model_origin.py makes it)."""
    root = tmp_path_factory.mktemp("review-prune")
    pairs = write_pairs_file(root / "pairs.jsonl", calibration_pairs(24))
    config = root / "prune.yaml"
    config.write_text("min_calibration_pairs: 16\ndomain_calibration: 16\nbatch_size: 8\nmax_seq_length: 32\n")
    args = ["prune", "--model", str(tiny_model()), "--domain", "finance", "--method", "fisher-domain", "--pairs"]
    args += [str(pairs), "--no-eval", "--out", str(root / "run"), "--config", str(config)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root / "run"


def _adapt_record(fingerprint) -> dict:
    return {
        "domain": "finance",
        "base": {"name": "minilm", "fingerprint": "b" * 64},
        "adapted": {"fingerprint": fingerprint},
        "data": {"pairs": "pairs.jsonl", "sha256": "c" * 64, "pairs_used": 8, "synth_card": None},
        "hyperparameters": {"loss": "mnrl"},
        "training": {"steps": 3},
    }


@pytest.mark.parametrize(
    "record",
    [json.dumps(_adapt_record(None)), json.dumps(_adapt_record(7)), "[" * 100_000 + "]" * 100_000],
    ids=["null-fingerprint", "number-fingerprint", "nested-too-deeply"],
)
def test_a_malformed_adapt_record_beside_an_older_model_folder_is_one_error_naming_it(tmp_path, record):
    """The adapt.json an older run folder's model falls back to was a TypeError or RecursionError traceback."""
    model = tmp_path / "run" / "model"
    model.mkdir(parents=True)
    (model / "modules.json").write_text("[]")
    (tmp_path / "run" / "adapt.json").write_text(record)
    with pytest.raises(DomainembError, match=re.escape(str(tmp_path / "run" / "adapt.json"))):
        origin_of(str(model))


def test_a_prune_report_with_a_null_sparsity_beside_an_older_model_folder_is_one_error_naming_it(pruned, tmp_path):
    """The prune_report.json fallback read the report in a try but built the origin outside it: a field of the
    wrong type (here a null FFN sparsity, formatted into the recipe) was a TypeError traceback."""
    run = tmp_path / "run"
    shutil.copytree(pruned / "model", run / "model")
    (run / "model" / ORIGIN_FILE).unlink()
    report = json.loads((pruned / "prune_report.json").read_text())
    report["ffn_sparsity"] = None
    (run / "prune_report.json").write_text(json.dumps(report))
    with pytest.raises(DomainembError, match=re.escape(str(run / "prune_report.json"))):
        origin_of(str(run / "model"))


def test_a_domain_models_origin_in_the_earlier_analysis_does_not_hide_what_every_model_serves(tmp_path, caplog):
    """kept_models reads what each model serves from the folder's earlier analysis.json; a model there with an
    ``origin`` (made by adapt or prune) made the whole file unreadable to it (ModelRef got an unknown key), so a
    partly kept re-run of any comparison holding a domain model loaded every model again."""
    import domainemb
    from domainemb.compare.analysis_file import ANALYSIS_FILE, ANALYSIS_FORMAT
    from domainemb.compare.kept import _earlier_serves

    model = {"model_name": "local/m", "revision": "r", "fingerprint": "f" * 64, "baseline": False}
    analysis = {
        "format": ANALYSIS_FORMAT,
        "provenance": {"domainemb_version": domainemb.__version__},
        "models": [
            {"name": "m", **model, "serves": ["Retrieval", "STS"], "origin": _ORIGIN},
            {"name": "bm25", **model, "model_name": "bm25", "serves": ["Retrieval"]},
        ],
    }
    (tmp_path / ANALYSIS_FILE).write_text(json.dumps(analysis))
    with caplog.at_level("WARNING"):
        serves = _earlier_serves(tmp_path)
    assert serves == {("local/m", "f" * 64, "r"): ("Retrieval", "STS"), ("bm25", "f" * 64, "r"): ("Retrieval",)}
    assert "unreadable" not in caplog.text
