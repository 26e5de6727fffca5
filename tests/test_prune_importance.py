"""Importance scores: the published DAI on a hand-computed example, its normalised variant,
the alignment formula, the baselines, and exact mask counts."""

from __future__ import annotations

import math

import pytest
import torch

from domainemb.prune.config import DaiVariant, Ranking
from domainemb.prune.gradients import GradientMoments, alignment
from domainemb.prune.masks import apply_masks, keep_highest, masks_from_scores
from domainemb.prune.methods import ScoringSettings, get_method, method_names
from domainemb.prune.methods.gaprune import dai_paper, reference_alignment, standardize


def _moments(*batches: list[float]) -> GradientMoments:
    moments = GradientMoments()
    for grads in batches:
        moments.add({"w": torch.tensor(grads)})
    return moments


def importance_scores(method, weights, domain=None, general=None, variant=DaiVariant.PAPER, **settings):
    """Score ``weights`` with the registered ``method``, as the run does."""
    return get_method(method).scores(weights, domain, general, ScoringSettings(variant=variant, **settings))


# Three weights, two batches each. Domain: mean (2, 1, 2), Fisher (5, 1, 5).
# General: mean (0, -2, 2), Fisher (4, 4, 5). Alignment: 0, -1 and 2·2 / (√5·√5) = 0.8.
DOMAIN = _moments([1.0, 1.0, 1.0], [3.0, 1.0, 3.0])
GENERAL = _moments([2.0, -2.0, 1.0], [-2.0, -2.0, 3.0])
THETA = {"w": torch.tensor([0.04, -0.25, 1.0])}


def test_alignment_by_hand():
    s = alignment(DOMAIN, GENERAL)["w"]
    assert torch.allclose(s, torch.tensor([0.0, -1.0, 0.8]), atol=1e-6)


def test_alignment_is_zero_without_gradient_and_bounded():
    zero = _moments([0.0, 1.0], [0.0, -1.0])
    other = _moments([1.0, 1.0], [2.0, 1.0])
    s = alignment(zero, other)["w"]
    assert s.tolist() == [0.0, 0.0]
    torch.manual_seed(0)
    random_d = GradientMoments()
    random_g = GradientMoments()
    for _ in range(5):
        random_d.add({"w": torch.randn(1000)})
        random_g.add({"w": torch.randn(1000) * 1e-6})
    s = alignment(random_d, random_g)["w"]
    assert s.min() >= -1 and s.max() <= 1


def test_dai_paper_by_hand():
    # j0: ((5-4)·0.04 + 0.5·√0.04)·(1+0.2·0)   = 0.14
    # j1: ((1-4)·0.25 + 0.5·√0.25)·(1-0.2)     = -0.4
    # j2: ((5-5)·1    + 0.5·1)    ·(1+0.2·0.8) = 0.58
    scores = importance_scores("gaprune", THETA, DOMAIN, GENERAL, DaiVariant.PAPER, alpha=0.2, beta=1.0, gamma=0.5)
    assert torch.allclose(scores["w"], torch.tensor([0.14, -0.4, 0.58]), atol=1e-6)
    direct = dai_paper(
        torch.tensor([0.5]), torch.tensor([0.1]), torch.tensor([0.04]), torch.tensor([1.0]), 0.2, 1.0, 0.5
    )
    assert direct.item() == pytest.approx(((0.5 - 0.1) * 0.04 + 0.5 * 0.2) * 1.2)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_dai_reference_by_hand():
    """The authors' compute_dai_importance on their statistics (yixuantt/GAPrune, SparseModel.py)."""
    # unit mean gradients: domain (2, 1, 2)/3, general (0, -2, 2)/√8; alignment is their product
    a = [0.0, (1 / 3) * (-2 / math.sqrt(8)), (2 / 3) * (2 / math.sqrt(8))]
    assert torch.allclose(reference_alignment(DOMAIN, GENERAL)["w"], torch.tensor(a), atol=1e-6)
    # Fisher over micro-batches of 8: mean_b g² / 8 + 1e-8 (the 1e-8 cancels in F_dom - F_gen)
    f_dom, f_gen = [5 / 8, 1 / 8, 5 / 8], [4 / 8, 4 / 8, 5 / 8]
    expected = [
        softplus((fd - fg) * abs(t) * min(max(1 + 0.2 * aj, 0.8), 1.2) + 0.5 * math.sqrt(abs(t) + 1e-8))
        for fd, fg, t, aj in zip(f_dom, f_gen, [0.04, -0.25, 1.0], a)
    ]
    scores = importance_scores("gaprune", THETA, DOMAIN, GENERAL, DaiVariant.REFERENCE, alpha=0.2, beta=1.0, gamma=0.5)
    assert torch.allclose(scores["w"], torch.tensor(expected), atol=1e-6)
    # j1: ((1/8 - 4/8)·0.25·(1 - 0.2·0.2357) + 0.5·0.5) = 0.1607 before the softplus
    assert scores["w"][1].item() == pytest.approx(softplus(0.160670), abs=1e-5)
    assert get_method("gaprune").label(ScoringSettings(variant=DaiVariant.REFERENCE)) == "gaprune-reference"


