"""Find the feed-forward (FFN) matrices of a sentence-transformers model's encoder.

Only FFN weights are pruned (as in GAPrune). Each supported architecture names where its layers
are and what its two FFN linears are called; anything else is refused with a clear error rather
than pruned by guesswork.

==============================  ===========================  ==================================================  =====================
``model_type``                  layers                       up / down projection                                width in the config
==============================  ===========================  ==================================================  =====================
bert, roberta, xlm-roberta,     ``encoder.layer``            ``intermediate.dense`` / ``output.dense``           ``intermediate_size``
mpnet, electra, camembert
distilbert                      ``transformer.layer``        ``ffn.lin1`` / ``ffn.lin2``                         ``hidden_dim``
==============================  ===========================  ==================================================  =====================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from domainemb.errors import DomainembError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@dataclass(frozen=True)
class _Layout:
    layers: str
    up: str
    down: str
    width_key: str


_BERT_LIKE = _Layout(
    layers="encoder.layer", up="intermediate.dense", down="output.dense", width_key="intermediate_size"
)
LAYOUTS: dict[str, _Layout] = {
    "bert": _BERT_LIKE,
    "roberta": _BERT_LIKE,
    "xlm-roberta": _BERT_LIKE,
    "camembert": _BERT_LIKE,
    "mpnet": _BERT_LIKE,
    "electra": _BERT_LIKE,
    "distilbert": _Layout(layers="transformer.layer", up="ffn.lin1", down="ffn.lin2", width_key="hidden_dim"),
}


@dataclass(frozen=True)
class FfnLayer:
    """The two linears of one transformer layer's feed-forward block.

    Attributes:
        index: Layer number (0 = closest to the embeddings).
        block: The transformer layer module that owns both linears.
        up: ``hidden -> width`` projection; its weight is ``(width, hidden)``.
        down: ``width -> hidden`` projection; its weight is ``(hidden, width)``.
        up_name / down_name: Their weights' parameter paths inside the transformers model.
        up_path / down_path: The linears' module paths inside ``block``.
    """

    index: int
    block: nn.Module
    up: nn.Linear
    down: nn.Linear
    up_name: str
    down_name: str
    up_path: str
    down_path: str

    @property
    def width(self) -> int:
        return self.up.out_features


@dataclass(frozen=True)
class FfnModel:
    """The transformers model inside a sentence-transformer and its FFN layers, in order."""

    backbone: nn.Module
    model_type: str
    width_key: str
    layers: tuple[FfnLayer, ...]

    def weights(self) -> dict[str, nn.Parameter]:
        """Every prunable FFN weight matrix by parameter path, layer by layer (up then down)."""
        out: dict[str, nn.Parameter] = {}
        for layer in self.layers:
            out[layer.up_name] = layer.up.weight
            out[layer.down_name] = layer.down.weight
        return out


def transformer_backbone(model: SentenceTransformer) -> nn.Module:
    """The Hugging Face model of the sentence-transformer's first (Transformer) module."""
    first = model[0]
    backbone = getattr(first, "model", None)
    if not isinstance(backbone, nn.Module) or not hasattr(backbone, "config"):
        raise DomainembError(
            f"the model's first module ({type(first).__name__}) is not a transformers encoder; nothing to prune"
        )
    return backbone


def ffn_model(model: SentenceTransformer) -> FfnModel:
    """Locate the FFN layers of ``model``.

    Raises:
        DomainembError: the architecture is not one of :data:`LAYOUTS`, or its modules are not
            where that layout says.
    """
    backbone = transformer_backbone(model)
    model_type = getattr(backbone.config, "model_type", "")
    layout = LAYOUTS.get(model_type)
    if layout is None:
        raise DomainembError(
            f"cannot prune a {model_type or type(backbone).__name__!r} model: its FFN layers are not of a known "
            f"architecture (supported: {', '.join(sorted(LAYOUTS))})"
        )
    try:
        blocks = backbone.get_submodule(layout.layers)
    except AttributeError:
        raise DomainembError(
            f"{model_type} model has no {layout.layers!r} layers; cannot find its FFN blocks"
        ) from None
    layers = []
    for i, block in enumerate(blocks):
        up, down = block.get_submodule(layout.up), block.get_submodule(layout.down)
        if not (isinstance(up, nn.Linear) and isinstance(down, nn.Linear) and up.out_features == down.in_features):
            raise DomainembError(
                f"{model_type} layer {i}: {layout.up}/{layout.down} are not a matching pair of linears"
            )
        prefix = f"{layout.layers}.{i}"
        layers.append(
            FfnLayer(
                i,
                block,
                up,
                down,
                f"{prefix}.{layout.up}.weight",
                f"{prefix}.{layout.down}.weight",
                layout.up,
                layout.down,
            )
        )
    if not layers:
        raise DomainembError(f"{model_type} model has no transformer layers; nothing to prune")
    return FfnModel(backbone=backbone, model_type=model_type, width_key=layout.width_key, layers=tuple(layers))
