"""The chemistry suite: sources and tasks.

Datasets (``shared/data/chemistry/``): ChEBI-20 (molecule descriptions + SMILES), ChemBench (exam-style
chemistry questions with topics and multiple-choice options), ChemProt (chemical-protein relation
sentences), ChemRxivQuest (questions grounded in ChemRxiv preprint full texts) and the OpenStax
Chemistry 2e textbook (structure-derived tasks, see :mod:`domainemb.domains.openstax`).

Training corpus (``TRAINING_CORPORA``, feeding no task): the OpenStax *Organic Chemistry* textbook
(see :mod:`domainemb.domains.corpora`).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from functools import partial

from domainemb.domains.corpora import PassageUnit, TrainingCorpus
from domainemb.domains.helpers import lowercase_alphanumerics, parse_once, task_spec, text_id
from domainemb.domains.openstax import openstax_source, openstax_tasks
from domainemb.domains.readers import SourceFiles, decode, parse_json
from domainemb.domains.splits import HALVES_NOTE, classification_halves, unambiguous
from domainemb.domains.tables import Tables, labelled_tables, retrieval_tables
from domainemb.errors import DataError
from domainemb.types import Domain, LicenceFlag, Source, SourceFile, TaskSpec, TaskType

_MTEB_DOMAINS = ("Chemistry",)

CHEBI20 = Source(
    key="chemistry/chebi20-molt5",
    repo="https://github.com/blender-nlp/MolT5",
    commit="754f9bffa4a638e2f1386d0ca19b5c3ed0a5b4aa",
    files=(
        SourceFile(
            "test.txt",
            "91776254b54ef13ad701ede0ecdbd7bcd30c19a66e52aa34a6dac8d0e7306d72",
            "ChEBI-20_data/test.txt",
        ),
        SourceFile(
            "validation.txt",
            "f410b58e6825986577d01b4f0c14b59ed61c1343a15118ba584de4bbcea1508c",
            "ChEBI-20_data/validation.txt",
        ),
    ),
    licence="BSD-3-Clause (MolT5 repo); descriptions from ChEBI via PubChem (CC BY 4.0)",
    licence_flag=LicenceFlag.OPEN,
    citation=(
        "Edwards, Lai, Ros, Honke, Cho, Ji. Translation between Molecules and Natural Language (MolT5). EMNLP 2022. "
        "Edwards, Zhai, Ji. Text2Mol: Cross-Modal Molecule Retrieval with Natural Language Queries. EMNLP 2021."
    ),
    mteb_license="cc-by-4.0",
)

CHEMBENCH = Source(
    key="chemistry/chembench",
    repo="https://github.com/lamalab-org/chembench-paper",
    commit="8fe22914b81978d180e6182ea982eb58e2e0e8dc",
    files=(
        SourceFile(
            "questions.csv",
            "e1e368af3ae904e23e17859874c8e623f8d49741e3c9c71d90f7a29b6abd0220",
            "src/data/questions.csv",
        ),
        SourceFile(
            "chembench-data-json.tar.xz",
            "c7950abfe3468359ef2d6bd81d45b20e40284bcdd0bdc96564265614fa53e221",
            None,
        ),
    ),
    licence="MIT (chem-bench and chembench-paper LICENSE); canary: keep out of training corpora",
    licence_flag=LicenceFlag.OPEN,
    citation=(
        "Mirza, Alampara, Kunchapu, et al., Jablonka. Are large language models superhuman chemists? "
        "(ChemBench). arXiv:2404.01475, 2024."
    ),
    mteb_license="mit",
)

CHEMPROT = Source(
    key="chemistry/chemprot-scibert",
    repo="https://github.com/allenai/scibert",
    commit="06793f77d7278898159ed50da30d173cdc8fdea9",
    files=(
        SourceFile(
            "train.txt",
            "ab17b85c4fb869b2338d7c9617414e63f3c7225e5005920b18d9cd996f1049d8",
            "data/text_classification/chemprot/train.txt",
        ),
        SourceFile(
            "test.txt",
            "372249c85ffea6d9a18dc5168cf45841b3d79b03412d6c620381cfc0dd3d6d49",
            "data/text_classification/chemprot/test.txt",
        ),
    ),
    licence="ChemProt corpus (BioCreative VI): no explicit licence, research use; SciBERT repo code Apache-2.0",
    licence_flag=LicenceFlag.UNCLEAR,
    citation=(
        "Krallinger et al. Overview of the BioCreative VI chemical-protein interaction Track. BioCreative VI, 2017. "
        "Beltagy, Lo, Cohan. SciBERT: A Pretrained Language Model for Scientific Text. EMNLP 2019."
    ),
    mteb_license="not specified",
)

CHEMRXIVQUEST = Source(
    key="chemistry/chemrxivquest",
    repo="https://github.com/mahmoud-amiri/ChemRxivQuest",
    commit="d45bed974ed9ae213f127fd4a68c1ade8204c8e7",
    files=(
        SourceFile(
            "chemrxivquest.csv",
            "186017015ddd532d05f60aaef3e618944b77a7db763ebe203602873ebb4f33d4",
            "data/chemrxivquest.csv",
        ),
        SourceFile(
            "sources.tsv",
            "e355af6fe280cf16667fa9f7427017b58831b981c4fb67c4bdae765a8a7a37f8",
            "data/sources.tsv",
        ),
        SourceFile(
            "chemrxivquest-full-text.tar.xz",
            "092577885e31a8901d4554ad8c9ae67ced6fbc71678fd58dc7501ca96d60cd63",
            None,
        ),
    ),
    licence="CC BY 4.0 (dataset and every source preprint)",
    licence_flag=LicenceFlag.OPEN,
    citation=(
        "Amiri, Bocklitz. ChemRxivQuest: A Curated Chemistry Question-Answer Database Extracted from ChemRxiv "
        "Preprints. arXiv:2505.05232, 2025."
    ),
    mteb_license="cc-by-4.0",
)

OPENSTAX_CHEM = openstax_source(
    key="chemistry/openstax-chemistry-2e",
    repo="https://github.com/openstax/osbooks-chemistry-bundle",
    commit="3be4b60ff501f29a445f0cacf003e5f5cc16244d",
    archive="openstax-chemistry-2e-cnxml.tar.xz",
    sha256="d0cb176188e4b2200d7feeb152bd7884be48ea650e9e4eebf30ba0a071adbb62",
    licence="CC BY-NC-SA 4.0",
    citation="Flowers, Theopold, Langley, Robinson. Chemistry 2e. OpenStax, Rice University, 2019.",
)

SOURCES: list[Source] = [CHEBI20, CHEMBENCH, CHEMPROT, CHEMRXIVQUEST, OPENSTAX_CHEM]


# ----------------------------------------------------------------------------- training corpora
OPENSTAX_ORGANIC = openstax_source(
    key="chemistry/openstax-organic-chemistry",
    repo="https://github.com/openstax/osbooks-organic-chemistry",
    commit="93b8bef22b8e4c712b638a16b66ab7f53057077f",
    archive="openstax-organic-chemistry-cnxml.tar.xz",
    sha256="09b9f65b8e507268d462b944ea88f6a98cd1e3dfa0e73126db100ec9de536446",
    licence="CC BY-NC-SA 4.0 (LICENSE / README)",
    citation="John McMurry. Organic Chemistry. OpenStax, Rice University, Houston, Texas.",
)

TRAINING_CORPORA: list[TrainingCorpus] = [
    TrainingCorpus(
        OPENSTAX_ORGANIC,
        PassageUnit.PARAGRAPH,
        "the OpenStax Organic Chemistry textbook, a different book from Chemistry 2e / Atoms First",
    ),
]


# ----------------------------------------------------------------------------- shared helpers
def _records(rows: list[list[str]], src: Source, name: str) -> list[dict[str, str]]:
    """Rows with a header -> dicts; ``#`` comment rows (SPDX headers) are skipped, widths checked."""
    rows = [r for r in rows if not r[0].startswith("#")]
    if not rows:
        raise DataError(src.key, name, "no header row")
    header, body = rows[0], rows[1:]
    for lineno, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(src.key, name, f"row {lineno} has {len(row)} fields, header has {len(header)}")
    return [dict(zip(header, row)) for row in body]


