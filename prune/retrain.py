"""Retrain a pruned model for a few InfoNCE steps through the adapter's trainer, masks held.

This is ``retrain_loss: infonce``; the default, distillation from the dense model, is
:mod:`domainemb.prune.distill` (it reuses :class:`MaskCallback`).

The trainer is :func:`domainemb.adapt.train.train_model` (sentence-transformers' trainer with
MultipleNegativesRankingLoss over in-batch and hard negatives). By default no batch holds two pairs
of one group (``doc_id``: task and label for train-split pairs), because same-label pairs as
in-batch negatives teach the model to separate texts of one label. :class:`MaskCallback` writes the
masks back right after every optimizer step, so pruned weights are exactly zero after each step,
whatever the optimizer's momentum or weight decay did to them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from torch import Tensor, nn
from transformers import TrainerCallback

from domainemb.pairs import Pair
from domainemb.prune.masks import apply_masks

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from domainemb.adapt.train import TrainOutcome
    from domainemb.prune.config import PruneConfig


class MaskCallback(TrainerCallback):
    """Re-applies pruning masks after every optimizer step (and once more when training ends).

    Args:
        weights: The masked parameters, by name.
        masks: ``True`` where a weight is kept.
    """

    def __init__(self, weights: Mapping[str, nn.Parameter], masks: Mapping[str, Tensor]) -> None:
        self.weights = dict(weights)
        self.masks = dict(masks)

    def on_train_begin(self, args, state, control, **kwargs):
        apply_masks(self.weights, self.masks)

    def on_optimizer_step(self, args, state, control, **kwargs):
        apply_masks(self.weights, self.masks)

    def on_train_end(self, args, state, control, **kwargs):
        apply_masks(self.weights, self.masks)


def retrain(
    model: SentenceTransformer,
    pairs: Sequence[Pair],
    config: PruneConfig,
    weights: Mapping[str, nn.Parameter] | None = None,
    masks: Mapping[str, Tensor] | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> TrainOutcome:
    """Train ``model`` in place for ``config.retrain_steps`` steps on ``pairs``.

    Args:
        model: The pruned model.
        pairs: Domain calibration pairs (with one hard negative each, or none at all).
        config: Steps, batch size, learning rate, scale, sequence length and seed.
        weights / masks: The pruned parameters and their masks (unstructured pruning); ``None``
            when the model was shrunk (structured) and nothing needs holding at zero.
        callbacks: Extra trainer callbacks.
    """
    from domainemb.adapt.config import AdaptConfig
    from domainemb.adapt.split import DevSplit
    from domainemb.adapt.train import train_model

    hard_negatives = 1 if pairs and all(p.negatives for p in pairs) else 0
    with tempfile.TemporaryDirectory(prefix="domainemb-retrain-") as tmp:
        adapt_config = AdaptConfig(
            base=config.model,
            pairs=Path(tmp) / "calibration.jsonl",
            domain=config.domain,
            out=Path(tmp),
            max_steps=config.retrain_steps,
            batch_size=min(config.batch_size, len(pairs)),
            mini_batch_size=min(config.batch_size, len(pairs)),
            learning_rate=config.learning_rate,
            scale=config.scale,
            hard_negatives=hard_negatives,
            max_seq_length=config.max_seq_length,
            dev_fraction=0.0,
            # Checkpoints every `eval_steps`: more than the run's steps means none is written.
            eval_steps=config.retrain_steps + 1,
            seed=config.seed,
            evaluate=False,
        )
        split = DevSplit(train=tuple(pairs), dev=(), train_documents=len({p.doc_id for p in pairs}), dev_documents=0)
        extra = [MaskCallback(weights, masks)] if masks else []
        previous_length = model.max_seq_length
        model.max_seq_length = config.max_seq_length
        try:
            groups = {p.query: p.doc_id for p in pairs} if config.retrain_distinct_groups else None
            return train_model(
                model,
                split,
                adapt_config,
                Path(tmp) / "checkpoints",
                callbacks=[*extra, *callbacks],
                distinct_groups=groups,
            )
        finally:
            model.max_seq_length = previous_length
