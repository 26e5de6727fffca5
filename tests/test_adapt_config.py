"""AdaptConfig: defaults, YAML parsing, and every impossible value rejected before a run starts."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from domainemb.adapt.config import EVALUATION_FIELDS, RUN_FIELDS, AdaptConfig, LossName, read_yaml
from domainemb.errors import DomainembError
from domainemb.types import Domain, Size

RUN = {"base": "minilm", "pairs": Path("pairs.jsonl"), "domain": Domain.FINANCE, "out": Path("out")}


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "adapt.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_valid_and_cpu_sized():
    config = AdaptConfig(**RUN)
    assert config.loss is LossName.MNRL
    assert config.batch_size <= 64 and config.max_seq_length <= 256
    assert 0 < config.dev_fraction <= 0.5


def test_yaml_sets_every_kind_of_field(tmp_path):
    path = _yaml(
        tmp_path,
        "loss: cached-mnrl\nbatch_size: 64\nmini_batch_size: 16\nlearning_rate: 3.0e-5\nepochs: 2\n"
        "matryoshka_dims: [384, 128]\nbf16: false\nsize: full\ndomain_benchmark: some/where\ngeneral_tasks: [STSBenchmark]\n",
    )
    config = AdaptConfig.from_yaml(path, **RUN)
    assert config.loss is LossName.CACHED_MNRL
    assert (config.batch_size, config.mini_batch_size, config.learning_rate, config.epochs) == (64, 16, 3e-5, 2.0)
    assert config.matryoshka_dims == (384, 128)
    assert config.size is Size.FULL
    assert config.domain_benchmark == Path("some/where")
    assert config.general_tasks == ("STSBenchmark",)


def test_exponent_without_a_dot_is_a_number(tmp_path):
    """YAML 1.1 reads `2e-5` as a string; it is what people write for a learning rate."""
    assert AdaptConfig.from_yaml(_yaml(tmp_path, "learning_rate: 2e-5\n"), **RUN).learning_rate == 2e-5


def test_empty_yaml_gives_defaults(tmp_path):
    assert AdaptConfig.from_yaml(_yaml(tmp_path, ""), **RUN) == AdaptConfig(**RUN)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("batch_sise: 8\n", "unknown key 'batch_sise'; did you mean 'batch_size'?"),
        ("colour: blue\n", "unknown key 'colour'; allowed:"),
        ("base: mpnet\n", "'base' is given on the command line"),
        ("batch_size: 8.5\n", "batch_size must be an integer"),
        ("batch_size: true\n", "batch_size must be an integer"),
        ("learning_rate: fast\n", "learning_rate must be a number"),
        ("loss: triplet\n", "loss must be one of mnrl, cached-mnrl"),
        ("matryoshka_dims: 64\n", "matryoshka_dims must be a list"),
        ("matryoshka_dims: [64, x]\n", "matryoshka_dims[1] must be an integer"),
        ("bf16: 1\n", "bf16 must be true or false"),
        ("- a\n- b\n", "must be a mapping"),
        ("batch_size: [\n", "invalid YAML"),
    ],
)
def test_bad_yaml_is_one_clear_error(tmp_path, text, message):
    with pytest.raises(DomainembError) as err:
        AdaptConfig.from_yaml(_yaml(tmp_path, text), **RUN)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"batch_size": 0}, "batch_size must be >= 2"),
        ({"batch_size": 1}, "batch_size must be >= 2"),
        ({"learning_rate": -1e-5}, "learning_rate must be > 0"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"epochs": 0.0}, "epochs must be > 0"),
        ({"max_steps": -3}, "max_steps must be >= 0"),
        (
            {"loss": LossName.CACHED_MNRL, "batch_size": 8, "mini_batch_size": 16},
            "mini_batch_size must be at most batch_size",
        ),
        ({"mini_batch_size": 0}, "mini_batch_size must be >= 1"),
        ({"warmup_ratio": 1.0}, "warmup_ratio"),
        ({"scale": 0.0}, "scale must be > 0"),
        ({"hard_negatives": -1}, "hard_negatives must be >= 0"),
        ({"matryoshka_dims": (64, 0)}, "matryoshka_dims must be positive"),
        ({"matryoshka_dims": (64, 64)}, "must not repeat"),
        ({"max_seq_length": 4}, "max_seq_length"),
        ({"dev_fraction": 0.9}, "dev_fraction"),
        ({"eval_steps": 0}, "eval_steps"),
        ({"bootstrap_samples": 10}, "bootstrap_samples"),
        ({"domain": Domain.GENERAL}, "cannot adapt to the general domain"),
    ],
)
def test_impossible_values_are_rejected(settings, message):
    with pytest.raises(DomainembError) as err:
        AdaptConfig(**{**RUN, **settings})
    assert message in str(err.value)


def test_impossible_value_from_yaml_is_rejected(tmp_path):
    with pytest.raises(DomainembError, match="batch_size must be >= 2"):
        AdaptConfig.from_yaml(_yaml(tmp_path, "batch_size: 0\n"), **RUN)


def test_mini_batch_size_only_binds_the_cached_loss():
    AdaptConfig(**RUN, batch_size=4, mini_batch_size=8)  # ignored by mnrl


def test_hyperparameters_are_json_ready_and_exclude_the_run_fields():
    import json

    config = AdaptConfig(**RUN, matryoshka_dims=(128, 64), domain_benchmark=Path("x"))
    params = config.hyperparameters()
    assert not RUN_FIELDS & set(params)
    json.dumps(params)
    assert params["matryoshka_dims"] == [128, 64]
    assert not EVALUATION_FIELDS & set(config.training_settings())


def test_every_field_can_come_from_yaml_or_the_command_line():
    """A new field needs a YAML coercion; read_yaml raises TypeError for a type it cannot parse."""
    for field in fields(AdaptConfig):
        if field.name in RUN_FIELDS:
            continue
        default = getattr(AdaptConfig(**RUN), field.name)
        assert default is None or isinstance(default, (bool, int, float, str, Path, tuple))


def test_unreadable_config_file(tmp_path):
    with pytest.raises(DomainembError, match="cannot read the adapt config"):
        read_yaml(tmp_path / "missing.yaml")


# --- NaN and infinity ---------------------------------------------------------------------------

FLOAT_FIELDS = [f.name for f in fields(AdaptConfig) if f.type in ("float", float)]


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
@pytest.mark.parametrize("name", FLOAT_FIELDS)
def test_non_finite_numbers_from_yaml_are_rejected(tmp_path, name, value):
    with pytest.raises(DomainembError, match=f"{name} must be a finite number"):
        AdaptConfig.from_yaml(_yaml(tmp_path, f"{name}: {value}\n"), **RUN)


def test_adapt_with_infinite_epochs_is_one_line_and_writes_nothing(tmp_path):
    from typer.testing import CliRunner

    from domainemb.cli.main import app

    out = tmp_path / "run"
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"query": "q", "positive": "p"}\n')
    args = ["adapt", "--base", "minilm", "--pairs", str(pairs), "--domain", "finance", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--config", str(_yaml(tmp_path, "epochs: .inf\n"))])
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1
    assert "epochs must be a finite number" in result.output
    assert not out.exists()