# ----------------------------------------------------------------------------- ChEBI-20
# "It has a role as a plant metabolite, an EC 3.1.1.7 (acetylcholinesterase) inhibitor and an antioxidant."
_ROLE_SENTENCE = re.compile(r"\s*(?:It|They) ha(?:s|ve) a role as (.+?)\.(?=\s+[A-Z]|\s*$)")
_ROLE_SPLIT = re.compile(r"(?:,\s*(?:and\s+)?|\s+and\s+)(?=(?:an?|the)\s)")
_MIN_ROLE_COUNT = 10  # per split: rarer roles give too few examples to score


@parse_once
def _chebi_rows(files: SourceFiles, src: Source, name: str) -> list[dict[str, str]]:
    rows = _records(files.csv_rows(src, name, delimiter="\t", quoting=csv.QUOTE_NONE), src, name)
    # The released files escape SMILES' "\" bond symbol as "\\"; undo it so the SMILES are valid.
    return [
        {**r, "SMILES": r["SMILES"].replace("\\\\", "\\")} for r in rows if r["SMILES"] and r["description"].strip()
    ]


def _roles(description: str) -> tuple[str, list[str]]:
    """(description without its role sentence, the ChEBI roles it lists)."""
    m = _ROLE_SENTENCE.search(description)
    if not m:
        return description, []
    roles = [re.sub(r"^(?:an?|the)\s+", "", r.strip()) for r in _ROLE_SPLIT.split(m.group(1))]
    text = (description[: m.start()] + description[m.end() :]).strip()
    return text, [r for r in roles if r]


