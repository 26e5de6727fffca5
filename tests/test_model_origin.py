"""The model-origin contract: adapt and prune write it into the model folder, compare keeps it, the report marks the model.

One tiny adapt run (through the CLI, so the command it records is the one typed) and one tiny
one-shot prune run make a domain model and a pruned model; one comparison of both on the tiny adapt
suites (with bm25 and bow, and a cost sample) is rendered into the report.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from adapt_data import SYNTH_CARD, pair_rows, write_pairs
from prune_data import calibration_pairs, write_pairs_file
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.compare.analysis_file import Analysis
from domainemb.compare.config import CompareConfig
from domainemb.compare.render import MANIFEST_FILE, render_report
from domainemb.compare.run import compare
from domainemb.errors import DomainembError
from domainemb.evaluation.encoders import fingerprint_folder
from domainemb.model_origin import (
    ORIGIN_FILE,
    ORIGIN_FORMAT,
    BaseModel,
    CorpusLicence,
    ModelOrigin,
    OriginKind,
    TrainingData,
    adapted_origin,
    origin_of,
    read_origin,
    write_origin,
)
from domainemb.types import Domain

runner = CliRunner()

ORIGIN = ModelOrigin(
    kind=OriginKind.ADAPTED,
    domain="finance",
    base=BaseModel(name="minilm", fingerprint="b" * 64),
    fingerprint="a" * 64,
    data=TrainingData(
        source="pairs.jsonl",
        sha256="c" * 64,
        pairs=1334,
        generators={"ict": 1334},
        corpora=(CorpusLicence("maec-earnings-calls", "CC BY-SA 4.0 (LICENSE)", "open"),),
        tasks=("FinPhraseBankClassification",),
    ),
    teacher="mpnet",
    recipe="loss mnrl, 76 steps",
    command="domainemb adapt --base minilm --pairs pairs.jsonl --domain finance --out run",
)


def test_origin_round_trips_through_the_folder(tmp_path):
    path = write_origin(tmp_path, ORIGIN)
    assert path == tmp_path / ORIGIN_FILE and json.loads(path.read_text())["format"] == ORIGIN_FORMAT
    assert read_origin(tmp_path) == ORIGIN
    assert ORIGIN.mark == "domain model" and replace(ORIGIN, kind=OriginKind.PRUNED).mark == "pruned model"
    assert ORIGIN.trained_on() == (
        "minilm adapted to finance, trained on 1,334 ict pairs (pairs.jsonl) drawn from the training corpora "
        "maec-earnings-calls [CC BY-SA 4.0 (LICENSE)] and the train splits of 1 finance task; loss mnrl, 76 steps; "
        "teacher mpnet"
    )
    assert read_origin(tmp_path / "elsewhere") is None  # no origin, no run record beside it: not a domain model


def test_an_unreadable_origin_names_its_file(tmp_path):
    (tmp_path / ORIGIN_FILE).write_text('{"format": "something-else/1"}')
    with pytest.raises(DomainembError, match=re.escape(str(tmp_path / ORIGIN_FILE))):
        read_origin(tmp_path)


def test_corpora_of_an_export_without_its_card_come_from_the_registry(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("maec-earnings-calls.jsonl", "FinPhraseBankClassification.jsonl"):
        (corpus / name).write_text('{"id": "1", "text": "t"}\n')
    card = {**SYNTH_CARD, "corpus": {**SYNTH_CARD["corpus"], "path": str(corpus)}}
    record = {
        "domain": "finance",
        "base": {"name": "minilm", "model_name": "m", "fingerprint": "b" * 64},
        "adapted": {"path": "run/model", "model_name": "a", "fingerprint": "a" * 64},
        "data": {"pairs": "work/pairs.jsonl", "sha256": "c" * 64, "pairs_used": 48, "synth_card": card},
        "teacher": None,
    }
    data = adapted_origin(record, command=None).data
    assert data.corpora == (CorpusLicence("maec-earnings-calls", "CC BY-SA 4.0 (LICENSE)", "open"),)
    assert data.tasks == ("FinPhraseBankClassification",) and data.generators == {"ict": 48}


# ----------------------------------------------------------------------------- adapt and prune write it
@pytest.fixture(scope="module")
def adapted(tiny_model, tmp_path_factory) -> Path:
    """A tiny adapt run's folder, made through the CLI (its pairs drawn from an exported corpus folder)."""
    root = tmp_path_factory.mktemp("origin-adapt")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / ".export.json").write_text(
        json.dumps(
            {
                "corpora": {
                    "finance/maec-earnings-calls": {
                        "file": "maec-earnings-calls.jsonl",
                        "passages": 40,
                        "licence": "CC BY-SA 4.0 (LICENSE)",
                        "licence_flag": "open",
                    },
                    "finance/openstax-principles-accounting": {  # nothing left after decontamination: not named
                        "file": "openstax-principles-accounting.jsonl",
                        "passages": 0,
                        "licence": "CC BY-NC-SA 4.0",
                        "licence_flag": "NC",
                    },
                },
                "by_task": {"FinPhraseBankClassification": 8},
            }
        )
    )
    card = {**SYNTH_CARD, "corpus": {**SYNTH_CARD["corpus"], "path": str(corpus)}}
    pairs = write_pairs(root / "pairs.jsonl", pair_rows(n_docs=8, per_doc=2), card=card)
    config = root / "adapt.yaml"
    config.write_text("max_steps: 2\nbatch_size: 8\ndev_fraction: 0.25\nevaluate: false\n")
    out = root / "run"
    args = ["adapt", "--base", str(tiny_model(normalize=True)), "--pairs", str(pairs), "--domain", "finance"]
    args += ["--out", str(out), "--config", str(config)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["domainemb", *args])  # what the user typed; CliRunner leaves argv alone
        result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def pruned(tiny_model, tmp_path_factory) -> Path:
    """A tiny one-shot prune run's folder (domain Fisher scores, calibrated on synth pairs), made through the CLI."""
    root = tmp_path_factory.mktemp("origin-prune")
    pairs = write_pairs_file(root / "pairs.jsonl", calibration_pairs(24))
    config = root / "prune.yaml"
    config.write_text("min_calibration_pairs: 16\ndomain_calibration: 16\nbatch_size: 8\nmax_seq_length: 32\n")
    out = root / "run"
    args = ["prune", "--model", str(tiny_model()), "--domain", "finance", "--method", "fisher-domain", "--pairs"]
    args += [str(pairs), "--no-eval", "--out", str(out), "--config", str(config)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["domainemb", *args])
        result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def test_adapt_writes_the_origin_into_a_folder_sentence_transformers_loads(adapted):
    from sentence_transformers import SentenceTransformer

    model_dir = adapted / "model"
    record = json.loads((adapted / "adapt.json").read_text())
    origin = read_origin(model_dir)
    assert (model_dir / ORIGIN_FILE).is_file() and origin is not None
    assert origin.kind is OriginKind.ADAPTED and origin.domain == "finance"
    assert origin.base == BaseModel(record["base"]["name"], record["base"]["fingerprint"])
    # The origin names the fingerprint of the very folder it sits in (it is no part of it).
    assert origin.fingerprint == record["adapted"]["fingerprint"] == fingerprint_folder(model_dir)
    assert origin.data.source == "pairs.jsonl" and origin.data.sha256 == record["data"]["sha256"]
    assert origin.data.pairs == 16 and origin.data.generators == {"ict": 48}
    assert origin.data.corpora == (CorpusLicence("maec-earnings-calls", "CC BY-SA 4.0 (LICENSE)", "open"),)
    assert origin.data.tasks == ("FinPhraseBankClassification",)
    assert origin.command.startswith("domainemb adapt --base ") and f"--out {adapted}" in origin.command
    assert "loss mnrl, 2 steps" in origin.trained_on()
    assert SentenceTransformer(str(model_dir), device="cpu").encode(["interest rates rose"]).shape == (1, 32)


