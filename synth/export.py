"""Export a domain's training-side texts as a corpus folder for ``synth`` (``domainemb export-corpus``).

Only texts from the ``train`` tables of the domain's tasks are exported: a benchmark's test side
(every other table: retrieval corpora and queries, test splits, STS and clustering texts) never
is. Because the same source often feeds several tasks (a textbook paragraph is a classification
train text and part of a clustering test section), each candidate is then checked against the
whole test side of the domain: it is dropped when it equals a test text or shares a 13-gram with
one. Sources whose publishers ask to be kept out of training data (ChemBench's canary) are skipped.

The folder gets one ``<Task>.jsonl`` per task (``{"id", "text"}`` per line) and ``.export.json``
recording the counts, the licences of what was exported, and what was dropped and why.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import domainemb
from domainemb.atomic import swap_into_place
from domainemb.domains.readers import SourceFiles
from domainemb.domains.registry import domain_tasks
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


def export_corpus(domain: Domain | str, out: Path, files: SourceFiles | None = None, ngram: int = 13) -> ExportResult:
    """Write the training-side texts of ``domain`` into ``out`` (replaced atomically).

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
    drops: Counter = Counter()
    seen: set[str] = set()
    kept: dict[str, list[str]] = {}
    for task, texts in candidates.items():
        for text in texts:
            norm = normalise(text)
            if len(norm.split()) < MIN_WORDS:
                drops["too-short"] += 1
            elif norm in seen:
                drops["duplicate"] += 1
            elif side.touches(text):
                drops["overlaps-test"] += 1
            else:
                seen.add(norm)
                kept.setdefault(task, []).append(text)
    total = sum(len(v) for v in kept.values())
    if not total:
        raise DomainembError(f"{domain}: no training-side text is left after decontamination")
    card = {
        "domain": domain.value,
        "texts": total,
        "by_task": {t: len(v) for t, v in kept.items()},
        "drops": dict(sorted(drops.items())),
        "skipped_tasks": skipped_tasks,
        "licences": {t: licences[t] for t in kept},
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
        (tmp / EXPORT_CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info(
        "exported %d %s texts to %s (%s)", total, domain, out, ", ".join(f"{k}: {v}" for k, v in card["drops"].items())
    )
    return ExportResult(out, total, card)
