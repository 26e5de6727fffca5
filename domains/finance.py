"""The finance suite: sources and tasks.

Sentence-level sentiment and stance classification (Financial PhraseBank, Twitter financial news,
FOMC statements, FiQA posts, SemEval-2017 headlines), numerical-claim detection, question answering
over reports and filings turned into retrieval / reranking (TAT-QA, FinanceBench), earnings-call
question/answer matching and answer-feature classification (SubjECTive-QA), clustering by native
metadata, and the structure-derived tasks of the OpenStax *Principles of Finance* textbook.

Training corpora (``TRAINING_CORPORA``, feeding no task): MAEC's earnings-call transcripts and the
OpenStax *Principles of Accounting* textbook (see :mod:`domainemb.domains.corpora`).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from typing import Any

from domainemb.domains.corpora import PassageUnit, TrainingCorpus
from domainemb.domains.helpers import SEED, parse_once, task_spec, text_id
from domainemb.domains.openstax import openstax_source, openstax_tasks
from domainemb.domains.readers import SourceFiles
from domainemb.domains.splits import (
    HALVES_NOTE,
    classification_halves,
    classification_native,
    unambiguous,
)
from domainemb.domains.tables import (
    Tables,
    labelled_tables,
    pair_tables,
    retrieval_tables,
)
from domainemb.errors import DataError
from domainemb.types import Domain, LicenceFlag, Source, SourceFile, TaskSpec, TaskType

_FIN = ("Financial",)


# ----------------------------------------------------------------------------- sources
FIN_NUM_CLAIM = Source(
    key="finance/fin-num-claim",
    repo="https://github.com/gtfintechlab/fin-num-claim",
    commit="167f21a34920b4eb7b00996ccb7d1ce2b14b46e0",
    files=(
        SourceFile(
            "gold_arpts_numclaim-train-5768.xlsx",
            "a1b5de7b9fd6d81d9aa4e338c6b2fa28b09e9ad9ce0f055b0ab6ee51eb377667",
            "data/train/gold_arpts_numclaim-train-5768.xlsx",
        ),
        SourceFile(
            "gold_arpts_numclaim-test-5768.xlsx",
            "7f8bb8c44548306cf9b57fe3b0f41b4fa626fc6c42f2b2fc2526d6b3e980bf16",
            "data/test/gold_arpts_numclaim-test-5768.xlsx",
        ),
        SourceFile(
            "gold_ec_numclaim-train-5768.xlsx",
            "b91c5d34d28f85d72a02db6e444d1df21a98e24508d396f621cbe52881d2ef09",
            "data/train/gold_ec_numclaim-train-5768.xlsx",
        ),
        SourceFile(
            "gold_ec_numclaim-test-5768.xlsx",
            "39709e2b4076de6276f4dcd88562950deff1ee2672188ba7bba869f0a19b69b7",
            "data/test/gold_ec_numclaim-test-5768.xlsx",
        ),
    ),
    licence="CC BY-NC 4.0",
    licence_flag=LicenceFlag.NC,
    citation=(
        "Agam Shah, Arnav Hiray, Pratvi Shah, Arkaprabha Banerjee, Anushka Singh, Dheeraj Eidnani, Sahasra "
        "Chava, Bhaskar Chaudhury, Sudheer Chava. Numerical Claim Detection in Finance: A New Financial "
        "Dataset, Weak-Supervision Model, and Market Analysis. arXiv:2402.11728, 2024."
    ),
    mteb_license="cc-by-nc-4.0",
)

FINANCEBENCH = Source(
    key="finance/financebench",
    repo="https://github.com/patronus-ai/financebench",
    commit="cc39aeb4afdf33909ee1412188bf89035950c2eb",
    files=(
        SourceFile(
            "financebench_open_source.jsonl",
            "a5a2aa673e573e55675fc3c0f9aa38c1cf59d2abc91edb077534f71f10a71877",
            "data/financebench_open_source.jsonl",
        ),
        SourceFile(
            "financebench_document_information.jsonl",
            "1c69127783879de8cdadb159d2181f39bc3123b8e0ebf74031c3969d69189575",
            "data/financebench_document_information.jsonl",
        ),
    ),
    licence="No licence file in the GitHub repo; the same data on the Hugging Face hub "
    "(PatronusAI/financebench) is labelled CC BY-NC 4.0",
    licence_flag=LicenceFlag.NC,
    citation=(
        "Pranab Islam, Anand Kannappan, Douwe Kiela, Rebecca Qian, Nino Scherrer, Bertie Vidgen. "
        "FinanceBench: A New Benchmark for Financial Question Answering. arXiv:2311.11944, 2023."
    ),
    mteb_license="cc-by-nc-4.0",
)

PHRASEBANK = Source(
    key="finance/financial-phrasebank",
    repo="https://github.com/wychen-null/project_nlp_cuda",
    commit="1ea075323700e41e09f22fcc1682765177945f08",
    files=(
        SourceFile(
            "Sentences_AllAgree.txt",
            "b3cb762d2eb8c8fe50d6d53ac073afbd217dd01e4c6e04167ac9b8de9e42d3ca",
            "data/FinancialPhraseBank-v1.0/Sentences_AllAgree.txt",
        ),
    ),
    licence="CC BY-NC-SA 3.0 Unported",
    licence_flag=LicenceFlag.NC,
    citation=(
        "Pekka Malo, Ankur Sinha, Pekka Korhonen, Jyrki Wallenius, Pyry Takala. Good debt or bad debt: "
        "Detecting semantic orientations in economic texts. Journal of the Association for Information "
        "Science and Technology 65(4):782-796, 2014. arXiv:1307.5336."
    ),
    mteb_license="cc-by-nc-sa-3.0",
)

_SSIX_REPO = "https://github.com/codingFerryman/Social-Sentiment-Analysis"
_SSIX_COMMIT = "ef6946cc31818d43cf2a83cc348a358ef45b5be4"
_SSIX_LICENCE = "No explicit licence (shared-task data released for research; acknowledge the SSIX H2020 project)"

FIQA = Source(
    key="finance/fiqa2018-task1-sentiment",
    repo=_SSIX_REPO,
    commit=_SSIX_COMMIT,
    files=(
        SourceFile(
            "FiQA_post.json",
            "99af9dd92163c9545b213639d68bd3f2089d41ed3c2f4690a39f46f95d9089e8",
            "data/en/FiQA_post.json",
        ),
    ),
    licence=_SSIX_LICENCE,
    licence_flag=LicenceFlag.UNCLEAR,
    citation=(
        "Macedo Maia, Siegfried Handschuh, André Freitas, Brian Davis, Ross McDermott, Manel Zarrouk, "
        "Alexandra Balahur. WWW'18 Open Challenge: Financial Opinion Mining and Question Answering. "
        "Companion Proceedings of The Web Conference (WWW'18 Companion), 2018."
    ),
)

FOMC = Source(
    key="finance/fomc-hawkish-dovish",
    repo="https://github.com/gtfintechlab/fomc-hawkish-dovish",
    commit="98646987452b326507479cf641571b33814bb73f",
    files=(
        SourceFile(
            "lab-manual-combine-train-5768.xlsx",
            "00e688cbd4947afd67d7829c52e0911008582d01148d7f4752e9a2a1c8a4d1c1",
            "training_data/test-and-training/training_data/lab-manual-combine-train-5768.xlsx",
        ),
        SourceFile(
            "lab-manual-combine-test-5768.xlsx",
            "d2de30a82541dc08c852d225805f6d2eb29faccf5ca0167bf5031b3249fa0f9c",
            "training_data/test-and-training/test_data/lab-manual-combine-test-5768.xlsx",
        ),
    ),
    licence="CC BY-NC 4.0",
    licence_flag=LicenceFlag.NC,
    citation=(
        "Agam Shah, Suvan Paturi, Sudheer Chava. Trillion Dollar Words: A New Financial Dataset, Task & "
        "Market Analysis. Proceedings of ACL 2023."
    ),
    mteb_license="cc-by-nc-4.0",
)

OPENSTAX_FINANCE = openstax_source(
    key="finance/openstax-principles-finance-2e",
    repo="https://github.com/openstax/osbooks-principles-finance",
    commit="1deb7fd66b614b21ad645ab181cb6eb940d01a3a",
    archive="openstax-principles-finance-2e-cnxml.tar.xz",
    sha256="a97c8ac7cbe08dbe6c31725f21b933b683b3bda79e3b6313fc261e3331509431",
    licence="CC BY-NC-SA 4.0",
    citation=(
        "Julie Dahlquist, Rainford Knight (senior contributing authors). Principles of Finance 2e. "
        "OpenStax, Rice University, Houston, Texas."
    ),
)

SEMEVAL = Source(
    key="finance/semeval2017-task5-headlines",
    repo=_SSIX_REPO,
    commit=_SSIX_COMMIT,
    files=(
        SourceFile(
            "SemEval2017Task5Headlines.json",
            "dc50bfa39b13075e80ead2372f843ae13e802e07e9c45272c9b1397611869ea4",
            "data/en/SemEval2017Task5Headlines.json",
        ),
    ),
    licence=_SSIX_LICENCE,
    licence_flag=LicenceFlag.UNCLEAR,
    citation=(
        "Keith Cortis, André Freitas, Tobias Daudert, Manuela Huerlimann, Manel Zarrouk, Siegfried Handschuh, "
        "Brian Davis. SemEval-2017 Task 5: Fine-Grained Sentiment Analysis on Financial Microblogs and News. "
        "Proceedings of SemEval-2017."
    ),
)

SUBJECTIVE_QA = Source(
    key="finance/subjective-qa",
    repo="https://github.com/gtfintechlab/SubjECTive-QA",
    commit="612ff46a5c2da6734157e1824e305509637c31cf",
    files=(
        SourceFile(
            "final_datasets_test_5768.xlsx",
            "7d96ef67e9d6bf89a0d53a46ec4a6d59ca1cfa7ff9334512765f4145c2334cdb",
            "scripts/final_datasets_test_5768.xlsx",
        ),
    ),
    licence="CC BY 4.0",
    licence_flag=LicenceFlag.OPEN,
    citation=(
        "Huzaifa Pardawala, Siddhant Sukhani, Agam Shah, Veer Kejriwal, Abhishek Pillai, Rohan Bhasin, "
        "Andrew DiBiasio, Tarun Mandapati, Dhruv Adha, Sudheer Chava. SubjECTive-QA: Measuring Subjectivity "
        "in Earnings Call Transcripts' QA Through Six-Dimensional Feature Analysis. arXiv:2410.20651, 2024."
    ),
    mteb_license="cc-by-4.0",
)

TATQA = Source(
    key="finance/tatqa",
    repo="https://github.com/NExTplusplus/TAT-QA",
    commit="870accc41953dcde885aabeb963d94aabdc0fbc3",
    files=(
        SourceFile(
            "tatqa_dataset_dev.json",
            "8da095a819af6db3c14877c6df2d4d29960e41d1a63dd1fa853507bd2a616af5",
            "dataset_raw/tatqa_dataset_dev.json",
        ),
        SourceFile(
            "tatqa_dataset_test_gold.json",
            "c4d08418359c1d76468dec420ee748a37f48c06b63cb8ec2766f19d5d314b597",
            "dataset_raw/tatqa_dataset_test_gold.json",
        ),
    ),
    licence="CC BY 4.0 (data); MIT (code)",
    licence_flag=LicenceFlag.OPEN,
    citation=(
        "Fengbin Zhu, Wenqiang Lei, Youcheng Huang, Chao Wang, Shuo Zhang, Jiancheng Lv, Fuli Feng, "
        "Tat-Seng Chua. TAT-QA: A Question Answering Benchmark on a Hybrid of Tabular and Textual Content "
        "in Finance. Proceedings of ACL 2021."
    ),
    mteb_license="cc-by-4.0",
)

TWITTER = Source(
    key="finance/twitter-financial-news-sentiment",
    repo="https://github.com/umaima-aman/Twee_Sentiment_Analysis-DeepLearning",
    commit="0286b19b35c7d658dc28068381c765df4758545a",
    files=(
        SourceFile(
            "sent_train.csv",
            "184e6322b7f0e84c3103a83d198f1be8203de8b63a857f67a2964321b71c4e8d",
            "sent_train.csv",
        ),
        SourceFile(
            "sent_valid.csv",
            "393572beac5064ed60c9f608a57dc66af2b41a91b89c149932d5c57f827e25da",
            "sent_valid.csv",
        ),
    ),
    licence="MIT per the original Hugging Face release (zeroshot/twitter-financial-news-sentiment); "
    "the GitHub mirror has no licence file",
    licence_flag=LicenceFlag.OPEN,
    citation=(
        "Ricky Costa (zeroshot). Twitter Financial News Sentiment. Hugging Face dataset "
        "zeroshot/twitter-financial-news-sentiment, 2022."
    ),
    mteb_license="mit",
)

SOURCES: list[Source] = [
    FIN_NUM_CLAIM,
    FINANCEBENCH,
    PHRASEBANK,
    FIQA,
    FOMC,
    OPENSTAX_FINANCE,
    SEMEVAL,
    SUBJECTIVE_QA,
    TATQA,
    TWITTER,
]


# ----------------------------------------------------------------------------- training corpora
MAEC = Source(
    key="finance/maec-earnings-calls",
    repo="https://github.com/Earnings-Call-Dataset/MAEC-A-Multimodal-Aligned-Earnings-Conference-Call-Dataset-for-Financial-Risk-Prediction",
    commit="65a109f5b1a8cb4c96e8337b749ce3db41f2c210",
    files=(
        SourceFile(
            "maec-transcripts.tar.xz",
            "91e3806950a8a0d439bac57981bb21f3bdaabf4ce1aa24bd8b46ca46097784c7",
            None,  # a repack (git archive | xz) of MAEC_Dataset/*/text.txt, LICENSE and README.md
        ),
    ),
    licence="CC BY-SA 4.0 (LICENSE)",
    licence_flag=LicenceFlag.OPEN,
    citation=(
        "Jiazheng Li, Linyi Yang, Barry Smyth, Ruihai Dong. MAEC: A Multimodal Aligned Earnings Conference "
        "Call Dataset for Financial Risk Prediction. Proceedings of CIKM 2020. doi:10.1145/3340531.3412879."
    ),
    mteb_license="cc-by-sa-4.0",
)

OPENSTAX_ACCOUNTING = openstax_source(
    key="finance/openstax-principles-accounting",
    repo="https://github.com/openstax/osbooks-principles-accounting-bundle",
    commit="2165bf6454c0279c1284e19ac7febc101f7956ad",
    archive="openstax-principles-accounting-cnxml.tar.xz",
    sha256="13f2eb1bdf1a25a8a47470b3d60c5e3d87279fc0f77e9a474c608f1b8c8b7847",
    licence="CC BY-NC-SA 4.0 (LICENSE / README)",
    citation=(
        "Mitchell Franklin, Patty Graybeal, Dixon Cooper. Principles of Accounting, Volume 1: Financial "
        "Accounting and Volume 2: Managerial Accounting. OpenStax, Rice University, Houston, Texas."
    ),
)

TRAINING_CORPORA: list[TrainingCorpus] = [
    TrainingCorpus(
        MAEC,
        PassageUnit.SENTENCE_WINDOW,
        "3,443 earnings-call transcripts of S&P 1500 companies, 2015-2018, one sentence per line; "
        "some are the calls SubjECTive-QA quotes, so decontamination drops those passages",
    ),
    TrainingCorpus(
        OPENSTAX_ACCOUNTING,
        PassageUnit.PARAGRAPH,
        "the OpenStax Principles of Accounting textbook (both volumes), a different book from Principles of Finance",
    ),
]


# ----------------------------------------------------------------------------- shared helpers
Rows = list[tuple[str, str]]


def _clean(text: Any) -> str:
    """A cell or field as stripped text ("" for missing)."""
    return "" if text is None else str(text).strip()


_SPLIT_NOTE = " " + HALVES_NOTE.format("label")


def _xlsx_records(files: SourceFiles, src: Source, name: str) -> list[dict[str, Any]]:
    """Rows of a spreadsheet as dicts keyed by its header (column order differs between files)."""
    rows = files.xlsx_rows(src, name)
    if not rows:
        raise DataError(src.key, name, "empty spreadsheet")
    header = [_clean(h) for h in rows[0]]
    return [dict(zip(header, row)) for row in rows[1:] if any(c is not None for c in row)]


def _field(src: Source, name: str, record: dict[str, Any], key: str) -> Any:
    if key not in record:
        raise DataError(src.key, name, f"missing column/field {key!r}")
    return record[key]


def _sign(score: float) -> str:
    return "positive" if score > 0 else "negative"


# ----------------------------------------------------------------------------- sentence classification
def _phrasebank(files: SourceFiles) -> Tables:
    name = "Sentences_AllAgree.txt"
    # This mirror's AllAgree file is UTF-8 (the other agreement files are latin-1); strict decoding
    # makes a swapped file a DataError rather than mojibake.
    rows = []
    for line in files.lines(PHRASEBANK, name, encoding="utf-8"):
        text, sep, label = line.rpartition("@")
        if not sep or label.strip() not in {"positive", "neutral", "negative"}:
            raise DataError(PHRASEBANK.key, name, f"line is not 'sentence@label': {line[:60]!r}")
        rows.append((text.strip(), label.strip()))
    return classification_halves(rows)


_TWITTER_LABELS = {"0": "bearish", "1": "bullish", "2": "neutral"}


def _twitter_rows(files: SourceFiles, name: str) -> Rows:
    rows = files.csv_rows(TWITTER, name)
    if rows[0] != ["text", "label"]:
        raise DataError(TWITTER.key, name, f"unexpected header {rows[0]}")
    out = []
    for row in rows[1:]:
        if len(row) != 2 or row[1] not in _TWITTER_LABELS:
            raise DataError(TWITTER.key, name, f"bad row {row[:2]}")
        out.append((row[0].strip(), _TWITTER_LABELS[row[1]]))
    return out


def _twitter(files: SourceFiles) -> Tables:
    return classification_native(_twitter_rows(files, "sent_train.csv"), _twitter_rows(files, "sent_valid.csv"))


def _labelled_xlsx(files: SourceFiles, src: Source, name: str, text_col: str, labels: dict[int, str]) -> Rows:
    out = []
    for rec in _xlsx_records(files, src, name):
        raw = _field(src, name, rec, "label")
        try:
            label = labels[int(raw)]
        except (TypeError, ValueError, KeyError):
            raise DataError(src.key, name, f"unexpected label {raw!r}") from None
        out.append((_clean(_field(src, name, rec, text_col)), label))
    return out


_FOMC_LABELS = {0: "dovish", 1: "hawkish", 2: "neutral"}


def _fomc(files: SourceFiles) -> Tables:
    train = _labelled_xlsx(files, FOMC, "lab-manual-combine-train-5768.xlsx", "sentence", _FOMC_LABELS)
    test = _labelled_xlsx(files, FOMC, "lab-manual-combine-test-5768.xlsx", "sentence", _FOMC_LABELS)
    return classification_native(train, test)


_CLAIM_LABELS = {0: "fact", 1: "claim"}


def _fin_num_claim(files: SourceFiles) -> Tables:
    def split(name: str) -> Rows:  # analyst-report and earnings-call sentences pooled
        return [
            row
            for kind in ("arpts", "ec")
            for row in _labelled_xlsx(
                files, FIN_NUM_CLAIM, f"gold_{kind}_numclaim-{name}-5768.xlsx", "text", _CLAIM_LABELS
            )
        ]

    return classification_native(split("train"), split("test"))


def _semeval(files: SourceFiles) -> Tables:
    name = "SemEval2017Task5Headlines.json"
    # The score is about one company; the same headline can be scored for several companies. Keep a
    # headline only when every nonzero score it got has the same sign (unambiguous() drops the rest).
    rows = []
    for rec in files.json(SEMEVAL, name):
        score = float(_field(SEMEVAL, name, rec, "sentiment"))
        if score != 0:
            rows.append((_clean(_field(SEMEVAL, name, rec, "title")), _sign(score)))
    return classification_halves(rows)


@parse_once
def _fiqa_posts(files: SourceFiles, src: Source, name: str) -> tuple[tuple[str, float, str], ...]:
    """(post text, sentiment score, level-1/level-2 aspect) of every FiQA post target."""
    out = []
    for post in files.json(src, name).values():
        text = _clean(_field(src, name, post, "sentence"))
        for info in _field(src, name, post, "info"):
            # aspects is a stringified list like "['Stock/Price Action/Bullish']" (one is missing a quote).
            aspect = _clean(info["aspects"]).strip("[]'\" ")
            out.append((text, float(info["sentiment_score"]), "/".join(aspect.split("/")[:2])))
    return tuple(out)


def _fiqa(files: SourceFiles) -> tuple[tuple[str, float, str], ...]:
    return _fiqa_posts(files, FIQA, "FiQA_post.json")


def _fiqa_sentiment(files: SourceFiles) -> Tables:
    return classification_halves((text, _sign(score)) for text, score, _ in _fiqa(files) if score != 0)


def _fiqa_aspects(files: SourceFiles) -> Tables:
    return labelled_tables({"test": unambiguous((t, a) for t, _, a in _fiqa(files))}, TaskType.CLUSTERING)


# ----------------------------------------------------------------------------- TAT-QA
@dataclass(frozen=True)
class _TatQuestion:
    uid: str
    text: str
    answer_type: str
    relevant: tuple[str, ...]  # canonical doc ids of the table and/or paragraphs holding the answer
    candidates: tuple[str, ...]  # canonical doc ids of the question's own report (table + paragraphs)


@dataclass(frozen=True)
class _TatQA:
    corpus: tuple[tuple[str, str], ...]  # (doc id, text), test reports first
    dev: tuple[_TatQuestion, ...]
    test: tuple[_TatQuestion, ...]


def _table_text(table: list[list[Any]]) -> str:
    """A table as text: one line per non-empty row, cells joined by ' | '."""
    lines = []
    for row in table:
        cells = [_clean(c) for c in row]
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)


@parse_once
def _tatqa_parsed(files: SourceFiles, src: Source, dev_name: str, test_name: str) -> _TatQA:
    corpus: dict[str, str] = {}  # doc id -> text
    canonical: dict[str, str] = {}  # text -> first doc id, so duplicate paragraphs across reports are one doc
    splits: dict[str, list[_TatQuestion]] = {}
    for split, name in (("test", test_name), ("dev", dev_name)):
        questions = []
        for ctx in files.json(src, name):
            table, paragraphs = _field(src, name, ctx, "table"), _field(src, name, ctx, "paragraphs")
            docs = [(table["uid"], _table_text(table["table"]))]
            docs += [(p["uid"], _clean(p["text"])) for p in paragraphs]
            ids = {}
            for uid, text in docs:
                if text:
                    ids[uid] = canonical.setdefault(text, uid)
                    corpus.setdefault(ids[uid], text)
            by_order = {str(p["order"]): p["uid"] for p in paragraphs}
            for q in ctx["questions"]:
                missing = [o for o in q["rel_paragraphs"] if str(o) not in by_order]
                if missing:
                    raise DataError(src.key, name, f"question {q['uid']} cites missing paragraph {missing[0]}")
                rel = [by_order[str(o)] for o in q["rel_paragraphs"]]
                if "table" in q["answer_from"]:
                    rel.insert(0, table["uid"])
                questions.append(
                    _TatQuestion(
                        uid=q["uid"],
                        text=_clean(q["question"]),
                        answer_type=q["answer_type"],
                        relevant=tuple(dict.fromkeys(ids[u] for u in rel if u in ids)),
                        candidates=tuple(dict.fromkeys(ids.values())),
                    )
                )
        splits[split] = questions
    return _TatQA(tuple(corpus.items()), tuple(splits["dev"]), tuple(splits["test"]))


def _tatqa(files: SourceFiles) -> _TatQA:
    return _tatqa_parsed(files, TATQA, "tatqa_dataset_dev.json", "tatqa_dataset_test_gold.json")


def _tatqa_retrieval(files: SourceFiles) -> Tables:
    data = _tatqa(files)
    # Identical question texts (generic ones asked of several reports) become one query whose
    # relevant docs are the union of theirs.
    queries: dict[str, str] = {}  # text -> query id
    qrels: dict[tuple[str, str], int] = {}
    for q in data.test:
        if q.text and q.relevant:
            qid = queries.setdefault(q.text, q.uid)
            qrels.update({(qid, d): 1 for d in q.relevant})
    return retrieval_tables(
        [(did, "", text) for did, text in data.corpus],
        [(qid, text) for text, qid in queries.items()],
        [(q, d, s) for (q, d), s in qrels.items()],
    )


def _tatqa_reranking(files: SourceFiles) -> Tables:
    data = _tatqa(files)
    kept = [q for q in data.test if q.text and q.relevant and set(q.candidates) - set(q.relevant)]
    used = {d for q in kept for d in q.candidates}
    return retrieval_tables(
        [(did, "", text) for did, text in data.corpus if did in used],
        [(q.uid, q.text) for q in kept],
        [(q.uid, d, 1) for q in kept for d in q.relevant],
        candidates={q.uid: q.candidates for q in kept},
    )


def _tatqa_answer_type(files: SourceFiles) -> Tables:
    data = _tatqa(files)
    return classification_native(
        ((q.text, q.answer_type) for q in data.dev), ((q.text, q.answer_type) for q in data.test)
    )


# ----------------------------------------------------------------------------- FinanceBench
@dataclass(frozen=True)
class _FinanceBench:
    pages: tuple[tuple[str, str, str, str], ...]  # (page id, doc name, page text, GICS sector)
    questions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (id, question, evidence page ids)


@parse_once
def _financebench_parsed(files: SourceFiles, src: Source, qa_name: str, doc_name: str) -> _FinanceBench:
    sector = {_field(src, doc_name, d, "doc_name"): _clean(d.get("gics_sector")) for d in files.jsonl(src, doc_name)}
    pages: dict[str, tuple[str, str, str, str]] = {}
    questions = []
    for rec in files.jsonl(src, qa_name):
        ids = []
        for ev in _field(src, qa_name, rec, "evidence"):
            doc = ev["doc_name"]
            if doc not in sector:
                raise DataError(src.key, doc_name, f"no document information for {doc!r}")
            pid = f"{doc}_p{ev['evidence_page_num']}"
            pages.setdefault(pid, (pid, doc, _clean(ev["evidence_text_full_page"]), sector[doc]))
            ids.append(pid)
        questions.append((rec["financebench_id"], _clean(rec["question"]), tuple(dict.fromkeys(ids))))
    return _FinanceBench(tuple(pages.values()), tuple(questions))


def _financebench(files: SourceFiles) -> _FinanceBench:
    return _financebench_parsed(
        files, FINANCEBENCH, "financebench_open_source.jsonl", "financebench_document_information.jsonl"
    )


def _financebench_retrieval(files: SourceFiles) -> Tables:
    data = _financebench(files)
    pages = [p for p in data.pages if p[2]]
    keep = {p[0] for p in pages}
    questions = [(qid, text, [d for d in ids if d in keep]) for qid, text, ids in data.questions]
    questions = [q for q in questions if q[1] and q[2]]
    return retrieval_tables(
        [(pid, doc.replace("_", " "), text) for pid, doc, text, _ in pages],
        [(qid, text) for qid, text, _ in questions],
        [(qid, d, 1) for qid, _, ids in questions for d in ids],
    )


def _financebench_sectors(files: SourceFiles) -> Tables:
    rows = unambiguous((text, sector) for _, _, text, sector in _financebench(files).pages if sector)
    return labelled_tables({"test": rows}, TaskType.CLUSTERING)


# ----------------------------------------------------------------------------- SubjECTive-QA
_SUBJ_FILE = "final_datasets_test_5768.xlsx"


@dataclass(frozen=True)
class _QAPair:
    call: str  # ticker / quarter / year of the earnings call
    question: str
    answer: str
    features: dict[str, int]


@parse_once
def _subjective_parsed(files: SourceFiles, src: Source, name: str) -> tuple[_QAPair, ...]:
    out = []
    for rec in _xlsx_records(files, src, name):
        call = "/".join(_clean(_field(src, name, rec, k)) for k in ("TICKER", "QUARTER", "YEAR"))
        feats = {}
        for k in ("CLEAR", "ASSERTIVE", "CAUTIOUS", "OPTIMISTIC", "SPECIFIC", "RELEVANT"):
            value = _field(src, name, rec, k)
            if value not in (0, 1, 2):
                raise DataError(src.key, name, f"{k} must be 0, 1 or 2, got {value!r}")
            feats[k] = int(value)
        q, a = _clean(rec["QUESTION"]), _clean(rec["ANSWER"])
        if q and a:
            out.append(_QAPair(call, q, a, feats))
    return tuple(out)


def _subjective(files: SourceFiles) -> tuple[_QAPair, ...]:
    return _subjective_parsed(files, SUBJECTIVE_QA, _SUBJ_FILE)


def _subjective_retrieval(files: SourceFiles) -> Tables:
    pairs = _subjective(files)
    corpus = {f"a{text_id(p.answer)}": p.answer for p in pairs}
    queries: dict[str, str] = {}  # question text -> id
    qrels: dict[tuple[str, str], int] = {}
    for p in pairs:
        if p.features["RELEVANT"] > 0:  # answers rated not relevant (0) stay in the corpus as distractors
            qid = queries.setdefault(p.question, f"q{text_id(p.question)}")
            key = (qid, f"a{text_id(p.answer)}")
            qrels[key] = max(qrels.get(key, 0), p.features["RELEVANT"])
    return retrieval_tables(
        [(did, "", text) for did, text in corpus.items()],
        [(qid, text) for text, qid in queries.items()],
        [(q, d, s) for (q, d), s in qrels.items()],
    )


def _subjective_pairs(files: SourceFiles) -> Tables:
    pairs = _subjective(files)
    answers_of: dict[str, set[str]] = defaultdict(set)  # a question's own answers are never negatives
    by_call: dict[str, list[_QAPair]] = defaultdict(list)
    for p in pairs:
        answers_of[p.question].add(p.answer)
        by_call[p.call].append(p)
    rng = random.Random(SEED)
    out: dict[tuple[str, str], int] = {}
    for call in sorted(by_call):
        for p in by_call[call]:
            out.setdefault((p.question, p.answer), int(p.features["RELEVANT"] > 0))
            others = sorted({o.answer for o in by_call[call]} - answers_of[p.question])
            if others:
                out.setdefault((p.question, rng.choice(others)), 0)
    return pair_tables([(q, a, label) for (q, a), label in out.items()], TaskType.PAIR_CLASSIFICATION)


def _subjective_feature(feature: str):
    def build(files: SourceFiles) -> Tables:
        return classification_halves((p.answer, str(p.features[feature])) for p in _subjective(files))

    return build


# ----------------------------------------------------------------------------- tasks
_task = partial(task_spec, Domain.FINANCE)

TASKS: list[TaskSpec] = [
    # --- classification
    _task(
        "FinPhraseBankClassification",
        TaskType.CLASSIFICATION,
        "Classify a sentence from English financial news about Finnish companies as positive, neutral or "
        "negative for the stock price from an investor's view. Financial PhraseBank v1.0, the subset on "
        "which all 5-8 annotators with finance background agreed (Sentences_AllAgree); duplicate sentences "
        "are kept once." + _SPLIT_NOTE,
        (PHRASEBANK,),
        _phrasebank,
        annotations="expert-annotated",
        mteb_domains=("Financial", "News"),
    ),
    _task(
        "TwitterFinNewsSentimentClassification",
        TaskType.CLASSIFICATION,
        "Classify a finance-news tweet as bearish, bullish or neutral (human-annotated Twitter Financial News "
        "Sentiment). Train = the released train split, test = the released validation split.",
        (TWITTER,),
        _twitter,
        mteb_domains=("Financial", "News", "Social"),
    ),
    _task(
        "FOMCHawkishDovishClassification",
        TaskType.CLASSIFICATION,
        "Classify a sentence from FOMC meeting minutes, press conferences or speeches as hawkish, dovish or "
        "neutral on monetary policy (Trillion Dollar Words; labels by the authors' annotation guide). "
        "Released train/test split with seed 5768.",
        (FOMC,),
        _fomc,
        annotations="expert-annotated",
        mteb_domains=("Financial", "Government"),
    ),
    _task(
        "FinNumClaimClassification",
        TaskType.CLASSIFICATION,
        "Decide whether a sentence with numbers from an analyst report or an earnings call states a numerical "
        "claim (a forward-looking projection) or a fact (Numerical Claim Detection in Finance; expert labels). "
        "Analyst-report and earnings-call sentences are pooled; released train/test splits with seed 5768.",
        (FIN_NUM_CLAIM,),
        _fin_num_claim,
        annotations="expert-annotated",
        mteb_domains=_FIN,
    ),
    _task(
        "SemEval2017FinHeadlineSentimentClassification",
        TaskType.CLASSIFICATION,
        "Classify a financial news headline as positive or negative. SemEval-2017 Task 5 subtask 2 gives a "
        "company-level sentiment score in [-1, 1] by expert annotators; the label is its sign. Scores of "
        "exactly 0 are dropped, and a headline scored for several companies is kept once if all its scores "
        "share a sign and dropped otherwise." + _SPLIT_NOTE,
        (SEMEVAL,),
        _semeval,
        annotations="expert-annotated",
        mteb_domains=("Financial", "News"),
    ),
    _task(
        "FiQA2018PostSentimentClassification",
        TaskType.CLASSIFICATION,
        "Classify a StockTwits microblog post as positive or negative about its target stock. FiQA-2018 "
        "Task 1 gives a sentiment score in [-1, 1] per post target; the label is its sign (the one score "
        "of exactly 0 is dropped)." + _SPLIT_NOTE,
        (FIQA,),
        _fiqa_sentiment,
        mteb_domains=("Financial", "Social"),
    ),
    _task(
        "TATQAAnswerTypeClassification",
        TaskType.CLASSIFICATION,
        "Classify a question about a company's financial report by the kind of answer it needs, as annotated "
        "in TAT-QA: span, multi-span, arithmetic (a computed value) or count. Train = TAT-QA dev questions, "
        "test = TAT-QA test (gold) questions; question texts occurring in test are dropped from train.",
        (TATQA,),
        _tatqa_answer_type,
        annotations="expert-annotated",
        mteb_domains=_FIN,
    ),
    _task(
        "SubjectiveQASpecificityClassification",
        TaskType.CLASSIFICATION,
        "Rate how specific an executive's answer in an earnings-call Q&A is (0, 1 or 2, the SubjECTive-QA "
        "SPECIFIC feature, human-annotated). Text = the answer alone; answers occurring with different "
        "ratings are dropped." + _SPLIT_NOTE,
        (SUBJECTIVE_QA,),
        _subjective_feature("SPECIFIC"),
        mteb_domains=("Financial", "Spoken"),
    ),
    _task(
        "SubjectiveQAOptimismClassification",
        TaskType.CLASSIFICATION,
        "Rate how optimistic an executive's answer in an earnings-call Q&A is (0, 1 or 2, the SubjECTive-QA "
        "OPTIMISTIC feature, human-annotated). Text = the answer alone; answers occurring with different "
        "ratings are dropped." + _SPLIT_NOTE,
        (SUBJECTIVE_QA,),
        _subjective_feature("OPTIMISTIC"),
        mteb_domains=("Financial", "Spoken"),
    ),
    # --- retrieval and reranking
    _task(
        "TATQARetrieval",
        TaskType.RETRIEVAL,
        "Retrieve the table or paragraph of an annual report that answers a TAT-QA test question. Corpus = "
        "every table (one line per row, cells joined by ' | ') and paragraph of the dev and test reports, "
        "duplicates merged. Relevant = the annotated evidence: the table when the answer comes from the "
        "table, plus the annotated paragraphs (rel_paragraphs). Questions with identical text are merged "
        "into one query with the union of their evidence. Many TAT-QA questions presume their report "
        "('What was the revenue in 2019?'), so this is hard by design.",
        (TATQA,),
        _tatqa_retrieval,
        annotations="expert-annotated",
        mteb_domains=_FIN,
    ),
    _task(
        "TATQAReranking",
        TaskType.RERANKING,
        "Rerank the table and paragraphs of one annual report for a TAT-QA test question about it. "
        "Candidates = the report's table and paragraphs; relevant = the annotated evidence (the table when "
        "the answer comes from the table, plus rel_paragraphs). Questions whose every candidate is relevant "
        "are dropped.",
        (TATQA,),
        _tatqa_reranking,
        annotations="expert-annotated",
        mteb_domains=_FIN,
    ),
    _task(
        "FinanceBenchEvidenceRetrieval",
        TaskType.RETRIEVAL,
        "Retrieve the SEC filing page (10-K, 10-Q, 8-K, earnings report) holding the evidence for a "
        "FinanceBench question. Corpus = every distinct evidence page of the open-source sample (full page "
        "text, title = the filing's name, e.g. '3M 2018 10K'); relevant = the pages of the question's "
        "expert-annotated evidence.",
        (FINANCEBENCH,),
        _financebench_retrieval,
        annotations="expert-annotated",
        mteb_domains=_FIN,
    ),
    _task(
        "SubjectiveQARetrieval",
        TaskType.RETRIEVAL,
        "Retrieve the executive's answer to an analyst's question from earnings-call Q&A (SubjECTive-QA "
        "test split, 115 calls). Corpus = every distinct answer; relevant = the answer(s) given to that "
        "question in the transcript, graded by the annotated RELEVANT rating (2 = relevant, 1 = partly); "
        "answers rated not relevant (0) are not judged relevant and stay as distractors. Identical "
        "questions are one query.",
        (SUBJECTIVE_QA,),
        _subjective_retrieval,
        mteb_domains=("Financial", "Spoken"),
    ),
    # --- pair classification
    _task(
        "SubjectiveQAPairClassification",
        TaskType.PAIR_CLASSIFICATION,
        "Decide whether an answer from an earnings call responds to the given analyst question. Positives "
        "are the transcript's own (question, answer) pairs; negatives are DERIVED: each question paired "
        f"with another answer from the same call (a hard negative, drawn with random.Random({SEED})), plus "
        "the transcript pairs whose answer annotators rated not relevant (RELEVANT = 0).",
        (SUBJECTIVE_QA,),
        _subjective_pairs,
        annotations="derived",
        mteb_domains=("Financial", "Spoken"),
    ),
    # --- clustering
    _task(
        "FiQA2018PostAspectClustering",
        TaskType.CLUSTERING,
        "Cluster StockTwits posts by the aspect annotated in FiQA-2018 Task 1, cut to its first two levels "
        "(e.g. 'Stock/Price Action', 'Stock/Technical Analysis', 'Corporate/Risks'; 21 aspects).",
        (FIQA,),
        _fiqa_aspects,
        mteb_domains=("Financial", "Social"),
    ),
    _task(
        "FinanceBenchSectorClustering",
        TaskType.CLUSTERING,
        "Cluster SEC filing pages (FinanceBench evidence pages) by the GICS sector of the filing company, "
        "as given in FinanceBench's document information file. Small (one row per distinct page) and weak: "
        "many pages are generic financial statements.",
        (FINANCEBENCH,),
        _financebench_sectors,
        mteb_domains=_FIN,
    ),
    # --- OpenStax Principles of Finance 2e (labels derived from the book's structure)
    *openstax_tasks(OPENSTAX_FINANCE, Domain.FINANCE, "OpenStaxFinance", _FIN),
]