def test_a_folder_made_before_the_origin_file_falls_back_to_its_run_record(adapted, tmp_path):
    shutil.copytree(adapted / "model", tmp_path / "run" / "model")
    shutil.copy(adapted / "adapt.json", tmp_path / "run" / "adapt.json")
    (tmp_path / "run" / "model" / ORIGIN_FILE).unlink()
    assert read_origin(tmp_path / "run" / "model") == replace(read_origin(adapted / "model"), command=None)
    shutil.copytree(tmp_path / "run" / "model", tmp_path / "other")  # not named model: no run record to read
    assert read_origin(tmp_path / "other") is None


def test_prune_writes_the_origin(pruned):
    from sentence_transformers import SentenceTransformer

    model_dir = pruned / "model"
    origin = read_origin(model_dir)
    assert origin.kind is OriginKind.PRUNED and origin.fingerprint == fingerprint_folder(model_dir)
    report = json.loads((pruned / "prune_report.json").read_text())
    assert origin.base == BaseModel(report["model"], report["model_fingerprint"])
    assert origin.data.pairs == 16 and origin.data.source == "pairs.jsonl"
    assert origin.command.startswith("domainemb prune --model ") and "--method fisher-domain" in origin.command
    assert "pruned for finance (fisher-domain, unstructured, FFN sparsity 0.50, one-shot)" in origin.trained_on()
    assert "teacher" not in origin.trained_on()  # one-shot: nothing learned from the dense model
    assert SentenceTransformer(str(model_dir), device="cpu").encode(["a"]).shape == (1, 32)
    # The run record gives the same origin for a folder made before the file (less the command).
    (model_dir / ORIGIN_FILE).rename(pruned / "origin.json")
    try:
        assert read_origin(model_dir) == replace(origin, command=None)
    finally:
        (pruned / "origin.json").rename(model_dir / ORIGIN_FILE)


