"""Retraining through the adapter's trainer keeps pruned weights exactly zero."""

from __future__ import annotations

import torch
from prune_data import calibration_pairs

from domainemb.prune.architecture import ffn_model
from domainemb.prune.config import PruneConfig
from domainemb.prune.masks import apply_masks, masks_from_scores
from domainemb.prune.retrain import retrain


def _config(tmp_path, steps: int) -> PruneConfig:
    # A large learning rate: without the masks, every pruned weight would move off zero.
    return PruneConfig(
        model="tiny",
        domain="finance",
        method="magnitude",
        sparsity=0.5,
        out=tmp_path / "run",
        retrain_steps=steps,
        batch_size=4,
        max_seq_length=16,
        learning_rate=1e-2,
    )


def test_masked_weights_stay_exactly_zero_after_retraining(tiny_bert, tmp_path):
    weights = ffn_model(tiny_bert).weights()
    masks = masks_from_scores({n: w.detach().abs() for n, w in weights.items()}, 0.5)
    apply_masks(weights, masks)
    kept_before = {n: w.detach()[masks[n]].clone() for n, w in weights.items()}

    outcome = retrain(tiny_bert, calibration_pairs(24), _config(tmp_path, steps=6), weights=weights, masks=masks)

    assert outcome.steps == 6
    for name, w in weights.items():
        assert torch.equal(w.detach()[~masks[name]], torch.zeros(int((~masks[name]).sum())))
        assert not torch.equal(w.detach()[masks[name]], kept_before[name])  # training did change the model


def test_without_the_masks_pruned_weights_move(tiny_bert, tmp_path):
    """The control: the same training, masks not held, brings pruned weights back."""
    weights = ffn_model(tiny_bert).weights()
    masks = masks_from_scores({n: w.detach().abs() for n, w in weights.items()}, 0.5)
    apply_masks(weights, masks)
    retrain(tiny_bert, calibration_pairs(24), _config(tmp_path, steps=2))
    assert any(bool((w.detach()[~masks[n]] != 0).any()) for n, w in weights.items())
