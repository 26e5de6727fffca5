"""The statistics of a domain-vs-general comparison, from main scores and per-item scores.

Everything here is a pure function of the scores, so it is tested on synthetic results:

* **means**: per model and suite, the mean main score over all tasks and per task type, each with a
  bootstrap interval. A model that lacks a task of a group (``bm25`` outside retrieval, a task the
  results folder does not hold) has no mean for that group: missing, never zero.
* **gaps**: domain mean minus general mean, overall and per type present in both suites.
* **differences**: every pair of models, per suite, overall and per type, with paired intervals.
* **rank agreement**: Spearman's rho between the models' general and domain rankings, with its
  p-value (exact permutation p-value for up to 8 models, the t approximation above).
* **ANOVA**: two-way analysis of variance ``score ~ suite + model`` on per-type means (FinMTEB).
* **terciles**: tasks of both suites split into thirds by each complexity measure, and each
  model's domain and general means within a third.

Intervals resample items within tasks (see :mod:`domainemb.compare.bootstrap`): in replicate ``b``
every task is rescored on its ``b``-th resample of items, and group means are taken over tasks.
Tasks without per-item scores (clustering) keep their score in every replicate, so an interval
covers the item sampling of the other tasks only; ``resampled_tasks`` says how many were resampled.
The same draws serve every model, so differences between models are paired.

Every result is a frozen dataclass with ``to_dict`` / ``from_dict``; :class:`Statistics` (what
:func:`analyse` returns) is the statistics part of ``analysis.json``
(:mod:`domainemb.compare.analysis_file`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from domainemb.compare.bootstrap import ItemScores, Unavailable, draws

DOMAIN, GENERAL = "domain", "general"
OVERALL = "overall"
#: Up to this many models, the p-value of Spearman's rho is exact (all permutations).
EXACT_SPEARMAN_MAX = 8


@dataclass(frozen=True)
class SuiteResults:
    """Every model's scores on one suite.

    Args:
        name: The suite's domain (``finance``, ``general``).
        types: Task name -> task type, for every task of the suite in the comparison.
        scores: Model -> task -> main score; a task a model lacks is absent or ``None``.
        items: Model -> task -> per-item scores (or why there are none).
    """

    name: str
    types: dict[str, str]
    scores: dict[str, dict[str, float | None]]
    items: dict[str, dict[str, ItemScores | Unavailable]] = field(default_factory=dict)

    def score(self, model: str, task: str) -> float | None:
        return self.scores.get(model, {}).get(task)

    @property
    def type_names(self) -> list[str]:
        return sorted(set(self.types.values()))

    def tasks_of(self, task_type: str | None) -> list[str]:
        """The tasks of one type, or every task for ``None``."""
        return [t for t, ty in self.types.items() if task_type is None or ty == task_type]


@dataclass(frozen=True)
class Estimate:
    """A mean (or difference) over tasks with its bootstrap interval.

    Args:
        value: The estimate on the full data, or ``None`` when a task of the group is missing.
        low / high: Interval bounds, ``None`` when not computed (``note`` says why).
        n_tasks: Tasks in the group.
        resampled_tasks: Tasks whose items were resampled (the others held at their score).
        note: Why a value or an interval is missing.
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    n_tasks: int = 0
    resampled_tasks: int = 0
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Estimate:
        return cls(**data)


@dataclass(frozen=True)
class BootstrapSettings:
    """Bootstrap seed, resamples per interval, and interval coverage."""

    seed: int = 42
    samples: int = 1000
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BootstrapSettings:
        return cls(**data)


@dataclass(frozen=True)
class Difference:
    """Model ``model_a``'s mean minus ``model_b``'s on one scope of one suite, with a paired interval."""

    scope: str
    model_a: str
    model_b: str
    estimate: Estimate

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "a": self.model_a, "b": self.model_b, **self.estimate.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Difference:
        rest = {k: v for k, v in data.items() if k not in ("scope", "a", "b")}
        return cls(scope=data["scope"], model_a=data["a"], model_b=data["b"], estimate=Estimate.from_dict(rest))


