"""The shared OpenStax module: CNXML parsing and the four structure-derived tasks, on all three books."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("DOMAINEMB_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

import polars as pl  # noqa: E402
import pytest  # noqa: E402

from domainemb.domains.openstax import (  # noqa: E402
    _book,
    openstax_source,
    openstax_tasks,
)
from domainemb.domains.readers import SourceFiles  # noqa: E402
from domainemb.domains.tables import validate  # noqa: E402
from domainemb.types import Domain, LicenceFlag, TaskType  # noqa: E402

DATA = Path(os.environ["DOMAINEMB_DATA"])
BOOKS = {
    "chemistry": (
        "chemistry/openstax-chemistry-2e",
        "openstax-chemistry-2e-cnxml.tar.xz",
        "d0cb176188e4b2200d7feeb152bd7884be48ea650e9e4eebf30ba0a071adbb62",
    ),
    "finance": (
        "finance/openstax-principles-finance-2e",
        "openstax-principles-finance-2e-cnxml.tar.xz",
        "a97c8ac7cbe08dbe6c31725f21b933b683b3bda79e3b6313fc261e3331509431",
    ),
    "medicine": (
        "medicine/openstax-anatomy-physiology-2e",
        "openstax-anatomy-physiology-2e-cnxml.tar.xz",
        "d410466c901217f0c1d70758347061d7dae9eb28a08cc0c5dfe824ca812f05cb",
    ),
}

pytestmark = pytest.mark.skipif(
    not all((DATA / key / archive).is_file() for key, archive, _ in BOOKS.values()), reason="OpenStax mirror not found"
)


def _source(domain: str):
    key, archive, sha = BOOKS[domain]
    return openstax_source(key, "https://github.com/openstax/x", "0" * 40, archive, sha, "CC BY-NC-SA 4.0", "book")


@pytest.fixture(scope="module")
def files() -> SourceFiles:
    return SourceFiles()


@pytest.fixture(scope="module")
def chem_tables(files) -> dict[str, dict[str, pl.DataFrame]]:
    return {
        s.name: validate(s.name, s.type, s.build(files), s.min_score, s.max_score)
        for s in openstax_tasks(_source("chemistry"), Domain.CHEMISTRY, "T", ("Chemistry",))
    }


def test_source_metadata() -> None:
    src = _source("finance")
    assert src.licence_flag is LicenceFlag.NC and src.mteb_license == "cc-by-nc-sa-4.0"
    assert src.files[0].upstream_path is None


def test_task_names_types_and_annotations() -> None:
    specs = openstax_tasks(_source("finance"), Domain.FINANCE, "OpenStaxFinance", ("Financial",))
    assert [(s.name, s.type) for s in specs] == [
        ("OpenStaxFinanceGlossaryRetrieval", TaskType.RETRIEVAL),
        ("OpenStaxFinanceSectionClustering", TaskType.CLUSTERING),
        ("OpenStaxFinanceChapterClassification", TaskType.CLASSIFICATION),
        ("OpenStaxFinanceTermDefinitionPairClassification", TaskType.PAIR_CLASSIFICATION),
    ]
    assert all(s.annotations == "derived" and "DERIVED" in s.description for s in specs)
    assert all(s.domain is Domain.FINANCE and s.mteb_domains == ("Financial",) for s in specs)


@pytest.mark.parametrize(
    ("domain", "n_chapters", "first", "last", "n_definitions"),
    [
        # Chemistry 2e collection (sorted first; Atoms First orders chapters differently); 766 of the
        # bundle's 894 definitions sit in its modules.
        ("chemistry", 21, "Essential Ideas", "Nuclear Chemistry", 766),
        # SOURCE.txt: 463 and 3190 glossary definitions, all inside chapters.
        ("finance", 20, "Introduction to Finance", "Risk Management and the Financial Manager", 463),
        ("medicine", 28, "An Introduction to the Human Body", "Development and Inheritance", 3190),
    ],
)
def test_book_structure(files, domain, n_chapters, first, last, n_definitions) -> None:
    book = _book(files, _source(domain))
    assert len(book.chapters) == n_chapters
    assert (book.chapters[0], book.chapters[-1]) == (first, last)
    assert len(book.definitions) == n_definitions
    if domain == "chemistry":  # Chemistry 2e has Thermochemistry as chapter 5 (Atoms First: chapter 9)
        assert book.chapters[4] == "Thermochemistry"
    labels = {c for _, c in book.paragraphs}
    assert labels == set(book.chapters)
    # markup is stripped
    assert not any("<" in t and "/>" in t for t, _ in book.paragraphs)


def test_markup_stripping_keeps_formulas(files) -> None:
    book = _book(files, _source("chemistry"))
    molarity = [d for d in book.definitions if d.term.startswith("molarity")]
    assert molarity and molarity[0].term == "molarity (M)"
    assert "moles of solute dissolved in 1 liter of solution" in molarity[0].meaning
    assert molarity[0].chapter == "Composition of Substances and Solutions"
    # MathML tokens are concatenated, so inline formulas read as formulas
    assert any("H2O" in t for t, _ in book.paragraphs)
    assert not any(" ." in t for t, _ in book.paragraphs)


def test_glossary_retrieval(chem_tables) -> None:
    t = chem_tables["TGlossaryRetrieval"]
    qid = t["queries"].filter(pl.col("text") == "solute")["id"].item()
    rel = t["qrels"].filter(pl.col("query_id") == qid)["corpus_id"].to_list()
    texts = t["corpus"].filter(pl.col("id").is_in(rel))["text"].to_list()
    assert texts == ["solution component present in a concentration less than that of the solvent"]
    assert (t["corpus"]["title"] == "").all()  # the term must not leak through the title


def test_pairs_are_balanced_hard_negatives(files, chem_tables) -> None:
    book = _book(files, _source("chemistry"))
    chapters_of_meaning, chapters_of_term = defaultdict(set), defaultdict(set)
    for d in book.definitions:
        chapters_of_meaning[d.meaning].add(d.chapter)
        chapters_of_term[d.term].add(d.chapter)
    t = chem_tables["TTermDefinitionPairClassification"]["test"]
    pos, neg = t.filter(pl.col("label") == 1), t.filter(pl.col("label") == 0)
    assert pos.height == 765 and abs(pos.height - neg.height) < 10
    assert ("solute", "solution component present in a concentration less than that of the solvent", 1) in t.rows()
    for term, meaning, _ in neg.rows():
        assert chapters_of_meaning[meaning] & chapters_of_term[term]
    assert not set(pos.select("sentence1", "sentence2").rows()) & set(neg.select("sentence1", "sentence2").rows())


def test_classification_and_clustering(chem_tables) -> None:
    cls = chem_tables["TChapterClassification"]
    assert not set(cls["train"]["text"]) & set(cls["test"]["text"])
    assert cls["train"]["label"].n_unique() == cls["test"]["label"].n_unique() == 21
    assert abs(cls["train"].height - cls["test"].height) <= 21
    assert cls["test"]["text"].str.split(" ").list.len().min() >= 12
    clu = chem_tables["TSectionClustering"]["test"]
    assert clu["label"].n_unique() == 21 and clu.height > 400
