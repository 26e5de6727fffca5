"""Property, through the real command line: bad input of every reader family ends in exit code 2, one
``error:`` line, no traceback and nothing written; input that is good enough ends in success.

Each test drives the CLI in-process with typer's ``CliRunner`` on generated input (the strategies of
tests/properties_data.py, as the library-level properties in tests/test_properties_readers.py use):
``build-benchmark --task`` on BEIR folders and on task.yaml with CSV/JSONL, ``adapt`` on pairs files
and configs, ``prune`` on configs, and ``synth`` against an endpoint that answers with generated bodies.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from properties_data import (
    HUGE_INT,
    BodyServer,
    adapt_documents,
    beir_files,
    completion_body,
    jsonl_bytes,
    pair_record,
    prune_documents,
    quick,
    table_task,
    write_files,
)
from typer.testing import CliRunner

from domainemb.cli.main import app

runner = CliRunner()
#: A model no registry, folder or hub knows (the run stops there, after its input was read).
NO_MODEL = "/no/such/model"


def _clean_outcome(result, *leftovers: Path, allowed_codes=(0, 2)) -> bool:
    """Success, or exit 2 with one ``error:`` line, no traceback, and none of ``leftovers`` on disk.

    Returns whether the command succeeded.
    """
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{type(result.exception).__name__} escaped the CLI: {result.exception!r}")
    assert result.exit_code in allowed_codes, result.output
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        return True
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    others = [ln for ln in result.output.splitlines() if ln.strip() and not ln.startswith(("error:", "WARNING "))]
    assert len(errors) == 1 and not others, result.output
    for path in leftovers:
        assert not path.exists(), f"{path} left behind: {result.output}"
        assert not [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}")], result.output
    return False


@contextmanager
def _only_user_tasks():
    import domainemb.domains.build as build

    with mock.patch.object(build, "domain_tasks", lambda domain: ()):
        yield


def _build_benchmark(root: Path, task: Path, strict: bool) -> None:
    out = root / "work" / "bench"
    out.parent.mkdir()
    args = ["build-benchmark", "chemistry", "--task", str(task), "--out", str(out), "--size", "full"]
    with _only_user_tasks():
        result = runner.invoke(app, [*args, "--strict"] if strict else args)
    if _clean_outcome(result, out):
        assert (out / "manifest.json").is_file()


# ----------------------------------------------------------------------------- build-benchmark --task
@quick(15)
@given(files=beir_files, strict=st.booleans())
@example(
    files={"corpus.jsonl": b'{"_id": "d0", "text": "a"}\n', "queries.jsonl": b'{"_id": "q0", "text": "b"}\n'}
    | {"qrels/test.tsv": b"q0\td0\r\t1\n"},
    strict=False,
)
def test_build_benchmark_on_a_beir_folder(files, strict):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _build_benchmark(root, write_files(root / "mytask", files), strict)


@quick(15)
@given(task=table_task(), strict=st.booleans())
@example(
    task=({"task.yaml": b"type: sts\ndata: data.csv\nmin_score: 2020-13-45\n", "data.csv": b"x\n"}, "csv"), strict=False
)
def test_build_benchmark_on_a_task_yaml(task, strict):
    files, _fmt = task
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        outside = root / "outside.csv"
        outside.write_bytes(b"sentence1,sentence2,score\na,b,1\nc,d,4\n")
        files = {**files, "task.yaml": files["task.yaml"].replace(b"{OUTSIDE}", str(outside).encode())}
        task_dir = write_files(root / "mytask", files)
        (task_dir / "sub").mkdir(exist_ok=True)
        _build_benchmark(root, task_dir, strict)


# ----------------------------------------------------------------------------- adapt and prune
@quick(12)
@given(pairs=jsonl_bytes(pair_record))
@example(
    pairs=b'{"query": "q", "positive": "p", "doc_id": "d", "negatives": ["n"], "margins": [1' + b"0" * 400 + b"]}\n"
)
@example(pairs=b'{"query": "q", "positive": "p", "doc_id": "d", "x": ' + HUGE_INT.encode() + b"}\n")
def test_adapt_on_a_pairs_file(pairs):
    """Whatever the pairs, adapt stops with one line before writing anything (the base model does not exist)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pairs.jsonl").write_bytes(pairs)
        out = root / "run"
        args = ["adapt", "--base", NO_MODEL, "--pairs", str(root / "pairs.jsonl"), "--domain", "finance"]
        result = runner.invoke(app, [*args, "--out", str(out)])
        _clean_outcome(result, out, allowed_codes=(2,))