def test_reference_alignment_is_smoothed_over_three_by_three_for_a_matrix():
    a = reference_alignment(
        GradientMoments(sum={"w": torch.ones(3, 3)}, sum_sq={"w": torch.ones(3, 3)}, batches=1),
        GradientMoments(sum={"w": torch.ones(3, 3)}, sum_sq={"w": torch.ones(3, 3)}, batches=1),
    )["w"]
    # each unit gradient is 1/3 everywhere, so the product is 1/9; the 3×3 mean sees 9, 6 or 4 of them
    assert torch.allclose(a, torch.tensor([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 81, atol=1e-7)


def test_only_the_reference_variant_calibrates_in_micro_batches_of_eight():
    gaprune = get_method("gaprune")
    assert gaprune.gradient_batch_size(ScoringSettings(variant=DaiVariant.REFERENCE), 16) == 8
    assert gaprune.gradient_batch_size(ScoringSettings(variant=DaiVariant.PAPER), 16) == 16
    assert get_method("fisher-domain").gradient_batch_size(ScoringSettings(), 16) == 16


def test_dai_normalized_standardises_each_term():
    scores = importance_scores("gaprune", THETA, DOMAIN, GENERAL, DaiVariant.NORMALIZED, alpha=0.2, beta=1.0, gamma=0.5)
    fisher_term = torch.tensor([1.0, -3.0, 0.0]) * torch.tensor([0.04, 0.25, 1.0])
    expected = (
        standardize(fisher_term)
        + 0.5 * standardize(torch.tensor([0.2, 0.5, 1.0]))
        + 0.2 * standardize(torch.tensor([0.0, -1.0, 0.8]))
    )
    assert torch.allclose(scores["w"], expected, atol=1e-6)
    assert standardize(torch.ones(4)).tolist() == [0.0] * 4


def test_baselines():
    assert importance_scores("magnitude", THETA)["w"].tolist() == pytest.approx([0.04, 0.25, 1.0])
    fisher_domain = importance_scores("fisher-domain", THETA, domain=DOMAIN)["w"]
    assert torch.allclose(fisher_domain, torch.tensor([5 * 0.0016, 1 * 0.0625, 5 * 1.0]))
    fisher_general = importance_scores("fisher-general", THETA, general=GENERAL)["w"]
    assert torch.allclose(fisher_general, torch.tensor([4 * 0.0016, 4 * 0.0625, 5 * 1.0]))
    first = importance_scores("random", THETA, seed=1)["w"]
    assert torch.equal(first, importance_scores("random", THETA, seed=1)["w"])
    assert not torch.equal(first, importance_scores("random", THETA, seed=2)["w"])
    with pytest.raises(ValueError, match="needs"):
        importance_scores("gaprune", THETA, domain=DOMAIN)


def test_every_method_scores():
    for method in method_names():
        scores = importance_scores(method, THETA, DOMAIN, GENERAL)
        assert scores["w"].shape == THETA["w"].shape and scores["w"].dtype == torch.float32


def test_keep_highest_is_exact_with_ties():
    scores = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 2.0])
    keep = keep_highest(scores, 3)
    assert keep.tolist() == [False, False, False, True, True, True]
    assert keep_highest(scores, 0).all() and not keep_highest(scores, 6).any()


def test_global_and_per_layer_masks():
    scores = {"a": torch.arange(8.0).reshape(2, 4), "b": torch.arange(8.0, 12.0).reshape(2, 2)}
    glob = masks_from_scores(scores, 0.5, Ranking.GLOBAL)
    assert int((~glob["a"]).sum()) == 6 and int((~glob["b"]).sum()) == 0
    per = masks_from_scores(scores, 0.5, Ranking.PER_LAYER)
    assert int((~per["a"]).sum()) == 4 and int((~per["b"]).sum()) == 2
    weights = {"a": -torch.ones(2, 4), "b": torch.ones(2, 2)}
    apply_masks(weights, per)
    zeros = weights["a"][~per["a"]]
    assert (zeros == 0).all() and not torch.signbit(zeros).any()  # exactly +0.0
