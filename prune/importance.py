"""Per-weight importance scores of every pruning method; the lowest-scored weights are removed.

GAPrune's Domain Alignment Importance (DAI), per weight ``j``, as published::

    DAI_j = [ (F_dom,j − β·F_gen,j)·|θ_j| + γ·√|θ_j| ] · (1 + α·s_j)

with ``F`` the diagonal Fisher of the InfoNCE loss on domain / general calibration data and
``s_j`` the gradient alignment in [-1, 1] (:mod:`domainemb.prune.gradients`). Everything is fp32.

The ``normalized`` variant standardises each term per tensor (zero mean, unit variance) so that
the Fisher term is not drowned by ``√|θ|`` (the raw Fisher of a trained model is ~1e-8, its
``√|θ|`` ~0.2, so the published score is close to pure magnitude). Standardised terms can be
negative, which would flip the sign of a product's alignment bonus, so they are combined as a
weighted sum with the paper's weights::

    DAI_norm,j = z((F_dom − β·F_gen)·|θ|)_j + γ·z(√|θ|)_j + α·z(s)_j

The baselines: ``magnitude`` is ``|θ|``; ``fisher-domain`` / ``fisher-general`` are ``F·θ²``, the
diagonal-Fisher estimate of the loss increase when the weight is set to zero; ``random`` is a
seeded uniform draw.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from domainemb.prune.config import DaiVariant, PruneMethod
from domainemb.prune.gradients import GradientMoments, alignment


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
    x = x.float()
    std = x.std(unbiased=False)
    if not torch.isfinite(std) or std == 0:
        return torch.zeros_like(x)
    return (x - x.mean()) / std


def importance_scores(
    method: PruneMethod,
    weights: Mapping[str, Tensor],
    domain: GradientMoments | None = None,
    general: GradientMoments | None = None,
    variant: DaiVariant = DaiVariant.PAPER,
    alpha: float = 0.2,
    beta: float = 1.0,
    gamma: float = 0.5,
    seed: int = 42,
) -> dict[str, Tensor]:
    """Score every weight of ``weights`` (fp32, same shapes) for ``method``.

    Args:
        method: The pruning method.
        weights: Tensors to score, by name.
        domain: Gradient moments on domain data (``gaprune``, ``fisher-domain``).
        general: Gradient moments on general data (``gaprune``, ``fisher-general``).
        variant: DAI formula for ``gaprune``.
        alpha, beta, gamma: DAI weights.
        seed: Seed of ``random``.

    Raises:
        ValueError: moments the method needs are missing, or a score is not finite.
    """
    theta = {name: w.detach().float() for name, w in weights.items()}
    if method is PruneMethod.MAGNITUDE:
        scores = {name: t.abs() for name, t in theta.items()}
    elif method is PruneMethod.RANDOM:
        generator = torch.Generator().manual_seed(seed)
        scores = {name: torch.rand(t.shape, generator=generator).to(t.device) for name, t in theta.items()}
    elif method in (PruneMethod.FISHER_DOMAIN, PruneMethod.FISHER_GENERAL):
        moments = domain if method is PruneMethod.FISHER_DOMAIN else general
        if moments is None:
            raise ValueError(f"{method} needs gradient moments")
        fisher = moments.fisher()
        scores = {name: fisher[name] * t.square() for name, t in theta.items()}
    elif method is PruneMethod.GAPRUNE:
        if domain is None or general is None:
            raise ValueError("gaprune needs domain and general gradient moments")
        f_dom, f_gen, s = domain.fisher(), general.fisher(), alignment(domain, general)
        formula = dai_paper if variant is DaiVariant.PAPER else dai_normalized
        scores = {name: formula(f_dom[name], f_gen[name], t, s[name], alpha, beta, gamma) for name, t in theta.items()}
    else:  # a new method: score it here
        raise ValueError(f"no scores for method {method}")
    for name, score in scores.items():
        if not torch.isfinite(score).all():
            raise ValueError(f"{method}: non-finite importance scores in {name}")
    return scores
