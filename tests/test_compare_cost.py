"""The cost axis: bytes per vector, throughput on a fixed sample after one warm-up, size and
parameters, quantized and truncated rescoring, the Pareto front, and the report's Cost section."""

from __future__ import annotations

import json

import numpy as np
import pytest
from compare_data import synthetic_analysis
from evaluation_data import KeywordEncoder

from domainemb.compare.analysis_file import Analysis
from domainemb.compare.cost import (
    CostProfile,
    CostSummary,
    Precision,
    VariantScore,
    bytes_per_vector,
    measure_costs,
    pareto_front,
    sample_texts,
)

TEXTS = [f"text number {i} about earnings" for i in range(100)]


@pytest.mark.parametrize(
    ("dim", "precision", "expected"),
    [(384, "float32", 1536), (384, "int8", 384), (384, "binary", 48), (768, Precision.BINARY, 96), (50, "binary", 7)],
)
def test_bytes_per_vector(dim, precision, expected):
    assert bytes_per_vector(dim, precision) == expected


def test_bytes_per_vector_refuses_nonsense():
    with pytest.raises(ValueError):
        bytes_per_vector(0, "int8")
    with pytest.raises(ValueError):
        bytes_per_vector(8, "int4")


class RecordingEncoder(KeywordEncoder):
    """A keyword model that records each ``embed`` call's texts."""

    def __init__(self, name: str = "recording") -> None:
        super().__init__(name)
        self.batches: list[list[str]] = []

    def embed(self, texts, prompt_type=None):
        self.batches.append(list(texts))
        return super().embed(texts, prompt_type)


