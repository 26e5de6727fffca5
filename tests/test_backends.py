"""``--backend``: sentence-transformers models exported to ONNX and run by ONNX Runtime or OpenVINO.

Parity with torch on one task of each type (tiny model; minilm on two), int8 scores close,
backend-specific fingerprints (result folders and cache keys), one export per model reused, and
the bad input of the option (one ``error:`` line, exit 2, nothing written).
"""

from __future__ import annotations

import math
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from backends_data import TEXTS, ExportCounter
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.errors import DomainembError, UnknownNameError
from domainemb.evaluation.backends import (
    BACKENDS,
    Backend,
    backend_fingerprint,
    check_backend,
    load_encoder_with_backend,
    parse_backend,
    with_backend,
)
from domainemb.evaluation.encoders import identify, load_encoder, sentence_transformer_from_folder
from domainemb.evaluation.onnx_backend import OnnxRuntimeRunner, export_onnx, export_root, graph_model
from domainemb.evaluation.results import load_results
from domainemb.evaluation.run import EvaluateConfig, evaluate

runner = CliRunner()
pytest.importorskip("onnxruntime", reason="pip install 'domainemb[onnx]'")

MINILM_TASKS = ("TinyRetrieval", "TinySTS")


def _scores(result) -> dict[str, float]:
    return {s.task: s.main_score for s in result.scores}


def _torch_vectors(folder: Path) -> np.ndarray:
    return sentence_transformer_from_folder(folder, name="t").model.encode(TEXTS, batch_size=3)


# ----------------------------------------------------------------------------- export and encode
@pytest.mark.parametrize(("model_type", "normalize"), [("bert", False), ("distilbert", True)])
def test_an_exported_tiny_model_encodes_as_torch_does(tiny_model, tmp_path, model_type, normalize):
    """BERT takes token_type_ids, DistilBERT does not; Normalize is inside the graph; batches of 3 pad differently."""
    folder = tiny_model(model_type, normalize=normalize)
    torch_model = sentence_transformer_from_folder(folder, name="t").model
    path = export_onnx(folder, tmp_path / "graph" / "model.onnx")
    assert path.is_file() and not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    graph = graph_model(torch_model, OnnxRuntimeRunner(path))
    assert ("token_type_ids" in graph[0].runner.input_names) == (model_type == "bert")
    expected = torch_model.encode(TEXTS, batch_size=3)  # (8, 32)
    got = graph.encode(TEXTS, batch_size=3)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5) == normalize
    assert graph.max_seq_length == torch_model.max_seq_length == 32  # the same truncation
    assert graph.similarity_fn_name == torch_model.similarity_fn_name


def test_int8_export_runs_and_stays_close(tiny_model, tmp_path):
    folder = tiny_model("bert", normalize=True)
    torch_model = sentence_transformer_from_folder(folder, name="t").model
    fp32 = export_onnx(folder, tmp_path / "model.onnx")
    int8 = export_onnx(torch_model, tmp_path / "model-int8.onnx", int8=True)
    assert int8.stat().st_size < fp32.stat().st_size / 2  # the weights are int8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-int8.onnx", "model.onnx"]  # no fp32 left behind
    nested = export_onnx(torch_model, tmp_path / "new" / "folder" / "model-int8.onnx", int8=True)  # parents made
    assert [p.name for p in nested.parent.iterdir()] == ["model-int8.onnx"]
    got = graph_model(torch_model, OnnxRuntimeRunner(int8)).encode(TEXTS)
    expected = torch_model.encode(TEXTS)
    assert np.isfinite(got).all()
    assert (got * expected).sum(axis=1).min() > 0.9  # cosine; both unit length


def test_minilm_on_every_backend_encodes_close_to_torch():
    torch_encoder = load_encoder("minilm")
    expected = torch_encoder.model.encode(TEXTS)  # (8, 384), unit length
    for backend in BACKENDS:
        if backend is Backend.OPENVINO and _missing("openvino"):
            continue  # installed with the openvino extra (CI installs it)
        encoder = load_encoder_with_backend("minilm", backend)
        assert encoder.backend == backend.value and encoder.devices == ("cpu",)
        got = encoder.model.encode(TEXTS)
        cosine = (got * expected).sum(axis=1)
        if BACKENDS[backend].int8:
            assert cosine.min() > 0.9, backend
        else:
            assert cosine.min() > 1 - 1e-5, backend
            np.testing.assert_allclose(got, expected, atol=1e-5)


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