@dataclass(frozen=True)
class RankAgreement:
    """Spearman's rho between two rankings of the same models.

    Args:
        rho: The correlation, ``None`` when not computed (``note`` says why).
        p_value / p_method: Its two-sided p-value and how it was computed.
        n_models / models: The models ranked (those with a score on both sides).
        note: Why ``rho`` is missing.
    """

    rho: float | None
    p_value: float | None
    p_method: str | None
    n_models: int
    models: tuple[str, ...]
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "models": list(self.models)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RankAgreement:
        return cls(**{**data, "models": tuple(data["models"])})


@dataclass(frozen=True)
class AnovaObservation:
    """One observation of the ANOVA: a model's mean score over the tasks of one type in one suite."""

    suite: str
    model: str
    task_type: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "model": self.model, "type": self.task_type, "score": self.score}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnovaObservation:
        return cls(suite=data["suite"], model=data["model"], task_type=data["type"], score=data["score"])


@dataclass(frozen=True)
class AnovaRow:
    """One term of the ANOVA table (``F`` and ``p_value`` are ``None`` for the residual)."""

    term: str
    df: float | None
    sum_sq: float | None
    f_statistic: float | None
    p_value: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"term": self.term, "df": self.df, "sum_sq": self.sum_sq, "F": self.f_statistic, "p_value": self.p_value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnovaRow:
        return cls(data["term"], data["df"], data["sum_sq"], data["F"], data["p_value"])


@dataclass(frozen=True)
class Anova:
    """The two-way ANOVA of :func:`anova`.

    Args:
        formula: The model fitted, as the report shows it.
        observations: Rows in the fit; ``rows`` holds them.
        table: One row per term, or ``None`` when the design cannot be fitted (``note`` says why).
        suite_effect: Domain minus general, adjusted for model (with a table only).
        note: Why there is no table.
    """

    formula: str
    observations: int
    rows: tuple[AnovaObservation, ...]
    table: tuple[AnovaRow, ...] | None
    suite_effect: float | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "formula": self.formula,
            "observations": self.observations,
            "rows": [r.to_dict() for r in self.rows],
        }
        if self.table is None:
            return {**out, "table": None, "note": self.note}
        return {**out, "table": [r.to_dict() for r in self.table], "suite_effect": self.suite_effect}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Anova:
        rows = tuple(AnovaObservation.from_dict(r) for r in data["rows"])
        base = {"formula": data["formula"], "observations": data["observations"], "rows": rows}
        if data["table"] is None:
            return cls(**base, table=None, note=data["note"])
        table = tuple(AnovaRow.from_dict(r) for r in data["table"])
        return cls(**base, table=table, suite_effect=data["suite_effect"])


@dataclass(frozen=True)
class TercileCell:
    """One model within one third: its domain and general means there, their gap, and task counts."""

    domain: float | None
    general: float | None
    gap: float | None
    n_domain: int
    n_general: int


@dataclass(frozen=True)
class TercileGroup:
    """One third of the tasks by a measure.

    Args:
        tercile: 1 (least complex) to 3.
        low / high: The measure's range in this third (``None`` when it holds no task).
        tasks: Suite key (``domain``, ``general``) -> its tasks in this third, sorted.
        models: Model -> its means in this third.
    """

    tercile: int
    low: float | None
    high: float | None
    tasks: dict[str, tuple[str, ...]]
    models: dict[str, TercileCell]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tercile": self.tercile,
            "low": self.low,
            "high": self.high,
            "tasks": {key: list(names) for key, names in self.tasks.items()},
            "models": {model: asdict(cell) for model, cell in self.models.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TercileGroup:
        return cls(
            tercile=data["tercile"],
            low=data["low"],
            high=data["high"],
            tasks={key: tuple(names) for key, names in data["tasks"].items()},
            models={model: TercileCell(**cell) for model, cell in data["models"].items()},
        )


@dataclass(frozen=True)
class Terciles:
    """The tasks of both suites in thirds by one measure; no groups (and a ``note``) when too few have it."""

    cuts: tuple[float | None, ...] | None
    groups: tuple[TercileGroup, ...]
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cuts": None if self.cuts is None else list(self.cuts),
            "groups": [g.to_dict() for g in self.groups],
        }
        return out if self.note is None else {**out, "note": self.note}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Terciles:
        cuts = data["cuts"]
        return cls(
            cuts=None if cuts is None else tuple(cuts),
            groups=tuple(TercileGroup.from_dict(g) for g in data["groups"]),
            note=data.get("note"),  # present only when not computed
        )


