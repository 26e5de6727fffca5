"""``domainemb prune --export``: the pruned model's ONNX graph shipped in its folder, loaded and run as shipped.

A structured run with the int8 export writes the graph and its manifest, the folder still loads
with plain ``SentenceTransformer(path)``, the int8 graph encodes close to the torch pruned model,
and ``--backend onnx-int8`` on the folder runs the shipped graph without exporting again (and
exports into the cache once the folder's weights no longer match). Bad input is one line, exit 2.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from backends_data import TEXTS, ExportCounter
from cli_checks import assert_clean_failure
from prune_data import calibration_pairs, write_pairs_file
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.errors import UnknownNameError
from domainemb.evaluation import onnx_backend
from domainemb.evaluation.backends import load_encoder_with_backend
from domainemb.evaluation.onnx_backend import OnnxRuntimeRunner, export_root, graph_model
from domainemb.evaluation.shipped_graph import EXPORT_DIR, MANIFEST, ExportFormat, shipped_graph, weights_fingerprint
from domainemb.prune.architecture import ffn_model
from domainemb.prune.config import PruneConfig
from domainemb.prune.report import PruneReport

pytest.importorskip("onnxruntime", reason="pip install 'domainemb[onnx]'")
runner = CliRunner()


def _prune(tmp_path: Path, model: Path | str, out: Path, *extra: str):
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(32))
    config = tmp_path / "prune.yaml"
    settings = {"min_calibration_pairs": 16, "domain_calibration": 24, "batch_size": 8, "max_seq_length": 32}
    config.write_text(yaml.safe_dump(settings))
    args = ["--model", str(model), "--domain", "finance", "--method", "magnitude", "--pairs", str(pairs)]
    args += ["--no-eval", "--out", str(out), "--config", str(config), *extra]
    return runner.invoke(app, ["prune", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def int8_run(tiny_model, tmp_path_factory) -> Path:
    """One structured 50% run of the tiny BERT with the int8 export (read-only)."""
    tmp = tmp_path_factory.mktemp("prune-export")
    out = tmp / "run"
    result = _prune(tmp, tiny_model(), out, "--structured", "--export", "onnx-int8")
    assert result.exit_code == 0, result.output
    assert "onnx-int8 graph:" in result.output
    return out


def test_structured_int8_export_is_shipped_loads_and_encodes(int8_run, tiny_bert_folder):
    model_dir = int8_run / "model"
    graph = model_dir / EXPORT_DIR / "model-int8.onnx"
    assert sorted(p.name for p in (model_dir / EXPORT_DIR).iterdir()) == [MANIFEST, "model-int8.onnx"]  # no fp32 left
    assert not (model_dir / "onnx").exists()  # sentence-transformers' own backend folder is left alone

    report = PruneReport.from_disk(int8_run)
    dense_bytes = (tiny_bert_folder / "model.safetensors").stat().st_size
    assert report.export["format"] == "onnx-int8" and report.export["file"] == f"model/{EXPORT_DIR}/model-int8.onnx"
    assert report.export["bytes"] == graph.stat().st_size
    assert report.export["dense_bytes_on_disk"] == dense_bytes
    assert report.export["fraction_of_dense"] == pytest.approx(graph.stat().st_size / dense_bytes, abs=1e-6)
    assert report.export["weights_fingerprint"] == weights_fingerprint(model_dir)
    assert report.hyperparameters["export"] == "onnx-int8" and "export" in report.seconds

    torch_model = SentenceTransformer(str(model_dir), device="cpu")  # the graph does not get in the way
    assert [layer.width for layer in ffn_model(torch_model).layers] == [32, 32]
    expected = torch_model.encode(TEXTS)  # (8, 32)
    got = graph_model(torch_model, OnnxRuntimeRunner(graph)).encode(TEXTS)
    assert got.shape == expected.shape == (len(TEXTS), 32)
    assert np.isfinite(got).all()
    cosine = (got * expected).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    assert cosine.min() > 0.9


def test_backend_onnx_int8_runs_the_shipped_graph_without_exporting(int8_run, tiny_benchmark, tmp_path, monkeypatch):
    counter = ExportCounter(torch.onnx.export)
    monkeypatch.setattr(torch.onnx, "export", counter)
    monkeypatch.setattr(
        "domainemb.evaluation.onnx_backend.quantize_int8", lambda *a: pytest.fail("quantized a shipped graph")
    )
    model_dir = int8_run / "model"
    cached_before = _cached_graphs()
    encoder = load_encoder_with_backend(str(model_dir), "onnx-int8")
    assert encoder.graph == model_dir / EXPORT_DIR / "model-int8.onnx"
    assert encoder.model.encode(TEXTS[:2]).shape == (2, 32)

    result = runner.invoke(
        app,
        ["evaluate", "--benchmark", str(tiny_benchmark), "--model", str(model_dir), "--tasks", "TinySTS"]
        + ["--out", str(tmp_path / "eval"), "--backend", "onnx-int8", "--no-cache"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "TinySTS" in result.output
    assert counter.calls == 0
    assert _cached_graphs() == cached_before


def _cached_graphs() -> set[Path]:
    return set(export_root().rglob("*.onnx")) if export_root().exists() else set()


def test_a_shipped_graph_whose_weights_changed_is_not_used(int8_run, tmp_path, monkeypatch):
    model_dir = tmp_path / "model"
    shutil.copytree(int8_run / "model", model_dir)
    assert shipped_graph(model_dir, int8=True) == model_dir / EXPORT_DIR / "model-int8.onnx"
    assert shipped_graph(model_dir, int8=False) is None  # only the int8 graph was shipped

    settings = model_dir / "sentence_bert_config.json"  # a setting that changes the outputs
    settings.write_text(json.dumps(json.loads(settings.read_text()) | {"max_seq_length": 16}))
    assert shipped_graph(model_dir, int8=True) is None
    counter = ExportCounter(torch.onnx.export)
    monkeypatch.setattr(torch.onnx, "export", counter)
    encoder = load_encoder_with_backend(str(model_dir), "onnx-int8")
    assert counter.calls == 1 and encoder.graph.is_relative_to(export_root())


def test_int8_on_a_folder_shipping_only_fp32_quantizes_the_shipped_graph(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("DOMAINEMB_CACHE", str(tmp_path / "cache"))  # no int8 graph of these weights cached yet
    out = tmp_path / "run"
    result = _prune(tmp_path, tiny_model(), out, "--structured", "--export", "onnx")
    assert result.exit_code == 0, result.output
    model_dir = out / "model"
    shipped = model_dir / EXPORT_DIR / "model.onnx"
    assert shipped_graph(model_dir, int8=False) == shipped and shipped_graph(model_dir, int8=True) is None

    counter = ExportCounter(torch.onnx.export)
    monkeypatch.setattr(torch.onnx, "export", counter)
    sources = []
    quantize = onnx_backend.quantize_int8
    monkeypatch.setattr(onnx_backend, "quantize_int8", lambda src, dst: (sources.append(Path(src)), quantize(src, dst)))
    encoder = load_encoder_with_backend(str(model_dir), "onnx-int8")
    assert counter.calls == 0  # the shipped fp32 graph is quantized, not exported again
    assert sources == [shipped]
    assert encoder.graph.is_relative_to(export_root()) and encoder.graph.name == "model-int8.onnx"
    got = encoder.model.encode(TEXTS)
    expected = SentenceTransformer(str(model_dir), device="cpu").encode(TEXTS)
    cosine = (got * expected).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    assert cosine.min() > 0.9


def test_export_is_a_config_setting_too(tmp_path):
    config = PruneConfig(
        model="minilm", domain="finance", method="magnitude", sparsity=0.5, out=tmp_path, export="onnx"
    )
    assert config.export is ExportFormat.ONNX and config.to_dict()["export"] == "onnx"
    assert (
        PruneConfig(model="minilm", domain="finance", method="magnitude", sparsity=0.5, out=tmp_path).export == "none"
    )
    with pytest.raises(UnknownNameError, match="did you mean onnx-int8"):
        PruneConfig(model="minilm", domain="finance", method="magnitude", sparsity=0.5, out=tmp_path, export="onnx-int")


def test_an_unknown_export_is_one_line_before_any_work(tiny_bert_folder, tmp_path, monkeypatch):
    monkeypatch.setattr("domainemb.prune.run._load", lambda config: pytest.fail("loaded the model"))
    out = tmp_path / "run"
    result = _prune(tmp_path, tiny_bert_folder, out, "--structured", "--export", "onnx8")
    assert_clean_failure(result, out, "onnx8", "did you mean")


def test_a_missing_onnx_extra_is_one_line_before_any_work(tiny_bert_folder, tmp_path, monkeypatch):
    monkeypatch.setattr("domainemb.prune.run._load", lambda config: pytest.fail("loaded the model"))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # find_spec answers None: as if not installed
    out = tmp_path / "run"
    result = _prune(tmp_path, tiny_bert_folder, out, "--structured", "--export", "onnx-int8")
    assert_clean_failure(result, out, "--export onnx-int8", "onnxruntime not installed", "domainemb[onnx]")
