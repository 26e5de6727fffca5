"""The compressed sparse form: exact round trip to the masked dense weights, smaller on disk."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer

from domainemb.errors import DataError
from domainemb.prune.architecture import ffn_model
from domainemb.prune.masks import apply_masks, masks_from_scores
from domainemb.prune.sparse_io import MARKER, densify, load_sparse, save_sparse


def test_sparse_round_trip_equals_dense_masked_weights(tiny_bert, tmp_path):
    weights = ffn_model(tiny_bert).weights()
    masks = masks_from_scores({n: w.detach().abs() for n, w in weights.items()}, 0.5)
    apply_masks(weights, masks)
    tiny_bert.save(str(tmp_path / "model"))

    sizes = save_sparse(tmp_path / "model", tmp_path / "model.sparse")
    assert json.loads((tmp_path / "model.sparse" / MARKER).read_text())["files"] == ["model.safetensors"]
    assert not (tmp_path / "model.sparse" / "model.safetensors").exists()
    assert sizes["sparse_bytes"] < sizes["dense_bytes"]

    dense = load_file(tmp_path / "model" / "model.safetensors")
    restored = load_file(densify(tmp_path / "model.sparse", tmp_path / "restored") / "model.safetensors")
    assert dense.keys() == restored.keys()
    for name in dense:
        assert torch.equal(dense[name], restored[name]) and dense[name].dtype == restored[name].dtype

    loaded = load_sparse(tmp_path / "model.sparse", device="cpu")
    for name, w in ffn_model(loaded).weights().items():
        assert torch.equal(w.detach(), weights[name].detach())
    texts = ["sparse weights", "a pruned model"]
    assert torch.allclose(torch.from_numpy(loaded.encode(texts)), torch.from_numpy(tiny_bert.encode(texts)), atol=1e-6)


def test_dense_tensors_stay_dense(tiny_bert_folder, tmp_path):
    """A model with no zeros compresses nothing: every tensor is stored as it was."""
    save_sparse(tiny_bert_folder, tmp_path / "sparse")
    model = SentenceTransformer(str(densify(tmp_path / "sparse", tmp_path / "dense")), device="cpu")
    assert model.encode(["x"]).shape == (1, 32)


def test_not_a_sparse_folder(tmp_path):
    with pytest.raises(DataError, match=MARKER):
        densify(tmp_path, tmp_path / "out")
