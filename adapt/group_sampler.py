"""Batches in which no two pairs share a group, so no in-batch negative is a false negative.

In-batch InfoNCE treats every other pair's texts as negatives of an anchor. When pairs are made
from labels (the prune calibration pairs: two train texts of the same task and label), the other
pairs of a batch often carry the anchor's own label, and the loss then pushes apart texts the
suites want close. :class:`DistinctGroupBatchSampler` is sentence-transformers'
``NoDuplicatesBatchSampler`` (no text twice in a batch, reshuffled per epoch from the seed) with
one more value per row, its group, so two pairs of one group never share a batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

#: Column added to the sampler's own view of the dataset (the trainer's dataset is unchanged).
GROUP_COLUMN = "__group"
#: Prefix of the group values, so that a group name can never equal a text of the batch.
GROUP_PREFIX = "\x00group:"


class DistinctGroupBatchSampler(NoDuplicatesBatchSampler):
    """``NoDuplicatesBatchSampler`` that also keeps pairs of one group in separate batches.

    Args:
        dataset: The trainer's dataset (an ``anchor`` column, then positives and negatives).
        groups: The group of each anchor text (for prune calibration pairs, ``task/label``); an
            anchor without one is its own group.
        Other arguments: as for ``NoDuplicatesBatchSampler``.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: Any = None,
        seed: int = 0,
        *,
        groups: Mapping[str, str],
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )
        anchors = self.dataset["anchor"]
        self.dataset = self.dataset.add_column(
            GROUP_COLUMN, [GROUP_PREFIX + groups.get(anchor, anchor) for anchor in anchors]
        )
