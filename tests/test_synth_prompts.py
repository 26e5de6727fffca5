"""Personas (shipped and user files), prompt templates and E5-style attribute sampling."""

from __future__ import annotations

import random

import pytest

from domainemb.errors import DataError
from domainemb.synth.config import PairKind, PromptStyle
from domainemb.synth.personas import (
    Expertise,
    builtin_personas,
    load_personas,
    personas_for,
)
from domainemb.synth.templates import (
    ATTRIBUTES,
    classification_tasks,
    load_template,
    sample_attributes,
)
from domainemb.types import Domain

DOMAINS = [Domain.FINANCE, Domain.CHEMISTRY, Domain.MEDICINE]


@pytest.mark.parametrize("domain", DOMAINS)
def test_each_domain_ships_at_least_25_complete_personas(domain):
    personas = builtin_personas(domain)
    assert len(personas) >= 25
    assert len({p.name for p in personas}) == len(personas)
    for p in personas:
        assert p.role and p.goals and p.vocabulary and isinstance(p.expertise, Expertise)
        assert p.role in p.describe() and p.vocabulary[0] in p.describe()
    assert {p.expertise for p in personas} == set(Expertise)  # novices and experts both ask questions


def test_finance_personas_include_the_issue_examples():
    names = {p.name for p in builtin_personas("finance")}
    assert {
        "equity-analyst",
        "retail-investor",
        "credit-risk-officer",
        "external-auditor",
        "securities-regulator",
    } <= names


USER_YAML = """
domain: finance
personas:
  - name: pension-actuary
    role: Actuary valuing defined-benefit pension liabilities
    expertise: expert
    goals: [value obligations]
    vocabulary: [discount rate, mortality table]
"""


def test_user_personas_are_added(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(USER_YAML, encoding="utf-8")
    personas = personas_for("finance", path)
    assert personas[-1].name == "pension-actuary"
    assert len(personas) == len(builtin_personas("finance")) + 1


@pytest.mark.parametrize(
    "text, problem",
    [
        (USER_YAML.replace("goals:", "gaols:"), "unknown key 'gaols'"),
        (USER_YAML.replace("expertise: expert", "expertise: guru"), "expertise must be one of"),
        (USER_YAML.replace("    vocabulary: [discount rate, mortality table]\n", ""), "missing 'vocabulary'"),
        (USER_YAML.replace("domain: finance", "domain: chemistry"), "not 'finance'"),
        (USER_YAML.replace("pension-actuary", "equity-analyst"), "duplicate persona name"),
        ("personas: [", "invalid YAML"),
    ],
)
def test_bad_user_personas_name_the_problem(tmp_path, text, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=problem):
        personas_for("finance", path)


def test_load_personas_reports_unreadable_file(tmp_path):
    with pytest.raises(DataError, match="unreadable"):
        load_personas(tmp_path / "missing.yaml")


VALUES = {
    "domain": "finance",
    "persona": "Retail investor (novice level)",
    "passage": "Revenue rose 8% to $394 billion.",
    "sentence": "Revenue rose 8% to $394 billion.",
    "task": "Sentiment",
    "label": "positive",
    "labels": '["positive", "negative"]',
    **{k: v[0] for k, v in ATTRIBUTES.items()},
}


@pytest.mark.parametrize("kind", list(PairKind))
@pytest.mark.parametrize("style", list(PromptStyle))
def test_every_shipped_template_renders(kind, style):
    template = load_template(kind, style)
    assert template.kind is kind and template.style is style and len(template.hash) == 16
    request = template.request(VALUES, max_tokens=64, temperature=0.5, seed=1)
    if style is PromptStyle.CHAT:
        assert request.prompt is None and [m["role"] for m in request.messages] == ["system", "user"]
        text = request.messages[1]["content"]
        assert all(f'"{field}"' in text for field in template.output)
    else:
        assert request.messages is None and request.prompt.endswith(template.body["prefill"])
        assert template.prefill.startswith("{") and request.stop == ("\n",)
        text = request.prompt
        assert text.count("Revenue rose 8% to $394 billion.") == 1  # the item itself, once, after the examples
    assert "$" + "passage" not in text and "$" + "persona" not in text


def test_template_override_folder_and_its_errors(tmp_path):
    shipped = load_template(PairKind.SHORT_LONG, PromptStyle.CHAT)
    (tmp_path / "short-long.chat.yaml").write_text(
        "kind: short-long\nstyle: chat\noutput: [query]\nsystem: S $domain\nuser: U $passage $unknown_value\n",
        encoding="utf-8",
    )
    mine = load_template(PairKind.SHORT_LONG, PromptStyle.CHAT, tmp_path)
    assert mine.hash != shipped.hash
    with pytest.raises(DataError, match=r"no value for \$unknown_value"):
        mine.request(VALUES, 10, 0.0, None)
    assert (
        load_template(PairKind.STS, PromptStyle.CHAT, tmp_path).hash
        == load_template(PairKind.STS, PromptStyle.CHAT).hash
    )
    (tmp_path / "sts.chat.yaml").write_text(
        "kind: sts\nstyle: chat\noutput: [paraphrase]\nsystem: s\nuser: u\nextra: 1\n", encoding="utf-8"
    )
    with pytest.raises(DataError, match="unknown key 'extra'"):
        load_template(PairKind.STS, PromptStyle.CHAT, tmp_path)


def test_attribute_sampling_is_seeded_and_covers_every_value():
    a = [sample_attributes(random.Random(i)) for i in range(200)]
    b = [sample_attributes(random.Random(i)) for i in range(200)]
    assert a == b
    for name, values in ATTRIBUTES.items():
        assert {x[name] for x in a} == set(values)


@pytest.mark.parametrize("domain", DOMAINS)
def test_classification_tasks_per_domain(domain):
    tasks = classification_tasks(domain)
    assert tasks and all(len(t.labels) >= 2 for t in tasks)