# ----------------------------------------------------------------------------- parity of scores
def test_onnx_scores_equal_torch_on_one_task_of_each_type(tiny_model, tiny_benchmark, tmp_path):
    folder = str(tiny_model("bert", normalize=True))
    runs = {
        backend: evaluate(
            EvaluateConfig(
                benchmark=tiny_benchmark, models=(folder,), out=tmp_path / "out", backend=backend, use_cache=False
            )
        )
        for backend in ("torch", "onnx")
    }
    torch_scores, onnx_scores = _scores(runs["torch"]), _scores(runs["onnx"])
    assert len({s.task_type for s in runs["onnx"].scores}) == 8
    for task, score in torch_scores.items():
        assert onnx_scores[task] == pytest.approx(score, abs=1e-4), task
    assert {s.provenance.backend for s in runs["onnx"].scores} == {"onnx"}
    assert {s.provenance.backend for s in runs["torch"].scores} == {"torch"}
    # the backend is part of the key: its own result folder, read back with its provenance
    revisions = {s.provenance.model_fingerprint[:16] for r in runs.values() for s in r.scores}
    assert len(revisions) == 2
    on_disk = {(s.provenance.backend, s.task) for s in load_results(tmp_path / "out")}
    assert len(on_disk) == 16


def test_minilm_onnx_matches_torch_and_int8_stays_close(tiny_benchmark, tmp_path):
    cache = tmp_path / "embeddings.sqlite"
    scores = {}
    for backend in ("torch", "onnx", "onnx-int8"):
        config = EvaluateConfig(
            benchmark=tiny_benchmark, models=("minilm",), tasks=MINILM_TASKS, out=tmp_path, backend=backend, cache=cache
        )
        scores[backend] = _scores(evaluate(config))
    for task in MINILM_TASKS:
        assert scores["onnx"][task] == pytest.approx(scores["torch"][task], abs=1e-4), task
        assert math.isfinite(scores["onnx-int8"][task])
        assert scores["onnx-int8"][task] == pytest.approx(scores["torch"][task], abs=0.05), task
    # each backend's vectors are cached under its own key; torch keeps the plain fingerprint
    fingerprint = identify("minilm").fingerprint
    with sqlite3.connect(cache) as db:
        keys = {row[0] for row in db.execute("SELECT DISTINCT model FROM embeddings")}
    assert keys == {
        fingerprint,
        backend_fingerprint(fingerprint, "onnx"),
        backend_fingerprint(fingerprint, "onnx-int8"),
    }


def test_a_rerun_on_a_backend_keeps_its_results_without_exporting(tiny_benchmark, tmp_path, monkeypatch):
    config = EvaluateConfig(
        benchmark=tiny_benchmark, models=("minilm",), tasks=("TinySTS",), out=tmp_path, backend="onnx", use_cache=False
    )
    first = evaluate(config)
    counter = ExportCounter(torch.onnx.export)
    monkeypatch.setattr(torch.onnx, "export", counter)
    monkeypatch.setattr("domainemb.evaluation.run.load_encoder", lambda name: pytest.fail("loaded a kept model"))
    again = evaluate(config)
    assert [s.reused for s in again.scores] == [True]
    assert again.scores[0].main_score == first.scores[0].main_score
    assert counter.calls == 0


# ----------------------------------------------------------------------------- fingerprints and the export cache
def test_each_backend_has_its_own_fingerprint_and_torch_keeps_the_plain_one():
    fingerprint = "ab" * 32
    keys = {backend: backend_fingerprint(fingerprint, backend) for backend in Backend}
    assert keys[Backend.TORCH] == fingerprint
    assert len(set(keys.values())) == len(Backend)


def test_the_export_is_made_once_and_reused(tiny_model, monkeypatch):
    counter = ExportCounter(torch.onnx.export)
    monkeypatch.setattr(torch.onnx, "export", counter)
    folder = tiny_model("bert", seed=3)
    encoder = sentence_transformer_from_folder(folder, name=str(folder))
    first = with_backend(encoder, "onnx")
    assert counter.calls == 1
    second = with_backend(sentence_transformer_from_folder(folder, name=str(folder)), "onnx")
    int8 = with_backend(encoder, "onnx-int8")  # quantized from the cached fp32 graph
    assert counter.calls == 1
    assert first.graph == second.graph and first.graph.parent == int8.graph.parent
    assert first.graph.is_relative_to(export_root())
    assert first.fingerprint == second.fingerprint != int8.fingerprint != encoder.fingerprint
    assert first.torch_fingerprint == encoder.fingerprint