def _chebi_text_to_molecule(files: SourceFiles) -> Tables:
    rows = _chebi_rows(files, CHEBI20, "test.txt")
    return retrieval_tables(
        [(r["CID"], "", r["SMILES"]) for r in rows],
        [(f"q{r['CID']}", r["description"]) for r in rows],
        [(f"q{r['CID']}", r["CID"], 1) for r in rows],
    )


def _chebi_roles(files: SourceFiles) -> Tables:
    splits = {
        split: [_roles(r["description"]) for r in _chebi_rows(files, CHEBI20, name)]
        for split, name in (("train", "validation.txt"), ("test", "test.txt"))
    }
    counts = {split: defaultdict(int) for split in splits}
    for split, rows in splits.items():
        for _, roles in rows:
            for role in set(roles):
                counts[split][role] += 1
    kept = {r for r in counts["train"] if min(counts["train"][r], counts["test"][r]) >= _MIN_ROLE_COUNT}
    out = {}
    for split, rows in splits.items():
        labelled = [(text, sorted(set(roles) & kept)) for text, roles in rows]
        out[split] = [(text, roles) for text, roles in labelled if roles and text]
    test_texts = {text for text, _ in out["test"]}
    out["train"] = [row for row in out["train"] if row[0] not in test_texts]
    return labelled_tables(out, TaskType.MULTILABEL_CLASSIFICATION)


# ----------------------------------------------------------------------------- ChemBench
_PREFERENCE = "Chemical Preference"  # SMILES-pair preference judgements: not natural-language questions
_WORD = re.compile(r"[A-Za-z]{3,}")


@parse_once
def _chembench_questions(files: SourceFiles, src: Source, name: str) -> list[tuple[str, str, str]]:
    """(JSON member path, topic, question text) for every non-preference question."""
    rows = _records(files.csv_rows(src, name), src, name)
    # The CSV's "question" column holds the JSON path (../data/<folder>/<file>.json), "content" the text.
    return [
        (r["question"].replace("../data/", "chembench-questions/", 1), r["topic"], r["content"].strip())
        for r in rows
        if r["topic"] != _PREFERENCE and r["content"].strip()
    ]


@parse_once
def _chembench_json(files: SourceFiles, src: Source, name: str) -> dict[str, dict]:
    return {
        member: parse_json(decode(data, src.key, member), src.key, member)
        for member, data in files.tar_members(src, name)
        if member.endswith(".json")
    }


