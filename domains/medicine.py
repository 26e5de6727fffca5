"""The medicine suite: sources and tasks.

Eight biomedical / consumer-health datasets give fourteen tasks over seven task types, and the
OpenStax *Anatomy and Physiology 2e* textbook adds its structure-derived tasks
(:mod:`domainemb.domains.openstax`). Labels are the datasets' own wherever they exist; where a task
takes its relevance from how the data was built (MedQuAD answers are the sections of the NIH pages
their questions were generated from, PubMedQA questions are the titles of their abstracts), the
spec says so and is marked ``annotations="derived"``.

Not used: BIOSSES' negation/antonym subsets (all pairs are contradictions, so no second class or
graded score), HealthVer's train split and the Medical Abstracts train split (not in the snapshot),
and MeQSum as a summarization task (mteb's Summarization needs human-scored machine summaries).

Training corpus (``TRAINING_CORPORA``, feeding no task): the OpenStax *Microbiology* textbook (see
:mod:`domainemb.domains.corpora`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from domainemb.domains.corpora import PassageUnit, TrainingCorpus
from domainemb.domains.helpers import collapse_whitespace, parse_once, task_spec, text_id
from domainemb.domains.openstax import openstax_source, openstax_tasks
from domainemb.domains.readers import SourceFiles, decode
from domainemb.domains.splits import HALVES_NOTE, classification_halves, halves, unambiguous
from domainemb.domains.tables import (
    Tables,
    labelled_tables,
    pair_tables,
    retrieval_tables,
)
from domainemb.errors import DataError
from domainemb.types import Domain, LicenceFlag, Source, SourceFile, TaskSpec, TaskType

# ----------------------------------------------------------------------------- sources
BIOSSES = Source(
    key="medicine/biosses",
    repo="https://github.com/kathrinblagec/neural-sentence-embedding-models-for-biomedical-applications",
    commit="36a0baff84935e9adf3affd4ec92940fd5332efe",
    files=(
        SourceFile(
            "sentences-and-calculated-similarities.csv",
            "1bf16a61c13b605917e5e90305789c33b8f232336d095886eb46c9117b10eba9",
            "data/sentences-and-calculated-similarities.csv",
        ),
    ),
    licence="GPL-3.0 (original BIOSSES release and its dataset cards; the mirror repository has no licence file)",
    licence_flag=LicenceFlag.COPYLEFT,
    citation=(
        'Soğancıoğlu, Öztürk, Özgür, "BIOSSES: a semantic sentence similarity estimation system for the '
        'biomedical domain", Bioinformatics 33(14):i49-i58 (2017); mirror from Blagec et al., "Neural sentence '
        'embedding models for semantic similarity estimation in the biomedical domain", '
        "BMC Bioinformatics 20:178 (2019)."
    ),
    mteb_license="gpl-3.0",
)
HOC = Source(
    key="medicine/hallmarks-of-cancer",
    repo="https://github.com/sb895/Hallmarks-of-Cancer",
    commit="3bc6e6deb90cf5bc4f9988c493fe2c32e9b3cf2a",
    files=(SourceFile("HoC-text-labels.tar.xz", "4ad64bc9fd11bb18e2fadc91e6f1217042f612814ed7e8eccbbcfbe1554ceb54"),),
    licence="GPL-3.0 (LICENSE)",
    licence_flag=LicenceFlag.COPYLEFT,
    citation=(
        'Baker, Silins, Guo, Ali, Högberg, Stenius, Korhonen, "Automatic semantic classification of scientific '
        'literature according to the hallmarks of cancer", Bioinformatics 32(3):432-440 (2016).'
    ),
    mteb_license="gpl-3.0",
)
HEALTHVER = Source(
    key="medicine/healthver",
    repo="https://github.com/sarrouti/HealthVer",
    commit="b20ac99ceed62f5264a319fa25a854df1668d85b",
    files=(
        SourceFile(
            "healthver_test.csv",
            "cf457d2dcddd7a736408082d0037527884f7ca3bda06729e1da5ec9e3b135819",
            "data/healthver_test.csv",
        ),
    ),
    licence="No licence file or statement in the repository (NIH/NLM authors; evidence from CORD-19 abstracts)",
    licence_flag=LicenceFlag.UNCLEAR,
    citation=(
        'Sarrouti, Ben Abacha, Mrabet, Demner-Fushman, "Evidence-based Fact-Checking of Health-related Claims", '
        "Findings of EMNLP 2021."
    ),
)
MEDICAL_ABSTRACTS = Source(
    key="medicine/medical-abstracts-tc",
    repo="https://github.com/sebischair/Medical-Abstracts-TC-Corpus",
    commit="70a2d9106c724729be8b3c4ddb00d1b14ec300c8",
    files=(
        SourceFile(
            "medical_tc_test.csv",
            "1eecea73c9ecad292c55e10403bd139fab9580545d6878482997c5564d51ac05",
            "medical_tc_test.csv",
        ),
        SourceFile(
            "medical_tc_labels.csv",
            "8a27ae03339c798103678efa8012f744a723ff71a80f2b2c1355ee249564adc5",
            "medical_tc_labels.csv",
        ),
    ),
    licence="CC BY-SA 3.0 Unported (LICENSE)",
    licence_flag=LicenceFlag.OPEN,
    citation=(
        'Schopf, Braun, Matthes, "Evaluating Unsupervised Text Classification: Zero-shot and Similarity-based '
        'Approaches", NLPIR 2022 (doi:10.1145/3582768.3582795).'
    ),
    mteb_license="cc-by-sa-3.0",
)
MQP = Source(
    key="medicine/medical-question-pairs",
    repo="https://github.com/curai/medical-question-pair-dataset",
    commit="6c7f7fd7a53cedc6fec105c0c6cb78f2e9a82cd1",
    files=(SourceFile("mqp.csv", "94ecd609a9ca9350e1cff2438aa55a034762f01c1a68732aaae3e4be7b03cf57", "mqp.csv"),),
    licence="No licence file in the repository (Hugging Face card: unknown); questions from a public HealthTap crawl",
    licence_flag=LicenceFlag.UNCLEAR,
    citation=(
        'McCreery, Katariya, Kannan, Chablani, Amatriain, "Effective Transfer Learning for Identifying Similar '
        'Questions: Matching User Questions to COVID-19 FAQs", KDD 2020 (arXiv:2008.13546).'
    ),
)
MEDQUAD = Source(
    key="medicine/medquad",
    repo="https://github.com/abachaa/MedQuAD",
    commit="577bd37b96c02d1833b2c9eed2de9f96964e96cb",
    files=(SourceFile("MedQuAD-xml.tar.xz", "72043dc166d3912d5220d2dcd601ef5e15de57357d2ec3df4e65f5caf69ae735"),),
    licence="CC BY 4.0 (LICENSE.txt, readme.txt)",
    licence_flag=LicenceFlag.OPEN,
    citation=(
        'Ben Abacha, Demner-Fushman, "A Question-Entailment Approach to Question Answering", '
        "BMC Bioinformatics 20:511 (2019)."
    ),
    mteb_license="cc-by-4.0",
)
MEQSUM = Source(
    key="medicine/meqsum",
    repo="https://github.com/abachaa/MeQSum",
    commit="51e36cf65c12602333b6fdc3ae8ecf10430529f7",
    files=(
        SourceFile(
            "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx",
            "abedd939d5014306ca576522416bf69103e85dc8fcf1668a4099e8b84a39eeea",
            "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx",
        ),
    ),
    licence="CC BY 4.0 (README)",
    licence_flag=LicenceFlag.OPEN,
    citation='Ben Abacha, Demner-Fushman, "On the Summarization of Consumer Health Questions", ACL 2019.',
    mteb_license="cc-by-4.0",
)
PUBMEDQA = Source(
    key="medicine/pubmedqa",
    repo="https://github.com/pubmedqa/pubmedqa",
    commit="1cbae8e92f72f20c8d3747cbb3bf5bc53554d997",
    files=(
        SourceFile(
            "ori_pqal.json", "8b3276be8942ebbd77f3ddcda12c1749bf0e490045a736fd8438ee40cf37a41d", "data/ori_pqal.json"
        ),
        SourceFile(
            "test_ground_truth.json",
            "939fe566f09017d13b1ca64d2ddfee0bc2374b366048152997669cccedc44d51",
            "data/test_ground_truth.json",
        ),
    ),
    licence="MIT (LICENSE)",
    licence_flag=LicenceFlag.OPEN,
    citation=(
        'Jin, Dhingra, Liu, Cohen, Lu, "PubMedQA: A Dataset for Biomedical Research Question Answering", '
        "EMNLP-IJCNLP 2019."
    ),
    mteb_license="mit",
)
OPENSTAX_ANATOMY = openstax_source(
    key="medicine/openstax-anatomy-physiology-2e",
    repo="https://github.com/openstax/osbooks-anatomy-physiology",
    commit="f3a1239631d5cc525e4b46874b6cdc3ca4fda15a",
    archive="openstax-anatomy-physiology-2e-cnxml.tar.xz",
    sha256="d410466c901217f0c1d70758347061d7dae9eb28a08cc0c5dfe824ca812f05cb",
    licence="CC BY-NC-SA 4.0 (LICENSE / README)",
    citation='Betts, Young, Wise, et al., "Anatomy and Physiology 2e", OpenStax, Rice University (2022).',
)

SOURCES: list[Source] = [BIOSSES, HOC, HEALTHVER, MEDICAL_ABSTRACTS, MQP, MEDQUAD, MEQSUM, PUBMEDQA, OPENSTAX_ANATOMY]


# ----------------------------------------------------------------------------- training corpora
OPENSTAX_MICROBIOLOGY = openstax_source(
    key="medicine/openstax-microbiology",
    repo="https://github.com/openstax/osbooks-microbiology",
    commit="f1d8d4e9941417f25610a239045c35488d56cf22",
    archive="openstax-microbiology-cnxml.tar.xz",
    sha256="a9c970d3b5168fc0c4f4dba1c4ce7bb7e84f2d6098b38a9c7e924ec99cb1651c",
    licence="CC BY-NC-SA 4.0 (LICENSE / README)",
    citation=(
        "Nina Parker, Mark Schneegurt, Anh-Hue Thi Tu, Philip Lister, Brian M. Forster. Microbiology. OpenStax, "
        "Rice University, Houston, Texas."
    ),
)

TRAINING_CORPORA: list[TrainingCorpus] = [
    TrainingCorpus(
        OPENSTAX_MICROBIOLOGY,
        PassageUnit.PARAGRAPH,
        "the OpenStax Microbiology textbook, a different book from Anatomy and Physiology 2e",
    ),
]


# ----------------------------------------------------------------------------- shared helpers
def _dict_rows(files: SourceFiles, src: Source, name: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """CSV rows as dicts keyed by the header row, which must hold ``columns``."""
    header, *rows = files.csv_rows(src, name)
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(src.key, name, f"missing column {missing[0]!r} (header: {header})")
    return [dict(zip(header, row)) for row in rows]


# ----------------------------------------------------------------------------- BIOSSES
def _biosses_sts(files: SourceFiles) -> Tables:
    name = "sentences-and-calculated-similarities.csv"
    pairs = []
    for r in _dict_rows(files, BIOSSES, name, ("Sentence 1", "Sentence 2", "Annotation scores")):
        try:
            score = float(r["Annotation scores"])
        except ValueError:
            raise DataError(BIOSSES.key, name, f"non-numeric score {r['Annotation scores']!r}") from None
        pairs.append((collapse_whitespace(r["Sentence 1"]), collapse_whitespace(r["Sentence 2"]), score))
    return pair_tables(pairs, TaskType.STS)


# ----------------------------------------------------------------------------- Hallmarks of Cancer
HALLMARKS = (
    "Activating invasion and metastasis",
    "Avoiding immune destruction",
    "Cellular energetics",
    "Enabling replicative immortality",
    "Evading growth suppressors",
    "Genomic instability and mutation",
    "Inducing angiogenesis",
    "Resisting cell death",
    "Sustaining proliferative signaling",
    "Tumor promoting inflammation",
)


_HOC_ARCHIVE = "HoC-text-labels.tar.xz"


@parse_once
def _hoc_abstracts(files: SourceFiles, src: Source, name: str) -> list[tuple[str, tuple[str, ...]]]:
    """(abstract, its top-level hallmarks) per PMID, in PMID order.

    A labels file holds one ``<``-prefixed field per sentence; a field lists that sentence's labels
    joined by ``AND`` (``NULL`` or blank = none), each a ``--``-joined path in the 37-class taxonomy.
    The abstract's labels are the union of the top-level hallmarks over its sentences.
    """
    texts: dict[str, str] = {}
    labels: dict[str, str] = {}
    for member, data in files.tar_members(src, name):
        parts = Path(member).parts
        if len(parts) == 3 and parts[1] in ("text", "labels") and parts[2].endswith(".txt"):
            (texts if parts[1] == "text" else labels)[parts[2][:-4]] = decode(data, src.key, member)
    if not texts or set(texts) != set(labels):
        raise DataError(src.key, name, "text/ and labels/ do not hold the same PMIDs")
    out = []
    for pmid in sorted(texts):
        hallmarks: set[str] = set()
        for field in labels[pmid].split("<")[1:]:
            for label in re.split(r"\s+AND\s*", field):
                label = label.strip()
                if label and label != "NULL":
                    top = label.split("--")[0].strip()
                    if top not in HALLMARKS:
                        raise DataError(src.key, f"HoC/labels/{pmid}.txt", f"unknown hallmark {top!r}")
                    hallmarks.add(top)
        text = collapse_whitespace(texts[pmid])
        if text:
            out.append((text, tuple(sorted(hallmarks))))
    return out


def _hoc_multilabel(files: SourceFiles) -> Tables:
    split = halves(((t, list(ls)) for t, ls in _hoc_abstracts(files, HOC, _HOC_ARCHIVE)), stratum=tuple)
    return labelled_tables(split, TaskType.MULTILABEL_CLASSIFICATION)


def _hoc_clustering(files: SourceFiles) -> Tables:
    rows = [(t, ls[0]) for t, ls in _hoc_abstracts(files, HOC, _HOC_ARCHIVE) if len(ls) == 1]
    return labelled_tables({"test": rows}, TaskType.CLUSTERING)


# ----------------------------------------------------------------------------- HealthVer
def _healthver(files: SourceFiles) -> list[tuple[str, str, str, str]]:
    """Distinct (claim, evidence, label, topic question) rows of the test split."""
    rows = {
        (
            collapse_whitespace(r["claim"]),
            collapse_whitespace(r["evidence"]),
            r["label"].strip(),
            collapse_whitespace(r["question"]),
        )
        for r in _dict_rows(files, HEALTHVER, "healthver_test.csv", ("claim", "evidence", "label", "question"))
    }
    bad = {r[2] for r in rows} - {"Supports", "Refutes", "Neutral"}
    if bad:
        raise DataError(HEALTHVER.key, "healthver_test.csv", f"unknown label {sorted(bad)[0]!r}")
    return sorted(r for r in rows if r[0] and r[1])


def _healthver_pairs(files: SourceFiles) -> Tables:
    # As mteb's XNLI pair task: the entailment-like class (Supports) is 1, the contradiction (Refutes) 0,
    # and Neutral is left out.
    pairs = [(c, e, int(label == "Supports")) for c, e, label, _ in _healthver(files) if label != "Neutral"]
    return pair_tables(pairs, TaskType.PAIR_CLASSIFICATION)


def _healthver_reranking(files: SourceFiles) -> Tables:
    judged: dict[str, dict[str, int]] = defaultdict(dict)
    for claim, evidence, label, _ in _healthver(files):
        judged[claim][evidence] = int(label != "Neutral")
    judged = {c: ev for c, ev in judged.items() if 0 < sum(ev.values()) < len(ev)}
    corpus = {text_id(e): e for ev in judged.values() for e in ev}
    return retrieval_tables(
        [(did, "", text) for did, text in sorted(corpus.items())],
        [(f"q{text_id(c)}", c) for c in judged],
        [(f"q{text_id(c)}", text_id(e), s) for c, ev in judged.items() for e, s in ev.items()],
        candidates={f"q{text_id(c)}": [text_id(e) for e in ev] for c, ev in judged.items()},
    )


def _healthver_clustering(files: SourceFiles) -> Tables:
    topic_of = {claim: question for claim, _, _, question in _healthver(files)}
    size: dict[str, int] = defaultdict(int)
    for question in topic_of.values():
        size[question] += 1
    rows = [(claim, q) for claim, q in sorted(topic_of.items()) if size[q] >= 2]
    return labelled_tables({"test": rows}, TaskType.CLUSTERING)


# ----------------------------------------------------------------------------- Medical Abstracts
def _medical_abstracts(files: SourceFiles) -> list[tuple[str, str]]:
    labels = _dict_rows(files, MEDICAL_ABSTRACTS, "medical_tc_labels.csv", ("condition_label", "condition_name"))
    names = {r["condition_label"]: r["condition_name"] for r in labels}
    rows = []
    for r in _dict_rows(files, MEDICAL_ABSTRACTS, "medical_tc_test.csv", ("condition_label", "medical_abstract")):
        if r["condition_label"] not in names:
            raise DataError(MEDICAL_ABSTRACTS.key, "medical_tc_test.csv", f"unknown label {r['condition_label']!r}")
        text = collapse_whitespace(r["medical_abstract"])
        if text:
            rows.append((text, names[r["condition_label"]]))
    return sorted(unambiguous(rows))


def _medical_abstracts_classification(files: SourceFiles) -> Tables:
    return classification_halves(_medical_abstracts(files))


def _medical_abstracts_clustering(files: SourceFiles) -> Tables:
    return labelled_tables({"test": _medical_abstracts(files)}, TaskType.CLUSTERING)


# ----------------------------------------------------------------------------- Medical Question Pairs
def _mqp_pairs(files: SourceFiles) -> Tables:
    pairs = []
    for row in files.csv_rows(MQP, "mqp.csv"):  # no header: dr_id, question_1, question_2, label
        if len(row) != 4 or row[3] not in ("0", "1"):
            raise DataError(MQP.key, "mqp.csv", f"expected dr_id,question_1,question_2,0/1, got {row[:4]}")
        pairs.append((collapse_whitespace(row[1]), collapse_whitespace(row[2]), int(row[3])))
    return pair_tables([p for p in pairs if p[0] and p[1]], TaskType.PAIR_CLASSIFICATION)


# ----------------------------------------------------------------------------- MedQuAD
@dataclass(frozen=True)
class _QA:
    page: str  # archive member: one XML file = one NIH page about one focus
    question: str
    answer: str


def _is_stub(answer: str) -> bool:
    """Answers that hold no answer: a heading ("Topics"), an echo of the question, a dangling lead-in."""
    return len(answer.split()) < 5 or answer.endswith(("?", ":"))


_MEDQUAD_ARCHIVE = "MedQuAD-xml.tar.xz"


@parse_once
def _medquad_pairs(files: SourceFiles, src: Source, name: str) -> list[_QA]:
    """QA pairs with a usable answer (folders 10-12 had their answers removed for copyright)."""
    out = []
    for member, data in files.tar_members(src, name):
        if not member.endswith(".xml"):
            continue
        try:
            root = ET.fromstring(decode(data, src.key, member))
        except ET.ParseError as exc:
            raise DataError(src.key, member, f"malformed XML: {exc}") from None
        for pair in root.iter("QAPair"):
            question = collapse_whitespace(pair.findtext("Question") or "")
            answer = collapse_whitespace(pair.findtext("Answer") or "")
            if question and answer and not _is_stub(answer):
                out.append(_QA(member, question, answer))
    return sorted(set(out), key=lambda qa: (qa.page, qa.question, qa.answer))


def _medquad_retrieval(files: SourceFiles) -> Tables:
    qas = _medquad_pairs(files, MEDQUAD, _MEDQUAD_ARCHIVE)
    corpus = {text_id(qa.answer): qa.answer for qa in qas}
    queries = {f"q{text_id(qa.question)}": qa.question for qa in qas}
    qrels = dict.fromkeys((f"q{text_id(qa.question)}", text_id(qa.answer), 1) for qa in qas)
    return retrieval_tables([(d, "", t) for d, t in sorted(corpus.items())], queries.items(), qrels)


def _medquad_reranking(files: SourceFiles) -> Tables:
    qas = _medquad_pairs(files, MEDQUAD, _MEDQUAD_ARCHIVE)
    page_answers: dict[str, set[str]] = defaultdict(set)
    for qa in qas:
        page_answers[qa.page].add(qa.answer)
    relevant: dict[str, set[str]] = defaultdict(set)
    pool: dict[str, set[str]] = defaultdict(set)
    for qa in qas:
        relevant[qa.question].add(qa.answer)
        pool[qa.question] |= page_answers[qa.page]
    # Keep questions whose pages also answer other questions: those answers are the hard negatives.
    kept = [q for q in relevant if pool[q] - relevant[q]]
    corpus = {text_id(a): a for q in kept for a in pool[q]}
    return retrieval_tables(
        [(d, "", t) for d, t in sorted(corpus.items())],
        [(f"q{text_id(q)}", q) for q in kept],
        [(f"q{text_id(q)}", text_id(a), 1) for q in kept for a in sorted(relevant[q])],
        candidates={f"q{text_id(q)}": sorted(text_id(a) for a in pool[q]) for q in kept},
    )


# ----------------------------------------------------------------------------- MeQSum
def _meqsum_retrieval(files: SourceFiles) -> Tables:
    name = "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    header, *rows = files.xlsx_rows(MEQSUM, name)
    if tuple(header[:3]) != ("File", "CHQ", "Summary"):
        raise DataError(MEQSUM.key, name, f"expected columns File, CHQ, Summary, got {header[:3]}")
    pairs = sorted({(collapse_whitespace(str(r[1])), collapse_whitespace(str(r[2]))) for r in rows if r[1] and r[2]})
    return retrieval_tables(
        sorted({(text_id(s), "", s) for _, s in pairs}),
        sorted({(f"q{text_id(chq)}", chq) for chq, _ in pairs}),
        [(f"q{text_id(chq)}", text_id(s), 1) for chq, s in pairs],
    )


# ----------------------------------------------------------------------------- PubMedQA
def _pubmedqa(files: SourceFiles) -> tuple[dict[str, dict], set[str]]:
    items = files.json(PUBMEDQA, "ori_pqal.json")
    test = set(files.json(PUBMEDQA, "test_ground_truth.json"))
    missing = sorted(test - set(items))
    if missing:
        raise DataError(PUBMEDQA.key, "test_ground_truth.json", f"PMID {missing[0]} is not in ori_pqal.json")
    for pmid, item in items.items():
        absent = [k for k in ("QUESTION", "CONTEXTS", "LONG_ANSWER", "final_decision") if k not in item]
        if absent:
            raise DataError(PUBMEDQA.key, "ori_pqal.json", f"item {pmid} has no {absent[0]}")
    return items, test


def _pubmedqa_retrieval(files: SourceFiles) -> Tables:
    items, test = _pubmedqa(files)
    return retrieval_tables(
        [(pmid, "", collapse_whitespace(" ".join(it["CONTEXTS"]))) for pmid, it in sorted(items.items())],
        [(f"q{pmid}", collapse_whitespace(items[pmid]["QUESTION"])) for pmid in sorted(test)],
        [(f"q{pmid}", pmid, 1) for pmid in sorted(test)],
    )


def _pubmedqa_classification(files: SourceFiles) -> Tables:
    items, test = _pubmedqa(files)
    splits: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for pmid, it in sorted(items.items()):
        text = collapse_whitespace(f"{it['QUESTION']} {it['LONG_ANSWER']}")
        splits["test" if pmid in test else "train"].append((text, it["final_decision"]))
    seen = {t for t, _ in splits["test"]}
    splits["train"] = [r for r in splits["train"] if r[0] not in seen]
    return labelled_tables(splits, TaskType.CLASSIFICATION)


# ----------------------------------------------------------------------------- tasks
_ACADEMIC = ("Medical", "Academic")


_task = partial(task_spec, Domain.MEDICINE)


TASKS: list[TaskSpec] = [
    _task(
        "BiossesSTS",
        TaskType.STS,
        "Semantic similarity of 100 sentence pairs from biomedical papers (BIOSSES). Score = mean of five "
        "domain experts' 0-4 similarity ratings.",
        (BIOSSES,),
        _biosses_sts,
        min_score=0.0,
        max_score=4.0,
        annotations="expert-annotated",
        mteb_domains=_ACADEMIC,
    ),
    _task(
        "HallmarksOfCancerMultilabelClassification",
        TaskType.MULTILABEL_CLASSIFICATION,
        "Assign PubMed abstracts (tokenised, as released) the top-level hallmarks of cancer they discuss (10 "
        "classes; an abstract may have none). Experts labelled each sentence with the 37-class HoC taxonomy; an "
        "abstract's labels are the union of its sentences' top-level hallmarks. The corpus ships no split: "
        + HALVES_NOTE.format("label set"),
        (HOC,),
        _hoc_multilabel,
        annotations="expert-annotated",
        mteb_domains=_ACADEMIC,
    ),
    _task(
        "HallmarksOfCancerClustering",
        TaskType.CLUSTERING,
        "Cluster PubMed abstracts by the hallmark of cancer they discuss. Only abstracts whose expert sentence "
        "labels all fall under a single top-level hallmark are kept (10 clusters).",
        (HOC,),
        _hoc_clustering,
        annotations="expert-annotated",
        mteb_domains=_ACADEMIC,
    ),
    _task(
        "HealthVerPairClassification",
        TaskType.PAIR_CLASSIFICATION,
        "Decide whether a scientific evidence passage (CORD-19 abstract) supports a real-world COVID-19 health "
        "claim. HealthVer test split, annotated Supports / Refutes / Neutral; as in mteb's XNLI, Supports = 1, "
        "Refutes = 0 and Neutral pairs are left out. Duplicate rows are merged.",
        (HEALTHVER,),
        _healthver_pairs,
        mteb_domains=("Medical", "Academic", "Web"),
    ),
    _task(
        "HealthVerReranking",
        TaskType.RERANKING,
        "Rerank the evidence passages retrieved for a COVID-19 health claim: passages annotated as supporting or "
        "refuting the claim are relevant, passages annotated Neutral are judged non-relevant. HealthVer test "
        "split; candidates = every passage annotated for the claim; claims with only relevant or only neutral "
        "passages are left out.",
        (HEALTHVER,),
        _healthver_reranking,
        mteb_domains=("Medical", "Academic", "Web"),
    ),
    _task(
        "HealthVerClaimClustering",
        TaskType.CLUSTERING,
        "Cluster COVID-19 health claims by the search question they were collected for (HealthVer test split; "
        "each claim comes from the search-engine snippets returned for one question). Questions with a single "
        "claim are left out.",
        (HEALTHVER,),
        _healthver_clustering,
        mteb_domains=("Medical", "Web"),
    ),
    _task(
        "MedicalAbstractsClassification",
        TaskType.CLASSIFICATION,
        "Classify medical abstracts into 5 patient-condition classes (neoplasms, digestive system, nervous "
        "system, cardiovascular diseases, general pathological conditions), labels as released with the Medical "
        "Abstracts TC corpus. Only its test file is staged: it is deduplicated, abstracts released under two "
        "labels are dropped. " + HALVES_NOTE.format("label"),
        (MEDICAL_ABSTRACTS,),
        _medical_abstracts_classification,
        mteb_domains=_ACADEMIC,
    ),
    _task(
        "MedicalAbstractsClustering",
        TaskType.CLUSTERING,
        "Cluster medical abstracts by their patient-condition class (5 classes, labels as released with the "
        "Medical Abstracts TC corpus test file; duplicates merged, abstracts released under two labels dropped).",
        (MEDICAL_ABSTRACTS,),
        _medical_abstracts_clustering,
        mteb_domains=_ACADEMIC,
    ),
    _task(
        "MedicalQuestionPairsPairClassification",
        TaskType.PAIR_CLASSIFICATION,
        "Decide whether two patient questions ask the same thing (Medical Question Pairs). Doctors rewrote each "
        "HealthTap question once keeping its intent (label 1) and once into a related question with a different "
        "answer (label 0).",
        (MQP,),
        _mqp_pairs,
        annotations="expert-annotated",
        mteb_domains=("Medical", "Web"),
    ),
    _task(
        "MedQuADRetrieval",
        TaskType.RETRIEVAL,
        "Retrieve the answer to a consumer health question among all MedQuAD answers (NIH websites: "
        "CancerGov, GARD, GHR, MedlinePlus, NIDDK, NINDS, SeniorHealth, NHLBI, CDC). Question-answer pairs were "
        "built by the authors' patterns from the pages' section structure, so relevance is DERIVED: a question's "
        "relevant documents are the answers it was paired with. Identical questions are one query; answers "
        "removed for copyright and stub answers (headings, echoed questions) are dropped.",
        (MEDQUAD,),
        _medquad_retrieval,
        annotations="derived",
        mteb_domains=("Medical", "Web", "Government"),
    ),
    _task(
        "MedQuADReranking",
        TaskType.RERANKING,
        "Rerank the answers of one NIH page (same disease or focus: symptoms, causes, treatment, inheritance ...) "
        "for a MedQuAD question about that page; the relevant answers are the ones the question was paired "
        "with. Relevance is DERIVED from the pages' section structure by the MedQuAD patterns. Questions whose "
        "pages hold no other answer are left out.",
        (MEDQUAD,),
        _medquad_reranking,
        annotations="derived",
        mteb_domains=("Medical", "Web", "Government"),
    ),
    _task(
        "MeQSumRetrieval",
        TaskType.RETRIEVAL,
        "Retrieve the expert-written short summary question of a long consumer health question (MeQSum: e-mails "
        "sent to the U.S. National Library of Medicine, each summarised by medical experts). Corpus = the "
        "distinct summaries; identical summaries are one document.",
        (MEQSUM,),
        _meqsum_retrieval,
        annotations="expert-annotated",
        mteb_domains=("Medical", "Written"),
    ),
    _task(
        "PubMedQARetrieval",
        TaskType.RETRIEVAL,
        "Retrieve the abstract (without its conclusion) that a PubMedQA question was written from. Queries = the "
        "500 questions of the official PQA-L test split; corpus = all 1000 PQA-L abstracts. The question is "
        "the article's title (as a question), so relevance is DERIVED from the article structure.",
        (PUBMEDQA,),
        _pubmedqa_retrieval,
        annotations="derived",
        mteb_domains=_ACADEMIC,
    ),
    _task(
        "PubMedQAClassification",
        TaskType.CLASSIFICATION,
        "Classify a biomedical research question together with its abstract's conclusion into the answer "
        "yes / no / maybe (PubMedQA PQA-L, 'reasoning-free' setting; labels by two annotators with biomedical "
        "background). Test = the official 500-question test split; train = the other 500.",
        (PUBMEDQA,),
        _pubmedqa_classification,
        annotations="expert-annotated",
        mteb_domains=_ACADEMIC,
    ),
    *openstax_tasks(OPENSTAX_ANATOMY, Domain.MEDICINE, "OpenStaxAnatomy", ("Medical",)),
]