def test_a_killed_export_leaves_nothing_that_is_used_later(tiny_model, monkeypatch):
    folder = tiny_model("bert", seed=4)
    real = torch.onnx.export

    def killed(model, args, path, **kwargs):
        Path(path).write_bytes(b"half a graph")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.onnx, "export", killed)
    with pytest.raises(KeyboardInterrupt):
        with_backend(sentence_transformer_from_folder(folder, name="t"), "onnx")
    assert not [p for p in export_root().rglob("*") if p.is_file() and b"half" in p.read_bytes()]
    monkeypatch.setattr(torch.onnx, "export", real)
    encoder = with_backend(sentence_transformer_from_folder(folder, name="t"), "onnx")
    np.testing.assert_allclose(encoder.model.encode(TEXTS), _torch_vectors(folder), atol=1e-5)


# ----------------------------------------------------------------------------- bad input
def test_backend_names_and_packages_are_checked(monkeypatch):
    assert parse_backend("onnx-int8") is Backend.ONNX_INT8
    with pytest.raises(UnknownNameError, match="did you mean onnx"):
        parse_backend("onx")
    assert check_backend("onnx", devices=("cpu",)) is Backend.ONNX
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # find_spec answers None: as if not installed
    with pytest.raises(
        DomainembError, match=r"onnxruntime not installed; install it with pip install 'domainemb\[onnx\]'"
    ):
        check_backend("onnx-int8")
    assert check_backend("torch") is Backend.TORCH  # torch needs none of them


def _non_transformer_folder(tmp_path: Path) -> Path:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import BoW

    folder = tmp_path / "bow-model"
    SentenceTransformer(modules=[BoW(vocab=["revenue", "bond", "share"])], device="cpu").save(str(folder))
    return folder


