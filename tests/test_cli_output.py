"""What the commands print: only their own lines (no library progress bars or debug logs), whole option names in --help."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

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
