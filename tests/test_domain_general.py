"""The general (MTEB-style reference) suite: facts about the parsed data checked against the raw files."""

from __future__ import annotations

import os
from collections import Counter
from functools import cache
from pathlib import Path

os.environ.setdefault("DOMAINEMB_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

import polars as pl  # noqa: E402
import pytest  # noqa: E402

from domainemb.domains import general  # noqa: E402
from domainemb.domains.fetch import sha256_file  # noqa: E402
from domainemb.domains.readers import SourceFiles  # noqa: E402
from domainemb.domains.registry import domain_tasks, get_task  # noqa: E402
from domainemb.domains.tables import validate  # noqa: E402
from domainemb.types import MTEB_TYPES, Domain, TaskType  # noqa: E402


@cache
def _files() -> SourceFiles:
    return SourceFiles()


@cache
def tables(name: str) -> dict[str, pl.DataFrame]:
    spec = get_task(name)
    return validate(spec.name, spec.type, spec.build(_files()), spec.min_score, spec.max_score)


def test_suite_covers_all_mteb_types_with_unique_names():
    specs = domain_tasks(Domain.GENERAL)
    assert len(specs) >= 14
    assert {s.type for s in specs} >= MTEB_TYPES
    assert len({s.name for s in specs}) == len(specs)
    assert len({s.key for s in general.SOURCES}) == len(general.SOURCES)
    for spec in specs:
        assert spec.description and spec.mteb_domains and spec.sources
        if spec.type in (TaskType.STS, TaskType.SUMMARIZATION):
            assert spec.min_score is not None and spec.max_score is not None


def test_pinned_checksums_match_the_mirror():
    root = Path(os.environ["DOMAINEMB_DATA"])
    for source in general.SOURCES:
        assert len(source.commit) == 40
        for f in source.files:
            assert sha256_file(root / source.key / f.name) == f.sha256, (source.key, f.name)


@pytest.mark.parametrize(
    "name, rows, lo, hi",
    [
        ("STSBenchmark", 1379, 0, 5),
        ("SICKR", 9927, 1, 5),
        ("STS12", 3108, 0, 5),
        ("STS13", 1500, 0, 5),
        ("STS14", 3750, 0, 5),
        ("STS15", 3000, 0, 5),
        ("STS16", 1186, 0, 5),
    ],
)
def test_sts_sizes_equal_mteb(name, rows, lo, hi):
    test = tables(name)["test"]
    assert test.height == rows
    assert test["score"].min() == lo and test["score"].max() == hi


def test_sts_known_pairs():
    stsb = tables("STSBenchmark")["test"]
    assert stsb.row(0) == ("A girl is styling her hair.", "A girl is brushing her hair.", 2.5)
    # 2012 MSRpar first pair / gold 4.4 (STS.input / STS.gs line 1).
    sts12 = tables("STS12")["test"]
    assert sts12.row(0)[0].startswith("The problem likely will mean corrective changes")
    assert sts12.row(0)[2] == pytest.approx(4.4)
    # 2016: only rows with a gold score count; the first headlines row has none.
    sts16 = tables("STS16")["test"]
    assert ("Digital era threatens tenuous future of drive-ins", "Digital Era Threatens Future of Drive-Ins") not in {
        (a, b) for a, b, _ in sts16.iter_rows()
    }


def test_pair_classification_gold():
    mrpc = tables("MRPCPairClassification")["test"]
    assert mrpc.height == 1725 and mrpc["label"].sum() == 1147
    pit = tables("TwitterPIT2015PairClassification")["test"]
    assert pit.height == 838 and pit["label"].sum() == 175  # test.label: 175 true / 663 false / 134 debatable
    url = tables("TwitterURLTestPairClassification")["test"]
    pairs = {(a, b): y for a, b, y in url.iter_rows()}
    head = "How an unverified but explosive dossier became a crisis for Donald Trump"
    assert pairs[(head, "How an Unverified Dossier Became a Crisis for @realDonaldTrump")] == 1  # (6,6)
    assert (
        pairs[(head, "Dossier Donald Trump don't forget , DNC hacked to get this same oppo research on Trump .")] == 0
    )
    assert url.height == url.unique(["sentence1", "sentence2"]).height
    assert 8000 < url.height < 9334  # 9334 voted pairs minus repeats


def test_official_classification_splits():
    banking = tables("Banking77Classification")
    assert banking["test"]["label"].n_unique() == 77 and banking["test"].height == 3079  # 3080 minus 1 duplicate
    emotion = tables("EmotionClassification")["test"]
    assert dict(Counter(emotion["label"])) == {
        "sadness": 581,
        "joy": 695,
        "love": 159,
        "anger": 275,
        "fear": 224,
        "surprise": 66,
    }
    trec = tables("TRECClassification")["test"]
    assert dict(Counter(trec["label"])) == {"DESC": 138, "ENTY": 94, "ABBR": 9, "HUM": 65, "LOC": 81, "NUM": 113}
    clinc = tables("CLINC150Classification")
    assert clinc["test"].height == 4500 and "oos" not in clinc["train"]["label"].to_list()
    cf = tables("AmazonCounterfactualClassification")["test"]
    assert cf.height == 670 and Counter(cf["label"])["counterfactual"] == 131
    # The release's repeated quote escaping is undone.
    assert 'It is a little "slippery" and doesn\'t stay in place very well.' in cf["text"].to_list()
    assert not cf["text"].str.contains(r'\\|""').any()


# Tasks that keep every released row, as MTEB does (mteb samples train rows by position).
AS_RELEASED = {"EmotionClassification"}


def test_no_text_in_both_train_and_test():
    for spec in domain_tasks(Domain.GENERAL):
        if spec.type is TaskType.CLASSIFICATION and spec.name not in AS_RELEASED:
            t = tables(spec.name)
            assert not set(t["train"]["text"]) & set(t["test"]["text"]), spec.name
            assert t["test"]["text"].n_unique() == t["test"].height, spec.name


def test_emotion_keeps_every_released_row_in_order():
    t = tables("EmotionClassification")
    assert t["train"].height == 16000 and t["train"]["text"].n_unique() == 15969
    assert t["test"].height == 2000 and t["test"]["text"].n_unique() == 2000
    assert len(set(t["train"]["text"]) & set(t["test"]["text"])) == 11
    for split in ("train", "test"):
        released = general._emotion(_files(), split)
        assert list(t[split].iter_rows()) == [(text.strip(), label) for text, label in released], split
    assert t["train"].row(0) == ("i didnt feel humiliated", "sadness")


def test_seeded_half_splits_are_stratified_and_stable():
    # IMDB's 25,000 test reviews hold 199 repeated texts, kept once.
    for name, total in [
        ("MRClassification", 10662),
        ("SUBJClassification", 10000),
        ("ImdbSplitClassification", 24801),
        ("AGNewsClassification", 7600),
    ]:
        t = tables(name)
        assert t["train"].height + t["test"].height == total, name
        train, test = Counter(t["train"]["label"]), Counter(t["test"]["label"])
        assert all(abs(train[k] - test[k]) <= 1 for k in test), name
    spec = get_task("MRClassification")
    assert spec.build(_files())["test"].equals(tables("MRClassification")["test"])


def test_encodings_decoded_right():
    mr = tables("MRClassification")
    texts = mr["train"]["text"].to_list() + mr["test"]["text"].to_list()
    assert "the action clichés just pile up ." in texts  # rt-polarity.all byte 0xE9 (cp1252)
    assert any("…" in t for t in texts) and not any("\x85" in t for t in texts)  # 0x85 is an ellipsis, not NEL
    ag = tables("AGNewsClustering")["test"]
    assert not ag["text"].str.contains(r"#39;|\\").any()
    assert any(
        t.startswith("Fears for T N pension after talks\nUnions representing workers at Turner Newall")
        for t in ag["text"]
    )


def test_newsgroups():
    clustering = tables("TwentyNewsgroupsTestClustering")["test"]
    assert clustering["label"].n_unique() == 20
    assert ("Re: about the bible quiz answers", "alt.atheism") in set(clustering.iter_rows())
    assert clustering.height == clustering["text"].n_unique() < 7532  # repeated thread subjects kept once
    posts = tables("TwentyNewsgroupsClassification")
    assert posts["train"]["label"].n_unique() == 20 and posts["test"].height > 7500
    assert not posts["test"]["text"].str.contains("^From:").any()


def test_squad_question_points_at_its_paragraph():
    t = tables("SQuADRetrieval")
    assert t["corpus"].height == 2067
    query = t["queries"].filter(pl.col("text") == "Which NFL team represented the AFC at Super Bowl 50?")
    doc_id = t["qrels"].filter(pl.col("query_id") == query["id"][0])["corpus_id"][0]
    doc = t["corpus"].filter(pl.col("id") == doc_id)
    assert doc["title"][0] == "Super Bowl 50" and "Denver Broncos" in doc["text"][0]


def test_wikiqa():
    retrieval = tables("WikiQARetrieval")
    assert retrieval["queries"].height == 243 and retrieval["qrels"].height == 293
    rerank = tables("WikiQAReranking")
    assert rerank["queries"].height == 237  # 6 questions with only correct candidates left out
    labels = {(q, d): s for q, d, s in rerank["qrels"].iter_rows()}
    for q, ids in rerank["candidates"].iter_rows():
        judged = [labels[(q, d)] for d in ids]
        assert 1 in judged and 0 in judged


def test_summeval():
    test = tables("SummEvalSummarization.v2")["test"]
    assert test.height == 100
    assert set(test["machine_summaries"].list.len()) == {16} and set(test["human_summaries"].list.len()) == {11}
    row = test.filter(pl.col("text").str.starts_with("Paul Merson has restarted his row with Andros Townsend"))
    machine, relevance = row["machine_summaries"][0].to_list(), row["relevance"][0].to_list()
    i = next(i for i, s in enumerate(machine) if s.startswith("Paul merson was brought on with only seven minutes"))
    assert relevance[i] == pytest.approx(5 / 3)  # SummEval M11 on dm-test-8764fb95...: relevance 1.667
