"""The training loss an :class:`~domainemb.adapt.config.AdaptConfig` asks for.

Both choices are sentence-transformers' own losses, so the model card names them and their
settings: MultipleNegativesRankingLoss (InfoNCE over in-batch and mined hard negatives) or its
GradCache form, optionally wrapped in MatryoshkaLoss to also train truncated embeddings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domainemb.adapt.config import AdaptConfig, LossName
from domainemb.errors import DomainembError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import nn


def build_loss(model: SentenceTransformer, config: AdaptConfig) -> nn.Module:
    """The loss module for ``model``.

    Raises:
        DomainembError: a Matryoshka dimension larger than the model's embedding size.
    """
    from sentence_transformers.sentence_transformer import losses

    if config.loss is LossName.CACHED_MNRL:
        loss = losses.CachedMultipleNegativesRankingLoss(
            model,
            scale=config.scale,
            mini_batch_size=config.mini_batch_size,
            gather_across_devices=config.gather_across_devices,
        )
    else:
        loss = losses.MultipleNegativesRankingLoss(
            model, scale=config.scale, gather_across_devices=config.gather_across_devices
        )
    if not config.matryoshka_dims:
        return loss
    dim = model.get_embedding_dimension()
    too_large = [d for d in config.matryoshka_dims if dim is not None and d > dim]
    if too_large:
        raise DomainembError(f"adapt config: matryoshka_dims {too_large} exceed the base model's {dim} dimensions")
    return losses.MatryoshkaLoss(model, loss, matryoshka_dims=sorted(config.matryoshka_dims, reverse=True))
