"""`domainemb compare` end to end on tiny suites (fake dense models, the real bm25 and bow), and its bad input."""

from __future__ import annotations

import json
import shutil

import pytest
from compare_data import fake_models
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.compare.analysis_file import Analysis
from domainemb.compare.config import CompareConfig
from domainemb.compare.run import ANALYSIS_FILE, collect_suite, compare
from domainemb.domains.benchmark import Benchmark
from domainemb.errors import DomainembError, UnknownNameError
from domainemb.evaluation.results import PROVENANCE_KEY
from domainemb.types import Domain, TaskType

runner = CliRunner()


@pytest.fixture(scope="module")
def compared(tiny_suites, tmp_path_factory):
    domain, general = tiny_suites("compare")
    out = tmp_path_factory.mktemp("compare-out")
    config = CompareConfig(
        domain=Domain.FINANCE,
        models=tuple(fake_models()),
        out=out,
        domain_benchmark=domain,
        general_benchmark=general,
        bootstrap_samples=200,
        complexity_texts=20,
        use_cache=False,
    )
    return config, compare(config, encoders=fake_models())


def test_compare_writes_the_analysis(compared):
    config, result = compared
    analysis = json.loads((config.out / ANALYSIS_FILE).read_text())
    assert analysis == json.loads(json.dumps(result.analysis.to_dict()))
    assert Analysis.from_dict(analysis) == result.analysis  # the typed analysis reads back what was written
    assert analysis["format"] == "domainemb-compare-analysis/1" and analysis["domain"] == "finance"
    names = [m["name"] for m in analysis["models"]]
    assert names == ["kw-all", "kw-half", "kw-few", "bm25", "bow"]
    assert [m["baseline"] for m in analysis["models"]] == [False, False, False, True, True]
    domain_types = {"Retrieval", "STS", "Classification", "Clustering"}
    assert set(analysis["means"]["domain"]["kw-all"]) == {"overall", *domain_types}
    for model in names:
        assert analysis["means"]["general"][model]["overall"]["n_tasks"] == 4
    assert {"overall", "Retrieval", "STS", "Classification", "Clustering"} == set(analysis["rank_agreement"])
    assert analysis["anova"]["table"] is not None
    assert set(analysis["complexity"]["tasks"]) == {t["name"] for s in analysis["suites"].values() for t in s["tasks"]}
    assert analysis["provenance"]["models"]["bm25"]["fingerprint"]
    assert (
        analysis["provenance"]["benchmarks"]["domain"]["checksum"] == Benchmark.open(config.domain_benchmark).checksum
    )


def test_bm25_cells_outside_retrieval_are_missing_not_zero(compared):
    _, result = compared
    stats = result.analysis.statistics
    assert stats.means["domain"]["bm25"]["Retrieval"].value is not None
    assert stats.means["domain"]["bm25"]["STS"].value is None
    assert stats.means["domain"]["bm25"]["overall"].value is None
    assert stats.task_scores["domain"]["DomSTS"]["bm25"].value is None
    assert stats.gaps["bm25"]["overall"] is None


def test_the_report_renders_the_real_analysis(compared, tmp_path):
    from domainemb.compare.render import render_report

    config, result = compared
    html = render_report(config.out, tmp_path / "site").read_text(encoding="utf-8")
    for task in ("DomRetrieval", "GenClustering", "DomPayloadClassification"):
        assert f'id="task-{task}"' in html
    assert "<script>window.__xss" not in html and "&lt;script&gt;window.__xss" in html


def test_llm_error_rate_is_not_computed_without_an_endpoint(compared):
    _, result = compared
    for measured in result.analysis.complexity.tasks.values():
        assert measured.llm_error_rate is None and measured.llm_note.startswith("not computed")
    assert result.analysis.statistics.terciles["llm_error_rate"].groups == ()


def test_rerun_reuses_results(compared):
    config, first = compared
    again = compare(config, encoders=fake_models())
    assert again.analysis.statistics.means == first.analysis.statistics.means