# ----------------------------------------------------------------------------- compare and report show it
@pytest.fixture(scope="module")
def compared(adapted, pruned, tiny_suites, tmp_path_factory):
    domain, general = tiny_suites("adapt")
    config = CompareConfig(
        domain=Domain.FINANCE,
        models=(str(adapted / "model"), str(pruned / "model")),
        out=tmp_path_factory.mktemp("origin-compare"),
        domain_benchmark=domain,
        general_benchmark=general,
        bootstrap_samples=50,
        complexity_texts=5,
        cost_sample_texts=16,
        rescore_quantized=False,
        use_cache=False,
    )
    return compare(config)


def test_compare_keeps_each_models_origin(compared, adapted, pruned):
    analysis = compared.analysis
    adapted_name, pruned_name = str(adapted / "model"), str(pruned / "model")
    assert set(analysis.origins) == {adapted_name, pruned_name}
    assert analysis.origins[adapted_name] == read_origin(adapted / "model")
    written = json.loads(compared.analysis_path.read_text())
    by_name = {m["name"]: m for m in written["models"]}
    assert by_name[adapted_name]["origin"]["kind"] == "adapted" and by_name[pruned_name]["origin"]["kind"] == "pruned"
    assert "origin" not in by_name["bm25"] and "origin" not in by_name["bow"]  # a model without one: as before
    assert Analysis.from_disk(compared.analysis_path) == analysis


def test_report_marks_domain_and_pruned_models(compared, adapted, pruned, tmp_path):
    adapted_name, pruned_name = str(adapted / "model"), str(pruned / "model")
    adapted_origin_, pruned_origin_ = read_origin(adapted / "model"), read_origin(pruned / "model")
    html = render_report(compared.out, tmp_path / "site").read_text(encoding="utf-8")
    board = html[html.index('id="leaderboard-domain"') : html.index("</table>", html.index('id="leaderboard-domain"'))]
    row = board[board.index(f">{adapted_name} <span") :].split("</tr>")[0]
    assert ">domain model</span>" in row
    assert ">pruned model</span>" in board[board.index(f">{pruned_name} <span") :].split("</tr>")[0]
    origins = html[html.index('id="model-origins"') : html.index("</div>", html.index('id="model-origins"'))]
    assert _text(adapted_origin_.trained_on()) in origins and _text(adapted_origin_.command) in origins
    assert "maec-earnings-calls [CC BY-SA 4.0 (LICENSE)]" in origins and "1 finance task" in origins
    assert _text(pruned_origin_.trained_on()) in origins and _text(pruned_origin_.command) in origins
    assert re.search(r"On disk [\d.]+ [kM]B, [\d.]+ texts/s", origins)  # the pruned model's cost, from Cost
    cost = html[html.index('id="cost-table"') : html.index("</table>", html.index('id="cost-table"'))]
    assert ">pruned model</span>" in cost.split(f">{pruned_name} <span")[1].split("</tr>")[0]

    manifest = json.loads((tmp_path / "site" / MANIFEST_FILE).read_text())
    entry = manifest["models"][adapted_name]
    assert entry["origin"]["fingerprint"] == adapted_origin_.fingerprint == entry["fingerprint"]
    assert entry["origin"]["command"] == adapted_origin_.command and entry["origin"]["kind"] == "adapted"
    assert manifest["models"][pruned_name]["origin"]["command"] == pruned_origin_.command
    assert "origin" not in manifest["models"]["bm25"]


def test_without_origins_the_page_is_the_page_less_the_marks(compared, tmp_path):
    """The marks, the origins list and the provenance notes are all a model's origin adds to the page."""
    plain = tmp_path / "plain"
    plain.mkdir()
    replace(compared.analysis, origins={}).to_disk(plain / "analysis.json")
    without = render_report(plain, tmp_path / "site-plain").read_text(encoding="utf-8")
    assert "model" in without and "domain model" not in without and "pruned model" not in without
    manifest = json.loads((tmp_path / "site-plain" / MANIFEST_FILE).read_text())
    assert all("origin" not in entry for entry in manifest["models"].values())

    marked = render_report(compared.out, tmp_path / "site").read_text(encoding="utf-8")
    stripped = re.sub(r'<div id="model-origins">.*?</div>\n', "", marked, flags=re.S)
    stripped = re.sub(r' <span class="badge origin-(adapted|pruned)"[^>]*>[^<]*</span>', "", stripped)
    stripped = re.sub(r"; (domain|pruned) model, made by <code>[^<]*</code>", "", stripped)
    assert _unstamped(stripped) == _unstamped(without)


def test_a_folder_changed_after_it_was_made_is_not_marked(adapted, tmp_path, caplog):
    folder = tmp_path / "model"
    shutil.copytree(adapted / "model", folder)
    assert origin_of(str(folder)) == read_origin(folder)
    (folder / "config.json").write_text((folder / "config.json").read_text() + "\n")  # another folder now
    assert origin_of(str(folder)) is None and "changed after it was made" in caplog.text
    assert origin_of("minilm") is None  # a registry name is no folder


def _text(value: str) -> str:
    """``value`` as the autoescaping page writes it."""
    from markupsafe import escape

    return str(escape(value))


def _unstamped(page: str) -> str:
    return re.sub(r"; rendered [^<]+ by domainemb [^<]+</dd>", "", page)
