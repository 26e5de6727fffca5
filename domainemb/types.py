"""Shared vocabularies and frozen metadata: task types, licences, sources and task specs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from domainemb.domains.readers import SourceFiles
    from domainemb.domains.tables import CountedTables, Tables


class TaskType(StrEnum):
    """The task types of a suite; values are mteb's own type names."""

    RETRIEVAL = "Retrieval"
    RERANKING = "Reranking"
    STS = "STS"
    PAIR_CLASSIFICATION = "PairClassification"
    CLASSIFICATION = "Classification"
    MULTILABEL_CLASSIFICATION = "MultilabelClassification"
    CLUSTERING = "Clustering"
    SUMMARIZATION = "Summarization"

    @property
    def default_main_score(self) -> str:
        """The main score mteb reports for this type."""
        return _MAIN_SCORES[self]


_MAIN_SCORES = {
    TaskType.RETRIEVAL: "ndcg_at_10",
    TaskType.RERANKING: "map_at_1000",
    TaskType.STS: "cosine_spearman",
    TaskType.PAIR_CLASSIFICATION: "max_ap",
    TaskType.CLASSIFICATION: "accuracy",
    TaskType.MULTILABEL_CLASSIFICATION: "accuracy",
    TaskType.CLUSTERING: "v_measure",
    TaskType.SUMMARIZATION: "cosine_spearman",
}

#: The seven task types of the original MTEB (summarization included, reranking separate).
MTEB_TYPES = frozenset(
    {
        TaskType.RETRIEVAL,
        TaskType.RERANKING,
        TaskType.STS,
        TaskType.PAIR_CLASSIFICATION,
        TaskType.CLASSIFICATION,
        TaskType.CLUSTERING,
        TaskType.SUMMARIZATION,
    }
)


class LicenceFlag(StrEnum):
    """How freely a dataset may be used."""

    OPEN = "open"
    NC = "NC"
    COPYLEFT = "copyleft"
    UNCLEAR = "unclear"


class Domain(StrEnum):
    FINANCE = "finance"
    CHEMISTRY = "chemistry"
    MEDICINE = "medicine"
    GENERAL = "general"


class Size(StrEnum):
    """Benchmark size: ``lite`` caps every task by deterministic stratified subsampling."""

    LITE = "lite"
    FULL = "full"


class Precision(StrEnum):
    """How each number of a stored embedding is kept: 4 bytes, 1 byte, or 1 bit (the cost axis)."""

    FLOAT32 = "float32"
    INT8 = "int8"
    BINARY = "binary"


@dataclass(frozen=True)
class SourceFile:
    """One file of a source, as laid out in the mirror (``<domain>/<dataset>/<name>``).

    Args:
        name: File name inside the dataset folder of the mirror.
        sha256: Full sha256 hex digest of the file.
        upstream_path: Path in the upstream repository at the pinned commit, or ``None`` when the
            mirror file is a repack (``git archive | xz``) with no single upstream file.
    """

    name: str
    sha256: str
    upstream_path: str | None = None


@dataclass(frozen=True)
class Source:
    """A public dataset pinned to one upstream commit.

    Args:
        key: ``<domain>/<dataset>``, the folder in the mirror.
        repo: Upstream repository URL (``https://github.com/owner/name``).
        commit: Pinned full commit hash.
        files: The files used, each with its sha256.
        licence: Licence as stated by the source.
        licence_flag: open / NC / copyleft / unclear.
        citation: How to cite the dataset (paper or book).
        mteb_license: The licence in mteb's closed vocabulary ("not specified" when none fits).
    """

    key: str
    repo: str
    commit: str
    files: tuple[SourceFile, ...]
    licence: str
    licence_flag: LicenceFlag
    citation: str
    mteb_license: str = "not specified"

    def file(self, name: str) -> SourceFile:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"{self.key} has no file {name!r}")

    @property
    def checksums(self) -> dict[str, str]:
        return {f.name: f.sha256 for f in self.files}


@dataclass(frozen=True)
class TaskSpec:
    """A benchmark task: frozen metadata; loading and scoring follow from its type.

    Args:
        name: Unique task name (CamelCase, mteb style), e.g. ``"FinancialPhrasebankClassification"``.
        domain: The suite it belongs to.
        type: The task type; decides the table layout and the mteb evaluator.
        description: What the task measures and how labels were obtained (say when derived).
        sources: The sources it is built from (licence and citation come from them).
        build: Function that reads the sources' verified files and returns the task's tables, or a
            :class:`~domainemb.domains.tables.CountedTables` when it also counts what it left out.
        main_score: mteb main score; the type's default when empty.
        min_score / max_score: Score range for STS and summarization tasks.
        annotations: mteb annotator type ("expert-annotated", "human-annotated", "derived", ...).
        mteb_domains: mteb domain tags ("Financial", "Medical", "Chemistry", ...).
    """

    name: str
    domain: Domain
    type: TaskType
    description: str
    sources: tuple[Source, ...]
    build: Callable[[SourceFiles], Tables | CountedTables] = field(repr=False, compare=False)
    main_score: str = ""
    min_score: float | None = None
    max_score: float | None = None
    annotations: str = "human-annotated"
    mteb_domains: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.main_score:
            object.__setattr__(self, "main_score", self.type.default_main_score)

    @property
    def licence(self) -> str:
        return "; ".join(f"{s.key}: {s.licence}" for s in self.sources)

    @property
    def licence_flag(self) -> LicenceFlag:
        """The most restrictive flag among the sources."""
        order = [LicenceFlag.NC, LicenceFlag.COPYLEFT, LicenceFlag.UNCLEAR, LicenceFlag.OPEN]
        return min((s.licence_flag for s in self.sources), key=order.index)

    @property
    def citation(self) -> str:
        return "\n".join(s.citation for s in self.sources)

    @property
    def source_checksums(self) -> dict[str, dict[str, str]]:
        return {s.key: s.checksums for s in self.sources}
