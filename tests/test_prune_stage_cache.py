"""The prune stage cache on its own: round trips, keys, and texts with characters that
``str.splitlines`` would take for line breaks."""

from __future__ import annotations

import torch

from domainemb.pairs import Pair
from domainemb.prune.gradients import GradientMoments
from domainemb.prune.stage_cache import StageCache, pairs_digest, stage_key

ODD = "line\u2028separator, next\x85line, paragraph\u2029end"


def test_calibration_round_trip_keeps_odd_line_breaks(tmp_path):
    cache = StageCache(tmp_path / "stages")
    pairs = (
        Pair(query=ODD, positive="p1", negatives=("n1",), doc_id="d1", kind="classification", generator=None),
        Pair(query="q2", positive=ODD, negatives=(ODD,), doc_id="d2"),
    )
    assert cache.calibration("k") is None
    cache.put_calibration("k", pairs)
    assert cache.calibration("k") == pairs
    assert len((tmp_path / "stages" / "calibration-k.jsonl").read_text(encoding="utf-8").split("\n")) == 3
    assert not [p for p in (tmp_path / "stages").iterdir() if p.name.startswith(".")]


def test_moments_round_trip(tmp_path):
    cache = StageCache(tmp_path)
    moments = GradientMoments()
    moments.add({"layer.0.weight": torch.tensor([[1.0, -2.0]]), "layer.1.weight": torch.tensor([3.0])})
    moments.add({"layer.0.weight": torch.tensor([[0.5, 0.5]]), "layer.1.weight": torch.tensor([-1.0])})
    cache.put_moments("m", moments)
    back = cache.moments("m")
    assert back.batches == 2 and set(back.sum) == set(back.sum_sq) == {"layer.0.weight", "layer.1.weight"}
    for name in moments.sum:
        assert torch.equal(back.sum[name], moments.sum[name]) and torch.equal(back.sum_sq[name], moments.sum_sq[name])
    assert cache.moments("other") is None


def test_keys_change_with_any_input():
    pairs = [Pair(query="q", positive="p", negatives=(), doc_id="d")]
    base = stage_key(model="a", pairs=pairs_digest(pairs), size=10)
    assert base == stage_key(size=10, pairs=pairs_digest(list(pairs)), model="a")
    assert base != stage_key(model="b", pairs=pairs_digest(pairs), size=10)
    assert base != stage_key(model="a", pairs=pairs_digest(pairs), size=11)
    changed = [Pair(query="q", positive="p", negatives=(), doc_id="e")]
    assert pairs_digest(changed) != pairs_digest(pairs)