class FakeClock:
    """Advances by one second on each reading: a timed encode between two readings takes 1 s."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_throughput_is_measured_on_a_fixed_sample_after_one_warm_up():
    first, second = RecordingEncoder("a"), RecordingEncoder("b")
    summary = measure_costs({"a": first, "b": second}, TEXTS, sample_size=40, seed=7, batch_size=8, clock=FakeClock())
    expected = sample_texts(TEXTS, 40, 7)
    assert len(expected) == 40 and expected != sorted(TEXTS)[:40]  # a seeded sample, not the first texts
    for encoder in (first, second):
        warmup, timed = encoder.batches  # one warm-up batch, then the whole sample once
        assert warmup == expected[:8]
        assert timed == expected  # the same fixed sample for every model
    assert summary.sample_texts == 40 and summary.warmup_texts == 8 and summary.seed == 7 and summary.batch_size == 8
    assert summary.threads >= 1 and summary.device == "cpu"
    profile = summary.profile("a")
    assert profile.throughput == pytest.approx(40.0)  # 40 texts in the fake clock's one second
    assert profile.dim == len(first.vocabulary) + 1
    assert profile.bytes_per_vector("float32") == 4 * profile.dim and profile.bytes_per_vector("int8") == profile.dim
    assert profile.parameters is None and profile.size_on_disk is None and "no model folder" in profile.note
    # The same seed gives the same sample in another run; another seed another sample.
    assert sample_texts(TEXTS, 40, 7) == expected != sample_texts(TEXTS, 40, 8)


def test_lexical_baselines_have_no_weights_and_say_why():
    from domainemb.evaluation.lexical import bag_of_words, bm25

    summary = measure_costs({"bm25": bm25(), "bow": bag_of_words()}, TEXTS, sample_size=20, batch_size=4)
    bm25_cost, bow_cost = summary.profiles
    assert bm25_cost.throughput is None and bm25_cost.dim is None and "index" in bm25_cost.note
    assert bow_cost.throughput is not None and bow_cost.throughput > 0  # fitted on the sample, then timed
    assert bow_cost.dim is None and bow_cost.bytes_per_vector("int8") is None and "sparse" in bow_cost.note
    assert bow_cost.parameters is None and bow_cost.size_on_disk is None


def test_a_real_model_reports_its_parameters_and_weight_bytes(tiny_model):
    from domainemb.evaluation.encoders import sentence_transformer_from_folder

    folder = tiny_model()
    encoder = sentence_transformer_from_folder(folder, name=str(folder))
    summary = measure_costs({"tiny": encoder}, TEXTS, sample_size=16, batch_size=8)
    (profile,) = summary.profiles
    assert profile.parameters == sum(p.numel() for p in encoder.model.parameters()) > 0
    weights = [p for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin")]
    assert weights and profile.size_on_disk == sum(p.stat().st_size for p in weights)
    assert profile.dim == 32 and profile.bytes_per_vector("binary") == 4
    assert profile.throughput > 0 and profile.note == ""
    assert profile.matryoshka_dims == ()  # no adapt record beside the folder


def test_matryoshka_dims_come_from_the_adapt_record_that_names_the_folder(tiny_model, tmp_path):
    import shutil

    from domainemb.compare.cost import matryoshka_dims
    from domainemb.evaluation.encoders import sentence_transformer_from_folder

    model = tmp_path / "run" / "model"
    shutil.copytree(tiny_model(), model)
    encoder = sentence_transformer_from_folder(model, name=str(model))
    record = {"adapted": {"path": str(model)}, "hyperparameters": {"matryoshka_dims": [16, 8]}}
    (tmp_path / "run" / "adapt.json").write_text(json.dumps(record), encoding="utf-8")
    assert matryoshka_dims(encoder) == (16, 8)
    record["adapted"]["path"] = str(tmp_path / "elsewhere")  # a record of another model says nothing of this one
    (tmp_path / "run" / "adapt.json").write_text(json.dumps(record), encoding="utf-8")
    assert matryoshka_dims(encoder) == ()


def test_pareto_front_on_a_hand_made_set():
    points = [
        (100.0, 0.50),  # 0: fastest
        (50.0, 0.60),  # 1: on the front
        (40.0, 0.55),  # 2: beaten by 1 on both
        (10.0, 0.70),  # 3: best score
        (10.0, 0.65),  # 4: as fast as 3, worse
        (100.0, 0.40),  # 5: as fast as 0, worse
    ]
    assert pareto_front(points) == [0, 1, 3]
    assert pareto_front([(1.0, 1.0), (1.0, 1.0)]) == [0, 1]  # equal points do not beat each other
    assert pareto_front([]) == []


def _summary() -> CostSummary:
    variants = (
        VariantScore("float32", 384, False, 1536, {"FinRetrieval": 0.6, "FinSTS": 0.7}, 0.65),
        VariantScore("int8", 384, False, 384, {"FinRetrieval": 0.59, "FinSTS": 0.69}, 0.64),
        VariantScore("binary", 384, False, 48, {"FinRetrieval": 0.5, "FinSTS": 0.6}, 0.55),
        VariantScore("float32", 128, True, 512, {"FinRetrieval": 0.55, "FinSTS": 0.66}, 0.605),
    )
    profiles = (
        CostProfile("minilm", 22_700_000, 90_000_000, 384, 120.5, 2.1, "", (128,), variants),
        CostProfile("bm25", None, None, None, None, None, "lexical: no weights"),
    )
    return CostSummary(256, 32, 42, 32, 2, "cpu", ("FinRetrieval", "FinSTS"), profiles)


def test_the_cost_summary_round_trips_and_old_analyses_still_read():
    data = synthetic_analysis(payload=False)
    old = Analysis.from_dict(data)
    assert old.costs is None and "costs" not in old.to_dict()
    with_costs = Analysis.from_dict({**data, "costs": _summary().to_dict()})
    assert with_costs.costs == _summary()
    assert Analysis.from_dict(json.loads(json.dumps(with_costs.to_dict()))).costs == _summary()
    assert with_costs.costs.profiles[0].variants[3].label == "float32@128"


def test_compare_measures_costs_in_the_same_run(tiny_suites, tmp_path):
    from compare_data import fake_models

    from domainemb.compare.config import CompareConfig
    from domainemb.compare.run import compare
    from domainemb.types import Domain, TaskType

    domain, general = tiny_suites("compare")
    config = CompareConfig(
        domain=Domain.FINANCE,
        models=("kw-all",),
        out=tmp_path / "out",
        domain_benchmark=domain,
        general_benchmark=general,
        task_types=(TaskType.RETRIEVAL, TaskType.STS),
        bootstrap_samples=50,
        complexity_texts=10,
        cost_sample_texts=24,
    )
    models = fake_models()
    result = compare(config, encoders={"kw-all": models["kw-all"]})
    costs = result.analysis.costs
    assert costs is not None and costs.sample_texts == 24
    assert [p.model for p in costs.profiles] == ["kw-all", "bm25", "bow"]
    assert costs.profile("kw-all").throughput > 0 and costs.profile("bm25").throughput is None
    assert json.loads(result.analysis_path.read_text())["costs"]["sample_texts"] == 24
    assert np.isfinite(costs.profile("bow").throughput)
    # The dense model is rescored on the domain retrieval and STS tasks; the lexical baselines are not.
    assert costs.rescored_tasks == ("DomRetrieval", "DomSTS")
    variants = costs.profile("kw-all").variants
    assert [v.label for v in variants] == ["float32", "int8", "binary"]
    float_scores = {t: s for t, s in result.analysis.statistics.task_scores["domain"].items()}
    for task in costs.rescored_tasks:
        assert variants[0].scores[task] == pytest.approx(float_scores[task]["kw-all"].value)
    dim = costs.profile("kw-all").dim
    assert [v.bytes_per_vector for v in variants] == [4 * dim, dim, -(-dim // 8)]
    assert costs.profile("bm25").variants == () and costs.profile("bow").variants == ()
    assert (result.out / "quantized" / "results" / "test__kw-all-int8").is_dir()


# ----------------------------------------------------------------------------- quantized rescoring
def test_unpacked_binary_cosine_is_hamming_and_int8_round_trips_within_a_bucket():
    from domainemb.evaluation.quantized import dequantize_int8, quantize, unpack_binary
    from domainemb.types import Precision

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 50)).astype(np.float32)
    signs = unpack_binary(quantize(vectors, Precision.BINARY), 50)
    assert set(np.unique(signs)) == {-1.0, 1.0} and np.array_equal(signs > 0, vectors > 0)
    hamming = (signs[:, None, :] != signs[None, :, :]).sum(-1)
    cosine = signs @ signs.T / 50
    assert np.allclose(cosine, 1 - 2 * hamming / 50)
    ranges = np.stack([vectors.min(0), vectors.max(0)])
    restored = dequantize_int8(quantize(vectors, Precision.INT8, ranges), ranges)
    step = (ranges[1] - ranges[0]) / 255
    assert np.all(np.abs(restored - vectors) <= step * 0.5 + 1e-5)


def test_quantized_scores_on_the_tiny_benchmark(tiny_benchmark, tiny_model, tmp_path):
    from domainemb.domains.benchmark import Benchmark
    from domainemb.evaluation.cache import EmbeddingCache
    from domainemb.evaluation.encoders import sentence_transformer_from_folder
    from domainemb.evaluation.quantized import QuantizedEncoder
    from domainemb.suites import score_models
    from domainemb.types import Precision

    bench = Benchmark.open(tiny_benchmark)
    tasks = ["TinyRetrieval", "TinySTS"]
    model = sentence_transformer_from_folder(tiny_model(), name="tiny")
    cache = EmbeddingCache(tmp_path / "cache.sqlite")

    def scores(encoder):
        result = score_models(bench, [encoder], tmp_path / "results", tasks=tasks, batch_size=16)
        return {s.task: s.main_score for s in result.scores}

    full = scores(model)
    stored = cache.stats.stored
    int8 = scores(QuantizedEncoder(model, Precision.INT8, cache=cache))
    assert cache.stats.stored > stored  # the model's own float vectors went into the cache
    encoded = cache.stats.stored
    binary = scores(QuantizedEncoder(model, Precision.BINARY, cache=cache))
    truncated = scores(QuantizedEncoder(model, Precision.FLOAT32, 16, cache=cache))
    assert cache.stats.stored == encoded  # the later variants encoded nothing again
    for task in tasks:
        assert abs(int8[task] - full[task]) < 0.03, (task, int8, full)
        assert binary[task] != full[task] and truncated[task] != full[task]
    variants = {
        QuantizedEncoder(model, p, d).fingerprint for p, d in [("int8", None), ("binary", None), ("float32", 16)]
    }
    assert len(variants) == 3 and model.fingerprint not in variants
    folders = {p.parent.parent.name for p in (tmp_path / "results" / "results").rglob("TinySTS.json")}
    assert folders == {"local__model", "local__model-int8", "local__model-binary", "local__model-d16"}
    cache.close()
    with pytest.raises(ValueError):
        QuantizedEncoder(model, Precision.FLOAT32)  # nothing to change


# ----------------------------------------------------------------------------- the report
def _analysis_with_costs(summary: CostSummary | None) -> Analysis:
    data = synthetic_analysis(payload=True)
    if summary is not None:
        data["costs"] = summary.to_dict()
    return Analysis.from_dict(data)


def test_the_report_renders_the_cost_section_when_data_is_present():
    from domainemb.compare.render import render_html

    evil = next(m for m in synthetic_analysis()["provenance"]["models"] if m.startswith("kw"))
    summary = _summary()
    faster = CostProfile(evil, None, None, 13, 900.0, 0.3, "no model folder to measure")
    summary = CostSummary(**{**summary.__dict__, "profiles": (*summary.profiles, faster)})
    page = render_html(_analysis_with_costs(summary))
    assert '<a href="#cost">Cost</a>' in page
    section = page[page.index('<section id="cost">') : page.index("</section>", page.index('<section id="cost">'))]
    assert "256 texts drawn with seed 42" in section and "warm-up batch of 32 texts" in section
    assert "2 thread(s)" in section and "FinRetrieval, FinSTS" in section
    rows = section[section.index("<tbody>") : section.index("</tbody>")]
    minilm = rows[rows.index("minilm") : rows.index("</tr>", rows.index("minilm"))]
    for cell in ("22.7 M", "90.0 MB", ">384<", "1536 / 384 / 48", "120.5", "0.650", "0.640", "0.550", "84.6%"):
        assert cell in minilm, cell
    assert "@128: 0.605 / — / —" in minilm
    assert "lexical: no weights" in section  # why bm25 has no numbers
    # minilm (slow, better) and the fast keyword model are both on the front; the badge says so.
    assert minilm.count(">front<") == 1
    assert 'aria-label="finance suite mean against encode throughput"' in section
    assert "Pareto front" in section and "<polyline" in section
    assert 'aria-label="finance retrieval and STS mean against bytes per vector"' in section
    assert "float32@128" in section  # the truncated point on minilm's curve
    assert "<img src=x" not in section and "&lt;img src=x" in section  # a model name is text


def test_the_report_has_no_cost_section_without_cost_data():
    from domainemb.compare.render import render_html

    page = render_html(_analysis_with_costs(None))
    assert 'id="cost"' not in page and 'href="#cost"' not in page


def test_a_matryoshka_model_is_rescored_at_its_truncated_dimensions(tiny_benchmark, tiny_model, tmp_path):
    from domainemb.compare.cost import rescore, variant_plan
    from domainemb.domains.benchmark import Benchmark
    from domainemb.evaluation.encoders import sentence_transformer_from_folder

    assert variant_plan(32, (64, 16, 8, 16)) == [
        ("int8", None),
        ("binary", None),
        *[(p, 16) for p in ("float32", "int8", "binary")],
        *[(p, 8) for p in ("float32", "int8", "binary")],
    ]  # a dimension at or above the model's is no truncation
    model = sentence_transformer_from_folder(tiny_model(), name="tiny")
    profile = CostProfile("tiny", 1, 1, 32, 1.0, matryoshka_dims=(16,))
    tasks = ["TinyRetrieval", "TinySTS"]
    rescored = rescore(
        profile, model, Benchmark.open(tiny_benchmark), tasks, {"TinyRetrieval": 0.5, "TinySTS": 0.1}, tmp_path
    )
    labels = [v.label for v in rescored.variants]
    assert labels == ["float32", "int8", "binary", "float32@16", "int8@16", "binary@16"]
    assert rescored.variants[0].scores == {"TinyRetrieval": 0.5, "TinySTS": 0.1}  # the comparison's own float scores
    assert [v.bytes_per_vector for v in rescored.variants] == [128, 32, 4, 64, 16, 2]
    assert all(set(v.scores) == set(tasks) and v.domain_score is not None for v in rescored.variants)


def test_a_negative_cost_sample_is_a_one_line_error_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from domainemb.cli.main import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["compare", "finance", "--cost-texts", "-1", "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --cost-texts must be 0 (no cost measured) or more, got -1"
    assert not out.exists()
