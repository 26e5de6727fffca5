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

The ``reference`` variant is what the authors' code runs rather than what the paper prints
(yixuantt/GAPrune at 3b35514, ``gaprune/model/SparseModel.py``, ``compute_dai_importance``, with
the statistics of ``gaprune/features/fisher.py`` and ``gaprune/features/gradient.py``)::

    DAI_ref,j = softplus( (F'_dom,j·|θ_j| − β·F'_gen,j·|θ_j|) · clamp(1 + α·a_j, 0.8, 1.2)
                          + γ·√(|θ_j| + 1e-8) )

* ``F'`` is the Fisher over micro-batches of 8 (:data:`REFERENCE_MICRO_BATCH`): the sum of each
  micro-batch gradient's square divided by the number of pairs, plus 1e-8, i.e. ``mean_b g_b² / 8 + 1e-8``;
* ``a`` is the elementwise product of the two sides' mean gradients, each normalised to a unit
  vector over its tensor, averaged over a 3×3 neighbourhood for a matrix (``compute_local_gradient_alignment``);
* the code's constants are β = 1, ``compression_weight`` γ = 0.5 (its command line) and 0.2 for the
  alignment (our α, whose default is 0.2); its default ``score_postproc`` is ``none`` and its budget
  ``global``. A tensor whose scores vary by less than 1e-6 is rescaled by ``0.5 + 0.5·|θ|/mean|θ|``, as there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domainemb.prune.config import DaiVariant
from domainemb.prune.methods.base import PruneMethod

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import Tensor

    from domainemb.prune.gradients import GradientMoments
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


#: Pairs per gradient micro-batch in the authors' Fisher (``compute_structure_fisher_hessian``).
REFERENCE_MICRO_BATCH = 8


def dai_reference(
    f_dom: Tensor, f_gen: Tensor, theta: Tensor, a: Tensor, alpha: float, beta: float, gamma: float
) -> Tensor:
    """The authors' ``compute_dai_importance``, elementwise, on their Fisher ``F'`` and alignment ``a``."""
    import torch

    magnitude = theta.abs()
    factor = torch.clamp(1.0 + alpha * a, 0.8, 1.2)
    raw = (f_dom * magnitude - beta * f_gen * magnitude) * factor + gamma * torch.sqrt(magnitude + 1e-8)
    importance = torch.nn.functional.softplus(raw)
    if importance.numel() > 1 and importance.std() < 1e-6:
        importance = importance * (0.5 + 0.5 * magnitude / (magnitude.mean() + 1e-8))
    return importance


def reference_fisher(moments: GradientMoments) -> dict[str, Tensor]:
    """``F' = mean_b g_b² / micro-batch + 1e-8``: the authors' sum of squares over the number of pairs."""
    return {name: f / REFERENCE_MICRO_BATCH + 1e-8 for name, f in moments.fisher().items()}


def reference_alignment(domain: GradientMoments, general: GradientMoments) -> dict[str, Tensor]:
    """Per-weight product of the unit-normalised mean gradients, 3×3-averaged for matrices.

    As ``compute_elementwise_alignment`` / ``compute_local_gradient_alignment``: each side's mean
    gradient is divided by its norm over the tensor (zeros when either norm is at most 1e-8), the
    two are multiplied elementwise, and a matrix is smoothed with a 3×3 mean (zero padding).
    """
    import torch

    out = {}
    mean_d, mean_g = domain.mean(), general.mean()
    for name, d in mean_d.items():
        g = mean_g[name].float()
        d = d.float()
        norm_d, norm_g = d.norm(), g.norm()
        if norm_d <= 1e-8 or norm_g <= 1e-8:
            out[name] = torch.zeros_like(d)
            continue
        product = (g / (norm_g + 1e-8)) * (d / (norm_d + 1e-8))
        if product.dim() >= 2 and min(product.shape) >= 3:
            kernel = torch.ones(1, 1, 3, 3, dtype=product.dtype) / 9
            product = torch.nn.functional.conv2d(product[None, None], kernel, padding=1)[0, 0]
        out[name] = product
    return out


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

        if DaiVariant(settings.variant) is DaiVariant.REFERENCE:
            f_dom, f_gen = reference_fisher(moments.domain), reference_fisher(moments.general)
            s = reference_alignment(moments.domain, moments.general)
            formula = dai_reference
        else:
            f_dom, f_gen = moments.domain.fisher(), moments.general.fisher()
            s = alignment(moments.domain, moments.general)
            formula = dai_paper if settings.variant is DaiVariant.PAPER else dai_normalized
        return {
            name: formula(f_dom[name], f_gen[name], t, s[name], settings.alpha, settings.beta, settings.gamma)
            for name, t in theta.items()
        }

    def variant(self, settings: ScoringSettings) -> str:
        return DaiVariant(settings.variant).value

    def gradient_batch_size(self, settings: ScoringSettings, batch_size: int) -> int:
        """The authors' micro-batches of 8 for ``reference``; the run's batch size otherwise."""
        return REFERENCE_MICRO_BATCH if DaiVariant(settings.variant) is DaiVariant.REFERENCE else batch_size

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
