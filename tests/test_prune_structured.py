"""Structured pruning: the shrunk model loads with plain ``SentenceTransformer(path)``, is smaller,
encodes, and computes exactly what the dense model computes with those neurons zeroed."""

from __future__ import annotations

import json

import pytest
import torch
from sentence_transformers import SentenceTransformer

from domainemb.errors import DomainembError
from domainemb.prune.architecture import ffn_model
from domainemb.prune.structured import neuron_scores, shrink_ffn

TEXTS = ["the bond yields rose", "a catalyst for the reaction", "patients took the dose twice"]


def test_structured_model_loads_is_smaller_and_encodes(tiny_bert, tiny_bert_folder, tmp_path):
    ffn = ffn_model(tiny_bert)
    scores = {n: w.detach().abs() for n, w in ffn.weights().items()}
    per_neuron = neuron_scores(ffn, scores)
    assert [s.shape for s in per_neuron] == [torch.Size([64])] * 2

    # The reference: the dense model with the dropped neurons' rows, biases and columns zeroed.
    reference = SentenceTransformer(str(tiny_bert_folder), device="cpu")
    with torch.no_grad():
        for ref_layer, s in zip(ffn_model(reference).layers, per_neuron):
            dropped = torch.topk(s, 16, largest=False).indices
            ref_layer.up.weight[dropped] = 0
            ref_layer.up.bias[dropped] = 0
            ref_layer.down.weight[:, dropped] = 0

    assert shrink_ffn(ffn, per_neuron, 0.25) == 48
    tiny_bert.save(str(tmp_path / "pruned"))

    loaded = SentenceTransformer(str(tmp_path / "pruned"), device="cpu")
    assert json.loads((tmp_path / "pruned" / "config.json").read_text())["intermediate_size"] == 48
    assert [layer.width for layer in ffn_model(loaded).layers] == [48, 48]
    assert (tmp_path / "pruned" / "model.safetensors").stat().st_size < (
        tiny_bert_folder / "model.safetensors"
    ).stat().st_size
    got, expected = loaded.encode(TEXTS), reference.encode(TEXTS)  # GELU(0) = 0: dropped neurons add nothing
    assert got.shape == (3, 32)
    assert torch.allclose(torch.from_numpy(got), torch.from_numpy(expected), atol=1e-5)


@pytest.mark.parametrize("model_type", ["mpnet", "distilbert"])
def test_structured_other_architectures(model_type, tiny_model, tmp_path):
    folder = tiny_model(model_type)
    model = SentenceTransformer(str(folder), device="cpu")
    ffn = ffn_model(model)
    shrink_ffn(ffn, neuron_scores(ffn, {n: w.detach().abs() for n, w in ffn.weights().items()}), 0.5)
    model.save(str(tmp_path / "pruned"))
    loaded = SentenceTransformer(str(tmp_path / "pruned"), device="cpu")
    assert [layer.width for layer in ffn_model(loaded).layers] == [32, 32]
    assert loaded.encode(TEXTS).shape == (3, 32)


def test_structured_refuses_to_remove_everything(tiny_bert):
    ffn = ffn_model(tiny_bert)
    with pytest.raises(DomainembError, match="every one"):
        shrink_ffn(ffn, neuron_scores(ffn, {n: w.detach() for n, w in ffn.weights().items()}), 0.999)
