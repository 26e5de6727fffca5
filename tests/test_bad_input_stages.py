"""Bad input to evaluate, report, synth and adapt: one line, exit code 2, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from synth_data import retrieval_benchmark, write_corpus
from typer.testing import CliRunner

from domainemb.cli.main import app

runner = CliRunner()
# A folder no process can create files in, root included.
UNWRITABLE = Path("/proc/domainemb-no-such-folder/out")


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)


# --- --out that cannot be written -------------------------------------------------------------


@pytest.mark.parametrize("where", ["file", "under-a-file", "unwritable"])
def test_evaluate_checks_out_before_any_scoring(tiny_benchmark, tmp_path, monkeypatch, where):
    import domainemb.evaluation.run as run

    scored: list[str] = []
    monkeypatch.setattr(run, "_score_task", lambda encoder, benchmark, entry, *a: scored.append(entry.name))
    blocker = tmp_path / "results.txt"
    blocker.write_text("not a folder")
    out = {"file": blocker, "under-a-file": blocker / "results", "unwritable": UNWRITABLE}[where]
    result = runner.invoke(app, ["evaluate", "--benchmark", str(tiny_benchmark), "--model", "bow", "--out", str(out)])
    _one_line_error(result, str(out))
    assert scored == []
    assert blocker.read_text() == "not a folder"


def test_report_out_that_is_a_file(tmp_path):
    blocker = tmp_path / "site"
    blocker.write_text("not a folder")
    results = tmp_path / "compare"
    results.mkdir()
    result = runner.invoke(app, ["report", str(results), "--out", str(blocker)])
    _one_line_error(result, str(blocker), "not a folder")
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("where", ["under-a-file", "unwritable", "a-folder"])
def test_synth_checks_out_before_any_work(tmp_path, where):
    bench = retrieval_benchmark(tmp_path / "bench", ["an unrelated test document about enzymes"], ["what is an enzyme"])
    corpus = write_corpus(tmp_path / "corpus", docs=2)
    blocker = tmp_path / "run"
    if where == "a-folder":
        (blocker / "pairs.jsonl").mkdir(parents=True)
    else:
        blocker.write_text("not a folder")
    out = {"under-a-file": blocker / "pairs.jsonl", "unwritable": UNWRITABLE / "pairs.jsonl"}.get(
        where, blocker / "pairs.jsonl"
    )
    args = ["synth", "--domain", "finance", "--corpus", str(corpus), "--out", str(out), "--generator", "ict"]
    result = runner.invoke(app, [*args, "--benchmark", str(bench), "--negatives", "0", "--consistency-top-k", "0"])
    _one_line_error(result, str(out.parent if where != "a-folder" else out))


# --- evaluate --batch-size ---------------------------------------------------------------------


@pytest.mark.parametrize("size", ["0", "-3"])
def test_evaluate_batch_size_must_be_positive(tiny_benchmark, tmp_path, size):
    out = tmp_path / "results"
    args = ["evaluate", "--benchmark", str(tiny_benchmark), "--model", "bow", "--out", str(out)]
    result = runner.invoke(app, [*args, "--batch-size", size])
    _one_line_error(result, "--batch-size", size)
    assert not out.exists()


# --- NaN and infinity in a prune config --------------------------------------------------------


@pytest.mark.parametrize("value", [".inf", ".nan"])
@pytest.mark.parametrize("name", ["alpha", "beta", "gamma", "scale", "learning_rate"])
def test_prune_config_rejects_non_finite_numbers(tmp_path, name, value):
    from domainemb.errors import DomainembError
    from domainemb.prune.config import PruneConfig

    path = tmp_path / "prune.yaml"
    path.write_text(f"{name}: {value}\n")
    with pytest.raises(DomainembError, match=f"{name}( and \\w+)? must be"):
        PruneConfig.from_yaml(path, model="minilm", domain="finance", method="magnitude", sparsity=0.5, out=tmp_path)


@pytest.mark.parametrize("sparsity", ["inf", "nan"])
def test_prune_sparsity_must_be_finite(tmp_path, sparsity):
    from domainemb.errors import DomainembError
    from domainemb.prune.config import PruneConfig

    with pytest.raises(DomainembError, match="sparsity"):
        PruneConfig(model="minilm", domain="finance", method="magnitude", sparsity=float(sparsity), out=tmp_path)
