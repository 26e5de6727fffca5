"""Export a domain's training-side texts as a corpus folder for ``synth`` (``domainemb export-corpus``).

Of the domain's tasks, only texts from their ``train`` tables are exported: a benchmark's test side
(every other table: retrieval corpora and queries, test splits, STS and clustering texts) never
is. Because the same source often feeds several tasks (a textbook paragraph is a classification
train text and part of a clustering test section), each candidate is then checked against the
whole test side of the domain: it is dropped when it equals a test text or shares a 13-gram with
one. Sources whose publishers ask to be kept out of training data (ChemBench's canary) are skipped.

The domain's training corpora (:mod:`domainemb.domains.corpora`: unlabelled text that feeds no
task, such as MAEC's earnings calls or a second OpenStax book) are exported too, cut into passages
(a window of consecutive transcript sentences, a textbook paragraph with its heading) and checked
against the same test side, so MAEC passages that quote a call SubjECTive-QA tests on are dropped.

The folder gets one ``<Task>.jsonl`` per task (``{"id", "text"}`` per line), one
``<corpus>.jsonl`` per training corpus (``{"id", "text", "title", "corpus", "doc_id", "licence"}``)
and ``.export.json`` recording the counts, the licences of what was exported (each corpus's licence,
flag, citation and pinned files), and what was dropped and why, per corpus.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import domainemb
from domainemb.atomic import swap_into_place
from domainemb.domains.corpora import Passage, PassageConfig, TrainingCorpus
from domainemb.domains.readers import SourceFiles
from domainemb.domains.registry import domain_tasks, domain_training_corpora
from domainemb.errors import DomainembError
from domainemb.pairs import jsonl_line
from domainemb.synth.decontam import HeldOut, test_texts
from domainemb.synth.text import normalise, stable_hash
from domainemb.types import Domain

log = logging.getLogger(__name__)

#: Sources that ask not to be used for training (ChemBench JSONs carry a canary string for that).
NEVER_TRAIN = frozenset({"chemistry/chembench"})
MIN_WORDS = 5
EXPORT_CARD = ".export.json"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    texts: int
    card: dict


def export_corpus(
    domain: Domain | str,
    out: Path,
    files: SourceFiles | None = None,
    ngram: int = 13,
    passages: PassageConfig | None = None,
) -> ExportResult:
    """Write the training-side texts and training-corpus passages of ``domain`` into ``out`` (replaced atomically).

    Args:
        domain: Whose texts to export.
        out: The export folder; an earlier export there is replaced, any other folder refused.
        files: Where source files are read from (the mirror by default).
        ngram: Word n-gram length of the decontamination check.
        passages: How training corpora are cut into passages (6 transcript sentences by default).

    Raises:
        DomainembError: when ``out`` exists and is not an earlier export, or nothing is left to export.
        DataError: when a source file is missing or altered.
    """
    domain = Domain(domain)
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / EXPORT_CARD).is_file())):
        raise DomainembError(f"{out}: exists and is not a domainemb corpus export; choose another --out")
    start = time.perf_counter()
    files = files or SourceFiles()
    passages = passages or PassageConfig()
    corpora = {c.source.key: _CorpusExport(c) for c in domain_training_corpora(domain)}
    for export in corpora.values():  # a missing or altered corpus file fails before any work
        for f in export.corpus.source.files:
            files.path(export.corpus.source, f.name)
    test: list[str] = []
    candidates: dict[str, list[str]] = {}
    licences: dict[str, str] = {}
    skipped_tasks: dict[str, str] = {}
    for spec in domain_tasks(domain):
        tables = spec.build(files)
        test.extend(test_texts(tables))
        if any(s.key in NEVER_TRAIN for s in spec.sources):
            skipped_tasks[spec.name] = "source asks to be kept out of training data"
        elif "train" in tables:
            candidates[spec.name] = tables["train"]["text"].to_list()
            licences[spec.name] = f"{spec.licence_flag.value}: {spec.licence}"
    side = HeldOut.from_texts(test, ngram)
    task_drops: Counter = Counter()
    seen: set[str] = set()
    kept: dict[str, list[str]] = {}
    for task, texts in candidates.items():
        for text in texts:
            reason = _drop_reason(text, seen, side)
            if reason:
                task_drops[reason] += 1
            else:
                kept.setdefault(task, []).append(text)
    for export in corpora.values():
        export.collect(files, passages, seen, side)
    drops = task_drops + sum((c.drops for c in corpora.values()), Counter())
    total = sum(len(v) for v in kept.values()) + sum(len(c.kept) for c in corpora.values())
    if not total:
        raise DomainembError(f"{domain}: no training-side text is left after decontamination")
    card = {
        "domain": domain.value,
        "texts": total,
        "by_task": {t: len(v) for t, v in kept.items()},
        "drops": dict(sorted(drops.items())),
        "task_drops": dict(sorted(task_drops.items())),
        "skipped_tasks": skipped_tasks,
        "licences": {t: licences[t] for t in kept},
        "corpora": {key: c.card() for key, c in corpora.items()},
        "passages": {"sentences_per_passage": passages.sentences_per_passage},
        "decontamination": {"test_texts": side.texts, "ngram": ngram},
        "domainemb_version": domainemb.__version__,
        "seconds": round(time.perf_counter() - start, 1),
    }
    tmp = out.parent / f".{out.name}.exporting-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        for task, texts in kept.items():
            with open(tmp / f"{task}.jsonl", "w", encoding="utf-8") as fh:
                for text in texts:
                    fh.write(jsonl_line({"id": stable_hash(task, text)[:16], "text": text}))
        for export in corpora.values():
            export.write(tmp)
        (tmp / EXPORT_CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info(
        "exported %d %s texts to %s (%s)", total, domain, out, ", ".join(f"{k}: {v}" for k, v in card["drops"].items())
    )
    return ExportResult(out, total, card)


def _drop_reason(text: str, seen: set[str], side: HeldOut) -> str | None:
    """Why ``text`` is left out ("too-short", "duplicate" of a text kept earlier, "overlaps-test"), else None.

    A text that is kept is added to ``seen``.
    """
    norm = normalise(text)
    if len(norm.split()) < MIN_WORDS:
        return "too-short"
    if norm in seen:
        return "duplicate"
    if side.touches(text):
        return "overlaps-test"
    seen.add(norm)
    return None


class _CorpusExport:
    """The kept passages of one training corpus, what was dropped and why, and its part of the card."""

    def __init__(self, corpus: TrainingCorpus) -> None:
        self.corpus = corpus
        self.kept: list[Passage] = []
        self.drops: Counter = Counter()
        self.read = 0
        self.headings_removed = 0

    @property
    def file(self) -> str:
        return f"{self.corpus.name}.jsonl"

    def collect(self, files: SourceFiles, config: PassageConfig, seen: set[str], side: HeldOut) -> None:
        for passage in self.corpus.passages(files, config):
            self.read += 1
            reason = _drop_reason(passage.text, seen, side)
            if reason:
                self.drops[reason] += 1
                continue
            if passage.title and side.touches(passage.title):  # a heading that is a test text (a glossary term)
                passage = replace(passage, title="")
                self.headings_removed += 1
            self.kept.append(passage)

    def card(self) -> dict:
        source = self.corpus.source
        return {
            "file": self.file,
            "passages": len(self.kept),
            "documents": len({p.doc_id for p in self.kept}),
            "read": self.read,
            "drops": dict(sorted(self.drops.items())),
            "headings_removed": self.headings_removed,
            "unit": self.corpus.unit.value,
            "description": self.corpus.description,
            "licence": source.licence,
            "licence_flag": source.licence_flag.value,
            "citation": source.citation,
            "repo": source.repo,
            "commit": source.commit,
            "sha256": source.checksums,
        }

    def write(self, folder: Path) -> None:
        if not self.kept:
            return
        source = self.corpus.source
        licence = f"{source.licence_flag.value}: {source.licence}"
        with open(folder / self.file, "w", encoding="utf-8") as fh:
            for p in self.kept:
                record = {"id": p.id, "text": p.text, "title": p.title, "corpus": p.corpus, "doc_id": p.doc_id}
                fh.write(jsonl_line({**record, "licence": licence}))
