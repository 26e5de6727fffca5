"""Training corpora (issue 18): passages read from the pinned sources, exported by `export-corpus`,
decontaminated against the built suite's test data (MAEC quotes calls that SubjECTive-QA tests on)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.domains.corpora import PassageConfig, PassageUnit, TrainingCorpus
from domainemb.domains.fetch import FetchConfig, Fetcher
from domainemb.domains.readers import SourceFiles
from domainemb.domains.registry import domain_training_corpora, get_task
from domainemb.errors import DomainembError
from domainemb.synth import decontam
from domainemb.synth import export as export_module
from domainemb.synth.corpus import read_corpus
from domainemb.synth.decontam import HeldOut
from domainemb.synth.export import EXPORT_CARD, export_corpus
from domainemb.types import Domain, LicenceFlag, Source, SourceFile

runner = CliRunner()
MAEC = "finance/maec-earnings-calls"
CLEAN = [
    f"Our segment number {i} grew its orders steadily during the quarter and we expect more of the same next year."
    for i in range(40)
]


def _corpus(name: str) -> TrainingCorpus:
    return next(c for c in domain_training_corpora(name.split("/")[0]) if c.source.key == name)


def _planted_calls(mirror: Path, calls: dict[str, list[str]]) -> TrainingCorpus:
    """A MAEC-shaped archive (``MAEC_Dataset/<call>/text.txt``, one sentence per line) as a pinned corpus."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for call, sentences in calls.items():
            data = ("\n".join(sentences) + "\n").encode()
            info = tarfile.TarInfo(f"MAEC_Dataset/{call}/text.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    folder = mirror / "finance" / "planted-calls"
    folder.mkdir(parents=True)
    (folder / "calls.tar.xz").write_bytes(buf.getvalue())
    source = Source(
        key="finance/planted-calls",
        repo="https://github.com/example/planted-calls",
        commit="0" * 40,
        files=(SourceFile("calls.tar.xz", hashlib.sha256(buf.getvalue()).hexdigest(), None),),
        licence="CC BY-SA 4.0",
        licence_flag=LicenceFlag.OPEN,
        citation="Planted calls.",
    )
    return TrainingCorpus(source, PassageUnit.SENTENCE_WINDOW, "calls planted by a test")


@pytest.fixture()
def mirror(tmp_path, data_dir) -> Path:
    """A mirror holding the real SubjECTive-QA and Financial PhraseBank folders (as links) and nothing else."""
    root = tmp_path / "mirror"
    (root / "finance").mkdir(parents=True)
    for name in ("subjective-qa", "financial-phrasebank"):
        os.symlink(data_dir / "finance" / name, root / "finance" / name)
    return root


def _files(mirror: Path, tmp_path: Path) -> SourceFiles:
    return SourceFiles(Fetcher(FetchConfig(mirror=mirror, cache=tmp_path / "cache")))


def test_transcripts_are_cut_into_windows_of_consecutive_sentences(tmp_path):
    calls = {"20170101_BBB": [f"b{i} said." for i in range(7)], "20160101_AAA": ["a0.", "", "  a1.  ", "a2."]}
    corpus = _planted_calls(tmp_path / "m", calls)
    files = _files(tmp_path / "m", tmp_path)
    passages = list(corpus.passages(files, PassageConfig(sentences_per_passage=3)))
    assert [(p.doc_id, p.id, p.text) for p in passages] == [
        ("20160101_AAA", "20160101_AAA#0", "a0. a1. a2."),  # documents in name order, blank lines skipped
        ("20170101_BBB", "20170101_BBB#0", "b0 said. b1 said. b2 said."),
        ("20170101_BBB", "20170101_BBB#1", "b3 said. b4 said. b5 said."),  # no overlap
        ("20170101_BBB", "20170101_BBB#2", "b6 said."),  # the last window may be shorter
    ]
    assert {p.corpus for p in passages} == {"finance/planted-calls"} and not any(p.title for p in passages)
    assert len(list(corpus.passages(files))) == 3  # 6 sentences by default
    with pytest.raises(DomainembError, match="sentences_per_passage"):
        PassageConfig(sentences_per_passage=0)


def test_the_real_corpora_read_into_passages():
    files = SourceFiles()
    maec = list(_corpus(MAEC).passages(files))
    assert len({p.doc_id for p in maec}) == 3443  # every transcript
    assert 60_000 < len(maec) < 75_000  # ~399k sentences in windows of 6
    assert len({p.id for p in maec}) == len(maec)
    expected = {  # paragraphs of at least 12 words (SOURCE.txt: about 5,200 / 2,500 / 3,200 of 150 characters or more)
        "finance/openstax-principles-accounting": (5200, 8000),
        "chemistry/openstax-organic-chemistry": (2400, 3500),
        "medicine/openstax-microbiology": (3200, 4500),
    }
    for key, (low, high) in expected.items():
        paragraphs = list(_corpus(key).passages(files))
        assert low <= len(paragraphs) <= high, (key, len(paragraphs))
        assert all(p.title and len(p.text.split()) >= 12 for p in paragraphs), key
        assert len({p.id for p in paragraphs}) == len(paragraphs)
    accounting = list(_corpus("finance/openstax-principles-accounting").passages(files))
    # both volumes of the bundle: Financial Accounting (adjusting entries) and Managerial Accounting (job order costing)
    assert any(p.title == "Accrual Accounting" for p in accounting)
    assert any("job order cost" in p.text.lower() for p in accounting)


def test_a_planted_test_text_is_removed_by_decontamination(tmp_path, mirror, monkeypatch):
    """A MAEC-style call quoting a SubjECTive-QA test answer: that window is dropped and counted, the rest kept."""
    files = _files(mirror, tmp_path)
    subjective = get_task("SubjectiveQARetrieval")
    answer = next(t for t in subjective.build(files)["corpus"]["text"] if len(t.split()) > 30)
    quoted = " ".join(answer.split()[:20])  # 20 words: shares a 13-gram with the test answer
    calls = {"20180101_PLNT": CLEAN[:6] + CLEAN[6:8] + [quoted] + CLEAN[8:11], "20180102_CLEN": CLEAN[20:32]}
    planted = _planted_calls(mirror, calls)
    monkeypatch.setattr(export_module, "domain_tasks", lambda d: (subjective, get_task("FinPhraseBankClassification")))
    monkeypatch.setattr(export_module, "domain_training_corpora", lambda d: (planted,))
    out = tmp_path / "corpus"
    result = export_corpus("finance", out, files=files)

    card = json.loads((out / EXPORT_CARD).read_text())
    assert card == result.card
    corpus = card["corpora"]["finance/planted-calls"]
    assert corpus["read"] == 4 and corpus["passages"] == 3
    assert corpus["drops"] == {"overlaps-test": 1}
    assert card["drops"]["overlaps-test"] == card["task_drops"].get("overlaps-test", 0) + 1
    assert corpus["licence"] == "CC BY-SA 4.0" and corpus["licence_flag"] == "open"
    assert corpus["sha256"] == planted.source.checksums and corpus["commit"] == "0" * 40
    assert card["passages"] == {"sentences_per_passage": 6}
    records = [json.loads(line) for line in (out / "planted-calls.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["20180101_PLNT#0", "20180102_CLEN#0", "20180102_CLEN#1"]
    assert {(r["corpus"], r["licence"]) for r in records} == {("finance/planted-calls", "open: CC BY-SA 4.0")}
    assert not any(quoted in r["text"] for r in records)
    assert result.texts == card["texts"] == sum(card["by_task"].values()) + 3
    # synth reads the export as it is: one document per passage, its id from the record
    docs = {d.id for d in read_corpus(out).documents}
    assert "planted-calls.jsonl:20180102_CLEN#1" in docs


def test_a_heading_that_is_a_test_text_is_removed(tmp_path, mirror, monkeypatch, data_dir):
    """A textbook paragraph is kept, but a heading equal to a test query (a glossary term) is blanked and counted."""
    files = _files(mirror, tmp_path)
    os.symlink(
        data_dir / "finance" / "openstax-principles-accounting", mirror / "finance" / "openstax-principles-accounting"
    )
    os.symlink(
        data_dir / "finance" / "openstax-principles-finance-2e", mirror / "finance" / "openstax-principles-finance-2e"
    )
    glossary = get_task("OpenStaxFinanceGlossaryRetrieval")
    monkeypatch.setattr(export_module, "domain_tasks", lambda d: (glossary,))
    accounting = _corpus("finance/openstax-principles-accounting")
    monkeypatch.setattr(export_module, "domain_training_corpora", lambda d: (accounting,))
    result = export_corpus("finance", tmp_path / "corpus", files=files)
    corpus = result.card["corpora"]["finance/openstax-principles-accounting"]
    assert corpus["headings_removed"] > 0 and corpus["licence_flag"] == "NC"
    terms = {t.casefold() for t in glossary.build(files)["queries"]["text"]}
    records = [json.loads(line) for line in (tmp_path / "corpus" / corpus["file"]).read_text().splitlines()]
    assert "balance sheet" in terms
    assert not any(r["title"].casefold() in terms for r in records)
    assert sum(not r["title"] for r in records) == corpus["headings_removed"]


def test_a_missing_corpus_file_fails_before_any_work(tmp_path, data_dir):
    """One line naming the corpus and its file, exit code 2, and no output folder."""
    root = tmp_path / "mirror"
    (root / "finance").mkdir(parents=True)
    for folder in (data_dir / "finance").iterdir():
        if folder.name != "maec-earnings-calls":
            os.symlink(folder, root / "finance" / folder.name)
    out = tmp_path / "corpus"
    env = {"DOMAINEMB_DATA": str(root), "DOMAINEMB_UPSTREAM_URL": "http://127.0.0.1:9"}
    result = runner.invoke(app, ["export-corpus", "--domain", "finance", "--out", str(out)], env=env)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and MAEC in lines[0] and "maec-transcripts.tar.xz" in lines[0], result.output
    assert not out.exists()


# ----------------------------------------------------------------------------- the real exports
@pytest.mark.slow
def test_finance_export_drops_maec_passages_that_quote_subjective_qa_test_texts(tmp_path):
    """Build the real finance lite suite; every MAEC passage sharing a 13-gram with one of its SubjECTive-QA test
    texts is left out of the export and counted as an overlap."""
    from domainemb.domains.benchmark import Benchmark
    from domainemb.domains.build import BuildConfig, build_benchmark

    suite = build_benchmark(BuildConfig(domain=Domain.FINANCE, out=tmp_path / "finance-lite")).path
    bench = Benchmark.open(suite)
    subjective = [
        text
        for task in bench.tasks
        if "finance/subjective-qa" in task.source_checksums
        for text in decontam.test_texts(bench.tables(task))
    ]
    assert len(subjective) > 500
    held = HeldOut.from_texts(subjective)
    quoting = [p for p in _corpus(MAEC).passages(SourceFiles()) if held.touches(p.text)]
    assert len(quoting) >= 5, "MAEC quotes the calls SubjECTive-QA tests on"
    assert len({p.doc_id for p in quoting}) >= 2

    out = tmp_path / "corpus"
    result = runner.invoke(app, ["export-corpus", "--domain", "finance", "--out", str(out)])
    assert result.exit_code == 0, result.output
    card = json.loads((out / EXPORT_CARD).read_text())
    maec = card["corpora"][MAEC]
    records = [json.loads(line) for line in (out / maec["file"]).read_text().splitlines()]
    assert len(records) == maec["passages"] > 60_000
    assert not {p.id for p in quoting} & {r["id"] for r in records}
    assert not any(held.touches(r["text"]) for r in records)
    assert maec["drops"]["overlaps-test"] >= len(quoting)
    assert maec["read"] == maec["passages"] + sum(maec["drops"].values())
    assert (maec["licence"], maec["licence_flag"]) == ("CC BY-SA 4.0 (LICENSE)", "open")
    accounting = card["corpora"]["finance/openstax-principles-accounting"]
    assert accounting["licence_flag"] == "NC" and accounting["passages"] > 5000
    for corpus in (maec, accounting):  # the card's counts add up per corpus and over everything
        assert corpus["read"] == corpus["passages"] + sum(corpus["drops"].values())
    for reason, n in card["drops"].items():
        assert n == card["task_drops"].get(reason, 0) + sum(c["drops"].get(reason, 0) for c in card["corpora"].values())
    exported = sum(1 for f in out.glob("*.jsonl") for line in f.read_text().splitlines() if line.strip())
    assert exported == card["texts"] == sum(card["by_task"].values()) + maec["passages"] + accounting["passages"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("domain", "key"),
    [("chemistry", "chemistry/openstax-organic-chemistry"), ("medicine", "medicine/openstax-microbiology")],
)
def test_textbook_corpora_are_exported_with_their_licence(tmp_path, domain, key):
    result = export_corpus(domain, tmp_path / domain)
    corpus = result.card["corpora"][key]
    assert corpus["licence_flag"] == "NC" and corpus["licence"].startswith("CC BY-NC-SA 4.0")
    assert corpus["passages"] > 2000 and corpus["unit"] == "paragraph"
    first = json.loads((tmp_path / domain / corpus["file"]).read_text().split("\n", 1)[0])
    assert set(first) == {"id", "text", "title", "corpus", "doc_id", "licence"}
    assert first["corpus"] == key and first["licence"] == f"NC: {corpus['licence']}"
