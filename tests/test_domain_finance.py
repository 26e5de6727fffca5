"""The finance suite: every task builds and validates, and concrete facts of the raw data hold."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

os.environ.setdefault("DOMAINEMB_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import polars as pl  # noqa: E402
import pytest  # noqa: E402

from domainemb.domains import finance  # noqa: E402
from domainemb.domains.readers import SourceFiles  # noqa: E402
from domainemb.domains.registry import domain_tasks  # noqa: E402
from domainemb.domains.tables import validate  # noqa: E402
from domainemb.types import LicenceFlag, TaskType  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (Path(os.environ["DOMAINEMB_DATA"]) / "finance").is_dir(), reason="finance data mirror not found"
)


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, pl.DataFrame]]:
    files = SourceFiles()
    return {s.name: validate(s.name, s.type, s.build(files), s.min_score, s.max_score) for s in domain_tasks("finance")}


def test_suite_size_and_sources() -> None:
    specs = domain_tasks("finance")
    non_openstax = [s for s in specs if not s.name.startswith("OpenStax")]
    assert len(non_openstax) >= 10 and len({s.type for s in non_openstax}) >= 5
    assert {s.name for s in specs} >= {"OpenStaxFinanceGlossaryRetrieval", "OpenStaxFinanceSectionClustering"}
    # every dataset folder of the mirror's finance domain is a source
    assert {s.key.split("/")[1] for s in finance.SOURCES} == {
        "fin-num-claim", "financebench", "financial-phrasebank", "fiqa2018-task1-sentiment",
        "fomc-hawkish-dovish", "openstax-principles-finance-2e", "semeval2017-task5-headlines",
        "subjective-qa", "tatqa", "twitter-financial-news-sentiment",
    }  # fmt: skip
    for src in finance.SOURCES:
        assert len(src.commit) == 40 and all(len(f.sha256) == 64 for f in src.files)
    by_name = {s.name: s for s in specs}
    assert by_name["TATQARetrieval"].licence_flag is LicenceFlag.OPEN
    assert by_name["FOMCHawkishDovishClassification"].licence_flag is LicenceFlag.NC
    assert by_name["SubjectiveQAPairClassification"].annotations == "derived"


def test_classification_splits_disjoint(tables) -> None:
    for spec in domain_tasks("finance"):
        if spec.type is TaskType.CLASSIFICATION:
            t = tables[spec.name]
            assert not set(t["train"]["text"]) & set(t["test"]["text"]), spec.name


def test_phrasebank(tables) -> None:
    t = tables["FinPhraseBankClassification"]
    # 2264 lines in Sentences_AllAgree.txt, 5 repeated sentences
    assert t["train"].height + t["test"].height == 2259
    assert set(t["test"]["label"]) == {"positive", "neutral", "negative"}
    # the file is UTF-8 in this mirror: the upstream mojibake of "Seppälä" decodes to this spelling
    assert any("Sepp+ñl+ñ" in x for x in t["train"]["text"].to_list() + t["test"]["text"].to_list())


def test_native_splits(tables) -> None:
    tw = tables["TwitterFinNewsSentimentClassification"]["test"]
    assert tw.height == 2388  # sent_valid.csv
    assert Counter(tw["label"]) == {"neutral": 1566, "bullish": 475, "bearish": 347}
    assert tables["FOMCHawkishDovishClassification"]["test"].height == 474  # 476 rows, 2 repeated sentences
    assert tables["FinNumClaimClassification"]["test"].height == 633  # 537 + 100 rows, 4 repeated
    assert set(tables["FinNumClaimClassification"]["test"]["label"]) == {"fact", "claim"}
    tat = tables["TATQAAnswerTypeClassification"]["test"]
    assert set(tat["label"]) == {"span", "multi-span", "arithmetic", "count"}


def test_sign_binned_sentiment(tables) -> None:
    fiqa = tables["FiQA2018PostSentimentClassification"]
    assert fiqa["train"].height + fiqa["test"].height == 674  # 675 posts, one score of exactly 0
    sem = tables["SemEval2017FinHeadlineSentimentClassification"]
    rows = pl.concat([sem["train"], sem["test"]])
    assert set(rows["label"]) == {"positive", "negative"}
    assert rows.filter(pl.col("text") == "IMI posts drop in first-quarter organic revenue; warns on full year")[
        "label"
    ].to_list() == ["negative"]


def test_tatqa(tables) -> None:
    t = tables["TATQARetrieval"]
    qid = "a1b54eff7de3dc7bfab148325c7a940b"  # "What method did the company use when Topic 606 ... adopted?"
    rel = t["qrels"].filter(pl.col("query_id") == qid)["corpus_id"].to_list()
    text = t["corpus"].filter(pl.col("id").is_in(rel))["text"].to_list()
    assert any("the modified retrospective method" in x for x in text)
    assert t["queries"].height == 1646  # distinct question texts of the 1663 test questions
    r = tables["TATQAReranking"]
    cands = r["candidates"].filter(pl.col("query_id") == qid)["corpus_ids"][0].to_list()
    assert cands[0] == "dc9d58a4e24a74d52f719372c1a16e7f" and set(rel) <= set(cands)  # the report's table first


def test_financebench(tables) -> None:
    t = tables["FinanceBenchEvidenceRetrieval"]
    assert t["queries"].height == 150 and t["corpus"].height == 168
    rel = t["qrels"].filter(pl.col("query_id") == "financebench_id_03029")["corpus_id"].to_list()
    assert rel == ["3M_2018_10K_p59"]  # 3M FY2018 capex, answer $1577m
    page = t["corpus"].filter(pl.col("id") == rel[0]).row(0, named=True)
    assert "1,577" in page["text"] and page["title"] == "3M 2018 10K"
    assert tables["FinanceBenchSectorClustering"]["test"]["label"].n_unique() == 9


def test_subjective_qa(tables) -> None:
    t = tables["SubjectiveQARetrieval"]
    q = t["queries"].filter(pl.col("text").str.starts_with("I just had 2 questions. One is, what is your assumption"))
    rel = t["qrels"].filter(pl.col("query_id") == q["id"][0])
    assert rel["score"].to_list() == [2]
    answer = t["corpus"].filter(pl.col("id") == rel["corpus_id"][0])["text"][0]
    assert answer.startswith("Well, we look for our ticket to continue to trend positively")
    pairs = tables["SubjectiveQAPairClassification"]["test"]
    assert Counter(pairs["label"])[1] == 540  # 550 rows minus 10 rated RELEVANT = 0
    spec = tables["SubjectiveQASpecificityClassification"]
    assert set(spec["test"]["label"]) == {"0", "1", "2"}


def test_fiqa_aspects(tables) -> None:
    t = tables["FiQA2018PostAspectClustering"]["test"]
    counts = Counter(t["label"])
    assert t.height == 675 and len(counts) == 21 and counts["Stock/Price Action"] == 379


def test_deterministic() -> None:
    files = SourceFiles()
    for name in ("SemEval2017FinHeadlineSentimentClassification", "SubjectiveQAPairClassification"):
        spec = next(s for s in domain_tasks("finance") if s.name == name)
        a, b = spec.build(files), spec.build(files)
        assert all(a[k].equals(b[k]) for k in a)
