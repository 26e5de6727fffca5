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
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

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


@dataclass(frozen=True)
class BootstrapSettings:
    seed: int = 42
    samples: int = 1000
    confidence: float = 0.95


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


def differences(reps: _Replicates, suite: SuiteResults, models: Sequence[str]) -> list[dict]:
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
            out.append({"scope": scope, "a": a, "b": b, **asdict(estimate)})
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


def spearman(general: Mapping[str, float], domain: Mapping[str, float]) -> dict:
    """Spearman's rho between two scorings of the same models, with its p-value.

    Returns:
        ``{"rho", "p_value", "p_method", "n_models", "models"}``; ``rho`` is ``None`` (with
        ``note``) for fewer than three models or a constant ranking.
    """
    from scipy.stats import spearmanr

    models = sorted(set(general) & set(domain))
    base = {"n_models": len(models), "models": models}
    if len(models) < 3:
        return {
            "rho": None,
            "p_value": None,
            "p_method": None,
            **base,
            "note": "needs at least 3 models with both scores",
        }
    x = np.array([general[m] for m in models])
    y = np.array([domain[m] for m in models])
    if np.all(x == x[0]) or np.all(y == y[0]):
        return {"rho": None, "p_value": None, "p_method": None, **base, "note": "a ranking is constant"}
    result = spearmanr(x, y)
    rho, p_value, method = float(result.statistic), float(result.pvalue), "t approximation"
    if len(models) <= EXACT_SPEARMAN_MAX:
        p_value, method = _exact_spearman_p(x, y, rho), f"exact permutation ({math.factorial(len(models))} orderings)"
    return {"rho": _r(rho), "p_value": _sig(p_value), "p_method": method, **base, "note": None}


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
) -> dict:
    """Spearman between general and domain rankings, overall and per type in both suites."""
    scopes = [s for s in next(iter(domain_means.values()), {}) if any(s in g for g in general_means.values())]
    out = {}
    for scope in scopes:
        general = {m: e[scope].value for m, e in general_means.items() if scope in e and e[scope].value is not None}
        domain = {m: e[scope].value for m, e in domain_means.items() if scope in e and e[scope].value is not None}
        out[scope] = spearman(general, domain)
    return out


def anova(domain: SuiteResults, general: SuiteResults, models: Sequence[str]) -> dict:
    """Two-way ANOVA (type II) of per-type mean scores by suite and model.

    One observation per (model, suite, task type) for the types both suites have, as FinMTEB
    analysed MTEB and FinMTEB. Returns the table, the rows used, and the suite effect (domain minus
    general, adjusted for model), or a ``note`` when the design cannot be fitted.
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
    base = {"formula": "score ~ suite + model", "observations": len(frame), "rows": rows}
    if frame.empty or frame["suite"].nunique() < 2 or frame["model"].nunique() < 2:
        return {**base, "table": None, "note": "needs two suites and at least two models with per-type means"}
    if len(frame) <= 1 + frame["model"].nunique():
        return {**base, "table": None, "note": f"too few observations ({len(frame)}) for suite and model effects"}
    fit = smf.ols(formula, data=frame).fit()
    table = anova_lm(fit, typ=2)
    names = {"C(suite, Treatment('general'))": "suite", "C(model)": "model", "Residual": "residual"}
    out_table = [
        {
            "term": names.get(term, term),
            "df": _r(row["df"]),
            "sum_sq": _r(row["sum_sq"]),
            "F": _sig(row.get("F")) if not pd.isna(row.get("F")) else None,
            "p_value": _sig(row.get("PR(>F)")) if not pd.isna(row.get("PR(>F)")) else None,
        }
        for term, row in table.iterrows()
    ]
    effect = next((v for k, v in fit.params.items() if k.startswith("C(suite")), None)
    return {**base, "table": out_table, "suite_effect": _r(effect)}


def terciles(
    domain: SuiteResults,
    general: SuiteResults,
    models: Sequence[str],
    complexity: Mapping[str, Mapping[str, float | None]],
    measures: Sequence[str],
) -> dict:
    """Per measure: tasks of both suites cut into thirds, and each model's means within them.

    Args:
        complexity: Task -> measure -> value (``None`` when not computed).
        measures: The measures to group by.

    Returns:
        Measure -> ``{"cuts", "groups": [{"tercile", "low", "high", "tasks": {suite: [...]},
        "models": {model: {"domain", "general", "gap", "n_domain", "n_general"}}}]}``, or a
        ``note`` when fewer than three tasks have the measure.
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
            out[measure] = {"cuts": None, "groups": [], "note": "not computed: fewer than 3 tasks have this measure"}
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
                cells[model] = {
                    "domain": _r(dm),
                    "general": _r(gm),
                    "gap": _r(dm - gm) if dm is not None and gm is not None else None,
                    "n_domain": len(d),
                    "n_general": len(g),
                }
            groups.append(
                {
                    "tercile": tercile,
                    "low": _r(min(members.values())) if members else None,
                    "high": _r(max(members.values())) if members else None,
                    "tasks": {DOMAIN: by_suite[domain.name], GENERAL: by_suite[general.name]},
                    "models": cells,
                }
            )
        out[measure] = {"cuts": [_r(c) for c in cuts], "groups": groups}
    return out


def analyse(
    domain: SuiteResults,
    general: SuiteResults,
    models: Sequence[str],
    complexity: Mapping[str, Mapping[str, float | None]] | None = None,
    measures: Sequence[str] = (),
    settings: BootstrapSettings | None = None,
) -> dict:
    """Every statistic of the comparison, as a JSON-ready dict (see the module docstring).

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
    return {
        "bootstrap": asdict(settings),
        "means": {
            suite: {m: {s: asdict(e) for s, e in scopes.items()} for m, scopes in by_model.items()}
            for suite, by_model in means.items()
        },
        "task_scores": {
            DOMAIN: _as_dicts(task_scores(reps, domain, models)),
            GENERAL: _as_dicts(task_scores(reps, general, models)),
        },
        "gaps": gaps(means[DOMAIN], means[GENERAL]),
        "differences": {DOMAIN: differences(reps, domain, models), GENERAL: differences(reps, general, models)},
        "rank_agreement": rank_agreement(means[DOMAIN], means[GENERAL]),
        "anova": anova(domain, general, models),
        "terciles": terciles(domain, general, models, complexity or {}, measures),
        "interval_notes": _interval_notes(domain, general, models),
    }


def _as_dicts(by_task: Mapping[str, Mapping[str, Estimate]]) -> dict:
    return {task: {m: asdict(e) for m, e in by_model.items()} for task, by_model in by_task.items()}


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
