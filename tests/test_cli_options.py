"""Command options built from a config dataclass: `synth` offers every SynthConfig field, with its default."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from domainemb.cli._common import user_errors
from domainemb.cli.main import app
from domainemb.cli.options import config_option_list, config_options
from domainemb.options import option, option_of
from domainemb.synth.config import Generator, PairKind, SynthConfig
from domainemb.types import Domain

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


class Captured(Exception):
    """Stops the command once it has built its config."""


def _synth_config(monkeypatch, *args: str) -> SynthConfig:
    captured = []

    def fake(config, **kwargs):
        captured.append(config)
        raise Captured

    monkeypatch.setattr("domainemb.synth.pipeline.synthesize", fake)
    result = runner.invoke(app, ["synth", "--domain", "finance", "--corpus", "docs", *args])
    assert isinstance(result.exception, Captured), result.output
    return captured[0]


def _synth_command():
    command = typer.main.get_command(app)
    return command.commands["synth"]


def test_every_synth_config_field_is_an_option_with_help():
    params = {p.name: p for p in _synth_command().params if p.name != "help"}
    assert set(params) == {f.name for f in dataclasses.fields(SynthConfig)}
    for f in dataclasses.fields(SynthConfig):
        assert option_of(f) is not None and option_of(f).help, f.name
        assert params[f.name].help == option_of(f).help


def test_the_option_defaults_are_the_config_defaults(monkeypatch):
    config = _synth_config(monkeypatch)
    assert config == SynthConfig(domain="finance", corpus=Path("docs"), out=Path("work/synth/finance/pairs.jsonl"))


def test_scalar_option_defaults_are_the_field_defaults():
    params = {p.name: p for p in _synth_command().params}
    for f in dataclasses.fields(SynthConfig):
        if f.default is dataclasses.MISSING or isinstance(f.default, tuple):
            continue
        assert params[f.name].default == f.default, f.name


def test_help_lists_every_option_and_its_default():
    result = runner.invoke(app, ["synth", "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    for o in config_option_list(SynthConfig):
        assert o.flag in result.output, o.flag
    for shown in ("[default: 160]", "[default: 10:210]", "[default: llm]", "[default: 0.95]"):
        assert shown in result.output, shown
    assert "short-long, long-long, sts, classification" in result.output  # the kinds' default, from the field
    # the existing option names keep working
    for flag in ("--out", "--kind", "--personas", "--templates", "--benchmark", "--threads", "--mine-ranks"):
        assert flag in result.output, flag


def test_every_option_reaches_the_config(monkeypatch):
    config = _synth_config(
        monkeypatch,
        *("--out", "run/p.jsonl", "--generator", "crop", "--kind", "sts", "--kind", "short-long"),
        *("--personas", "p.yaml", "--templates", "tpl", "--threads", "3", "--mine-ranks", "5:50"),
        *("--benchmark", "b1", "--benchmark", "b2", "--max-copy-ratio", "0.5", "--decontam-ngram", "8"),
        *("--limit", "7", "--prompt-style", "chat", "--price-prompt", "0.1", "--seed", "7"),
    )
    assert config.out == Path("run/p.jsonl") and config.generator is Generator.CROP
    assert config.kinds == (PairKind.STS, PairKind.SHORT_LONG)
    assert config.personas_file == Path("p.yaml") and config.templates_dir == Path("tpl")
    assert config.server_threads == 3 and config.mine_ranks == (5, 50)
    assert config.benchmarks == (Path("b1"), Path("b2"))
    assert config.max_copy_ratio == 0.5 and config.decontam_ngram == 8
    assert (config.limit, config.prompt_style, config.price_prompt, config.seed) == (7, "chat", 0.1, 7)


@dataclass(frozen=True)
class _Toy:
    name: str = option(help="A required name.")
    size: int = option(3, help="How many.")
    window: tuple[int, int] = option((1, 9), help="A window.", metavar="LOW:HIGH")
    tags: tuple[str, ...] = option(("a", "b"), help="Tags (repeatable).", flag="--tag")
    where: Path | None = option(None, help="Somewhere.")
    internal: int = 0  # no option: not offered


def _toy_app(seen: list[dict]) -> typer.Typer:
    toy = typer.Typer()

    @toy.command()
    @user_errors
    @config_options(_Toy)
    def run(**settings) -> None:
        """Run the toy."""
        seen.append(settings)

    return toy


def test_a_config_dataclass_becomes_options():
    seen: list[dict] = []
    toy = _toy_app(seen)
    assert runner.invoke(toy, ["--name", "x"]).exit_code == 0
    assert seen[-1] == {"name": "x", "size": 3, "window": (1, 9), "tags": ("a", "b"), "where": None}
    assert _Toy(**seen[-1]) == _Toy(name="x")
    result = runner.invoke(toy, ["--name", "y", "--size", "4", "--window", "2:5", "--tag", "c", "--where", "w"])
    assert result.exit_code == 0, result.output
    assert seen[-1] == {"name": "y", "size": 4, "window": (2, 5), "tags": ("c",), "where": Path("w")}
    help_text = runner.invoke(toy, ["--help"], env=WIDE).output
    assert "Run the toy." in help_text and "[default: 3]" in help_text and "[default: 1:9]" in help_text
    assert "--internal" not in help_text and "LOW:HIGH" in help_text and "[required]" in help_text


@pytest.mark.parametrize("window", ["2-5", "2:5:7", "a:b"])
def test_a_malformed_pair_is_a_one_line_error(window):
    result = runner.invoke(_toy_app([]), ["--name", "x", "--window", window])
    assert result.exit_code == 2, result.output
    assert f"--window must look like LOW:HIGH (e.g. 1:9), got '{window}'" in " ".join(result.output.split())


def test_optional_names_a_field():
    with pytest.raises(ValueError, match="no field 'nope'"):
        config_options(_Toy, optional=("nope",))
    (name,) = [o for o in config_option_list(_Toy, optional=("name",)) if o.name == "name"]
    assert name.parameter.default is None


def test_an_enum_field_offers_its_choices():
    result = runner.invoke(app, ["synth", "--domain", "nowhere", "--corpus", "docs"], env=WIDE)
    assert result.exit_code == 2
    assert all(d.value in result.output for d in Domain)