@quick(10)
@given(document=adapt_documents)
@example(document=b"learning_rate: 1" + b"0" * 400 + b"\n")
def test_adapt_on_a_config(document):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "adapt.yaml").write_bytes(document)
        (root / "pairs.jsonl").write_text(
            '{"query": "what is a bond", "positive": "A bond is debt.", "doc_id": "a"}\n'
            '{"query": "what is a share", "positive": "A share is equity.", "doc_id": "b"}\n'
        )
        out = root / "run"
        args = ["adapt", "--base", NO_MODEL, "--pairs", str(root / "pairs.jsonl"), "--domain", "finance"]
        result = runner.invoke(app, [*args, "--out", str(out), "--config", str(root / "adapt.yaml")])
        _clean_outcome(result, out, allowed_codes=(2,))


@quick(10)
@given(document=prune_documents)
@example(document=b"seed: 2020-13-45\n")
def test_prune_on_a_config(document):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "prune.yaml").write_bytes(document)
        out = root / "run"
        args = ["prune", "--model", NO_MODEL, "--domain", "finance", "--method", "magnitude"]
        result = runner.invoke(app, [*args, "--out", str(out), "--config", str(root / "prune.yaml")])
        _clean_outcome(result, out, allowed_codes=(2,))


# ----------------------------------------------------------------------------- synth
@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """A loopback endpoint answering with the body it is given, a one-document corpus, a benchmark."""
    from synth_data import retrieval_benchmark

    root = tmp_path_factory.mktemp("synth-cli")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "report.txt").write_text(
        "Revenue rose 8 percent to 394 billion dollars in 2022. Growth came from services and wearables. "
        "Operating margin improved to 30 percent as costs fell. The board raised the dividend by 4 percent.",
        encoding="utf-8",
    )
    bench = retrieval_benchmark(root / "bench", ["an unrelated test document about enzymes"], ["what is an enzyme"])
    server = BodyServer()
    yield server, corpus, bench
    server.stop()


@contextmanager
def _no_models():
    """The embedding model and the teacher replaced at their seams by a hashed bag of words: the property
    is about the endpoint's reply, and a real model would cost seconds per example."""
    from synth_data import HashEmbedder

    import domainemb.synth.pipeline as pipeline

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(pipeline, "SentenceTransformerEmbedder", lambda *a, **k: HashEmbedder()))
        if hasattr(pipeline, "load_teacher"):  # synth --teacher (none: the embedding model decides)
            stack.enter_context(mock.patch.object(pipeline, "load_teacher", lambda *a, **k: None))
        yield


@quick(8)
@given(body=completion_body("query"))
@example(body=b"")
@example(body=b'{"choices": [{"message": {"content": "{\\"query\\": \\"how fast did \\\\ud800 services grow\\"}"}}]}')
@example(body=b'{"choices": [{"message": {"content": "{\\"query\\": \\"how fast did services revenue grow\\"}"}}]}')
def test_synth_on_any_reply(endpoint, body):
    """synth writes the pairs it could make, or exits 2 saying why none was made; it never crashes."""
    from domainemb.pairs import read_pairs

    server, corpus, bench = endpoint
    server.status, server.headers, server.body = 200, {"content-type": "application/json"}, body
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run" / "pairs.jsonl"
        args = ["synth", "--domain", "finance", "--corpus", str(corpus), "--out", str(out), "--benchmark", str(bench)]
        args += ["--base-url", server.base_url, "--llm-model", "m", "--max-retries", "0", "--timeout", "2"]
        with _no_models():
            result = runner.invoke(app, [*args, "--kind", "short-long", "--negatives", "0"])
        if _clean_outcome(result, out):
            assert read_pairs(out, strict=True).pairs
