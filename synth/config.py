"""Closed vocabularies and the one frozen configuration of a synthesis run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from domainemb.errors import DomainembError
from domainemb.evaluation.backends import parse_backend
from domainemb.options import option
from domainemb.pairs import Generator, PairKind  # the pairs file's vocabularies, re-exported
from domainemb.suites import DEFAULT_BENCHMARKS
from domainemb.synth.ann import DEFAULT_ANN_THRESHOLD
from domainemb.types import Domain


class PromptStyle(StrEnum):
    """``fewshot``: a text-completion prompt of worked examples (small models); ``chat``: instructions."""

    FEWSHOT = "fewshot"
    CHAT = "chat"


class TeacherRanking(StrEnum):
    """How a bi-encoder or hybrid teacher decides consistency: ``pool``, it scores every chunk; ``rerank``, it
    reranks the student's top ``rerank_depth`` chunks (as a cross-encoder always does); ``auto``, ``pool`` below
    ``ann_threshold`` chunks and ``rerank`` at or above it."""

    AUTO = "auto"
    POOL = "pool"
    RERANK = "rerank"


class NegativeSource(StrEnum):
    """A retriever whose ranks ``mine_ranks`` give candidate negatives (GPL mines with both)."""

    STUDENT = "student"
    BM25 = "bm25"


#: Relative frequency of each kind when several are asked for; short query -> passage is the main kind.
KIND_WEIGHTS = {PairKind.SHORT_LONG: 0.7, PairKind.LONG_LONG: 0.1, PairKind.STS: 0.1, PairKind.CLASSIFICATION: 0.1}
#: Kinds whose positive is a corpus passage: hard negatives are mined and ranking consistency checked for these.
PASSAGE_KINDS = frozenset({PairKind.SHORT_LONG, PairKind.LONG_LONG})
LOCAL_MODEL = "SmolLM2-135M-Instruct-Q4_1"


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides a synthesis run; recorded in ``card.json``.

    Args:
        domain: Domain of the corpus (personas, classification tasks, decontamination benchmark).
        corpus: Folder of documents.
        out: Output JSONL; ``<stem>.raw.jsonl``, ``<stem>.failed.jsonl`` and ``<stem>.card.json`` go beside it
            (so several runs can share a folder).
        generator: llm, ict, crop or structure (:mod:`domainemb.synth.structure`).
        kinds: Pair kinds to generate (llm only; ict gives short-long, crop long-long).
        personas_file: Extra personas (YAML) added to the domain's.
        per_chunk: Examples generated per chunk.
        limit: Generate for at most this many planned items (a deterministic sample across documents).
        chunk_tokens, chunk_overlap: Chunk size and overlap in whitespace tokens.
        prompt_style: fewshot or chat; ``None`` picks fewshot for the local server and chat otherwise.
        templates_dir: Folder of prompt templates replacing the shipped ones (same file names).
        base_url: OpenAI-compatible endpoint; ``None`` uses ``OPENAI_BASE_URL`` or else starts the local server.
        llm_model: Model name for the endpoint.
        concurrency: Requests in flight at once (at most 2 for the local server, which answers one at a time).
        timeout: Seconds per request before it is retried.
        max_retries: Retries per request on 429, 5xx, timeouts and connection errors.
        temperature, max_tokens: Sampling settings.
        price_prompt, price_completion: USD per million tokens, for the cost estimate (``None``: no estimate).
        max_copy_ratio: Reject a query when more than this share of its word trigrams occur in its passage.
        negatives: Hard negatives mined per pair (0: none).
        mine_ranks: Rank window (first, last) of the retriever's list that negatives are drawn from.
        mine_margin: Skip candidates scoring above ``margin * score(positive)``, likely unlabelled positives.
        consistency_top_k: Drop a pair whose positive ranks below this for its own query (0: no filter).
        near_duplicate: Cosine similarity of two queries above which the later one is a near duplicate.
        decontam_ngram: Drop pairs sharing a word n-gram of this length with the benchmark's test data.
        benchmarks: Built benchmark folders to decontaminate against and whose corpus tasks' test
            documents are excluded; empty: every built benchmark of the domain under ``work/benchmarks``.
        embedding_model: Sentence-transformers model (the student) for near-duplicates and mining; it also
            decides consistency when ``teacher`` is ``none``. ``None``: the packaged MiniLM.
        backend: What runs the embedding model: ``torch``, ``onnx``, ``onnx-int8`` or ``openvino``
            (:mod:`domainemb.evaluation.backends`); int8 mines slightly different negatives.
        teacher: The teacher (see :func:`domainemb.synth.teacher.load_teacher`): a bi-encoder (a name such as
            ``mpnet``, a folder or a hub id), a cross-encoder (folder or hub id), ``hybrid:MODEL[@W]`` (BM25 plus a
            bi-encoder), or ``none``. It decides ranking consistency, guards mined negatives and labels each
            pair's margins.
        teacher_guard: Relative margin of the false-negative guard: a mined negative is dropped when its teacher
            score exceeds ``pos - |pos| * teacher_guard`` (``pos``: the positive's teacher score).
        negatives_from: The retrievers whose rank window ``mine_ranks`` gives candidate negatives, with a
            teacher to guard them (without one the student mines alone, as before): the student, BM25 or both.
        rerank_depth: A cross-encoder teacher cannot rank the whole pool; it reranks the student's top
            ``max(rerank_depth, consistency_top_k)`` chunks plus the positive for the consistency filter.
        teacher_ranking: Whether a bi-encoder or hybrid teacher ranks the whole pool or reranks as a
            cross-encoder does (:class:`TeacherRanking`; ``auto``: by ``ann_threshold``).
        ann_threshold: Pools of at least this many chunks are searched by the student through an ANN index
            (faiss IVF, :mod:`domainemb.synth.ann`) instead of the dense score matrix; 0: always exact.
        server_threads: CPU threads of the local llama.cpp server (``None``: all cores).
        seed: Seed of every sampling decision.
    """

    domain: Domain = option(help="Domain of the corpus: personas, classification tasks, decontamination benchmark.")
    corpus: Path = option(help="Folder of documents (txt, md, html, jsonl, pdf).")
    out: Path = option(help="Output JSONL (default: work/synth/DOMAIN/pairs.jsonl).")
    generator: Generator = option(
        Generator.LLM,
        help="llm: an LLM writes queries; ict / crop: LLM-free baselines; structure: headings -> the passages under them.",
    )
    kinds: tuple[PairKind, ...] = option(
        tuple(PairKind), help="Pair kinds for the llm generator (repeatable).", flag="--kind"
    )
    personas_file: Path | None = option(None, help="YAML file of extra personas.", flag="--personas")
    per_chunk: int = option(1, help="Examples per chunk.")
    limit: int | None = option(None, help="Generate at most this many examples (sampled across documents).")
    chunk_tokens: int = option(160, help="Chunk size in whitespace tokens.")
    chunk_overlap: int = option(32, help="Tokens shared by consecutive chunks.")
    prompt_style: PromptStyle | None = option(
        None, help="fewshot (default for the local server) or chat (default for an endpoint)."
    )
    templates_dir: Path | None = option(
        None, help="Folder of prompt templates overriding the shipped ones.", flag="--templates"
    )
    base_url: str | None = option(
        None, help="OpenAI-compatible endpoint (else OPENAI_BASE_URL; else the local llama.cpp server)."
    )
    llm_model: str | None = option(None, help="Model name at the endpoint.")
    concurrency: int = option(16, help="Requests in flight at once.")
    timeout: float = option(60.0, help="Seconds per request before it is retried.")
    max_retries: int = option(5, help="Retries per request (429, 5xx, timeouts, connection errors).")
    temperature: float = option(0.7, help="Sampling temperature.")
    max_tokens: int = option(256, help="Token limit of an answer.")
    price_prompt: float | None = option(None, help="USD per million prompt tokens, for the cost estimate.")
    price_completion: float | None = option(None, help="USD per million completion tokens.")
    max_copy_ratio: float = option(
        0.6, help="Reject a query when more than this share of its word trigrams occur in its passage."
    )
    negatives: int = option(3, help="Hard negatives mined per pair.")
    mine_ranks: tuple[int, int] = option(
        (10, 210), help="Rank window FIRST:LAST that negatives are drawn from.", metavar="FIRST:LAST"
    )
    mine_margin: float = option(
        0.95, help="Skip negatives scoring above this times the positive (with --teacher none; else --teacher-guard)."
    )
    consistency_top_k: int = option(20, help="Drop pairs whose positive ranks below this (0: off).")
    near_duplicate: float = option(0.95, help="Query cosine similarity that counts as a near duplicate.")
    decontam_ngram: int = option(13, help="Drop pairs sharing a word n-gram this long with the benchmark's test data.")
    benchmarks: tuple[Path, ...] = option(
        (),
        help=f"Built benchmark(s) to decontaminate against (default: the domain's under {DEFAULT_BENCHMARKS}).",
        flag="--benchmark",
    )
    embedding_model: str | None = option(None, help="Model for mining and filtering (default: packaged MiniLM).")
    backend: str = option(
        "torch",
        help="What runs the embedding model: torch, or its exported ONNX graph on onnx, onnx-int8 or openvino.",
        metavar="<torch|onnx|onnx-int8|openvino>",
    )
    teacher: str = option(
        "mpnet",
        help="Teacher deciding consistency, guarding negatives, labelling margins: a model name, folder or hub id "
        "(bi-encoder or cross-encoder), hybrid:MODEL[@W], or none (the embedding model decides).",
    )
    teacher_guard: float = option(
        0.05, help="Drop a negative whose teacher score is above the positive's minus this share of its magnitude."
    )
    rerank_depth: int = option(
        30, help="A cross-encoder teacher reranks the embedding model's top N plus the positive."
    )
    teacher_ranking: TeacherRanking = option(
        TeacherRanking.AUTO,
        help="A bi-encoder or hybrid teacher ranks the whole pool (pool) or reranks the embedding model's top "
        "--rerank-depth (rerank); auto: pool below --ann-threshold chunks, rerank at or above it.",
    )
    ann_threshold: int = option(
        DEFAULT_ANN_THRESHOLD,
        help="Search pools of at least this many chunks with an ANN index (faiss IVF); 0: always exact.",
    )
    negatives_from: tuple[NegativeSource, ...] = option(
        tuple(NegativeSource),
        help="Retrievers mining candidate negatives for the teacher to guard (repeatable; without a teacher: the "
        "embedding model).",
        flag="--negatives-from",
    )
    server_threads: int | None = option(None, help="CPU threads of the local LLM server.", flag="--threads")
    seed: int = option(42, help="Seed of every sampling decision.")

    def __post_init__(self) -> None:
        def set_(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        set_("domain", Domain(self.domain))
        set_("generator", Generator(self.generator))
        set_("backend", parse_backend(self.backend).value)
        set_("kinds", tuple(dict.fromkeys(PairKind(k) for k in self.kinds)))
        set_("negatives_from", tuple(dict.fromkeys(NegativeSource(k) for k in self.negatives_from)))
        set_("teacher_ranking", TeacherRanking(self.teacher_ranking))
        set_("corpus", Path(self.corpus))
        set_("out", Path(self.out))
        set_("benchmarks", tuple(Path(b) for b in self.benchmarks))
        set_("mine_ranks", tuple(self.mine_ranks))
        if self.prompt_style is not None:
            set_("prompt_style", PromptStyle(self.prompt_style))
        if not self.kinds:
            raise DomainembError("synth: at least one pair kind is needed")
        for name in ("per_chunk", "concurrency", "chunk_tokens", "max_tokens", "decontam_ngram", "rerank_depth"):
            if getattr(self, name) < 1:
                raise DomainembError(f"synth: {name} must be at least 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise DomainembError(f"synth: limit must be at least 1, got {self.limit}")
        if not self.negatives_from:
            raise DomainembError("--negatives-from: at least one of student, bm25 is needed")
        if not self.teacher.strip():
            raise DomainembError("--teacher: empty; pass a model, hybrid:MODEL or none")
        if self.teacher_guard < 0:
            raise DomainembError(f"--teacher-guard must be at least 0, got {self.teacher_guard}")
        if self.ann_threshold < 0:
            raise DomainembError(f"--ann-threshold must be at least 0 (0: always exact), got {self.ann_threshold}")
        first, last = self.mine_ranks
        if not 0 <= first < last:
            raise DomainembError(f"synth: mine_ranks must be 0 <= first < last, got {self.mine_ranks}")
        if self.out.suffix != ".jsonl":
            raise DomainembError(f"{self.out}: the output must be a .jsonl file")

    @property
    def effective_kinds(self) -> tuple[PairKind, ...]:
        if self.generator in (Generator.ICT, Generator.STRUCTURE):
            return (PairKind.SHORT_LONG,)
        if self.generator is Generator.CROP:
            return (PairKind.LONG_LONG,)
        return self.kinds

    @property
    def raw_path(self) -> Path:
        return self.out.with_name(f"{self.out.stem}.raw.jsonl")

    @property
    def failed_path(self) -> Path:
        return self.out.with_name(f"{self.out.stem}.failed.jsonl")

    @property
    def card_path(self) -> Path:
        return self.out.with_name(f"{self.out.stem}.card.json")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings for the run card; an endpoint URL keeps only scheme, host and path."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "base_url" and value:
                value = redact_url(value)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) if isinstance(v, Path) else v for v in value]
            out[f.name] = value
        return out


def redact_url(url: str) -> str:
    """Drop credentials, query and fragment from a URL before it is recorded or logged."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
