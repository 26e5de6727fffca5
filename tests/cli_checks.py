"""The bad-input contract as the tests check it: exit 2, one ``error:`` line, nothing written."""

from __future__ import annotations

from pathlib import Path


def assert_clean_failure(result, out: Path, *needles: str) -> None:
    """``result`` (a CliRunner result) is one error line naming ``needles``; ``out`` and its staging are absent."""
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
