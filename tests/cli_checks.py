"""The command line as the tests check it: the bad-input contract (exit 2, one ``error:`` line, nothing
written), and a command that must succeed."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from domainemb.cli.main import app

runner = CliRunner()


def assert_clean_failure(result, out: Path, *needles: str) -> None:
    """``result`` (a CliRunner result) is one error line naming ``needles``; ``out`` and its staging are absent."""
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def invoke_ok(args: list[str]):
    """Run ``domainemb ARGS`` in this process; it must succeed without an exception."""
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and result.exception is None, (result.output, result.exception)
    return result


def compare_summary(output: str) -> list[str]:
    """``domainemb compare``'s printed summary table and rank agreement, less the title's wall time."""
    lines = []
    for line in output.splitlines():
        if line.startswith(("kept:", "analysis:")):
            break
        lines.append(re.sub(r"\[[0-9.]+s\]", "[…s]", line).strip())
    return lines
