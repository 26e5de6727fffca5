"""The comparison statistics on synthetic results: Spearman, ANOVA, bootstrap intervals, missing cells, terciles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from domainemb.compare.analysis import BootstrapSettings, SuiteResults, analyse, anova, spearman, terciles
from domainemb.compare.bootstrap import ItemScores, Unavailable, draws

MODELS = ["a", "b", "c", "d", "bm25"]


def _items(values: np.ndarray) -> ItemScores:
    return ItemScores(n_items=len(values), unit="query", score=lambda idx: values[idx].mean(axis=-1))


def _suite(name: str, types: dict[str, str], quality: dict[str, float], seed: int, shift: float = 0.0) -> SuiteResults:
    """Per-item scores around each model's quality; bm25 only scores retrieval; clustering has no items."""
    rng = np.random.default_rng(seed)
    scores: dict[str, dict[str, float | None]] = {}
    items: dict = {}
    for model in MODELS:
        scores[model], items[model] = {}, {}
        for task, task_type in types.items():
            if model == "bm25" and task_type != "Retrieval":
                continue
            values = np.clip(rng.normal(quality[model] + shift, 0.15, 60), 0, 1)
            scores[model][task] = float(values.mean())
            items[model][task] = Unavailable("clustering") if task_type == "Clustering" else _items(values)
    return SuiteResults(name=name, types=types, scores=scores, items=items)


QUALITY = {"a": 0.5, "b": 0.6, "c": 0.7, "d": 0.4, "bm25": 0.55}
DOMAIN_TYPES = {"R1": "Retrieval", "R2": "Retrieval", "C1": "Classification", "K1": "Clustering"}
GENERAL_TYPES = {
    "GR1": "Retrieval",
    "GC1": "Classification",
    "GC2": "Classification",
    "GK1": "Clustering",
    "GS1": "STS",
}


@pytest.fixture
def suites() -> tuple[SuiteResults, SuiteResults]:
    return _suite("finance", DOMAIN_TYPES, QUALITY, seed=1, shift=-0.1), _suite(
        "general", GENERAL_TYPES, QUALITY, seed=2
    )


