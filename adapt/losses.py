"""The training loss an :class:`~domainemb.adapt.config.AdaptConfig` asks for.

Where sentence-transformers ships the loss, it is used as is, so the model card names it and its
settings: MultipleNegativesRankingLoss (InfoNCE over in-batch and mined hard negatives) or its
GradCache form, MarginMSELoss (GPL: regress the student's score margins on the teacher's),
optionally wrapped in MatryoshkaLoss to also train truncated embeddings.

Two modules are written here because sentence-transformers has no equivalent:

- :class:`InBatchDistillKLLoss`: score distillation over the whole batch. sentence-transformers'
  ``DistillKLDivLoss`` compares each query's scores over its own row of candidate columns
  (positive and mined negatives) only; this loss compares every query with every passage of the
  batch, one teacher signal per pair rather than per triple.
- :class:`WeightedLossSum`: several losses on one batch, embedded once, as one module the trainer
  accepts; it returns its weighted parts, which the trainer sums and logs one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention
from torch import Tensor, nn

from domainemb.adapt.config import AdaptConfig, LossName
from domainemb.adapt.data import WITH_MARGINS
from domainemb.errors import DomainembError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class InBatchDistillKLLoss(nn.Module):
    """KL(teacher || student) between the softmaxed query x passage similarity matrices of a batch.

    For a batch of ``B`` rows of ``C`` text columns (anchor, positive, negatives), the student's
    matrix is the cosine similarity of each of the ``B`` anchors with all ``B * (C - 1)`` passages of
    the batch; the teacher's matrix is the same from the teacher's precomputed embeddings, passed as
    labels. Each row is softmaxed at ``temperature``; the loss is the mean over rows of
    ``KL(teacher row || student row)``, zero exactly when the student ranks every passage of the
    batch for every query as the teacher does, with the same relative confidence.

    It is not multiplied by ``temperature ** 2`` (Hinton et al.): its gradient with respect to the
    student's cosine similarities is ``(p_student - p_teacher) / temperature``, of the same size as
    MultipleNegativesRankingLoss's at ``scale = 1 / temperature``, so the two can be summed with
    weights near 1.

    Args:
        model: The student.
        temperature: Softmax temperature of both matrices (``0.05`` is MNRL's ``scale = 20``).

    Inputs:
        ``(anchor, positive[, negative_1, ..., negative_k])`` columns and a ``label`` column holding
        the teacher's embeddings of the row's texts in column order, concatenated: shape
        ``(B, C * teacher_dim)`` (or ``(B, C, teacher_dim)``).

    Example:
        >>> loss = InBatchDistillKLLoss(student, temperature=0.05)
        >>> loss(features, teacher_embeddings.flatten(1))  # features: the trainer's tokenized columns
    """

    def __init__(self, model: SentenceTransformer, temperature: float = 0.05) -> None:
        super().__init__()
        if not 0 < temperature < float("inf"):
            raise ValueError(f"temperature must be a positive finite number, got {temperature}")
        self.model = model
        self.temperature = temperature

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        from sentence_transformers.base.losses.merged_forward import embed_columns

        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: Sequence[Tensor], labels: Tensor | None) -> Tensor:
        from sentence_transformers.util import cos_sim

        columns = len(embeddings)
        queries = embeddings[0]  # (B, dim)
        batch = queries.size(0)
        if columns < 2:
            raise ValueError(f"{type(self).__name__} needs an anchor and at least one passage column, got {columns}")
        if labels is None or labels.size(0) != batch or labels[0].numel() % columns:
            shape = None if labels is None else tuple(labels.shape)
            raise ValueError(
                f"{type(self).__name__} needs the teacher's embeddings of the {columns} columns as labels, "
                f"(batch, {columns} * teacher_dim); got {shape}"
            )
        teacher = labels.detach().reshape(batch, columns, -1).to(queries.dtype)  # (B, C, teacher_dim)
        # Passages in the order torch.cat(embeddings[1:]) gives: every positive, then every first negative...
        teacher_passages = teacher[:, 1:].transpose(0, 1).reshape(batch * (columns - 1), -1)  # (B * (C-1), t_dim)
        passages = torch.cat(list(embeddings[1:]), dim=0)  # (B * (C-1), dim)

        student_log_probs = F.log_softmax(cos_sim(queries, passages) / self.temperature, dim=1)  # (B, B * (C-1))
        teacher_log_probs = F.log_softmax(cos_sim(teacher[:, 0], teacher_passages) / self.temperature, dim=1)
        return F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean", log_target=True)

    def get_config_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "similarity_fct": "cos_sim", "scope": "in-batch"}

    @property
    def citation(self) -> str:
        return """
@misc{hinton2015distilling,
    title={Distilling the Knowledge in a Neural Network},
    author={Geoffrey Hinton and Oriol Vinyals and Jeff Dean},
    year={2015},
    eprint={1503.02531},
    archivePrefix={arXiv},
    primaryClass={stat.ML}
}
"""


class WeightedLossSum(nn.Module):
    """``sum(weight * loss)`` over several losses on the same batch, its texts embedded once.

    Each part must offer ``compute_loss_from_embeddings(embeddings, labels)`` (the plain, uncached
    sentence-transformers losses do) and gets the batch's labels; a part that needs none
    (MultipleNegativesRankingLoss) ignores them. ``forward`` returns the weighted parts by name:
    the trainer adds them up into the loss it back-propagates and logs each part beside it.

    Args:
        model: The student.
        parts: Name -> (loss, weight), in the order they are reported.

    Example:
        >>> mnrl = losses.MultipleNegativesRankingLoss(model)
        >>> loss = WeightedLossSum(model, {"mnrl": (mnrl, 1.0), "margin_mse": (losses.MarginMSELoss(model), 0.5)})
    """

    def __init__(self, model: SentenceTransformer, parts: Mapping[str, tuple[nn.Module, float]]) -> None:
        super().__init__()
        if not parts:
            raise ValueError("WeightedLossSum needs at least one part")
        self.model = model
        self.parts = nn.ModuleDict({name: loss for name, (loss, _) in parts.items()})
        self.weights = {name: float(weight) for name, (_, weight) in parts.items()}

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> dict[str, Tensor]:
        from sentence_transformers.base.losses.merged_forward import embed_columns

        embeddings = embed_columns(self.model, sentence_features)
        return {
            name: self.weights[name] * loss.compute_loss_from_embeddings(embeddings, labels)
            for name, loss in self.parts.items()
        }

    def get_config_dict(self) -> dict[str, Any]:
        return {
            name: {"loss": type(loss).__name__, "weight": self.weights[name], **_config(loss)}
            for name, loss in self.parts.items()
        }

    @property
    def citation(self) -> str:
        return "\n".join(dict.fromkeys(getattr(loss, "citation", "") for loss in self.parts.values()))


def _config(loss: nn.Module) -> dict[str, Any]:
    getter = getattr(loss, "get_config_dict", None)
    return {k: v for k, v in getter().items() if not isinstance(v, nn.Module)} if getter else {}


def build_loss(
    model: SentenceTransformer, config: AdaptConfig, datasets: Sequence[str] = ()
) -> nn.Module | dict[str, nn.Module]:
    """The loss for ``model``: one module, or one per training dataset when they need different ones.

    Args:
        model: The student.
        config: The run's settings.
        datasets: The training datasets' names, when the data is a ``DatasetDict`` (from
            :func:`~domainemb.adapt.data.train_datasets`): with ``mnrl+margin-mse``, the pairs
            without margins train on MNRL alone, so each dataset gets its own loss.

    Raises:
        DomainembError: a Matryoshka dimension larger than the model's embedding size.
    """
    from sentence_transformers.sentence_transformer import losses

    name = LossName(config.loss)

    def mnrl() -> nn.Module:
        return losses.MultipleNegativesRankingLoss(
            model, scale=config.scale, gather_across_devices=config.gather_across_devices
        )

    def margin_mse() -> nn.Module:
        return losses.MarginMSELoss(model, similarity_fct=_pairwise_similarity(model))

    def distill() -> nn.Module:
        return InBatchDistillKLLoss(model, temperature=config.distill_temperature)

    if name is LossName.CACHED_MNRL:
        loss = losses.CachedMultipleNegativesRankingLoss(
            model,
            scale=config.scale,
            mini_batch_size=config.mini_batch_size,
            gather_across_devices=config.gather_across_devices,
        )
    elif name is LossName.MARGIN_MSE:
        loss = margin_mse()
    elif name is LossName.MNRL_MARGIN_MSE:
        loss = WeightedLossSum(model, {"mnrl": (mnrl(), 1.0), "margin_mse": (margin_mse(), config.margin_mse_weight)})
        others = [d for d in datasets if d != WITH_MARGINS]
        if others:  # one MNRL module for the rest: the same weights, and the trainer's model card lists it once
            plain = loss.parts["mnrl"]
            return {d: (loss if d == WITH_MARGINS else plain) for d in datasets}
    elif name is LossName.DISTILL_KL:
        loss = distill()
    elif name is LossName.MNRL_DISTILL_KL:
        loss = WeightedLossSum(model, {"mnrl": (mnrl(), 1.0), "distill_kl": (distill(), config.distill_kl_weight)})
    else:
        loss = mnrl()
    if not config.matryoshka_dims:
        return loss
    dim = model.get_embedding_dimension()
    too_large = [d for d in config.matryoshka_dims if dim is not None and d > dim]
    if too_large:
        raise DomainembError(f"adapt config: matryoshka_dims {too_large} exceed the base model's {dim} dimensions")
    return losses.MatryoshkaLoss(model, loss, matryoshka_dims=sorted(config.matryoshka_dims, reverse=True))


def _pairwise_similarity(model: SentenceTransformer) -> Any:
    """The model's own pairwise score (cosine unless it was made for another), so that a margin means
    what the model's scores will mean at search time."""
    from sentence_transformers import util

    name = getattr(model.similarity_fn_name, "value", model.similarity_fn_name)
    by_name = {
        "cosine": util.pairwise_cos_sim,
        "dot": util.pairwise_dot_score,
        "euclidean": util.pairwise_euclidean_sim,
        "manhattan": util.pairwise_manhattan_sim,
    }
    return by_name.get(str(name), util.pairwise_cos_sim)


def describe_loss(loss: nn.Module | Mapping[str, nn.Module]) -> str:
    """The loss as the run record names it: ``MultipleNegativesRankingLoss + 0.5 * MarginMSELoss``."""
    if isinstance(loss, Mapping):
        return "; ".join(f"{name}: {describe_loss(part)}" for name, part in loss.items())
    if isinstance(loss, WeightedLossSum):
        return " + ".join(
            type(part).__name__ if loss.weights[name] == 1 else f"{loss.weights[name]:g} * {type(part).__name__}"
            for name, part in loss.parts.items()
        )
    inner = getattr(loss, "loss", None)
    if isinstance(inner, nn.Module):  # MatryoshkaLoss
        return f"{type(loss).__name__}({describe_loss(inner)})"
    return type(loss).__name__