def _chembench_topics(files: SourceFiles) -> list[tuple[str, str]]:
    questions = _chembench_questions(files, CHEMBENCH, "questions.csv")
    return unambiguous((text, topic) for _, topic, text in questions)


def _chembench_classification(files: SourceFiles) -> Tables:
    return classification_halves(_chembench_topics(files))


def _chembench_clustering(files: SourceFiles) -> Tables:
    return labelled_tables({"test": _chembench_topics(files)}, TaskType.CLUSTERING)


def _textual(option: str) -> bool:
    """An answer option with words, not only a formula, number or code (``\\ce{..}``, "H290", "3")."""
    return _WORD.search(re.sub(r"\\(?:ce|pu)\{[^}]*\}", "", option)) is not None


def _chembench_reranking(files: SourceFiles) -> Tables:
    questions = _chembench_questions(files, CHEMBENCH, "questions.csv")
    examples = _chembench_json(files, CHEMBENCH, "chembench-data-json.tar.xz")
    corpus: dict[str, str] = {}
    queries: dict[str, str] = {}
    qrels: list[tuple[str, str, int]] = []
    candidates: dict[str, list[str]] = {}
    seen: set[str] = set()
    for member, _, text in questions:
        if member not in examples:
            raise DataError(CHEMBENCH.key, "chembench-data-json.tar.xz", f"questions.csv lists missing {member}")
        scores = examples[member]["examples"][0].get("target_scores")
        if not scores:  # numeric-answer question: nothing to rank
            continue
        options = {o.strip(): float(s) > 0 for o, s in scores.items() if o.strip()}
        n_right = sum(options.values())
        if not 0 < n_right < len(options) or not all(map(_textual, options)):
            continue
        if text in seen:  # templated duplicates: keep the first question with this text
            continue
        seen.add(text)
        qid = f"q{text_id(member)}"
        queries[qid] = text
        candidates[qid] = []
        for option, right in sorted(options.items()):
            did = text_id(option)
            corpus.setdefault(did, option)
            candidates[qid].append(did)
            qrels.append((qid, did, int(right)))
    return retrieval_tables([(did, "", text) for did, text in corpus.items()], queries.items(), qrels, candidates)


# ----------------------------------------------------------------------------- ChemProt
def _chemprot_split(files: SourceFiles, name: str) -> list[tuple[str, str]]:
    return unambiguous((r["text"].strip(), r["label"]) for r in files.jsonl(CHEMPROT, name) if r["text"].strip())


def _chemprot_classification(files: SourceFiles) -> Tables:
    test = _chemprot_split(files, "test.txt")
    seen = {text for text, _ in test}
    train = [(t, label) for t, label in _chemprot_split(files, "train.txt") if t not in seen]
    return labelled_tables({"train": train, "test": test}, TaskType.CLASSIFICATION)


# ----------------------------------------------------------------------------- ChemRxivQuest
_CHUNK_MIN_WORDS, _CHUNK_MAX_WORDS, _WINDOW_WORDS, _CHUNK_MIN_TAIL = 100, 300, 200, 30
_MIN_SPAN_CHARS = 30  # shorter normalised spans match too many places to be evidence


def _chunks(text: str) -> list[str]:
    """Split a preprint into passages: paragraphs merged up to >= 100 words, long ones cut into 200-word windows.

    Pieces under 30 words (a last window, a heading before a long paragraph) join the previous passage.
    Every word lands in exactly one passage, in order, so the normalised passages concatenate to the
    normalised document.
    """
    out: list[str] = []
    buf: list[str] = []

    def emit(piece: str) -> None:
        if out and len(piece.split()) < _CHUNK_MIN_TAIL:
            out[-1] += "\n" + piece
        else:
            out.append(piece)

    def flush() -> None:
        if buf:
            emit("\n".join(buf))
            buf.clear()

    for para in re.split(r"\n\s*\n", text):
        words = para.split()
        if not words:
            continue
        if len(words) > _CHUNK_MAX_WORDS:
            flush()
            for i in range(0, len(words), _WINDOW_WORDS):
                emit(" ".join(words[i : i + _WINDOW_WORDS]))
            continue
        buf.append(" ".join(words))
        if sum(len(p.split()) for p in buf) >= _CHUNK_MIN_WORDS:
            flush()
    flush()
    return out