# ----------------------------------------------------------------------------- Spearman
def test_spearman_exact_p_value_for_few_models():
    same = spearman({"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 10, "b": 20, "c": 30, "d": 40})
    assert same.rho == 1.0 and same.n_models == 4
    # Two of the 24 orderings reach |rho| = 1: the exact two-sided p-value is 2/24.
    assert math.isclose(same.p_value, 2 / 24, rel_tol=1e-3) and same.p_method.startswith("exact")
    reversed_ = spearman({"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 4, "b": 3, "c": 2, "d": 1})
    assert reversed_.rho == -1.0


def test_spearman_uses_scipy_beyond_exact_range():
    rng = np.random.default_rng(0)
    general = {f"m{i}": float(v) for i, v in enumerate(rng.normal(size=12))}
    domain = {m: v + float(rng.normal(scale=0.5)) for m, v in general.items()}
    result = spearman(general, domain)
    ref = spearmanr([general[m] for m in sorted(general)], [domain[m] for m in sorted(general)])
    assert math.isclose(result.rho, ref.statistic, abs_tol=1e-6)
    assert math.isclose(result.p_value, ref.pvalue, rel_tol=1e-3) and result.p_method == "t approximation"


def test_spearman_needs_three_models_and_a_varying_ranking():
    assert spearman({"a": 1, "b": 2}, {"a": 1, "b": 2}).rho is None
    assert "at least 3" in spearman({"a": 1, "b": 2}, {"a": 1, "b": 2}).note
    assert spearman({"a": 1, "b": 1, "c": 1}, {"a": 1, "b": 2, "c": 3}).note == "a ranking is constant"
    # Models missing on one side are left out, not counted as zero.
    assert spearman({"a": 1, "b": 2, "c": 3, "x": 9}, {"a": 1, "b": 2, "c": 3}).models == ("a", "b", "c")


# ----------------------------------------------------------------------------- ANOVA
def test_anova_finds_an_injected_suite_effect():
    rng = np.random.default_rng(3)
    types = {f"T{i}": f"Type{i}" for i in range(4)}
    scores_d, scores_g = {}, {}
    for k, model in enumerate(["a", "b", "c"]):
        scores_d[model] = {t: 0.5 + 0.1 * k - 0.2 + float(rng.normal(0, 0.01)) for t in types}
        scores_g[model] = {t: 0.5 + 0.1 * k + float(rng.normal(0, 0.01)) for t in types}
    result = anova(SuiteResults("finance", types, scores_d), SuiteResults("general", types, scores_g), ["a", "b", "c"])
    table = {row.term: row for row in result.table}
    assert set(table) == {"suite", "model", "residual"}
    assert table["suite"].p_value < 1e-6 and table["model"].p_value < 1e-6
    assert table["suite"].df == 1 and table["model"].df == 2 and table["residual"].df == 24 - 1 - 1 - 2
    assert math.isclose(result.suite_effect, -0.2, abs_tol=0.01)
    assert result.observations == 24


def test_anova_without_a_second_model_explains_itself():
    types = {"T": "Retrieval"}
    result = anova(
        SuiteResults("finance", types, {"a": {"T": 0.4}}), SuiteResults("general", types, {"a": {"T": 0.5}}), ["a"]
    )
    assert result.table is None and "two models" in result.note


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_is_deterministic_for_a_seed(suites):
    domain, general = suites
    settings = BootstrapSettings(seed=7, samples=300)
    first = analyse(domain, general, MODELS, settings=settings)
    again = analyse(domain, general, MODELS, settings=settings)
    other = analyse(domain, general, MODELS, settings=BootstrapSettings(seed=8, samples=300))
    assert first == again
    a1, a2 = first.means["domain"]["a"]["overall"], other.means["domain"]["a"]["overall"]
    assert a1.value == a2.value and (a1.low, a1.high) != (a2.low, a2.high)


def test_intervals_cover_the_mean_and_count_resampled_tasks(suites):
    domain, general = suites
    result = analyse(domain, general, MODELS, settings=BootstrapSettings(samples=400))
    overall = result.means["domain"]["c"]["overall"]
    assert overall.low < overall.value < overall.high
    assert overall.n_tasks == 4 and overall.resampled_tasks == 3  # clustering held at its score
    clustering = result.means["domain"]["c"]["Clustering"]
    assert clustering.value is not None and clustering.low is None and "clustering" in clustering.note
    assert result.interval_notes["domain"]["K1"]["c"] == "clustering"


def test_paired_differences_of_a_model_with_itself_are_zero(suites):
    domain, general = suites
    twin = SuiteResults(
        domain.name,
        domain.types,
        {**domain.scores, "a2": dict(domain.scores["a"])},
        {**domain.items, "a2": dict(domain.items["a"])},
    )
    result = analyse(twin, general, ["a", "a2"], settings=BootstrapSettings(samples=200))
    row = next(d for d in result.differences["domain"] if d.scope == "overall")
    assert (row.estimate.value, row.estimate.low, row.estimate.high) == (0.0, 0.0, 0.0)


def test_draws_are_shared_by_models_and_seeded():
    assert np.array_equal(draws(1, "T", 10, 5), draws(1, "T", 10, 5))
    assert not np.array_equal(draws(1, "T", 10, 5), draws(2, "T", 10, 5))
    assert not np.array_equal(draws(1, "T", 10, 5), draws(1, "U", 10, 5))


# ----------------------------------------------------------------------------- missing cells
def test_missing_cells_stay_missing(suites):
    domain, general = suites
    result = analyse(domain, general, MODELS, settings=BootstrapSettings(samples=100))
    bm25 = result.means["domain"]["bm25"]
    assert bm25["overall"].value is None and "C1" in bm25["overall"].note
    assert bm25["Classification"].value is None
    assert bm25["Retrieval"].value is not None
    assert result.gaps["bm25"]["overall"] is None and result.gaps["bm25"]["Retrieval"] is not None
    assert result.task_scores["domain"]["C1"]["bm25"].value is None
    pairs = {(d.scope, d.model_a, d.model_b) for d in result.differences["domain"]}
    assert ("Retrieval", "a", "bm25") in pairs and ("overall", "a", "bm25") not in pairs
    assert "bm25" not in result.rank_agreement["overall"].models
    assert "bm25" in result.rank_agreement["Retrieval"].models


def test_a_model_missing_one_task_has_no_mean_for_its_groups(suites):
    domain, general = suites
    del domain.scores["a"]["R2"]
    result = analyse(domain, general, MODELS, settings=BootstrapSettings(samples=50))
    assert result.means["domain"]["a"]["Retrieval"].value is None
    assert result.means["domain"]["a"]["overall"].value is None
    assert result.means["domain"]["a"]["Classification"].value is not None


# ----------------------------------------------------------------------------- terciles
def test_terciles_group_tasks_of_both_suites(suites):
    domain, general = suites
    complexity = {t: {"entropy": float(i)} for i, t in enumerate([*domain.types, *general.types])}
    complexity["GS1"]["entropy"] = None  # not measured: left out, not a zero
    result = terciles(domain, general, ["a", "bm25"], complexity, ["entropy", "llm_error_rate"])
    groups = result["entropy"].groups
    assert [g.tercile for g in groups] == [1, 2, 3]
    placed = [t for g in groups for suite in g.tasks.values() for t in suite]
    assert sorted(placed) == sorted(t for t in complexity if t != "GS1")
    first = groups[0]
    assert list(first.tasks["domain"]) == sorted(["R1", "R2", "C1"])
    cell = first.models["a"]
    assert math.isclose(cell.domain, np.mean([domain.scores["a"][t] for t in ("R1", "R2", "C1")]), abs_tol=1e-6)
    assert first.models["bm25"].n_domain == 2  # bm25 has no classification score
    assert result["llm_error_rate"].groups == () and "not computed" in result["llm_error_rate"].note


def test_exact_p_value_counts_every_ordering_like_scipy():
    import itertools

    from domainemb.compare.analysis import _exact_spearman_p

    rng = np.random.default_rng(0)
    for n in (3, 4, 5):
        x, y = rng.normal(size=n), rng.normal(size=n)
        rho = spearmanr(x, y).statistic
        null = np.array([spearmanr(x, y[list(p)]).statistic for p in itertools.permutations(range(n))])
        # scipy's permutation_test, two-sided: twice the smaller tail, at most 1.
        expected = min(1.0, 2 * min(np.mean(null >= rho - 1e-12), np.mean(null <= rho + 1e-12)))
        assert math.isclose(_exact_spearman_p(x, y, rho), expected, abs_tol=1e-9)


# ----------------------------------------------------------------------------- typed results
def test_statistics_round_trip_through_json(suites):
    import json

    from domainemb.compare.analysis import Statistics

    domain, general = suites
    complexity = {
        t: {"entropy": float(i), "llm_error_rate": None} for i, t in enumerate([*domain.types, *general.types])
    }
    result = analyse(domain, general, MODELS, complexity, ["entropy", "llm_error_rate"], BootstrapSettings(samples=50))
    text = json.dumps(result.to_dict())
    again = Statistics.from_dict(json.loads(text))
    assert again == result and json.dumps(again.to_dict()) == text
    # JSON keys stay those the report and older files use.
    data = json.loads(text)
    assert {"scope", "a", "b", "value"} <= set(data["differences"]["domain"][0])
    assert data["anova"]["table"][0].keys() == {"term", "df", "sum_sq", "F", "p_value"}
    assert "note" in data["terciles"]["llm_error_rate"] and "note" not in data["terciles"]["entropy"]
