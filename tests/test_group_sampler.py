"""No retraining batch holds two pairs of one group (same task and label)."""

from __future__ import annotations

import dataclasses

import torch
from datasets import Dataset
from prune_data import calibration_pairs
from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

from domainemb.adapt.group_sampler import GROUP_COLUMN, DistinctGroupBatchSampler
from domainemb.prune.config import PruneConfig
from domainemb.prune.retrain import retrain

GROUPS = 4


def _rows(n: int) -> tuple[Dataset, dict[str, str]]:
    anchors = [f"text {i}" for i in range(n)]
    data = Dataset.from_dict({"anchor": anchors, "positive": [f"other text {i}" for i in range(n)]})
    return data, {a: f"task/label{i % GROUPS}" for i, a in enumerate(anchors)}


def _batches(sampler) -> list[list[int]]:
    sampler.set_epoch(0)
    return list(sampler)


def test_every_batch_has_distinct_groups_and_covers_the_data():
    data, groups = _rows(40)
    sampler = DistinctGroupBatchSampler(
        data, batch_size=GROUPS, drop_last=False, generator=torch.Generator(), seed=3, groups=groups
    )
    batches = _batches(sampler)
    for batch in batches:
        assert len({groups[data[i]["anchor"]] for i in batch}) == len(batch)
    assert sorted(i for b in batches for i in b) == list(range(40))
    assert any(len(b) == GROUPS for b in batches)


def test_plain_no_duplicates_batches_mix_groups():
    """The control: without the groups, batches of the same data do hold same-group pairs."""
    data, groups = _rows(40)
    batches = _batches(
        NoDuplicatesBatchSampler(data, batch_size=GROUPS, drop_last=False, generator=torch.Generator(), seed=3)
    )
    assert any(len({groups[data[i]["anchor"]] for i in b}) < len(b) for b in batches)


def test_same_seed_same_batches():
    data, groups = _rows(40)

    def make() -> DistinctGroupBatchSampler:
        return DistinctGroupBatchSampler(
            data, batch_size=GROUPS, drop_last=False, generator=torch.Generator(), seed=3, groups=groups
        )

    assert _batches(make()) == _batches(make())


def test_retraining_batches_come_from_the_group_sampler(tiny_bert, tmp_path, monkeypatch):
    """Through the real trainer: every batch retraining draws has pairs of distinct groups."""
    seen: list[list[str]] = []
    original = DistinctGroupBatchSampler.__iter__

    def spy(self):
        for batch in original(self):
            seen.append([self.dataset[i][GROUP_COLUMN] for i in batch])
            yield batch

    monkeypatch.setattr(DistinctGroupBatchSampler, "__iter__", spy)
    pairs = [dataclasses.replace(p, doc_id=f"task/label{i % GROUPS}") for i, p in enumerate(calibration_pairs(24))]
    config = PruneConfig(
        model="tiny",
        domain="finance",
        method="magnitude",
        sparsity=0.5,
        out=tmp_path / "run",
        retrain_steps=4,
        batch_size=GROUPS,
        max_seq_length=16,
    )
    outcome = retrain(tiny_bert, pairs, config)
    assert outcome.steps == 4
    assert seen and all(len(set(groups)) == len(groups) == GROUPS for groups in seen[:4])
