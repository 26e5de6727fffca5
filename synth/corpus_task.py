"""A retrieval task from the user's own documents (``domainemb build-benchmark DOMAIN --corpus DIR``).

The documents are split by document, deterministically: a share of them (by the order of
``sha256(seed, document id)``) are test documents. Their chunks form the task's corpus and queries
are synthesized for them (LLM by default, ICT as the LLM-free fallback), then deduplicated and
filtered by ranking consistency against that corpus. The corpus table's ``title`` column holds each
chunk's document id, so the built benchmark's manifest (which checksums that table) records the
split; ``synth`` reads it from there and never draws training pairs from those documents.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from domainemb.domains.fetch import sha256_file
from domainemb.domains.tables import CountedTables, retrieval_tables
from domainemb.errors import DataError, DomainembError
from domainemb.synth.config import Generator, PairKind, SynthConfig
from domainemb.synth.corpus import Corpus, Document, chunk_corpus, read_corpus
from domainemb.synth.text import stable_hash
from domainemb.types import Domain, LicenceFlag, Source, SourceFile, TaskSpec, TaskType

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorpusTaskConfig:
    """How the corpus task is made.

    Args:
        corpus: Folder of the user's documents.
        test_fraction: Share of documents held out as test documents (at least one; at least one stays for training).
        synth: Generation settings (generator, endpoint, chunking, limits). Its ``out`` is the
            resumable work file of the query generation; kinds are forced to short-long.
    """

    corpus: Path
    synth: SynthConfig
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.test_fraction < 1:
            raise DomainembError(f"--corpus-test-fraction must be between 0 and 1, got {self.test_fraction}")
        if self.synth.generator in (Generator.CROP, Generator.STRUCTURE):  # structure: the test chunks have no headings
            raise DomainembError("a corpus task needs queries: use the llm or ict generator")


def task_name(domain: Domain | str, corpus: Path) -> str:
    words = re.split(r"[^A-Za-z0-9]+", Path(corpus).resolve().name)
    camel = "".join(w[:1].upper() + w[1:] for w in words if w) or "User"
    return f"{Domain(domain).value.title()}Corpus{camel}Retrieval"


def split_documents(docs: list[Document], fraction: float, seed: int) -> tuple[list[Document], list[Document]]:
    """(test, train) documents: the first ``round(fraction * n)`` (at least 1) in sha256(seed, id) order.

    Raises:
        DomainembError: for fewer than two documents.
    """
    if len(docs) < 2:
        raise DomainembError("a corpus task needs at least two documents to split into test and training documents")
    order = sorted(docs, key=lambda d: stable_hash(seed, "split", d.id))
    n_test = min(len(docs) - 1, max(1, round(fraction * len(docs))))
    test_ids = {d.id for d in order[:n_test]}
    return [d for d in docs if d.id in test_ids], [d for d in docs if d.id not in test_ids]


def corpus_task(domain: Domain | str, config: CorpusTaskConfig) -> TaskSpec:
    """The task spec; its documents are checksummed now and verified again when the task is built.

    Its ``build`` plans query items as ``synth`` does (:func:`domainemb.synth.pipeline.planned_chunks`) and
    returns :class:`~domainemb.domains.tables.CountedTables`, whose counts the manifest keeps: the chunks the
    generator cannot use (``too-short-for-ict``), the queries each filter dropped (the synth card's ``drops``
    names) and ``failed-items``.

    Raises:
        DomainembError: for an unusable corpus folder; at build time, for test documents none of whose
            chunks the generator can use (ict: all one sentence).
    """
    domain = Domain(domain)
    corpus = read_corpus(config.corpus)
    name = task_name(domain, config.corpus)
    files = sorted({d.id.split(":")[0] for d in corpus.documents})
    root = Path(config.corpus)
    source = Source(
        key=f"corpus/{name}",
        repo=root.resolve().as_uri(),
        commit="local",
        files=tuple(SourceFile(f, sha256_file(root / f)) for f in files),
        licence="the user's own documents (licence not stated)",
        licence_flag=LicenceFlag.UNCLEAR,
        citation="",
    )
    test, _ = split_documents(corpus.documents, config.test_fraction, config.synth.seed)
    gen = config.synth.generator
    how = (
        f"synthesized by an LLM ({config.synth.llm_model or 'local SmolLM2-135M-Instruct'}) for personas of the domain"
        if gen is Generator.LLM
        else "inverse-cloze sentences (a sentence of the passage; lexical, easier than real queries)"
    )
    description = (
        f"Retrieve the passage of the user's documents ({root.resolve().name}) that answers a query. Corpus = "
        f"chunks of {config.synth.chunk_tokens} whitespace tokens (overlap {config.synth.chunk_overlap}) of the test "
        f"documents; queries {how}, deduplicated and kept only when a retriever ranks their passage in its top "
        f"{config.synth.consistency_top_k}. Split by document: {len(test)} of {len(corpus.documents)} documents "
        f"(fraction {config.test_fraction}, ordered by sha256 of seed {config.synth.seed} and document id) are test "
        f"documents; the corpus title column names each chunk's document, and `domainemb synth` leaves these "
        f"documents out of training pairs."
    )

    def build(_files) -> CountedTables:
        return _build(domain, config, source)

    return TaskSpec(
        name=name,
        domain=domain,
        type=TaskType.RETRIEVAL,
        description=description,
        sources=(source,),
        build=build,
        annotations="LM-generated" if gen is Generator.LLM else "derived",
    )


def _build(domain: Domain, config: CorpusTaskConfig, source: Source) -> CountedTables:
    from domainemb.synth.pipeline import generate, planned_chunks, postprocess

    root = Path(config.corpus)
    for f in source.files:
        if not (root / f.name).is_file() or sha256_file(root / f.name) != f.sha256:
            raise DataError(source.key, str(root / f.name), "changed or removed since the task was registered")
    corpus: Corpus = read_corpus(root)
    test, _ = split_documents(corpus.documents, config.test_fraction, config.synth.seed)
    chunks = chunk_corpus(test, config.synth.chunk_tokens, config.synth.chunk_overlap)
    synth = replace(config.synth, kinds=(PairKind.SHORT_LONG,), negatives=0)
    drops: dict[str, int] = {}
    # planned as synth plans: ict only over chunks of two sentences or more, so --corpus-limit N plans N
    # items that can succeed; the rest are a drop and stay in the task's corpus
    planned = planned_chunks(chunks, synth, drops, what="chunks of the test documents", limit_flag="--corpus-limit")
    gen = generate(planned, synth)
    pairs = postprocess(gen.pairs, chunks, synth, None, drops)
    counts = {**drops, "failed-items": len(gen.failures)}
    log.info("%s: %d queries kept of %d generated (%s)", source.key, len(pairs), len(gen.pairs), counts)
    if not pairs:
        raise DataError(source.key, str(root), "no query survived generation and filtering")
    tables = retrieval_tables(
        [(c.id, c.doc_id, c.text) for c in chunks],
        [(p.key[:16], p.query) for p in pairs],
        [(p.key[:16], p.chunk_id, 1) for p in pairs],
    )
    return CountedTables(tables, counts)


def corpus_task_for(
    domain: Domain | str,
    corpus: Path,
    generator: Generator = Generator.LLM,
    test_fraction: float = 0.2,
    limit: int | None = None,
    base_url: str | None = None,
    llm_model: str | None = None,
    seed: int = 42,
    work: Path = Path("work") / "synth" / "corpus-tasks",
) -> TaskSpec:
    """The corpus task with default generation settings; query generation resumes from ``work/<task>/queries.jsonl``."""
    name = task_name(domain, corpus)
    synth = SynthConfig(
        domain=Domain(domain),
        corpus=Path(corpus),
        out=Path(work) / name / "queries.jsonl",
        generator=generator,
        kinds=(PairKind.SHORT_LONG,),
        limit=limit,
        base_url=base_url,
        llm_model=llm_model,
        negatives=0,
        seed=seed,
    )
    return corpus_task(domain, CorpusTaskConfig(corpus=Path(corpus), synth=synth, test_fraction=test_fraction))
