"""Streamed gradient moments equal the same statistics computed from every batch gradient at once,
and the loss they differentiate is InfoNCE over in-batch and hard negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from prune_data import calibration_pairs

from domainemb.prune.architecture import ffn_model
from domainemb.prune.gradients import infonce_moments

SCALE = 20.0


def _infonce(model, batch) -> torch.Tensor:
    """InfoNCE written out: each query against every positive and hard negative of the batch."""
    columns = [[p.query for p in batch], [p.positive for p in batch], [p.negatives[0] for p in batch]]
    q, pos, neg = (model(model.preprocess(texts))["sentence_embedding"] for texts in columns)  # (batch, dim) each
    candidates = torch.cat([pos, neg])  # (2·batch, dim)
    logits = SCALE * F.normalize(q, dim=-1) @ F.normalize(candidates, dim=-1).T  # (batch, 2·batch)
    return F.cross_entropy(logits, torch.arange(len(batch)))


def test_streamed_moments_equal_batch_computation(tiny_bert):
    model = tiny_bert.eval()
    weights = ffn_model(model).weights()
    pairs = calibration_pairs(10)  # batches of 4, 4 and 2
    streamed = infonce_moments(model, weights, pairs, batch_size=4, scale=SCALE)
    assert streamed.batches == 3

    grads = []  # every batch gradient kept: what streaming avoids
    for start in (0, 4, 8):
        loss = _infonce(model, pairs[start : start + 4])
        grads.append(torch.autograd.grad(loss, list(weights.values())))
    for i, name in enumerate(weights):
        stacked = torch.stack([g[i] for g in grads])  # (batches, *shape)
        fisher, mean = stacked.square().mean(0), stacked.mean(0)
        # Float noise only: the loss merges the candidate columns into one forward pass.
        assert torch.allclose(streamed.fisher()[name], fisher, rtol=1e-4, atol=1e-6 * float(fisher.abs().max()))
        assert torch.allclose(streamed.mean()[name], mean, rtol=1e-4, atol=1e-4 * float(mean.abs().max()))


def test_moments_leave_the_model_as_it_was(tiny_bert):
    model = tiny_bert.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    weights = ffn_model(model).weights()
    moments = infonce_moments(model, weights, calibration_pairs(5, negatives=False), batch_size=2, scale=SCALE)
    assert moments.batches == 2  # the fifth pair alone has no negative: skipped
    assert all(v.dtype == torch.float32 for v in moments.sum_sq.values())
    assert model.training
    for n, p in model.named_parameters():
        assert p.grad is None and p.requires_grad == flags[n] and torch.equal(p, before[n])