@pytest.mark.parametrize(
    ("model", "backend", "needle", "hide"),
    [
        ("minilm", "onx", "unknown backend 'onx'; did you mean onnx", None),
        ("minilm", "openvino-int8", "unknown backend 'openvino-int8'; did you mean", None),
        ("minilm", "onnx", "pip install 'domainemb[onnx]'", "onnxruntime"),
        ("minilm", "openvino", "pip install 'domainemb[openvino]'", "openvino"),
        ("glove", "onnx", "model 'glove' cannot be exported to ONNX", None),
        ("bm25", "onnx-int8", "model 'bm25' cannot be exported to ONNX", None),
        (
            "NONTRANSFORMER",
            "onnx",
            "its first module is sentence_transformers.sentence_transformer.modules.bow.BoW",
            None,
        ),
    ],
)
def test_bad_backend_input_is_one_line_exit_2_nothing_written(
    tiny_benchmark, tmp_path, monkeypatch, model, backend, needle, hide
):
    if hide:
        monkeypatch.setitem(sys.modules, hide, None)
    if model == "NONTRANSFORMER":
        model = str(_non_transformer_folder(tmp_path))
    monkeypatch.setattr("domainemb.evaluation.run.load_encoder", lambda name: pytest.fail("loaded a model"))
    out = tmp_path / "out"
    args = ["evaluate", "--benchmark", str(tiny_benchmark), "--model", model, "--backend", backend, "--out", str(out)]
    result = runner.invoke(app, [*args, "--cache", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert needle in result.output, result.output
    assert not out.exists() and not (tmp_path / "c.sqlite").exists()
    assert not export_root().exists() or not any(export_root().rglob("*.onnx.*"))


def test_devices_other_than_this_cpu_need_torch(tiny_benchmark, tmp_path):
    out = tmp_path / "out"
    args = ["evaluate", "--benchmark", str(tiny_benchmark), "--backend", "onnx", "--devices", "cpu,cpu"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "needs --backend torch" in result.output and not out.exists()


# ----------------------------------------------------------------------------- compare, adapt, synth
def test_compare_runs_the_named_models_on_the_backend_and_keeps_them_on_a_rerun(tiny_suites, tiny_model, tmp_path):
    from domainemb.compare.config import CompareConfig
    from domainemb.compare.run import compare

    domain, general = tiny_suites("adapt")
    model = str(tiny_model("bert", normalize=True))
    config = CompareConfig(
        domain="finance",
        models=(model,),
        out=tmp_path / "cmp",
        domain_benchmark=domain,
        general_benchmark=general,
        bootstrap_samples=20,
        complexity_texts=8,
        cost_sample_texts=8,
        rescore_quantized=False,
        backend="onnx",
    )
    first = compare(config)
    backends = {(s.provenance.model, s.provenance.backend) for s in load_results(tmp_path / "cmp" / "domain")}
    assert backends == {(model, "onnx"), ("bm25", ""), ("bow", "")}
    onnx_fingerprint = backend_fingerprint(identify(model).fingerprint, "onnx")
    assert onnx_fingerprint in {m.fingerprint for m in first.analysis.models}
    (profile,) = [p for p in first.analysis.costs.profiles if p.model == model]
    assert profile.size_on_disk == with_backend(load_encoder(model), "onnx").graph.stat().st_size  # what runs
    assert profile.parameters == sum(p.numel() for p in load_encoder(model).model.parameters()) > 0
    again = compare(config)
    assert again.kept
    with pytest.raises(DomainembError, match="model 'glove' cannot be exported"):
        compare(CompareConfig(domain="finance", models=("glove",), out=tmp_path / "g", backend="onnx"))
    assert not (tmp_path / "g").exists()


def test_adapt_scores_base_and_adapted_model_on_the_backend(tiny_suites, tiny_model, tmp_path):
    """The before/after scoring (``adapt``'s last step) on a tiny base and a tiny "adapted" model; no training."""
    from adapt_data import SYNTH_CARD, pair_rows, write_pairs

    from domainemb.adapt.config import AdaptConfig
    from domainemb.adapt.run import AdaptHooks, _compare, adapt

    domain, general = tiny_suites("adapt")
    base, adapted = tiny_model(normalize=True), tiny_model(seed=5, normalize=True)
    pairs = write_pairs(tmp_path / "pairs.jsonl", pair_rows(n_docs=8, per_doc=4), card=SYNTH_CARD)
    settings = dict(pairs=pairs, domain="finance", bootstrap_samples=100, domain_benchmark=domain)
    settings |= dict(general_benchmark=general, domain_tasks=("TinyFinSTS",), general_tasks=("TinyGenSTS",))
    with pytest.raises(DomainembError, match="unknown backend 'onnx_int8'; did you mean onnx-int8"):
        AdaptConfig(**settings, base=str(base), out=tmp_path / "bad", backend="onnx_int8")
    with pytest.raises(DomainembError, match="model 'glove' cannot be exported to ONNX"):
        adapt(AdaptConfig(**settings, base="glove", out=tmp_path / "glove", backend="onnx"))
    assert not (tmp_path / "glove").exists()

    config = AdaptConfig(**settings, base=str(base), out=tmp_path / "run", backend="onnx-int8")
    torch_fingerprint = identify(str(adapted)).fingerprint
    record = {"adapted": {"model_name": "test/adapted", "fingerprint": torch_fingerprint}}
    comparison = _compare(config, adapted, record, AdaptHooks())
    scored = load_results(tmp_path / "run")
    assert {s.provenance.backend for s in scored} == {"onnx-int8"} and len(scored) == 4  # 2 models x 2 tasks
    assert comparison.base.fingerprint == backend_fingerprint(identify(str(base)).fingerprint, "onnx-int8")
    assert comparison.adapted.fingerprint == backend_fingerprint(torch_fingerprint, "onnx-int8")


def test_synth_embeds_with_the_backend_and_checks_it_before_any_work(tiny_model, tmp_path):
    from domainemb.synth.config import SynthConfig
    from domainemb.synth.pipeline import synthesize
    from domainemb.synth.postprocess import SentenceTransformerEmbedder

    folder = str(tiny_model(normalize=True))
    onnx, plain = SentenceTransformerEmbedder(folder, backend="onnx"), SentenceTransformerEmbedder(folder)
    np.testing.assert_allclose(onnx.encode(TEXTS), plain.encode(TEXTS), atol=1e-5)
    assert onnx.name == f"{folder} [onnx]" != plain.name  # the name keys the pool's cached embeddings

    out = tmp_path / "synth" / "pairs.jsonl"
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("Revenue rose. " * 50)
    config = SynthConfig(domain="finance", corpus=tmp_path / "corpus", out=out, embedding_model="glove", backend="onnx")
    with pytest.raises(DomainembError, match="model 'glove' cannot be exported to ONNX"):
        synthesize(config)
    assert not out.parent.exists()
    result = runner.invoke(
        app, ["synth", "--domain", "finance", "--corpus", "x", "--out", str(out), "--backend", "onx"]
    )
    assert result.exit_code == 2 and "unknown backend 'onx'; did you mean onnx" in result.output, result.output
    assert not out.parent.exists()
