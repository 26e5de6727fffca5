"""Structured pruning: remove whole FFN neurons, so the matrices physically shrink.

Neuron ``n`` of a layer is row ``n`` of the up projection (with its bias) and column ``n`` of
the down projection; its score is the sum of its weights' importance scores. Every layer keeps
the same number of neurons because transformers configs carry one FFN width for all layers
(``intermediate_size``): that is what lets the saved model load with plain
``SentenceTransformer(path)``.

Attention heads are not pruned: transformers 5 removed ``prune_heads``, and a config cannot say
which heads a layer lost, so a model with pruned heads would no longer load without our code.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from domainemb.errors import DomainembError
from domainemb.prune.architecture import FfnModel


def neuron_scores(ffn: FfnModel, scores: Mapping[str, Tensor]) -> list[Tensor]:
    """Per layer, the summed weight scores of each FFN neuron: ``(width,)`` each."""
    return [scores[layer.up_name].sum(dim=1) + scores[layer.down_name].sum(dim=0) for layer in ffn.layers]


@torch.no_grad()
def shrink_ffn(ffn: FfnModel, per_neuron: list[Tensor], sparsity: float) -> int:
    """Keep the highest-scored ``1 − sparsity`` of every layer's FFN neurons; rewrite the config.

    Args:
        ffn: The model's FFN layers (their modules are replaced in place).
        per_neuron: Neuron scores per layer (:func:`neuron_scores`).
        sparsity: Fraction of neurons removed from every layer, in (0, 1).

    Returns:
        The new FFN width (the same in every layer).

    Raises:
        DomainembError: the layers' widths differ, or no neuron would be left.
    """
    widths = {layer.width for layer in ffn.layers}
    if len(widths) != 1:
        raise DomainembError(f"structured pruning needs one FFN width in every layer, found {sorted(widths)}")
    width = widths.pop()
    kept = width - round(sparsity * width)
    if kept < 1:
        raise DomainembError(f"sparsity {sparsity} would remove every one of the {width} FFN neurons")
    for layer, scores in zip(ffn.layers, per_neuron, strict=True):
        # Stable order of the kept neurons keeps the computation identical up to their removal.
        keep = torch.sort(torch.topk(scores.float(), kept).indices).values.to(layer.up.weight.device)
        _replace(layer.block, layer.up_path, _rows(layer.up, keep))
        _replace(layer.block, layer.down_path, _columns(layer.down, keep))
    setattr(ffn.backbone.config, ffn.width_key, kept)
    return kept


def _rows(linear: nn.Linear, keep: Tensor) -> nn.Linear:
    out = nn.Linear(
        linear.in_features,
        len(keep),
        bias=linear.bias is not None,
        device=linear.weight.device,
        dtype=linear.weight.dtype,
    )
    out.weight.copy_(linear.weight[keep])
    if linear.bias is not None:
        out.bias.copy_(linear.bias[keep])
    return out


def _columns(linear: nn.Linear, keep: Tensor) -> nn.Linear:
    out = nn.Linear(
        len(keep),
        linear.out_features,
        bias=linear.bias is not None,
        device=linear.weight.device,
        dtype=linear.weight.dtype,
    )
    out.weight.copy_(linear.weight[:, keep])
    if linear.bias is not None:
        out.bias.copy_(linear.bias)
    return out


def _replace(block: nn.Module, path: str, new: nn.Linear) -> None:
    parent, _, name = path.rpartition(".")
    setattr(block.get_submodule(parent) if parent else block, name, new)
