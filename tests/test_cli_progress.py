"""The one progress display of the commands, and the typed stage events the library sends it."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest
from compare_data import fake_models
from evaluation_data import tiny_specs
from rich.console import Console
from synth_data import HashEmbedder, write_corpus

from domainemb.cli.progress import StageProgress
from domainemb.errors import DomainembError
from domainemb.progress import StageEvent


def _terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=120, color_system=None), buffer


def test_an_uncounted_event_is_a_stage_and_a_counted_one_a_bar():
    console, buffer = _terminal()
    with StageProgress("comparing", console=console) as progress:
        assert progress.description == "comparing" and progress.counts == (0, None)
        progress(StageEvent("loading the model"))
        assert progress.description == "loading the model" and progress.counts == (0, None)
        progress(StageEvent("minilm: TinySTS", done=3, total=10, detail="loss 0.1234"))
        assert progress.description == "minilm: TinySTS" and progress.counts == (3, 10)
    frame = buffer.getvalue()
    assert "minilm: TinySTS" in frame and "3/10" in frame and "loss 0.1234" in frame and "eta" in frame


def _log_file() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=120, color_system=None), buffer


def test_where_stderr_is_a_log_file_plain_lines_name_the_stage_and_count(monkeypatch):
    monkeypatch.setenv("DOMAINEMB_PROGRESS_EVERY", "0.05")
    console, buffer = _log_file()
    with StageProgress(console=console) as progress:
        progress(StageEvent("training", done=1, total=12, detail="loss 0.5"))  # sooner than the interval: no line
        assert buffer.getvalue() == ""
        time.sleep(0.06)
        progress(StageEvent("training", done=2, total=12, detail="loss 0.4"))
        progress(StageEvent("training", done=3, total=12, detail="loss 0.3"))  # again too soon
        time.sleep(0.06)
        progress(StageEvent("scoring the adapted model"))
    lines = [ln for ln in buffer.getvalue().splitlines() if ln]  # rich ends a non-terminal display with a newline
    assert len(lines) == 2, lines
    assert lines[0].startswith("training 2/12 loss 0.4 [00:00:00]")
    assert lines[1].startswith("scoring the adapted model [00:00:00]")


@pytest.mark.parametrize("every", ["0", "bad", "-1", "inf"])
def test_plain_lines_off_or_a_bad_interval(monkeypatch, every):
    monkeypatch.setenv("DOMAINEMB_PROGRESS_EVERY", every)
    console, buffer = _log_file()
    if every != "0":
        with pytest.raises(DomainembError, match="DOMAINEMB_PROGRESS_EVERY"):
            StageProgress(console=console)
        return
    with StageProgress(console=console) as progress:
        time.sleep(0.01)
        progress(StageEvent("training", done=2, total=12))
    assert buffer.getvalue().strip() == ""


def test_a_log_file_gets_nothing_but_the_plain_lines(monkeypatch):
    """Nothing else is written where stderr is not a terminal, so an error after the display started is its one line."""
    monkeypatch.setenv("DOMAINEMB_PROGRESS_EVERY", "0")
    console, buffer = _log_file()
    with StageProgress("pruning", console=console) as progress:
        progress(StageEvent("loading the model"))
        assert progress.started
    assert buffer.getvalue() == ""


def test_a_terminal_gets_the_bar_not_plain_lines(monkeypatch):
    monkeypatch.setenv("DOMAINEMB_PROGRESS_EVERY", "0.001")
    console, buffer = _terminal()
    with StageProgress(console=console) as progress:
        time.sleep(0.01)
        progress(StageEvent("training", done=2, total=12))
    assert "[00:00:00]" not in buffer.getvalue()


def test_a_stage_without_a_count_shows_no_count():
    console, buffer = _terminal()
    with StageProgress(console=console) as progress:
        progress(StageEvent("scoring the dense model"))
    frame = buffer.getvalue()
    assert "scoring the dense model" in frame
    assert "/?" not in frame and "eta" not in frame and "-:--:--" not in frame


def test_a_count_moves_its_bar_on_and_a_new_count_starts_a_new_bar():
    with StageProgress(show=False) as progress:
        progress(StageEvent("base: A", done=0, total=4))
        first = progress._bar
        progress(StageEvent("base: B", done=1, total=4))
        assert progress._bar == first and progress.counts == (1, 4)  # same bar: elapsed and ETA carry on
        progress(StageEvent("adapted: A", done=0, total=4))
        assert progress._bar != first and progress.counts == (0, 4)  # the count went back: a new bar
        second = progress._bar
        progress(StageEvent("training", done=5, total=20))
        assert progress._bar != second and progress.counts == (5, 20)  # another total: a new bar
        third = progress._bar
        progress(StageEvent("saving"))
        assert progress._bar != third and progress.counts == (0, None)


def test_a_display_that_waits_draws_nothing_until_the_first_event():
    console, buffer = _terminal()
    with StageProgress("checking input", start=False, console=console) as progress:
        assert not progress.started
    assert buffer.getvalue() == ""  # a bad input stays a one-line error
    console, buffer = _terminal()
    with StageProgress("checking input", start=False, console=console) as progress:
        progress(StageEvent("training", done=0, total=8))
        assert progress.started
    assert "training" in buffer.getvalue()


def test_a_hidden_display_never_draws():
    console, buffer = _terminal()
    with StageProgress("training", show=False, console=console) as progress:
        progress(StageEvent("training", done=1, total=2))
        assert not progress.started
    assert buffer.getvalue() == ""


def test_synth_sends_typed_events_counting_this_runs_items(tmp_path):
    from domainemb.synth.config import SynthConfig
    from domainemb.synth.decontam import HeldOut
    from domainemb.synth.pipeline import synthesize

    config = SynthConfig(
        domain="finance",
        corpus=write_corpus(tmp_path / "corpus", docs=3),
        out=tmp_path / "pairs.jsonl",
        generator="ict",
        negatives=0,
        consistency_top_k=0,
        near_duplicate=1.0,
    )
    events: list[StageEvent] = []
    synthesize(config, embedder=HashEmbedder(), held_out=HeldOut.from_texts([]), on_event=events.append)
    assert all(isinstance(e, StageEvent) for e in events)
    counted = [e for e in events if e.total is not None]
    assert counted[0].done == 0 and counted[-1].done == counted[-1].total > 0
    assert [e.done for e in counted] == list(range(counted[-1].total + 1))
    assert {e.stage for e in counted} == {"synth finance (ict)"}
    assert events[-1].total is None  # then the pairs are filtered

    again: list[StageEvent] = []  # a rerun has nothing left to generate
    synthesize(config, embedder=HashEmbedder(), held_out=HeldOut.from_texts([]), on_event=again.append)
    assert [(e.done, e.total) for e in again if e.total is not None] == [(0, 0)]


def test_evaluation_counts_each_model_and_task_run(tiny_suites, tmp_path):
    from domainemb.evaluation.run import EvaluateConfig, evaluate

    domain, _ = tiny_suites("compare")
    models = fake_models()
    names = ("kw-all", "kw-few")
    tasks = ("DomRetrieval", "DomSTS")
    events: list[StageEvent] = []
    config = EvaluateConfig(benchmark=domain, models=names, tasks=tasks, out=tmp_path, use_cache=False)
    evaluate(config, encoders=models, on_event=events.append)
    assert events == [
        StageEvent(f"{model}: {task}", done=n, total=4)
        for n, (model, task) in enumerate((m, t) for m in names for t in tasks)
    ]


def test_a_bad_task_name_sends_no_event(tiny_suites, tmp_path):
    from domainemb.errors import UnknownNameError
    from domainemb.evaluation.run import EvaluateConfig, evaluate

    domain, _ = tiny_suites("compare")
    events: list[StageEvent] = []
    config = EvaluateConfig(benchmark=domain, models=("kw-all",), tasks=("NoSuchTask",), out=tmp_path)
    with pytest.raises(UnknownNameError):
        evaluate(config, encoders=fake_models(), on_event=events.append)
    assert events == []  # the display starts with the first event: a bad input stays one line


def test_a_build_counts_its_tasks(tmp_path, monkeypatch):
    from domainemb.domains.build import BuildConfig, build_benchmark
    from domainemb.types import Domain, Size

    monkeypatch.setattr("domainemb.domains.build.domain_tasks", lambda domain: ())
    events: list[StageEvent] = []
    specs = tiny_specs()[:3]
    config = BuildConfig(domain=Domain.FINANCE, out=tmp_path / "bench", size=Size.FULL)
    build_benchmark(config, extra_specs=specs, on_event=events.append)
    assert events == [StageEvent(f"finance: {spec.name}", done=n, total=3) for n, spec in enumerate(specs)]


def test_the_command_line_starts_without_polars_or_torch():
    """Importing the CLI stays light: polars' worker threads would take the Ctrl-C that stops
    `llm serve` (the signal must reach the main thread), and torch costs seconds at every start."""
    code = "import sys, domainemb.cli.main; print(sorted(m for m in ('polars', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
