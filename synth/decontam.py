"""Keep benchmark test data out of training pairs.

Two guards, both against the domain's benchmark:

* **n-gram decontamination**: a chunk, query or positive that shares a word n-gram (13 by default,
  as in GPT-3's contamination analysis) with any test query or test document is dropped. The
  test side's n-grams are held as one sorted ``uint64`` array of stable hashes, so a lookup is a
  binary search and memory is 8 bytes per n-gram.
* **document split**: tasks that ``build-benchmark --corpus`` made from the user's own documents
  record their test documents (the corpus table's ``title`` is the document id); ``synth`` never
  draws training pairs from those documents.

Test side means every table except a classification task's ``train`` table.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from domainemb.domains.tables import TEXT_COLUMNS, Tables
from domainemb.suites import DEFAULT_BENCHMARKS
from domainemb.synth.text import ngram_hashes, normalise
from domainemb.types import Domain

log = logging.getLogger(__name__)

#: ``TaskEntry.origin`` of a task built from the user's corpus by ``build-benchmark --corpus``.
CORPUS_ORIGIN = "corpus"
_TEST_TABLE_SKIP = {"train", "qrels", "candidates"}


class NgramIndex:
    """A set of word n-gram hashes with vectorised membership tests.

    Example:
        >>> index = NgramIndex.build(["the quick brown fox jumps over the lazy dog near the river bank"], n=5)
        >>> index.overlaps("a quick brown fox jumps over the fence")
        True
    """

    def __init__(self, hashes: np.ndarray, n: int) -> None:
        self.hashes = np.unique(hashes.astype(np.uint64))  # sorted, for searchsorted
        self.n = n

    @classmethod
    def build(cls, texts: Iterable[str], n: int) -> NgramIndex:
        parts = [ngram_hashes(t, n) for t in texts]
        return cls(np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64), n)

    def __len__(self) -> int:
        return len(self.hashes)

    def overlaps(self, text: str) -> bool:
        """Whether ``text`` shares at least one n-gram with the index."""
        if not len(self.hashes):
            return False
        h = ngram_hashes(text, self.n)
        if not len(h):
            return False
        pos = np.searchsorted(self.hashes, h)
        pos[pos == len(self.hashes)] = 0
        return bool((self.hashes[pos] == h).any())


@dataclass
class HeldOut:
    """What training data must not touch: test texts (as n-grams and whole) and the corpus tasks' test documents.

    Texts shorter than the n-gram length (a tweet, a headline) have no n-gram, so whole test texts
    are also kept, normalised, for an exact match.
    """

    index: NgramIndex
    exact: set[str] = field(default_factory=set)
    test_doc_ids: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)  # which benchmarks (or "registry:<domain>") fed it
    texts: int = 0

    @classmethod
    def from_texts(cls, texts: Iterable[str], n: int = 13, **kw) -> HeldOut:
        unique = list(dict.fromkeys(texts))
        return cls(NgramIndex.build(unique, n), {normalise(t) for t in unique}, texts=len(unique), **kw)

    def touches(self, text: str) -> bool:
        """Whether ``text`` is a test text or shares an n-gram with one."""
        return normalise(text) in self.exact or self.index.overlaps(text)


def test_texts(tables: Tables) -> Iterator[str]:
    """Every text on the test side of one task's tables."""
    for name, df in tables.items():
        if name in _TEST_TABLE_SKIP:
            continue
        for col in df.columns:
            if col not in TEXT_COLUMNS and col != "title":
                continue
            series = df[col]
            if series.dtype == pl.List(pl.Utf8):
                series = series.explode()
            yield from (t for t in series.drop_nulls().to_list() if t)


def find_benchmarks(domain: Domain | str, root: Path = DEFAULT_BENCHMARKS) -> list[Path]:
    """Built benchmark folders of ``domain`` under ``root`` (each with a manifest naming that domain)."""
    domain = Domain(domain)
    found = []
    for manifest in sorted(root.glob("*/manifest.json")):
        try:
            if json.loads(manifest.read_text(encoding="utf-8")).get("domain") == domain.value:
                found.append(manifest.parent)
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            log.warning("ignoring unreadable benchmark manifest %s", manifest)
    return found


def load_held_out(domain: Domain | str, benchmarks: Iterable[Path], n: int = 13) -> HeldOut:
    """Collect the test side of the given built benchmarks, or of the domain's registered tasks when none is given.

    Built benchmarks are verified against their manifests; corpus tasks contribute their test document ids.
    """
    from domainemb.domains.benchmark import Benchmark

    start = time.perf_counter()
    benchmarks = list(benchmarks)
    texts: list[str] = []
    doc_ids: set[str] = set()
    sources: list[str] = []
    if benchmarks:
        for path in benchmarks:
            bench = Benchmark.open(path)
            for task in bench.tasks:
                tables = bench.tables(task)
                texts.extend(test_texts(tables))
                if task.origin == CORPUS_ORIGIN:
                    doc_ids.update(tables["corpus"]["title"].to_list())
            sources.append(str(path))
    else:
        texts = list(registry_test_texts(domain))
        sources.append(f"registry:{Domain(domain).value}")
    side = HeldOut.from_texts(texts, n, test_doc_ids=doc_ids, sources=sources)
    log.info(
        "decontamination index: %d texts, %d %d-grams from %s in %.1fs",
        side.texts,
        len(side.index),
        n,
        ", ".join(sources),
        time.perf_counter() - start,
    )
    return side


def registry_test_texts(domain: Domain | str) -> Iterator[str]:
    """The test side of every registered task of ``domain``, built from the sources in memory (full size)."""
    from domainemb.domains.readers import SourceFiles
    from domainemb.domains.registry import domain_tasks

    files = SourceFiles()
    for spec in domain_tasks(domain):
        yield from test_texts(spec.build(files))