#: Model -> scope (``overall`` or a task type) -> estimate.
Means = dict[str, dict[str, Estimate]]


@dataclass(frozen=True)
class Statistics:
    """Every statistic of a comparison (see the module docstring); what :func:`analyse` returns.

    Args:
        bootstrap: The settings of every interval.
        means: Suite key -> model -> scope -> mean with interval.
        task_scores: Suite key -> task -> model -> main score with its within-task interval.
        gaps: Model -> scope -> domain mean minus general mean (``None`` where either is missing).
        differences: Suite key -> every pair of models per scope.
        rank_agreement: Scope -> Spearman between the general and domain rankings.
        anova: The suite-by-model ANOVA.
        terciles: Complexity measure -> the tasks in thirds.
        interval_notes: Suite key -> task -> model -> why its items were not resampled.
    """

    bootstrap: BootstrapSettings
    means: dict[str, Means]
    task_scores: dict[str, dict[str, dict[str, Estimate]]]
    gaps: dict[str, dict[str, float | None]]
    differences: dict[str, tuple[Difference, ...]]
    rank_agreement: dict[str, RankAgreement]
    anova: Anova
    terciles: dict[str, Terciles]
    interval_notes: dict[str, dict[str, dict[str, str]]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in the key order of ``analysis.json``."""
        return {
            "bootstrap": self.bootstrap.to_dict(),
            "means": {key: _estimates_to_dict(by_model) for key, by_model in self.means.items()},
            "task_scores": {key: _estimates_to_dict(by_task) for key, by_task in self.task_scores.items()},
            "gaps": {model: dict(scopes) for model, scopes in self.gaps.items()},
            "differences": {key: [d.to_dict() for d in rows] for key, rows in self.differences.items()},
            "rank_agreement": {scope: r.to_dict() for scope, r in self.rank_agreement.items()},
            "anova": self.anova.to_dict(),
            "terciles": {measure: t.to_dict() for measure, t in self.terciles.items()},
            "interval_notes": {
                key: {task: dict(by_model) for task, by_model in by_task.items()}
                for key, by_task in self.interval_notes.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Statistics:
        """Read the statistics keys of ``data`` (other keys are ignored)."""
        return cls(
            bootstrap=BootstrapSettings.from_dict(data["bootstrap"]),
            means={key: _estimates_from_dict(by_model) for key, by_model in data["means"].items()},
            task_scores={key: _estimates_from_dict(by_task) for key, by_task in data["task_scores"].items()},
            gaps={model: dict(scopes) for model, scopes in data["gaps"].items()},
            differences={
                key: tuple(Difference.from_dict(d) for d in rows) for key, rows in data["differences"].items()
            },
            rank_agreement={scope: RankAgreement.from_dict(r) for scope, r in data["rank_agreement"].items()},
            anova=Anova.from_dict(data["anova"]),
            terciles={measure: Terciles.from_dict(t) for measure, t in data["terciles"].items()},
            interval_notes={
                key: {task: dict(by_model) for task, by_model in by_task.items()}
                for key, by_task in data["interval_notes"].items()
            },
        )


def _estimates_to_dict(nested: Mapping[str, Mapping[str, Estimate]]) -> dict[str, dict[str, dict[str, Any]]]:
    return {outer: {inner: e.to_dict() for inner, e in by_inner.items()} for outer, by_inner in nested.items()}


def _estimates_from_dict(nested: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Estimate]]:
    return {
        outer: {inner: Estimate.from_dict(e) for inner, e in by_inner.items()} for outer, by_inner in nested.items()
    }


class _Replicates:
    """Each (suite, model, task)'s scores over the bootstrap replicates, computed once."""

    def __init__(self, settings: BootstrapSettings) -> None:
        self.settings = settings
        self._cache: dict[tuple[str, str, str], np.ndarray | None] = {}

    def of(self, suite: SuiteResults, model: str, task: str) -> np.ndarray | None:
        """``(samples,)`` rescored main scores, or ``None`` when the task has no per-item scores."""
        key = (suite.name, model, task)
        if key not in self._cache:
            items = suite.items.get(model, {}).get(task)
            if isinstance(items, ItemScores):
                s = self.settings
                self._cache[key] = items.score(draws(s.seed, task, items.n_items, s.samples))
            else:
                self._cache[key] = None
        return self._cache[key]


def _interval(replicates: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    if np.all(np.isnan(replicates)):
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(replicates, [tail, 100 - tail])
    return _r(low), _r(high)


def _r(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def _sig(value: float | None) -> float | None:
    """Four significant digits: p-values and F statistics can be far below 1e-6."""
    return None if value is None or not math.isfinite(value) else float(f"{float(value):.4g}")


def _group_replicates(
    reps: _Replicates, suite: SuiteResults, model: str, tasks: Sequence[str]
) -> tuple[float | None, np.ndarray | None, int, str | None]:
    """Mean over ``tasks`` and its replicates; (None, ...) with a note when a task is missing."""
    scores = [suite.score(model, t) for t in tasks]
    missing = [t for t, s in zip(tasks, scores, strict=True) if s is None]
    if not tasks:
        return None, None, 0, "no task"
    if missing:
        return None, None, 0, f"missing: {', '.join(missing)}"
    columns, resampled = [], 0
    for task, score in zip(tasks, scores, strict=True):
        replicates = reps.of(suite, model, task)
        if replicates is None:
            columns.append(np.full(reps.settings.samples, score))
        else:
            columns.append(replicates)
            resampled += 1
    mean = float(np.mean(scores))
    if not resampled:
        return mean, None, 0, None
    with np.errstate(invalid="ignore"):
        return mean, np.mean(np.stack(columns), axis=0), resampled, None


def _estimate(reps: _Replicates, suite: SuiteResults, model: str, tasks: Sequence[str]) -> Estimate:
    mean, replicates, resampled, note = _group_replicates(reps, suite, model, tasks)
    if mean is None:
        return Estimate(value=None, n_tasks=len(tasks), note=note)
    if replicates is None:
        return Estimate(value=_r(mean), n_tasks=len(tasks), note=_no_interval(suite, model, tasks))
    low, high = _interval(replicates, reps.settings.confidence)
    return Estimate(value=_r(mean), low=low, high=high, n_tasks=len(tasks), resampled_tasks=resampled)


def _no_interval(suite: SuiteResults, model: str, tasks: Sequence[str]) -> str:
    reasons = sorted({i.reason for t in tasks if isinstance(i := suite.items.get(model, {}).get(t), Unavailable)})
    return "interval not computed: " + ("; ".join(reasons) if reasons else "no per-item scores")


def _scopes(suite: SuiteResults) -> dict[str, list[str]]:
    return {OVERALL: suite.tasks_of(None), **{ty: suite.tasks_of(ty) for ty in suite.type_names}}


# ----------------------------------------------------------------------------- sections
def suite_means(reps: _Replicates, suite: SuiteResults, models: Sequence[str]) -> dict[str, dict[str, Estimate]]:
    """Model -> scope (``overall`` or a task type) -> mean with interval."""
    return {m: {scope: _estimate(reps, suite, m, tasks) for scope, tasks in _scopes(suite).items()} for m in models}


def task_scores(reps: _Replicates, suite: SuiteResults, models: Sequence[str]) -> dict[str, dict[str, Estimate]]:
    """Task -> model -> main score with its within-task interval."""
    return {task: {m: _estimate(reps, suite, m, [task]) for m in models} for task in suite.types}


def differences(reps: _Replicates, suite: SuiteResults, models: Sequence[str]) -> list[Difference]:
    """Every pair of models (a, b), per scope: mean(a) - mean(b) with a paired interval."""
    out = []
    for scope, tasks in _scopes(suite).items():
        for a, b in itertools.combinations(models, 2):
            mean_a, reps_a, resampled, _ = _group_replicates(reps, suite, a, tasks)
            mean_b, reps_b, _, _ = _group_replicates(reps, suite, b, tasks)
            if mean_a is None or mean_b is None:
                continue
            low = high = None
            note = None
            if reps_a is not None and reps_b is not None:
                low, high = _interval(reps_a - reps_b, reps.settings.confidence)
            else:
                note = _no_interval(suite, a if reps_a is None else b, tasks)
            estimate = Estimate(_r(mean_a - mean_b), low, high, len(tasks), resampled, note)
            out.append(Difference(scope, a, b, estimate))
    return out


def gaps(
    domain_means: Mapping[str, Mapping[str, Estimate]], general_means: Mapping[str, Mapping[str, Estimate]]
) -> dict:
    """Model -> scope -> domain mean minus general mean (``None`` where either is missing)."""
    out: dict[str, dict[str, float | None]] = {}
    for model, scopes in domain_means.items():
        out[model] = {}
        for scope, estimate in scopes.items():
            other = general_means.get(model, {}).get(scope)
            if other is None:
                continue
            both = estimate.value is not None and other.value is not None
            out[model][scope] = _r(estimate.value - other.value) if both else None
    return out


def spearman(general: Mapping[str, float], domain: Mapping[str, float]) -> RankAgreement:
    """Spearman's rho between two scorings of the same models, with its p-value.

    Returns:
        The agreement over the models scored on both sides; ``rho`` is ``None`` (with ``note``)
        for fewer than three models or a constant ranking.
    """
    from scipy.stats import spearmanr

    models = sorted(set(general) & set(domain))

    def missing(note: str) -> RankAgreement:
        return RankAgreement(
            rho=None, p_value=None, p_method=None, n_models=len(models), models=tuple(models), note=note
        )

    if len(models) < 3:
        return missing("needs at least 3 models with both scores")
    x = np.array([general[m] for m in models])
    y = np.array([domain[m] for m in models])
    if np.all(x == x[0]) or np.all(y == y[0]):
        return missing("a ranking is constant")
    result = spearmanr(x, y)
    rho, p_value, method = float(result.statistic), float(result.pvalue), "t approximation"
    if len(models) <= EXACT_SPEARMAN_MAX:
        p_value, method = _exact_spearman_p(x, y, rho), f"exact permutation ({math.factorial(len(models))} orderings)"
    return RankAgreement(
        rho=_r(rho), p_value=_sig(p_value), p_method=method, n_models=len(models), models=tuple(models), note=None
    )


def _exact_spearman_p(x: np.ndarray, y: np.ndarray, rho: float) -> float:
    """Two-sided p-value of rho over every ordering of ``y`` (scipy's ``permutation_test`` convention)."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    orderings = ry[np.array(list(itertools.permutations(range(len(ry)))))]  # (n!, n)
    cx = rx - rx.mean()
    cy = orderings - orderings.mean(axis=1, keepdims=True)
    null = cy @ cx / (np.linalg.norm(cx) * np.linalg.norm(cy, axis=1))  # rho of each ordering
    eps = 1e-12 * max(1.0, abs(rho))
    greater, less = np.mean(null >= rho - eps), np.mean(null <= rho + eps)
    return float(min(1.0, 2 * min(greater, less)))


def rank_agreement(
    domain_means: Mapping[str, Mapping[str, Estimate]], general_means: Mapping[str, Mapping[str, Estimate]]
) -> dict[str, RankAgreement]:
    """Spearman between general and domain rankings, overall and per type in both suites."""
    scopes = [s for s in next(iter(domain_means.values()), {}) if any(s in g for g in general_means.values())]
    out = {}
    for scope in scopes:
        general = {m: e[scope].value for m, e in general_means.items() if scope in e and e[scope].value is not None}
        domain = {m: e[scope].value for m, e in domain_means.items() if scope in e and e[scope].value is not None}
        out[scope] = spearman(general, domain)
    return out


def anova(domain: SuiteResults, general: SuiteResults, models: Sequence[str]) -> Anova:
    """Two-way ANOVA (type II) of per-type mean scores by suite and model.

    One observation per (model, suite, task type) for the types both suites have, as FinMTEB
    analysed MTEB and FinMTEB. Returns the table, the rows used, and the suite effect (domain minus
    general, adjusted for model), or a ``note`` (and no table) when the design cannot be fitted.
    """
    import pandas as pd
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    common = sorted(set(domain.type_names) & set(general.type_names))
    rows = []
    for suite in (domain, general):
        for model in models:
            for task_type in common:
                scores = [suite.score(model, t) for t in suite.tasks_of(task_type)]
                if scores and all(s is not None for s in scores):
                    rows.append(
                        {
                            "suite": DOMAIN if suite is domain else GENERAL,
                            "model": model,
                            "type": task_type,
                            "score": float(np.mean(scores)),
                        }
                    )
    frame = pd.DataFrame(rows, columns=["suite", "model", "type", "score"])
    formula = "score ~ C(suite, Treatment('general')) + C(model)"
    observations = tuple(AnovaObservation(r["suite"], r["model"], r["type"], r["score"]) for r in rows)
    base = {"formula": "score ~ suite + model", "observations": len(frame), "rows": observations}
    if frame.empty or frame["suite"].nunique() < 2 or frame["model"].nunique() < 2:
        return Anova(**base, table=None, note="needs two suites and at least two models with per-type means")
    if len(frame) <= 1 + frame["model"].nunique():
        return Anova(**base, table=None, note=f"too few observations ({len(frame)}) for suite and model effects")
    fit = smf.ols(formula, data=frame).fit()
    table = anova_lm(fit, typ=2)
    names = {"C(suite, Treatment('general'))": "suite", "C(model)": "model", "Residual": "residual"}
    out_table = tuple(
        AnovaRow(
            term=names.get(term, term),
            df=_r(row["df"]),
            sum_sq=_r(row["sum_sq"]),
            f_statistic=_sig(row.get("F")) if not pd.isna(row.get("F")) else None,
            p_value=_sig(row.get("PR(>F)")) if not pd.isna(row.get("PR(>F)")) else None,
        )
        for term, row in table.iterrows()
    )
    effect = next((v for k, v in fit.params.items() if k.startswith("C(suite")), None)
    return Anova(**base, table=out_table, suite_effect=_r(effect))


def terciles(
    domain: SuiteResults,
    general: SuiteResults,
    models: Sequence[str],
    complexity: Mapping[str, Mapping[str, float | None]],
    measures: Sequence[str],
) -> dict[str, Terciles]:
    """Per measure: tasks of both suites cut into thirds, and each model's means within them.

    Args:
        complexity: Task -> measure -> value (``None`` when not computed).
        measures: The measures to group by.

    Returns:
        Measure -> its thirds; no groups (and a ``note``) when fewer than three tasks have the measure.
    """
    out = {}
    for measure in measures:
        values = {
            (suite.name, t): v
            for suite in (domain, general)
            for t in suite.types
            if (v := complexity.get(t, {}).get(measure)) is not None
        }
        if len(values) < 3:
            out[measure] = Terciles(cuts=None, groups=(), note="not computed: fewer than 3 tasks have this measure")
            continue
        cuts = np.quantile(list(values.values()), [1 / 3, 2 / 3])
        groups = []
        for tercile in (1, 2, 3):
            members = {
                key: v
                for key, v in values.items()
                if (tercile == 1 and v <= cuts[0])
                or (tercile == 2 and cuts[0] < v <= cuts[1])
                or (tercile == 3 and v > cuts[1])
            }
            by_suite = {s.name: sorted(t for (name, t) in members if name == s.name) for s in (domain, general)}
            cells = {}
            for model in models:
                d = [x for t in by_suite[domain.name] if (x := domain.score(model, t)) is not None]
                g = [x for t in by_suite[general.name] if (x := general.score(model, t)) is not None]
                dm = float(np.mean(d)) if d else None
                gm = float(np.mean(g)) if g else None
                cells[model] = TercileCell(
                    domain=_r(dm),
                    general=_r(gm),
                    gap=_r(dm - gm) if dm is not None and gm is not None else None,
                    n_domain=len(d),
                    n_general=len(g),
                )
            groups.append(
                TercileGroup(
                    tercile=tercile,
                    low=_r(min(members.values())) if members else None,
                    high=_r(max(members.values())) if members else None,
                    tasks={DOMAIN: tuple(by_suite[domain.name]), GENERAL: tuple(by_suite[general.name])},
                    models=cells,
                )
            )
        out[measure] = Terciles(cuts=tuple(_r(c) for c in cuts), groups=tuple(groups))
    return out


def analyse(
    domain: SuiteResults,
    general: SuiteResults,
    models: Sequence[str],
    complexity: Mapping[str, Mapping[str, float | None]] | None = None,
    measures: Sequence[str] = (),
    settings: BootstrapSettings | None = None,
) -> Statistics:
    """Every statistic of the comparison (see the module docstring; ``to_dict`` makes it JSON-ready).

    Args:
        domain: Scores on the domain suite.
        general: Scores on the general suite.
        models: The models, in the order the report lists them.
        complexity: Task -> measure -> value, for the terciles.
        measures: The complexity measures to group by.
        settings: Bootstrap seed, resamples and coverage.
    """
    settings = settings or BootstrapSettings()
    reps = _Replicates(settings)
    means = {DOMAIN: suite_means(reps, domain, models), GENERAL: suite_means(reps, general, models)}
    return Statistics(
        bootstrap=settings,
        means=means,
        task_scores={DOMAIN: task_scores(reps, domain, models), GENERAL: task_scores(reps, general, models)},
        gaps=gaps(means[DOMAIN], means[GENERAL]),
        differences={
            DOMAIN: tuple(differences(reps, domain, models)),
            GENERAL: tuple(differences(reps, general, models)),
        },
        rank_agreement=rank_agreement(means[DOMAIN], means[GENERAL]),
        anova=anova(domain, general, models),
        terciles=terciles(domain, general, models, complexity or {}, measures),
        interval_notes=_interval_notes(domain, general, models),
    )


def _interval_notes(domain: SuiteResults, general: SuiteResults, models: Sequence[str]) -> dict:
    """Suite -> task -> model -> why its items were not resampled (only where they were not)."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for key, suite in ((DOMAIN, domain), (GENERAL, general)):
        for task in suite.types:
            for model in models:
                items = suite.items.get(model, {}).get(task)
                if suite.score(model, task) is not None and not isinstance(items, ItemScores):
                    reason = items.reason if isinstance(items, Unavailable) else "no per-item scores"
                    out.setdefault(key, {}).setdefault(task, {})[model] = reason
    return out
