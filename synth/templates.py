"""Prompt templates (files in ``synth/templates/``) and the E5-style attributes sampled per example.

A template file is YAML named ``<kind>.<style>.yaml``. Chat templates give ``system`` and ``user``
texts; few-shot templates give an ``instruction``, worked ``examples``, the ``item`` layout each
example follows, and the ``prefill`` that opens the JSON answer (so a small model only has to
continue it). Placeholders are ``$name`` (:class:`string.Template`). A template's hash (sha256 of
its file) is recorded with every pair made from it, so changing a prompt never mixes outputs.
"""

from __future__ import annotations

import hashlib
import random
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from domainemb.errors import DataError
from domainemb.synth.config import PairKind, PromptStyle
from domainemb.synth.llm import LLMRequest
from domainemb.types import Domain

_CHAT_KEYS = {"kind", "style", "output", "optional", "system", "user"}
_FEWSHOT_KEYS = {"kind", "style", "output", "optional", "instruction", "item", "prefill", "stop", "examples"}

#: E5-mistral's attributes: each example samples one value of each.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "query_type": ("common", "long-tail"),
    "length": ("less than 5 words", "5 to 15 words", "at least 10 words"),
    "clarity": ("clear", "understandable with some effort", "ambiguous"),
    "difficulty": ("high school", "college", "PhD"),
}


def sample_attributes(rng: random.Random) -> dict[str, str]:
    return {name: rng.choice(values) for name, values in ATTRIBUTES.items()}


@dataclass(frozen=True)
class Template:
    """One prompt template.

    Args:
        kind: The pair kind it produces.
        style: chat or fewshot.
        output: JSON fields the answer may contain.
        optional: Those of them an answer may leave out (small models often stop after the first).
        hash: First 16 hex digits of the sha256 of the template file.
        body: The parsed file.
    """

    kind: PairKind
    style: PromptStyle
    output: tuple[str, ...]
    optional: frozenset[str]
    hash: str
    body: dict[str, Any]

    @property
    def prefill(self) -> str:
        """Text the answer starts with (few-shot): prepended to the completion before parsing."""
        return self.body.get("prefill", "").lstrip() if self.style is PromptStyle.FEWSHOT else ""

    def request(self, values: dict[str, str], max_tokens: int, temperature: float, seed: int | None) -> LLMRequest:
        """Fill the template with ``values`` (``$name`` placeholders).

        Raises:
            DataError: when the template uses a placeholder that has no value.
        """
        if self.style is PromptStyle.CHAT:
            messages = (
                {"role": "system", "content": self._fill("system", self.body["system"], values)},
                {"role": "user", "content": self._fill("user", self.body["user"], values)},
            )
            return LLMRequest(messages=messages, max_tokens=max_tokens, temperature=temperature, seed=seed)
        blocks = [self.body["instruction"].strip()]
        for example in self.body["examples"]:
            shown = {**values, **{k: str(v) for k, v in example.items() if k != "output"}}
            blocks.append(f"{self._fill('item', self.body['item'], shown)} {example['output']}")
        blocks.append(self._fill("item", self.body["item"], values) + self.body.get("prefill", ""))
        return LLMRequest(
            prompt="\n\n".join(blocks),
            max_tokens=max_tokens,
            temperature=temperature,
            stop=tuple(self.body.get("stop", ())),
            seed=seed,
        )

    def _fill(self, part: str, text: str, values: dict[str, str]) -> str:
        try:
            return string.Template(text).substitute(values)
        except KeyError as exc:
            raise DataError(
                "prompt template", f"{self.kind}.{self.style}.yaml", f"{part}: no value for ${exc.args[0]}"
            ) from None
        except ValueError as exc:
            raise DataError("prompt template", f"{self.kind}.{self.style}.yaml", f"{part}: {exc}") from None


def load_template(kind: PairKind, style: PromptStyle, folder: Path | None = None) -> Template:
    """The template for ``kind`` and ``style``: from ``folder`` when it has the file, else the shipped one.

    Raises:
        DataError: naming the file when it is missing, not YAML, or lacks or adds keys.
    """
    name = f"{PairKind(kind).value}.{PromptStyle(style).value}.yaml"
    if folder is not None and (Path(folder) / name).is_file():
        data = (Path(folder) / name).read_bytes()
        label = str(Path(folder) / name)
    else:
        data = _shipped(name)
        label = f"templates/{name}"
    return _parse(data, label, PairKind(kind), PromptStyle(style))


def _shipped(name: str) -> bytes:
    file = resources.files("domainemb.synth").joinpath("templates", name)
    if not file.is_file():
        raise DataError("prompt template", f"templates/{name}", "missing from the installed package")
    return file.read_bytes()


def _parse(data: bytes, label: str, kind: PairKind, style: PromptStyle) -> Template:
    try:
        body = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError("prompt template", label, f"unreadable: {str(exc).splitlines()[0]}") from None
    if not isinstance(body, dict):
        raise DataError("prompt template", label, "must be a mapping")
    keys = _CHAT_KEYS if style is PromptStyle.CHAT else _FEWSHOT_KEYS
    required = keys - {"stop", "prefill", "optional"}
    unknown, missing = sorted(set(body) - keys), sorted(required - set(body))
    if unknown:
        raise DataError("prompt template", label, f"unknown key {unknown[0]!r}")
    if missing:
        raise DataError("prompt template", label, f"missing key {missing[0]!r}")
    if body["kind"] != kind.value or body["style"] != style.value:
        raise DataError("prompt template", label, f"declares {body['kind']}.{body['style']}, expected {kind}.{style}")
    output = body["output"]
    if not (isinstance(output, list) and output and all(isinstance(o, str) for o in output)):
        raise DataError("prompt template", label, "output must be a list of JSON field names")
    optional = body.get("optional", [])
    if not isinstance(optional, list) or not set(optional) <= set(output):
        raise DataError("prompt template", label, "optional must list fields of output")
    digest = hashlib.sha256(data).hexdigest()[:16]
    return Template(kind, style, tuple(output), frozenset(optional), digest, body)


@dataclass(frozen=True)
class ClassificationTask:
    task: str
    labels: tuple[str, ...]


@cache
def classification_tasks(domain: Domain | str) -> tuple[ClassificationTask, ...]:
    """The classification tasks used for classification-style pairs in ``domain``."""
    raw = yaml.safe_load(_shipped("classification-tasks.yaml").decode("utf-8"))
    domain = Domain(domain)
    items = raw.get(domain.value) if isinstance(raw, dict) else None
    if not items:
        raise DataError("prompt template", "templates/classification-tasks.yaml", f"no tasks for the {domain} domain")
    return tuple(ClassificationTask(str(i["task"]), tuple(map(str, i["labels"]))) for i in items)
