"""The synth run card (``<pairs stem>.card.json``): what one ``domainemb synth`` run made and from what.

synth writes it beside its pairs file; adapt reads it (through :mod:`domainemb.pairs`) to say in
the model card where the training pairs came from, and ``domainemb synth`` prints its summary. It
lives in the root package so that readers need not import synth.

Layout (``format`` first; cards written before the format key existed have none and read as
version 1)::

    {"format": "domainemb-synth-card/1",
     "counts": {"pairs", "by_persona", "by_kind", "by_generator", "with_negatives"},
     "drops": {reason: n}, "failed": {"total", "by_reason"}, "items": {"planned", "generated", "resumed"},
     "tokens": {"prompt", "completion"}, "cost_usd": float | null, "wall_time_s",
     "llm": {"llm_model", "prompt_style", "local_server", "requests", "retries"} (only what the run used),
     "corpus": {"path", "fingerprint", "documents", "training_chunks", "skipped_files", "bad_jsonl_lines"},
     "decontamination": {"against", "test_texts", "ngram"}, "config": {SynthConfig settings},
     "kinds": [kind], "domainemb_version",
     "teacher": {"name", "kind", "fingerprint", "guard", "guard_dropped", "labelled_pairs"},
     "search": {"student": {"kind": "exact" | "ivf-flat", "pool", ...index settings and measured recall},
                "depth", "k", "teacher": "pool" | "rerank" | "pairs", "rerank_depth"}}

``teacher`` is written only when a teacher was consulted; ``drops["teacher-guard"]`` likewise. That
one drop counts mined candidate negatives, not pairs. ``search`` (how the student searched the pool for
consistency and mining, :mod:`domainemb.synth.ann`, and what the teacher scored) is written only when the
pool was searched.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

SYNTH_CARD_FORMAT = "domainemb-synth-card/1"


@dataclass(frozen=True)
class PairCounts:
    """The pairs written: how many, and how many per persona, task kind and generator."""

    pairs: int
    by_persona: dict[str, int]
    by_kind: dict[str, int]
    by_generator: dict[str, int]
    with_negatives: int


@dataclass(frozen=True)
class FailedItems:
    """Planned items that produced no pair, by reason (refusal, unparsable answer ...)."""

    total: int
    by_reason: dict[str, int]


@dataclass(frozen=True)
class ItemCounts:
    """Planned items, those that produced a pair, and those found done by an earlier run."""

    planned: int
    generated: int
    resumed: int


@dataclass(frozen=True)
class TokenCounts:
    prompt: int
    completion: int


@dataclass(frozen=True)
class LlmUsage:
    """What the LLM endpoint did; each field is ``None`` when the run did not record it (no LLM, nothing to do)."""

    llm_model: str | None = None
    prompt_style: str | None = None
    local_server: bool | None = None
    requests: int | None = None
    retries: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The recorded fields only (the card leaves out what the run did not record)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LlmUsage:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class CorpusInfo:
    """The corpus read: its path and fingerprint, documents, training chunks and files skipped."""

    path: str
    fingerprint: str
    documents: int
    training_chunks: int
    skipped_files: dict[str, int]
    bad_jsonl_lines: int


@dataclass(frozen=True)
class Decontamination:
    """The benchmarks the pairs were kept apart from, their test texts, and the n-gram length."""

    against: tuple[str, ...]
    test_texts: int
    ngram: int


@dataclass(frozen=True)
class TeacherInfo:
    """The teacher that decided consistency, guarded negatives and labelled margins (``synth --teacher``).

    Attributes:
        name: The ``--teacher`` value.
        kind: ``bi-encoder``, ``cross-encoder`` or ``hybrid``.
        fingerprint: sha256 of what decides its scores.
        guard: The guard's relative margin (``--teacher-guard``).
        guard_dropped: Candidate negatives the guard dropped as likely false negatives.
        labelled_pairs: Pairs written with margins.
    """

    name: str
    kind: str
    fingerprint: str
    guard: float
    guard_dropped: int
    labelled_pairs: int


@dataclass(frozen=True)
class SynthCard:
    """One synth run's card (see the module docstring).

    Attributes:
        counts: The pairs written.
        drops: Chunks and pairs left out, by reason (test documents, contamination, duplicates ...).
        failed: Planned items that produced no pair.
        items: Planned, generated and resumed items.
        tokens: LLM tokens spent (zero without an LLM).
        cost_usd: Their price, when prices were given.
        wall_time_s: Wall time of the run.
        llm: What the LLM endpoint did.
        corpus: The corpus read.
        decontamination: What the pairs were kept apart from.
        config: The run's settings (:meth:`SynthConfig.to_dict`).
        kinds: The task kinds the run planned.
        domainemb_version: The version that wrote the card.
        teacher: The teacher consulted, if any.
        search: How the pool was searched, if it was (see the module docstring).
    """

    counts: PairCounts
    drops: dict[str, int]
    failed: FailedItems
    items: ItemCounts
    tokens: TokenCounts
    cost_usd: float | None
    wall_time_s: float
    llm: LlmUsage
    corpus: CorpusInfo
    decontamination: Decontamination
    config: dict[str, Any]
    kinds: tuple[str, ...]
    domainemb_version: str
    teacher: TeacherInfo | None = None
    search: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The card as synth writes it."""
        card = {
            "format": SYNTH_CARD_FORMAT,
            "counts": asdict(self.counts),
            "drops": dict(self.drops),
            "failed": asdict(self.failed),
            "items": asdict(self.items),
            "tokens": asdict(self.tokens),
            "cost_usd": self.cost_usd,
            "wall_time_s": self.wall_time_s,
            "llm": self.llm.to_dict(),
            "corpus": asdict(self.corpus),
            "decontamination": {**asdict(self.decontamination), "against": list(self.decontamination.against)},
            "config": dict(self.config),
            "kinds": list(self.kinds),
            "domainemb_version": self.domainemb_version,
        }
        if self.teacher is not None:  # only a run that consulted a teacher records one
            card["teacher"] = asdict(self.teacher)
        if self.search is not None:
            card["search"] = dict(self.search)
        return card

    @classmethod
    def from_dict(cls, data: Any) -> SynthCard:
        """Read a card written by :meth:`to_dict` (or by a synth from before the ``format`` key).

        Raises:
            ValueError: not a synth card of this format.
            KeyError / TypeError: a field is missing or malformed.
        """
        if not isinstance(data, dict):
            raise ValueError(f"not a synth card (a JSON {type(data).__name__}, expected an object)")
        found = data.get("format", SYNTH_CARD_FORMAT)
        if found != SYNTH_CARD_FORMAT:
            raise ValueError(f"not a synth card (format {found!r}, expected {SYNTH_CARD_FORMAT})")
        decontamination = data["decontamination"]
        return cls(
            counts=PairCounts(**data["counts"]),
            drops=dict(data["drops"]),
            failed=FailedItems(**data["failed"]),
            items=ItemCounts(**data["items"]),
            tokens=TokenCounts(**data["tokens"]),
            cost_usd=data["cost_usd"],
            wall_time_s=data["wall_time_s"],
            llm=LlmUsage.from_dict(data["llm"]),
            corpus=CorpusInfo(**data["corpus"]),
            decontamination=Decontamination(**{**decontamination, "against": tuple(decontamination["against"])}),
            config=dict(data["config"]),
            kinds=tuple(data["kinds"]),
            domainemb_version=data["domainemb_version"],
            teacher=TeacherInfo(**data["teacher"]) if data.get("teacher") else None,
            search=dict(data["search"]) if data.get("search") else None,
        )