@parse_once
def _chemrxiv_docs(files: SourceFiles, src: Source, name: str) -> dict[int, list[str]]:
    docs = {}
    for member, data in files.tar_members(src, name):
        m = re.fullmatch(r".*/full-text/(\d+)\.txt", member)
        if m:
            docs[int(m.group(1))] = _chunks(decode(data, src.key, member))
    return dict(sorted(docs.items()))


def _chemrxiv_retrieval(files: SourceFiles) -> Tables:
    docs = _chemrxiv_docs(files, CHEMRXIVQUEST, "chemrxivquest-full-text.tar.xz")
    tsv = files.csv_rows(CHEMRXIVQUEST, "sources.tsv", delimiter="\t", quoting=csv.QUOTE_NONE)
    titles = {int(r["doc_id"]): r["title"].strip() for r in _records(tsv, CHEMRXIVQUEST, "sources.tsv")}
    corpus, bounds, norm_docs = [], {}, {}
    for n, chunks in docs.items():
        offsets, pos = [], 0
        for i, chunk in enumerate(chunks):
            corpus.append((f"{n}-{i}", titles.get(n, ""), chunk))
            pos += len(lowercase_alphanumerics(chunk))
            offsets.append(pos)
        bounds[n], norm_docs[n] = offsets, "".join(lowercase_alphanumerics(c) for c in chunks)

    queries, qrels = [], []
    rows = _records(files.csv_rows(CHEMRXIVQUEST, "chemrxivquest.csv"), CHEMRXIVQUEST, "chemrxivquest.csv")
    for k, row in enumerate(rows):
        # corpus_id names the preprint a question was generated from, but for about two thirds of the rows
        # the "references" span comes from a neighbouring preprint (off by one to three files) and does not
        # answer the question. Keep only questions whose span occurs in their own preprint: there the two
        # agree, and the passages overlapping the span are the relevant ones.
        m = re.fullmatch(r"full-text/(\d+)\.txt", row["corpus_id"].strip())
        n = int(m.group(1)) if m else -1
        if n not in norm_docs or not row["question"].strip():
            continue
        relevant: set[str] = set()
        for ref in parse_json(row["references"], CHEMRXIVQUEST.key, "chemrxivquest.csv"):
            # Spans are cut at character offsets: drop the (possibly partial) first and last words.
            words = ref["content"].split(" ")
            span = lowercase_alphanumerics(" ".join(words[1:-1]) if len(words) > 3 else ref["content"])
            start = norm_docs[n].find(span) if len(span) >= _MIN_SPAN_CHARS else -1
            while start >= 0:
                end = start + len(span)
                first = next(i for i, b in enumerate(bounds[n]) if b > start)
                last = next(i for i, b in enumerate(bounds[n]) if b >= end)
                relevant.update(f"{n}-{i}" for i in range(first, last + 1))
                start = norm_docs[n].find(span, start + 1)
        if relevant:
            qid = f"q{k}"
            queries.append((qid, row["question"].strip()))
            qrels += [(qid, did, 1) for did in sorted(relevant)]
    return retrieval_tables(corpus, queries, qrels)


# ----------------------------------------------------------------------------- tasks
_task = partial(task_spec, Domain.CHEMISTRY)