def test_results_from_another_task_version_are_refused(compared, tmp_path):
    config, result = compared
    out = tmp_path / "out"
    shutil.copytree(config.out, out)
    model = next(m for m in result.analysis.models if m.name == "kw-all")
    path = out / "domain" / "results" / model.model_name.replace("/", "__") / model.revision / "DomSTS.json"
    data = json.loads(path.read_text())
    data[PROVENANCE_KEY]["task_data_revision"] = "0" * 16
    path.write_text(json.dumps(data))
    bench = Benchmark.open(config.domain_benchmark)
    with pytest.raises(DomainembError, match="another version of task DomSTS"):
        collect_suite(out / "domain", bench, list(bench.tasks), [model])
    path.unlink()
    with pytest.raises(DomainembError, match="no result of model kw-all on task DomSTS"):
        collect_suite(out / "domain", bench, list(bench.tasks), [model])


def test_bad_input(tiny_suites, tmp_path):
    domain, general = tiny_suites("compare")
    base = dict(models=("kw-all",), out=tmp_path, domain_benchmark=domain, general_benchmark=general, use_cache=False)
    with pytest.raises(DomainembError, match="general is the reference suite"):
        compare(CompareConfig(domain=Domain.GENERAL, **base), encoders=fake_models())
    with pytest.raises(DomainembError, match="is a general benchmark, not a domain suite"):
        compare(CompareConfig(domain=Domain.FINANCE, **{**base, "domain_benchmark": general}), encoders=fake_models())
    with pytest.raises(UnknownNameError, match="did you mean DomSTS"):
        compare(CompareConfig(domain=Domain.FINANCE, tasks=("DomSTX",), **base), encoders=fake_models())
    with pytest.raises(DomainembError, match="no general counterpart"):
        compare(CompareConfig(domain=Domain.FINANCE, tasks=("DomSTS", "GenRetrieval"), **base), encoders=fake_models())
    with pytest.raises(DomainembError, match="no task of the general suite"):
        compare(CompareConfig(domain=Domain.FINANCE, tasks=("DomSTS",), **base), encoders=fake_models())
    assert not (tmp_path / ANALYSIS_FILE).exists()


def test_type_filter_keeps_shared_types(tiny_suites, tmp_path):
    domain, general = tiny_suites("compare")
    config = CompareConfig(
        domain=Domain.FINANCE,
        models=("kw-all",),
        out=tmp_path,
        domain_benchmark=domain,
        general_benchmark=general,
        task_types=(TaskType.RETRIEVAL,),
        bootstrap_samples=50,
        complexity_texts=5,
        use_cache=False,
    )
    result = compare(config, encoders=fake_models())
    assert [t.name for t in result.analysis.suites["domain"].tasks] == ["DomRetrieval"]
    assert (
        result.analysis.statistics.means["domain"]["bm25"]["overall"].value is not None
    )  # bm25 serves every selected task


def test_cli_errors_are_one_line_exit_2(tmp_path):
    result = runner.invoke(app, ["compare", "general", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "general is the reference suite" in result.output
    result = runner.invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "site")])
    assert result.exit_code == 2 and "no analysis.json" in result.output


def test_prediction_files_in_the_engine_layout_give_intervals(compared, tmp_path):
    """mteb's prediction files where the evaluation engine keeps them make per-item intervals."""
    import mteb

    from domainemb.compare.bootstrap import ItemScores, prediction_path
    from domainemb.evaluation.mteb_tasks import to_mteb_task

    config, result = compared
    out = tmp_path / "out"
    shutil.copytree(config.out, out)
    bench = Benchmark.open(config.domain_benchmark)
    encoder = fake_models()["kw-all"]
    folder = prediction_path(out / "domain", encoder.model_name, encoder.revision, "DomSTS").parent
    task = type(to_mteb_task(bench, bench.task("DomSTS")))(seed=42)
    mteb.evaluate(
        encoder.mteb_model(), [task], cache=None, prediction_folder=folder, show_progress_bar=False, raise_error=True
    )
    model = next(m for m in result.analysis.models if m.name == "kw-all")
    suite = collect_suite(out / "domain", bench, [bench.task("DomSTS")], [model])
    items = suite.items["kw-all"]["DomSTS"]
    assert isinstance(items, ItemScores) and items.n_items == 40
    assert abs(items.point - suite.scores["kw-all"]["DomSTS"]) < 2e-5
