"""``gaprune``: GAPrune's Domain Alignment Importance (DAI), per weight ``j``, as published::

    DAI_j = [ (F_dom,j − β·F_gen,j)·|θ_j| + γ·√|θ_j| ] · (1 + α·s_j)

with ``F`` the diagonal Fisher of the InfoNCE loss on domain / general calibration data and
``s_j`` the gradient alignment in [-1, 1] (:mod:`domainemb.prune.gradients`). Everything is fp32.

The ``normalized`` variant standardises each term per tensor (zero mean, unit variance) so that
the Fisher term is not drowned by ``√|θ|`` (the raw Fisher of a trained model is ~1e-8, its
``√|θ|`` ~0.2, so the published score is close to pure magnitude). Standardised terms can be
negative, which would flip the sign of a product's alignment bonus, so they are combined as a
weighted sum with the paper's weights::

    DAI_norm,j = z((F_dom − β·F_gen)·|θ|)_j + γ·z(√|θ|)_j + α·z(s)_j
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domainemb.prune.config import DaiVariant
from domainemb.prune.methods.base import PruneMethod

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import Tensor

    from domainemb.prune.methods.base import Moments, ScoringSettings


def dai_paper(
    f_dom: Tensor, f_gen: Tensor, theta: Tensor, s: Tensor, alpha: float, beta: float, gamma: float
) -> Tensor:
    """The published DAI, elementwise (all inputs of one shape)."""
    magnitude = theta.abs()
    return ((f_dom - beta * f_gen) * magnitude + gamma * magnitude.sqrt()) * (1 + alpha * s)


def dai_normalized(
    f_dom: Tensor, f_gen: Tensor, theta: Tensor, s: Tensor, alpha: float, beta: float, gamma: float
) -> Tensor:
    """DAI with each term standardised over the tensor, combined as a weighted sum."""
    magnitude = theta.abs()
    return (
        standardize((f_dom - beta * f_gen) * magnitude) + gamma * standardize(magnitude.sqrt()) + alpha * standardize(s)
    )


def standardize(x: Tensor) -> Tensor:
    """``(x − mean) / std`` over the whole tensor; all zeros when the tensor is constant."""
    import torch

    x = x.float()
    std = x.std(unbiased=False)
    if not torch.isfinite(std) or std == 0:
        return torch.zeros_like(x)
    return (x - x.mean()) / std


class GAPrune(PruneMethod):
    """Domain Alignment Importance: domain Fisher minus general Fisher, magnitude, and alignment."""

    name = "gaprune"
    needs_domain_moments = True
    needs_general_moments = True

    def score(self, theta: Mapping[str, Tensor], moments: Moments, settings: ScoringSettings) -> dict[str, Tensor]:
        from domainemb.prune.gradients import alignment

        f_dom, f_gen = moments.domain.fisher(), moments.general.fisher()
        s = alignment(moments.domain, moments.general)
        formula = dai_paper if settings.variant is DaiVariant.PAPER else dai_normalized
        return {
            name: formula(f_dom[name], f_gen[name], t, s[name], settings.alpha, settings.beta, settings.gamma)
            for name, t in theta.items()
        }

    def variant(self, settings: ScoringSettings) -> str:
        return DaiVariant(settings.variant).value

    def diagnostics(
        self, weights: Mapping[str, Tensor], moments: Moments, settings: ScoringSettings
    ) -> dict[str, float]:
        """Mean size of each DAI term over all FFN weights: shows which term decides the ranking."""
        from domainemb.prune.gradients import alignment

        f_dom, f_gen = moments.domain.fisher(), moments.general.fisher()
        s = alignment(moments.domain, moments.general)
        totals = {"fisher_term_abs": 0.0, "magnitude_term": 0.0, "alignment_abs": 0.0}
        count = 0
        for name, w in weights.items():
            theta = w.detach().float().abs()
            totals["fisher_term_abs"] += float(((f_dom[name] - settings.beta * f_gen[name]) * theta).abs().sum())
            totals["magnitude_term"] += float((settings.gamma * theta.sqrt()).sum())
            totals["alignment_abs"] += float(s[name].abs().sum())
            count += theta.numel()
        return {f"mean_{k}": v / count for k, v in totals.items()}
