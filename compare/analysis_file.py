"""``analysis.json``: one comparison's models, suites, complexity, statistics and provenance, typed.

``domainemb compare`` builds an :class:`Analysis` and writes it; ``domainemb report`` reads it back
(:meth:`Analysis.from_disk`) and renders it. The file is :meth:`Analysis.to_dict`::

    {"format": "domainemb-compare-analysis/1", "domain", "size", "created",
     "models": [MODEL], "suites": {"domain": SUITE, "general": SUITE},
     "complexity": {"measures": {measure: label}, "tasks": {task: TaskComplexity}, "texts_per_task"},
     "bootstrap", "means", "task_scores", "gaps", "differences", "rank_agreement", "anova", "terciles",
     "interval_notes",                      (the statistics: domainemb.compare.analysis.Statistics)
     "costs": CostSummary,                  (optional: domainemb.compare.cost; absent in older files)
     "provenance": {"domainemb_version", "mteb_version", "python", "seed",
                    "benchmarks": {key: {"path", "checksum"}}, "models": {name: {"model_name", "fingerprint"}},
                    "complexity_tools": {"textstat", "parser"}, "command"}}
    MODEL = {"name", "model_name", "revision", "fingerprint", "baseline", "serves",
             "origin": ModelOrigin}               (optional: only a model made by domainemb adapt or prune)
    SUITE = {"domain", "size", "benchmark", "checksum", "built_with", "results", "tasks": [TaskInfo]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from domainemb.compare.analysis import Statistics
from domainemb.compare.complexity import TaskComplexity
from domainemb.compare.cost import CostSummary
from domainemb.errors import DomainembError
from domainemb.jsonio import write_json
from domainemb.model_origin import ModelOrigin
from domainemb.suites import ModelRef

ANALYSIS_FILE = "analysis.json"
ANALYSIS_FORMAT = "domainemb-compare-analysis/1"


@dataclass(frozen=True)
class TaskInfo:
    """One task of a suite as the report describes it.

    Args:
        name / type / main_score: The task, its type and its main score's name.
        description / licence / licence_flag / citation / origin: From the benchmark manifest.
        sizes: Split -> items.
        data_revision: Hash of the task's data (its results were scored on this version).
        examples: The first few items, as short strings by column.
    """

    name: str
    type: str
    main_score: str
    description: str
    licence: str
    licence_flag: str
    citation: str
    origin: str
    sizes: dict[str, int]
    data_revision: str
    examples: tuple[dict[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "examples": [dict(row) for row in self.examples]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskInfo:
        return cls(**{**data, "examples": tuple(dict(row) for row in data["examples"])})


@dataclass(frozen=True)
class SuiteInfo:
    """One suite of the comparison: its benchmark, checksum, where its results are, and its tasks."""

    domain: str
    size: str
    benchmark: str
    checksum: str
    built_with: str
    results: str
    tasks: tuple[TaskInfo, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tasks": [t.to_dict() for t in self.tasks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SuiteInfo:
        return cls(**{**data, "tasks": tuple(TaskInfo.from_dict(t) for t in data["tasks"])})


@dataclass(frozen=True)
class ComplexitySummary:
    """The complexity measures: measure -> label, task -> its measures, and texts sampled per task."""

    measures: dict[str, str]
    tasks: dict[str, TaskComplexity]
    texts_per_task: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "measures": dict(self.measures),
            "tasks": {task: asdict(c) for task, c in self.tasks.items()},
            "texts_per_task": self.texts_per_task,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComplexitySummary:
        return cls(
            measures=dict(data["measures"]),
            tasks={task: TaskComplexity(**c) for task, c in data["tasks"].items()},
            texts_per_task=data["texts_per_task"],
        )


@dataclass(frozen=True)
class BenchmarkRef:
    """A suite's folder and the checksum of its manifest."""

    path: str
    checksum: str


@dataclass(frozen=True)
class ModelFingerprint:
    """A model's filed name and the fingerprint of its weights."""

    model_name: str
    fingerprint: str


@dataclass(frozen=True)
class ComplexityTools:
    """Versions of the tools behind the complexity measures."""

    textstat: str
    parser: str


@dataclass(frozen=True)
class Provenance:
    """What made the analysis: versions, seed, suites, models, and the command that ran."""

    domainemb_version: str
    mteb_version: str
    python: str
    seed: int
    benchmarks: dict[str, BenchmarkRef]
    models: dict[str, ModelFingerprint]
    complexity_tools: ComplexityTools
    command: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        return cls(
            **{
                **data,
                "benchmarks": {key: BenchmarkRef(**b) for key, b in data["benchmarks"].items()},
                "models": {name: ModelFingerprint(**m) for name, m in data["models"].items()},
                "complexity_tools": ComplexityTools(**data["complexity_tools"]),
            }
        )


