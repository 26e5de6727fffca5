"""Binary masks from importance scores, applied in place, and the sparsity they reach.

A mask is a bool tensor of the weight's shape, ``True`` where the weight is kept. Exactly
``round(sparsity · n)`` weights are removed per ranking group (all FFN weights for ``global``,
each matrix for ``per-layer``); ties at the threshold are broken by position, so the count is
exact even for the many equal scores of a random or already-sparse model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from domainemb.prune.config import Ranking


def keep_highest(scores: Tensor, n_prune: int) -> Tensor:
    """Bool mask over flat ``scores`` that drops exactly the ``n_prune`` lowest (first position wins ties)."""
    flat = scores.reshape(-1)
    keep = torch.ones_like(flat, dtype=torch.bool)
    if n_prune <= 0:
        return keep.reshape(scores.shape)
    if n_prune >= flat.numel():
        return torch.zeros_like(keep).reshape(scores.shape)
    # kthvalue needs no full sort: memory stays at one copy of the scores.
    threshold = torch.kthvalue(flat.float().cpu(), n_prune).values.to(flat.device)
    below = flat < threshold
    keep[below] = False
    still = n_prune - int(below.sum())
    if still > 0:
        at_threshold = torch.nonzero(flat == threshold).squeeze(1)[:still]
        keep[at_threshold] = False
    return keep.reshape(scores.shape)


def masks_from_scores(
    scores: Mapping[str, Tensor], sparsity: float, ranking: Ranking = Ranking.GLOBAL
) -> dict[str, Tensor]:
    """Masks that remove the lowest-scored ``sparsity`` fraction of the weights.

    Args:
        scores: Importance per weight, by tensor name.
        sparsity: Fraction removed, in (0, 1).
        ranking: One threshold over all tensors, or one per tensor.
    """
    if ranking is Ranking.PER_LAYER:
        return {name: keep_highest(s, round(sparsity * s.numel())) for name, s in scores.items()}
    names = list(scores)
    flat = torch.cat([scores[n].reshape(-1).float() for n in names])
    keep = keep_highest(flat, round(sparsity * flat.numel()))
    out, start = {}, 0
    for name in names:
        n = scores[name].numel()
        out[name] = keep[start : start + n].reshape(scores[name].shape)
        start += n
    return out


@torch.no_grad()
def apply_masks(weights: Mapping[str, nn.Parameter | Tensor], masks: Mapping[str, Tensor]) -> None:
    """Set every masked-out weight to exactly +0.0, in place."""
    for name, mask in masks.items():
        weights[name].masked_fill_(~mask.to(weights[name].device), 0.0)


@dataclass(frozen=True)
class LayerSparsity:
    """Fraction of zero weights reached in one layer's FFN matrices."""

    layer: int
    up: float
    down: float
    total: float


def sparsity_by_layer(layers: list[tuple[int, Tensor, Tensor]]) -> tuple[list[LayerSparsity], float]:
    """Per-layer and overall fraction of exact zeros among FFN weights.

    Args:
        layers: (layer index, up weight, down weight) for every layer.

    Returns:
        One :class:`LayerSparsity` per layer, and the fraction over all FFN weights.
    """
    rows, zeros, total = [], 0, 0
    for index, up, down in layers:
        z_up, z_down = int((up == 0).sum()), int((down == 0).sum())
        rows.append(
            LayerSparsity(
                layer=index,
                up=round(z_up / up.numel(), 6),
                down=round(z_down / down.numel(), 6),
                total=round((z_up + z_down) / (up.numel() + down.numel()), 6),
            )
        )
        zeros += z_up + z_down
        total += up.numel() + down.numel()
    return rows, round(zeros / total, 6)