TASKS: list[TaskSpec] = [
    _task(
        "ChEBI20TextToMoleculeRetrieval",
        TaskType.RETRIEVAL,
        "Text-to-molecule retrieval on the ChEBI-20 test split (Text2Mol/MolT5): query = a ChEBI natural-language "
        "description of a molecule, corpus = the SMILES strings of all 3,300 test molecules, relevant = the "
        "described molecule's SMILES. Pairs are ChEBI's curated annotations.",
        (CHEBI20,),
        _chebi_text_to_molecule,
        annotations="expert-annotated",
        mteb_domains=_MTEB_DOMAINS,
    ),
    _task(
        "ChEBI20RoleMultilabelClassification",
        TaskType.MULTILABEL_CLASSIFICATION,
        "Predict a molecule's ChEBI roles (e.g. plant metabolite, antineoplastic agent, EC 3.* inhibitor) from its "
        "ChEBI-20 description with the 'It has a role as ...' sentence removed. Labels are the roles listed in "
        f"that sentence (ChEBI's curated role annotations), kept when they occur >= {_MIN_ROLE_COUNT} times in "
        "each split; molecules with no kept role are dropped. Train = ChEBI-20 validation split, test = test "
        "split (the train split is not staged).",
        (CHEBI20,),
        _chebi_roles,
        annotations="expert-annotated",
        mteb_domains=_MTEB_DOMAINS,
    ),
    _task(
        "ChemBenchTopicClassification",
        TaskType.CLASSIFICATION,
        "Classify a ChemBench question (exam, textbook and safety-sheet questions) into its topic as assigned "
        "by the ChemBench authors (Organic, Physical, Analytical, General, Inorganic, Technical Chemistry, "
        "Materials Science, Toxicity/Safety); the SMILES-pair 'Chemical Preference' questions are excluded. "
        + HALVES_NOTE.format("topic"),
        (CHEMBENCH,),
        _chembench_classification,
        annotations="expert-annotated",
        mteb_domains=_MTEB_DOMAINS,
    ),
    _task(
        "ChemBenchTopicClustering",
        TaskType.CLUSTERING,
        "Cluster ChemBench questions by their author-assigned topic (8 topics; the SMILES-pair 'Chemical "
        "Preference' questions are excluded; duplicate question texts are kept once).",
        (CHEMBENCH,),
        _chembench_clustering,
        annotations="expert-annotated",
        mteb_domains=_MTEB_DOMAINS,
    ),
    _task(
        "ChemBenchAnswerReranking",
        TaskType.RERANKING,
        "Rerank the answer options of a ChemBench multiple-choice question so that the correct option(s) "
        "(target score > 0 in the question file) come first. Only questions whose options are all worded text "
        "(not bare formulas, numbers or codes) and that have both right and wrong options are used; 'Chemical "
        "Preference' questions are excluded; repeated question texts are kept once.",
        (CHEMBENCH,),
        _chembench_reranking,
        annotations="expert-annotated",
        mteb_domains=_MTEB_DOMAINS,
    ),
    _task(
        "ChemProtRelationClassification",
        TaskType.CLASSIFICATION,
        "Classify the relation between the two marked entities (a chemical and a gene/protein, marked << >> "
        "and [[ ]] in order of appearance) in a PubMed sentence into one of the ChemProt relation types "
        "(INHIBITOR, SUBSTRATE, AGONIST, ...; 13 labels as released by SciBERT). Expert annotations from "
        "BioCreative VI; native train/test splits. Sentences "
        "carrying conflicting labels within a split are dropped, and test sentences are removed from train.",
        (CHEMPROT,),
        _chemprot_classification,
        annotations="expert-annotated",
        mteb_domains=_MTEB_DOMAINS,
    ),
    _task(
        "ChemRxivQuestRetrieval",
        TaskType.RETRIEVAL,
        "Retrieve the passage of a ChemRxiv preprint that answers a chemistry question. Questions were generated "
        "by GPT-4o from the preprints and verified by fuzzy matching against the cited source span. Corpus = "
        "all 153 preprint full texts cut into passages (paragraphs merged to >= 100 words, long paragraphs cut "
        "into 200-word windows, pieces under 30 words joined to the previous passage; title = the preprint "
        "title from sources.tsv); relevant = the passages overlapping the question's source span, located by "
        "exact match of the normalised span text. Only questions whose source span lies "
        "in the preprint they were generated from (corpus_id) are kept: for about two thirds of the rows the "
        "released span comes from a neighbouring preprint and does not answer the question.",
        (CHEMRXIVQUEST,),
        _chemrxiv_retrieval,
        annotations="LM-generated",
        mteb_domains=_MTEB_DOMAINS,
    ),
    *openstax_tasks(OPENSTAX_CHEM, Domain.CHEMISTRY, "OpenStaxChem", _MTEB_DOMAINS),
]
