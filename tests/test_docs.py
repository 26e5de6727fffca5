"""docs/datasets.md is the table the catalog generates today."""

from __future__ import annotations

from pathlib import Path

from domainemb.domains.catalog import sources_markdown
from domainemb.types import Domain

DOCS = Path(__file__).resolve().parents[1] / "docs" / "datasets.md"


def test_the_dataset_table_is_the_generated_one():
    table = [line for line in DOCS.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    assert table == sources_markdown(list(Domain)).strip().splitlines()
