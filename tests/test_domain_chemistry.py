"""The chemistry suite: every task builds and validates, and concrete facts of the raw data hold."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("DOMAINEMB_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import polars as pl  # noqa: E402
import pytest  # noqa: E402

from domainemb.domains import chemistry  # noqa: E402
from domainemb.domains.fetch import sha256_file  # noqa: E402
from domainemb.domains.helpers import forget_parsed  # noqa: E402
from domainemb.domains.readers import SourceFiles  # noqa: E402
from domainemb.domains.registry import domain_tasks  # noqa: E402
from domainemb.domains.tables import validate  # noqa: E402
from domainemb.types import LicenceFlag  # noqa: E402

DATA = Path(os.environ["DOMAINEMB_DATA"])
pytestmark = pytest.mark.skipif(not (DATA / "chemistry").is_dir(), reason="chemistry data mirror not found")


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, pl.DataFrame]]:
    files = SourceFiles()
    return {
        s.name: validate(s.name, s.type, s.build(files), s.min_score, s.max_score) for s in domain_tasks("chemistry")
    }


def _relevant_texts(t: dict[str, pl.DataFrame], query: str) -> list[str]:
    qid = t["queries"].filter(pl.col("text") == query)["id"].item()
    rel = t["qrels"].filter((pl.col("query_id") == qid) & (pl.col("score") > 0))["corpus_id"]
    return t["corpus"].filter(pl.col("id").is_in(rel.to_list()))["text"].to_list()


def test_suite_shape_and_sources() -> None:
    specs = domain_tasks("chemistry")
    assert len(specs) >= 6 and len({s.type for s in specs}) >= 4
    assert len({s.name for s in specs}) == len(specs)
    # every staged folder is a task source or a training corpus (which feeds no task)
    staged = {p.name for p in (DATA / "chemistry").iterdir()}
    corpora = {c.name for c in chemistry.TRAINING_CORPORA}
    assert corpora == {"openstax-organic-chemistry"} and corpora <= staged
    assert {s.key.split("/")[1] for s in chemistry.SOURCES} == staged - corpora
    assert not corpora & {s.key.split("/")[1] for spec in specs for s in spec.sources}
    for src in chemistry.SOURCES + [c.source for c in chemistry.TRAINING_CORPORA]:
        assert len(src.commit) == 40
        for f in src.files:
            assert sha256_file(DATA / src.key / f.name) == f.sha256
    flags = {s.name: s.licence_flag for s in specs}
    assert flags["ChemProtRelationClassification"] is LicenceFlag.UNCLEAR
    assert flags["OpenStaxChemGlossaryRetrieval"] is LicenceFlag.NC
    assert flags["ChemBenchTopicClassification"] is LicenceFlag.OPEN
    assert chemistry.OPENSTAX_ORGANIC.licence_flag is LicenceFlag.NC
    assert chemistry.OPENSTAX_ORGANIC.licence.startswith("CC BY-NC-SA 4.0")


def test_build_is_deterministic(tables) -> None:
    forget_parsed()  # re-parse the raw files too
    files = SourceFiles()
    for spec in domain_tasks("chemistry"):
        if spec.name in ("ChemBenchAnswerReranking", "ChEBI20RoleMultilabelClassification"):
            again = spec.build(files)
            for name, df in tables[spec.name].items():
                assert again[name].equals(df)


def test_chebi20_retrieval(tables) -> None:
    t = tables["ChEBI20TextToMoleculeRetrieval"]
    assert t["queries"].height == t["corpus"].height == 3300  # SOURCE.txt: test 3300 rows
    # CID 5354212 (first test row): the methyl pregnadienoate steroid ester
    assert t["corpus"].filter(pl.col("id") == "5354212")["text"].item().startswith("C[C@]12CCC(=O)C=C1CC")
    assert t["qrels"].filter(pl.col("query_id") == "q5354212")["corpus_id"].to_list() == ["5354212"]
    # the released "\\" escape of SMILES bonds is undone
    assert not t["corpus"]["text"].str.contains(r"\\\\", literal=True).any()
    assert t["corpus"]["text"].str.contains("\\", literal=True).sum() > 400


def test_chebi20_roles(tables) -> None:
    t = tables["ChEBI20RoleMultilabelClassification"]
    for split in ("train", "test"):
        assert not t[split]["text"].str.contains("has a role as").any()
        labels = set(t[split]["labels"].explode())
        assert {"plant metabolite", "antineoplastic agent", "EC 3.1.1.7 (acetylcholinesterase) inhibitor"} <= labels
    assert set(t["train"]["labels"].explode()) == set(t["test"]["labels"].explode())


def test_chembench(tables) -> None:
    topics = {
        "Toxicity/Safety",
        "Organic Chemistry",
        "Physical Chemistry",
        "Analytical Chemistry",
        "General Chemistry",
        "Inorganic Chemistry",
        "Materials Science",
        "Technical Chemistry",
    }
    cls = tables["ChemBenchTopicClassification"]
    assert set(cls["train"]["label"]) == set(cls["test"]["label"]) == topics
    assert not set(cls["train"]["text"]) & set(cls["test"]["text"])
    clu = tables["ChemBenchTopicClustering"]["test"]
    # SOURCE.txt: 2,788 questions, 1,001 of them Chemical Preference; 31 of the rest repeat a question text
    # and one text is filed under two topics (dropped)
    assert clu.height == 2788 - 1001 - 32 and set(clu["label"]) == topics
    rr = tables["ChemBenchAnswerReranking"]
    q = "What are the potential safety risks when strong oxidizing agents are mixed with organic acids?"
    assert sorted(_relevant_texts(rr, q)) == ["Heat generation", "Toxic gas generation"]
    qid = rr["queries"].filter(pl.col("text") == q)["id"].item()
    assert rr["candidates"].filter(pl.col("query_id") == qid)["corpus_ids"].list.len().item() == 9


def test_chemprot(tables) -> None:
    t = tables["ChemProtRelationClassification"]
    assert set(t["test"]["label"]) <= set(t["train"]["label"])
    assert {"INHIBITOR", "SUBSTRATE", "AGONIST", "ANTAGONIST", "PRODUCT-OF"} <= set(t["test"]["label"])
    assert not set(t["train"]["text"]) & set(t["test"]["text"])
    # test.txt has 3469 rows of 3444 distinct sentences; a few carry two labels and are dropped
    assert 3400 <= t["test"].height <= 3444
    assert t["test"]["label"].value_counts().sort("count")["label"][-1] == "INHIBITOR"
    marked = t["test"]["text"]
    assert marked.str.contains("<<", literal=True).all() and marked.str.contains("[[", literal=True).all()


def test_chemrxivquest(tables) -> None:
    t = tables["ChemRxivQuestRetrieval"]
    q = "What is the role of anhydrous sodium sulfate in the furfural extraction process?"
    texts = _relevant_texts(t, q)
    assert len(texts) == 1 and "anhydrous sodium sulfate" in texts[0].lower()
    # relevant passages come from the preprint named by the question's corpus_id (file 0 here)
    qid = t["queries"].filter(pl.col("text") == q)["id"].item()
    assert all(d.startswith("0-") for d in t["qrels"].filter(pl.col("query_id") == qid)["corpus_id"])
    titles = t["corpus"].filter(pl.col("id").str.starts_with("0-"))["title"].unique().to_list()
    assert titles == [
        "Sustainable and Efficient Extraction of Furfural from Bagasse: A Quantitative Analysis and "
        "Feasibility Study for Rural Economies"
    ]
    assert t["corpus"]["id"].str.split("-").list.first().n_unique() == 153  # every preprint full text
    assert 250 <= t["queries"].height <= 400
