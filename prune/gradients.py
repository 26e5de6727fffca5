"""Streamed gradient statistics of the InfoNCE loss: diagonal Fisher, mean gradient, alignment.

Memory stays at two fp32 running sums per pruned tensor, whatever the number of calibration
pairs: each batch's gradient is added into ``sum`` and its square into ``sum_sq``, then dropped.
Only the FFN weights require gradients during the pass, so no other parameter gradient is kept.

The statistics are over *batch* gradients ``g_b = ∇θ L_b`` (``L_b`` the mean InfoNCE loss of
batch ``b``), the usual empirical-Fisher estimate for contrastive losses, whose per-example
gradients are not independent (every pair is a negative of the others):

* diagonal Fisher  ``F_j = mean_b g_bj²``
* mean gradient    ``μ_j = mean_b g_bj``, and ``rms_j = √F_j``
* alignment        ``s_j = μ_dom,j · μ_gen,j / (rms_dom,j · rms_gen,j)``, in [-1, 1] because
  ``|μ| ≤ rms`` (Cauchy-Schwarz); 0 where either rms is 0. It is +1 when both data sets push the
  weight the same way in every batch and -1 when they always push it in opposite directions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from domainemb.pairs import Pair

log = logging.getLogger(__name__)


@dataclass
class GradientMoments:
    """Running first and second moments of per-batch gradients, one fp32 tensor per weight.

    Attributes:
        sum: Σ_b g_b per tensor.
        sum_sq: Σ_b g_b² per tensor.
        batches: Number of batches added.
    """

    sum: dict[str, Tensor] = field(default_factory=dict)
    sum_sq: dict[str, Tensor] = field(default_factory=dict)
    batches: int = 0

    def add(self, grads: Mapping[str, Tensor]) -> None:
        """Add one batch's gradients (any dtype; accumulated in fp32)."""
        for name, grad in grads.items():
            g = grad.detach().float()
            if name not in self.sum:
                self.sum[name] = torch.zeros_like(g)
                self.sum_sq[name] = torch.zeros_like(g)
            self.sum[name].add_(g)
            self.sum_sq[name].addcmul_(g, g)
        self.batches += 1

    def fisher(self) -> dict[str, Tensor]:
        """Diagonal empirical Fisher ``mean_b g_b²``."""
        return {k: v / self.batches for k, v in self.sum_sq.items()}

    def mean(self) -> dict[str, Tensor]:
        """Mean batch gradient."""
        return {k: v / self.batches for k, v in self.sum.items()}


def alignment(domain: GradientMoments, general: GradientMoments) -> dict[str, Tensor]:
    """Per-weight gradient alignment ``s_j`` in [-1, 1] (see the module docstring)."""
    out = {}
    mean_d, mean_g = domain.mean(), general.mean()
    fisher_d, fisher_g = domain.fisher(), general.fisher()
    for name in mean_d:
        denominator = (fisher_d[name] * fisher_g[name]).sqrt()
        ratio = mean_d[name] * mean_g[name] / denominator.clamp_min(torch.finfo(torch.float32).tiny)
        out[name] = torch.where(denominator > 0, ratio, torch.zeros_like(ratio)).clamp_(-1.0, 1.0)
    return out


def infonce_moments(
    model: nn.Module,
    weights: Mapping[str, nn.Parameter],
    pairs: Sequence[Pair],
    batch_size: int,
    scale: float,
    on_batch: Callable[[int, int], None] | None = None,
) -> GradientMoments:
    """Stream the calibration pairs through the InfoNCE loss and accumulate gradient moments.

    The loss is sentence-transformers' ``MultipleNegativesRankingLoss`` (InfoNCE over the
    batch's positives and every pair's first hard negative). The model runs in eval mode
    (no dropout), so the statistics are those of the deterministic model that gets pruned.

    Args:
        model: The sentence-transformer.
        weights: The tensors to collect statistics for (the FFN weights), by name.
        pairs: Calibration pairs; all or none of them must carry a hard negative.
        batch_size: Pairs per batch; a last batch of fewer than 2 pairs is skipped.
        scale: Similarity scale of the loss (1 / temperature).
        on_batch: Called with (batches done, batches total) after each batch.

    Returns:
        The moments of the batch gradients of ``weights``.
    """
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    loss_fn = MultipleNegativesRankingLoss(model, scale=scale)
    moments = GradientMoments()
    batches = list(_batches(pairs, batch_size))
    wanted = {id(p) for p in weights.values()}
    saved = {name: p.requires_grad for name, p in model.named_parameters()}
    was_training = model.training
    model.eval()
    try:
        for p in model.parameters():
            p.requires_grad_(id(p) in wanted)
        for i, batch in enumerate(batches):
            model.zero_grad(set_to_none=True)
            loss = loss_fn(_features(model, batch), labels=None)
            loss.backward()
            moments.add({name: p.grad for name, p in weights.items()})
            if on_batch:
                on_batch(i + 1, len(batches))
    finally:
        model.zero_grad(set_to_none=True)
        for name, p in model.named_parameters():
            p.requires_grad_(saved[name])
        model.train(was_training)
    return moments


def _batches(pairs: Sequence[Pair], batch_size: int) -> Iterator[Sequence[Pair]]:
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        if len(batch) >= 2:  # one pair alone has no in-batch negative
            yield batch


def _features(model: nn.Module, batch: Sequence[Pair]) -> list[dict[str, Tensor]]:
    """Tokenised columns (anchor, positive[, negative]) on the model's device."""
    columns = [[p.query for p in batch], [p.positive for p in batch]]
    if all(p.negatives for p in batch):
        columns.append([p.negatives[0] for p in batch])
    device = next(model.parameters()).device
    return [
        {k: v.to(device) if isinstance(v, Tensor) else v for k, v in model.preprocess(texts).items()}
        for texts in columns
    ]
