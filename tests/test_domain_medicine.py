"""The medicine suite: concrete facts of the parsed data, checked against SOURCE.txt and the raw files."""

from __future__ import annotations

import collections
import os
from functools import cache
from pathlib import Path

import polars as pl
import pytest

os.environ.setdefault("DOMAINEMB_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

from domainemb.domains import medicine  # noqa: E402
from domainemb.domains.fetch import sha256_file  # noqa: E402
from domainemb.domains.readers import SourceFiles  # noqa: E402
from domainemb.domains.tables import validate  # noqa: E402
from domainemb.types import Domain, LicenceFlag, TaskType  # noqa: E402

DATA = Path(os.environ["DOMAINEMB_DATA"])
pytestmark = pytest.mark.skipif(not (DATA / "medicine").is_dir(), reason="medicine data mirror not found")
SPECS = {spec.name: spec for spec in medicine.TASKS}


_FILES = SourceFiles()


@cache
def tables(name: str) -> dict[str, pl.DataFrame]:
    spec = SPECS[name]
    return validate(name, spec.type, spec.build(_FILES), spec.min_score, spec.max_score)


def relevant_texts(t: dict[str, pl.DataFrame], query: str) -> list[str]:
    qid = t["queries"].filter(pl.col("text") == query)["id"].item()
    ids = t["qrels"].filter((pl.col("query_id") == qid) & (pl.col("score") > 0))["corpus_id"].to_list()
    return t["corpus"].filter(pl.col("id").is_in(ids))["text"].to_list()


def test_suite_shape_without_openstax():
    own = [s for s in medicine.TASKS if not s.name.startswith("OpenStax")]
    assert len(own) >= 10 and len({s.type for s in own}) >= 6
    assert len(SPECS) == len(medicine.TASKS) and all(s.domain is Domain.MEDICINE for s in medicine.TASKS)
    used = {src.key for s in medicine.TASKS for src in s.sources}
    staged = {f"medicine/{p.name}" for p in (DATA / "medicine").iterdir() if p.is_dir()}
    corpora = {c.source.key for c in medicine.TRAINING_CORPORA}  # staged, but they feed no task
    assert corpora == {"medicine/openstax-microbiology"} and corpora <= staged
    assert used == {src.key for src in medicine.SOURCES} == staged - corpora
    assert medicine.OPENSTAX_MICROBIOLOGY.licence_flag is LicenceFlag.NC
    assert medicine.OPENSTAX_MICROBIOLOGY.licence.startswith("CC BY-NC-SA 4.0")


@pytest.mark.parametrize(
    "source", medicine.SOURCES + [c.source for c in medicine.TRAINING_CORPORA], ids=lambda s: s.key
)
def test_pinned_checksums_match_the_mirror(source):
    assert len(source.commit) == 40
    for f in source.files:
        assert sha256_file(DATA / source.key / f.name) == f.sha256


def test_biosses_has_100_expert_scored_pairs():
    test = tables("BiossesSTS")["test"]
    assert test.height == 100 and 0.0 <= test["score"].min() < test["score"].max() <= 4.0
    first = test.row(0)
    assert first[0].startswith("It has recently been shown that Craf") and first[2] == 4.0


def test_hallmarks_of_cancer_document_labels():
    t = tables("HallmarksOfCancerMultilabelClassification")
    both = pl.concat([t["train"], t["test"]])
    assert both.height == 1852  # every abstract of the corpus
    assert abs(t["train"].height - t["test"].height) <= 1
    assert not set(t["train"]["text"]) & set(t["test"]["text"])
    assert both["labels"].explode().drop_nulls().n_unique() == 10
    assert (both["labels"].list.len() == 0).sum() == 272  # abstracts with no hallmark at all
    # PMID 11724768 (ghrelin): only its 4th sentence is labelled, with two proliferative-signalling paths.
    ghrelin = both.filter(pl.col("text").str.starts_with("Ghrelin was identified in the stomach"))
    assert ghrelin["labels"].to_list() == [["Sustaining proliferative signaling"]]
    clusters = tables("HallmarksOfCancerClustering")["test"]
    assert clusters.height == 920 and clusters["label"].n_unique() == 10


def test_healthver_pairs_keep_supports_and_refutes_of_the_test_split():
    test = tables("HealthVerPairClassification")["test"]
    counts = collections.Counter(test["label"].to_list())
    assert counts == {1: 670, 0: 424}  # 671 Supports / 425 Refutes rows, one duplicate row each
    label = dict(zip(zip(test["sentence1"], test["sentence2"]), test["label"]))
    n95 = [v for (c, e), v in label.items() if c == "N95 masks are better than clothe masks" and "prevent 73 more" in e]
    assert n95 == [1]
    assert (
        label[
            (
                "Unexpected Cause of Death in Younger COVID-19 Patients is Related to Blood Clotting",
                "Lack of personal protective equipment was cited as a common cause of death.",
            )
        ]
        == 0
    )


def test_healthver_reranking_candidates_mix_relevant_and_neutral():
    t = tables("HealthVerReranking")
    scores = t["qrels"].group_by("query_id").agg(pl.col("score").max().alias("hi"), pl.col("score").min().alias("lo"))
    assert scores.height == t["queries"].height == 118 and (scores["hi"] == 1).all() and (scores["lo"] == 0).all()
    evidence = relevant_texts(t, "A headache is a potential symptom of COVID-19.")
    assert sum("headache" in text.lower() for text in evidence) >= 3
    claims = tables("HealthVerClaimClustering")["test"]
    topic = claims.filter(pl.col("text") == "5G caused the coronavirus outbreak")["label"].item()
    assert topic == "Can 5G technology cause COVID-19?"


def test_medical_abstracts_drop_conflicting_duplicates():
    t = tables("MedicalAbstractsClassification")
    names = {
        "neoplasms",
        "digestive system diseases",
        "nervous system diseases",
        "cardiovascular diseases",
        "general pathological conditions",
    }
    assert set(t["train"]["label"]) == set(t["test"]["label"]) == names
    assert not set(t["train"]["text"]) & set(t["test"]["text"])
    # 2888 rows, 2770 distinct abstracts, 113 of them released under two labels.
    assert t["train"].height + t["test"].height == tables("MedicalAbstractsClustering")["test"].height == 2657


def test_medical_question_pairs_are_balanced():
    test = tables("MedicalQuestionPairsPairClassification")["test"]
    assert test.height == 3048 and test["label"].sum() == 1524
    assert test.row(0) == (
        "After how many hour from drinking an antibiotic can I drink alcohol?",
        "I have a party tonight and I took my last dose of Azithromycin this morning. Can I have a few drinks?",
        1,
    )


def test_medquad_retrieval_pairs_questions_with_their_answers():
    t = tables("MedQuADRetrieval")
    assert 14_000 < t["queries"].height <= 14_979 and 15_000 < t["corpus"].height <= 15_817
    (answer,) = relevant_texts(t, "How to diagnose Adult Acute Lymphoblastic Leukemia ?")
    assert "diagnose adult ALL" in answer
    stubs = {"Topics", "Frequently Asked Queestions (FAQs)", "What are the symptoms of Bell's palsy?"}
    assert not stubs & set(t["corpus"]["text"])
    r = tables("MedQuADReranking")
    n_candidates = r["candidates"]["corpus_ids"].list.len()
    n_relevant = r["qrels"].group_by("query_id").len()["len"]
    assert (n_candidates >= 2).all() and n_candidates.sum() > n_relevant.sum()


def test_meqsum_retrieval_maps_each_question_to_its_summary():
    t = tables("MeQSumRetrieval")
    # 1000 questions, 994 distinct summaries: three are shared by 2, 3 and 4 questions.
    assert t["queries"].height == 1000 and t["corpus"].height == 994
    chq = t["queries"].filter(pl.col("text").str.contains("who manufscturs Cetirizine"))["text"].item()
    assert relevant_texts(t, chq) == ["Who manufactures cetirizine?"]


def test_pubmedqa_uses_the_official_test_split():
    r = tables("PubMedQARetrieval")
    assert r["queries"].height == 500 and r["corpus"].height == 1000
    assert (r["qrels"]["query_id"] == "q" + r["qrels"]["corpus_id"]).all()
    c = tables("PubMedQAClassification")
    counts = collections.Counter(c["train"]["label"].to_list()) + collections.Counter(c["test"]["label"].to_list())
    assert counts == {"yes": 552, "no": 338, "maybe": 110} and c["test"].height == 500


def test_builds_are_deterministic():
    for name in ("HallmarksOfCancerMultilabelClassification", "MedicalAbstractsClassification", "HealthVerReranking"):
        again = SPECS[name].build(SourceFiles())
        for key, df in tables(name).items():
            assert again[key].rows() == df.rows()


def test_types_cover_seven_mteb_kinds():
    assert {s.type for s in medicine.TASKS} >= {
        TaskType.RETRIEVAL,
        TaskType.RERANKING,
        TaskType.STS,
        TaskType.PAIR_CLASSIFICATION,
        TaskType.CLASSIFICATION,
        TaskType.MULTILABEL_CLASSIFICATION,
        TaskType.CLUSTERING,
    }