@dataclass(frozen=True)
class Analysis:
    """One comparison, as ``analysis.json`` holds it (see the module docstring).

    Args:
        domain / size: The domain suite compared with the general suite, and their size.
        created: When the analysis was made (ISO 8601, UTC).
        models: The models in report order (lexical baselines last).
        suites: ``domain`` and ``general``.
        complexity: The dataset complexity measures.
        statistics: Means, gaps, differences, rank agreement, ANOVA and terciles.
        provenance: What made it.
        costs: Throughput, size and bytes per vector of each model, and its quantized scores;
            ``None`` in an analysis written before the cost axis was measured.
        origins: Model name -> where it came from (:class:`~domainemb.model_origin.ModelOrigin`), for
            the models a ``domainemb adapt`` or ``prune`` run made; in the file, each one's ``origin``.
    """

    domain: str
    size: str
    created: str
    models: tuple[ModelRef, ...]
    suites: dict[str, SuiteInfo]
    complexity: ComplexitySummary
    statistics: Statistics
    provenance: Provenance
    costs: CostSummary | None = None
    origins: dict[str, ModelOrigin] = field(default_factory=dict)

    @property
    def model_names(self) -> list[str]:
        return [m.name for m in self.models]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in the key order of ``analysis.json``."""
        return {
            "format": ANALYSIS_FORMAT,
            "domain": self.domain,
            "size": self.size,
            "created": self.created,
            "models": [_model_to_dict(m, self.origins.get(m.name)) for m in self.models],
            "suites": {key: s.to_dict() for key, s in self.suites.items()},
            "complexity": self.complexity.to_dict(),
            **self.statistics.to_dict(),
            **({"costs": self.costs.to_dict()} if self.costs is not None else {}),
            "provenance": self.provenance.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Analysis:
        """Read what :meth:`to_dict` wrote.

        Raises:
            ValueError: not a comparison analysis of this format.
            KeyError / TypeError: a field is missing or malformed.
        """
        found = data.get("format") if isinstance(data, dict) else None
        if found != ANALYSIS_FORMAT:
            raise ValueError(f"not a comparison analysis (format {found!r}, expected {ANALYSIS_FORMAT})")
        return cls(
            domain=data["domain"],
            size=data["size"],
            created=data["created"],
            models=tuple(_model_from_dict(m) for m in data["models"]),
            suites={key: SuiteInfo.from_dict(s) for key, s in data["suites"].items()},
            complexity=ComplexitySummary.from_dict(data["complexity"]),
            statistics=Statistics.from_dict(data),
            provenance=Provenance.from_dict(data["provenance"]),
            costs=CostSummary.from_dict(data["costs"]) if data.get("costs") is not None else None,
            origins={m["name"]: ModelOrigin.from_dict(m["origin"]) for m in data["models"] if m.get("origin")},
        )

    def to_disk(self, path: Path) -> None:
        """Write the analysis JSON atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def from_disk(cls, path: Path) -> Analysis:
        """Read an ``analysis.json``.

        Raises:
            DomainembError: the file is unreadable, not a comparison analysis, or one this version
                cannot read; the message names the file.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DomainembError(f"{path}: unreadable ({exc})") from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise DomainembError(f"{path}: {exc}") from None
        except (KeyError, TypeError, AttributeError) as exc:
            raise DomainembError(
                f"{path}: not a complete comparison analysis ({type(exc).__name__}: {exc}); "
                "run `domainemb compare` again"
            ) from None


def _model_to_dict(model: ModelRef, origin: ModelOrigin | None = None) -> dict[str, Any]:
    return {
        "name": model.name,
        "model_name": model.model_name,
        "revision": model.revision,
        "fingerprint": model.fingerprint,
        "baseline": model.baseline,
        "serves": list(model.serves),
        **({"origin": origin.to_dict()} if origin is not None else {}),  # absent for every other model
    }


def _model_from_dict(data: Mapping[str, Any]) -> ModelRef:
    return ModelRef(
        name=data["name"],
        model_name=data["model_name"],
        revision=data["revision"],
        fingerprint=data["fingerprint"],
        baseline=data["baseline"],
        serves=tuple(data["serves"]),
    )


def read_analysis(folder: Path) -> Analysis:
    """``folder/analysis.json``, checked to be a comparison analysis.

    Raises:
        DomainembError: no analysis there, or not one this version reads.
    """
    path = folder / ANALYSIS_FILE
    if not path.is_file():
        raise DomainembError(f"{folder}: no {ANALYSIS_FILE}; run `domainemb compare DOMAIN --out {folder}` first")
    return Analysis.from_disk(path)
