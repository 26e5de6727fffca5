"""Before/after comparison of a base and an adapted model on the domain and the general suite.

Both models are scored by the evaluation engine (mteb's evaluators, results in mteb's layout).
The comparison is what ``domainemb report`` renders: per suite and task type, the mean change of
the main score -- the *domain gain* on the domain suite and the *general change* (forgetting) on
the general suite -- with seeded bootstrap confidence intervals over tasks.

``comparison.json`` layout::

    {"format": "domainemb-adapt-comparison/1", "domain": "finance",
     "base": {"name", "model_name", "fingerprint"}, "adapted": {...},
     "suites": {"domain": SUITE, "general": SUITE},
     "headline": {"domain_retrieval_ndcg_at_10": CHANGE | null, "domain_mean": CHANGE, "general_mean": CHANGE},
     "seed", "bootstrap_samples", "confidence", "domainemb_version", "mteb_version", "created"}
    SUITE  = {"benchmark", "benchmark_checksum", "tasks": [TASK], "by_type": {type: CHANGE}, "overall": CHANGE}
    TASK   = {"task", "type", "metric", "base", "adapted", "delta"}
    CHANGE = {"base", "adapted", "delta", "low", "high", "n_tasks", "confidence"}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import domainemb
from domainemb.adapt.bootstrap import bootstrap_mean
from domainemb.errors import DomainembError
from domainemb.jsonio import write_json
from domainemb.suites import ModelRef
from domainemb.types import TaskType

if TYPE_CHECKING:
    from domainemb.evaluation.results import TaskScore

FORMAT = "domainemb-adapt-comparison/1"
COMPARISON_FILE = "comparison.json"


@dataclass(frozen=True)
class TaskChange:
    """One task's main score for both models."""

    task: str
    type: str
    metric: str
    base: float
    adapted: float
    delta: float


@dataclass(frozen=True)
class Change:
    """Mean main scores over a group of tasks, the mean change, and its bootstrap interval."""

    base: float
    adapted: float
    delta: float
    low: float | None
    high: float | None
    n_tasks: int
    confidence: float


@dataclass(frozen=True)
class SuiteComparison:
    """Both models on one suite."""

    benchmark: str
    benchmark_checksum: str
    tasks: tuple[TaskChange, ...]
    by_type: dict[str, Change]
    overall: Change


@dataclass(frozen=True)
class Comparison:
    """Base versus adapted model on the domain and general suites (see the module docstring).

    ``base`` and ``adapted`` are kept by name, model name and fingerprint (:meth:`ModelRef.identity`).
    """

    domain: str
    base: ModelRef
    adapted: ModelRef
    suites: dict[str, SuiteComparison]
    seed: int
    bootstrap_samples: int
    confidence: float
    domainemb_version: str
    mteb_version: str
    created: str

    @property
    def headline(self) -> dict[str, Change | None]:
        """Domain retrieval nDCG@10 change, domain suite mean change, general suite mean change."""
        domain = self.suites.get("domain")
        general = self.suites.get("general")
        return {
            "domain_retrieval_ndcg_at_10": domain.by_type.get(TaskType.RETRIEVAL.value) if domain else None,
            "domain_mean": domain.overall if domain else None,
            "general_mean": general.overall if general else None,
        }

    def to_dict(self) -> dict[str, Any]:
        data = {"format": FORMAT, **asdict(self), "base": self.base.identity(), "adapted": self.adapted.identity()}
        data["headline"] = {k: asdict(v) if v else None for k, v in self.headline.items()}
        return data

    def to_disk(self, path: Path) -> None:
        """Write the comparison JSON atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def from_disk(cls, path: Path) -> Comparison:
        """Read a file written by :meth:`to_disk`.

        Raises:
            ValueError: not a comparison file of this format.
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} file")
        suites = {
            name: SuiteComparison(
                benchmark=s["benchmark"],
                benchmark_checksum=s["benchmark_checksum"],
                tasks=tuple(TaskChange(**t) for t in s["tasks"]),
                by_type={k: Change(**v) for k, v in s["by_type"].items()},
                overall=Change(**s["overall"]),
            )
            for name, s in data["suites"].items()
        }
        fields = {
            k: data[k]
            for k in (
                "domain",
                "seed",
                "bootstrap_samples",
                "confidence",
                "domainemb_version",
                "mteb_version",
                "created",
            )
        }
        return cls(
            base=ModelRef.from_dict(data["base"]), adapted=ModelRef.from_dict(data["adapted"]), suites=suites, **fields
        )


def compare_suite(
    scores: Sequence[TaskScore], base: str, adapted: str, samples: int, seed: int, confidence: float = 0.95
) -> SuiteComparison:
    """Pair the two models' scores task by task and summarise the change per task type and overall.

    Args:
        scores: The engine's scores for one suite (both models).
        base: The base model's name in ``scores``.
        adapted: The adapted model's name in ``scores``.
        samples: Bootstrap resamples.
        seed: Bootstrap seed.
        confidence: Interval coverage.

    Raises:
        DomainembError: a task scored for one model but not the other.
    """
    by_model: dict[str, dict[str, TaskScore]] = {base: {}, adapted: {}}
    for s in scores:
        if s.provenance.model in by_model:
            by_model[s.provenance.model][s.task] = s
    missing = sorted(set(by_model[base]) ^ set(by_model[adapted]))
    if missing:
        raise DomainembError(f"task {missing[0]} is scored for only one of the two models; cannot compare")
    if not by_model[base]:
        raise DomainembError("no task was scored; cannot compare")
    first = next(iter(by_model[base].values()))
    tasks = tuple(
        TaskChange(
            task=name,
            type=b.task_type,
            metric=b.main_score_name,
            base=b.main_score,
            adapted=by_model[adapted][name].main_score,
            delta=by_model[adapted][name].main_score - b.main_score,
        )
        for name, b in sorted(by_model[base].items())
    )
    by_type = {
        kind: _change([t for t in tasks if t.type == kind], samples, seed, confidence)
        for kind in sorted({t.type for t in tasks})
    }
    return SuiteComparison(
        benchmark=first.provenance.benchmark,
        benchmark_checksum=first.provenance.benchmark_checksum,
        tasks=tasks,
        by_type=by_type,
        overall=_change(list(tasks), samples, seed, confidence),
    )


def _change(tasks: list[TaskChange], samples: int, seed: int, confidence: float) -> Change:
    interval = bootstrap_mean([[t.delta] for t in tasks], samples, seed, confidence)
    n = len(tasks)
    return Change(
        base=sum(t.base for t in tasks) / n,
        adapted=sum(t.adapted for t in tasks) / n,
        delta=interval.mean,
        low=interval.low,
        high=interval.high,
        n_tasks=n,
        confidence=confidence,
    )


def build_comparison(
    domain: str,
    base: ModelRef,
    adapted: ModelRef,
    suites: dict[str, Sequence[TaskScore]],
    samples: int,
    seed: int,
    confidence: float = 0.95,
) -> Comparison:
    """Compare ``base`` and ``adapted`` on each suite's scores (``{"domain": ..., "general": ...}``)."""
    import mteb

    return Comparison(
        domain=domain,
        base=base,
        adapted=adapted,
        suites={
            name: compare_suite(s, base.name, adapted.name, samples, seed, confidence) for name, s in suites.items()
        },
        seed=seed,
        bootstrap_samples=samples,
        confidence=confidence,
        domainemb_version=domainemb.__version__,
        mteb_version=mteb.__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
