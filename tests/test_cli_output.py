"""What the commands print: only their own lines (no library progress bars or debug logs), whole option names in --help."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from domainemb.cli.main import app

runner = CliRunner()


def test_bm25_prints_no_progress_bars_or_debug_lines(tiny_benchmark, tmp_path):
    """bm25s draws its own tqdm bars and logs at DEBUG; a real process shows whether they leak."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISABLE_TQDM", "TQDM_DISABLE")}
    args = ["evaluate", "--benchmark", str(tiny_benchmark), "--model", "bm25", "--tasks", "TinyRetrieval"]
    done = subprocess.run(
        [sys.executable, "-m", "domainemb.cli.main", *args, "--out", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "TinyRetrieval" in done.stdout
    for leak in ("DEBUG", "bm25s", "BM25S", "it/s", "Split strings", "Stem Tokens"):
        assert leak not in done.stderr and leak not in done.stdout, (leak, done.stderr)


def _commands(group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer carries its own copy of click's classes)
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_shows_every_option_name_whole(path, command):
    """Not a terminal (as in a pipe or a CI log): every option name of every command is whole."""
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    options = [p for p in command.params if p.param_type_name == "option"]
    names = [o for p in options for o in (*p.opts, *p.secondary_opts)]
    assert names
    for name in names:
        assert name in result.output.split() or f"{name}," in result.output, (name, result.output)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["export-corpus", "--domain", "finanse"], "unknown domain 'finanse'; did you mean finance?"),
        (["build-benchmark", "chemistri"], "unknown domain 'chemistri'; did you mean chemistry?"),
        (["synth", "--domain", "medecine", "--corpus", "x"], "unknown domain 'medecine'; did you mean medicine?"),
        (["adapt", "--base", "b", "--pairs", "p", "--domain", "finanse", "--out", "o"], "did you mean finance?"),
        (
            ["prune", "--model", "m", "--domain", "finance", "--method", "magnitud", "--sparsity", "0.5", "--out", "o"],
            "unknown method 'magnitud'; did you mean magnitude?",
        ),
        (["list", "--size", "lit"], "unknown size 'lit'; did you mean lite?"),
    ],
)
def test_an_unknown_choice_suggests_the_close_name(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert needle in " ".join(result.output.replace("│", " ").split()), result.output
    assert not any(tmp_path.iterdir())


def test_a_known_choice_still_reads_as_its_enum(tmp_path, monkeypatch):
    from domainemb.cli import synth as synth_cli

    seen = {}
    monkeypatch.setattr(
        "domainemb.synth.export.export_corpus", lambda domain, out, passages: seen.setdefault("d", domain) and 1 / 0
    )
    result = runner.invoke(app, ["export-corpus", "--domain", "chemistry", "--out", str(tmp_path / "c")])
    assert seen["d"] is synth_cli.Domain.CHEMISTRY, result.output
