"""Personas: who asks the questions. Each domain ships at least 25 in ``synth/personas/<domain>.yaml``.

A persona file is YAML::

    domain: finance            # optional in a user file
    personas:
      - name: equity-analyst   # unique slug
        role: Sell-side equity research analyst covering industrial companies
        expertise: expert      # novice | intermediate | expert
        goals: [build earnings models, compare margins across peers]
        vocabulary: [EBITDA margin, guidance, consensus estimate]

Unknown keys are errors, so a typo never silently drops a field.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path

import yaml

from domainemb.errors import DataError
from domainemb.types import Domain

_KEYS = {"name", "role", "expertise", "goals", "vocabulary"}
_FILE_KEYS = {"domain", "personas"}


class Expertise(StrEnum):
    NOVICE = "novice"
    INTERMEDIATE = "intermediate"
    EXPERT = "expert"


@dataclass(frozen=True)
class Persona:
    """A user of the domain's documents, described for the prompt.

    Args:
        name: Unique slug; recorded in every pair generated for this persona.
        role: One line: who they are.
        expertise: How much they know; shapes vocabulary and difficulty.
        goals: What they try to achieve with the documents.
        vocabulary: Words they would use.
    """

    name: str
    role: str
    expertise: Expertise
    goals: tuple[str, ...]
    vocabulary: tuple[str, ...]

    def describe(self) -> str:
        """The persona as prompt text."""
        return (
            f"{self.role} ({self.expertise} level). Goals: {'; '.join(self.goals)}. "
            f"Typical vocabulary: {', '.join(self.vocabulary)}."
        )


def builtin_personas(domain: Domain | str) -> list[Persona]:
    """The personas shipped for ``domain`` (the general domain has none).

    Raises:
        DataError: when the packaged file is missing or malformed.
    """
    domain = Domain(domain)
    file = resources.files("domainemb.synth").joinpath("personas", f"{domain.value}.yaml")
    if not file.is_file():
        raise DataError(
            "domainemb personas", f"{domain.value}.yaml", f"no personas are shipped for the {domain} domain"
        )
    return _parse(file.read_text(encoding="utf-8"), f"personas/{domain.value}.yaml", domain)


def load_personas(path: Path | str, domain: Domain | str | None = None) -> list[Persona]:
    """Read a user persona file (same format as the shipped ones).

    Raises:
        DataError: naming the file for unreadable YAML, unknown keys, missing fields or a domain mismatch.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError("user personas", str(path), f"unreadable: {exc}") from None
    return _parse(text, str(path), Domain(domain) if domain else None)


def personas_for(domain: Domain | str, extra: Path | str | None = None) -> list[Persona]:
    """The shipped personas of ``domain`` plus a user file's; names must stay unique."""
    personas = builtin_personas(domain) + (load_personas(extra, domain) if extra else [])
    seen: set[str] = set()
    for p in personas:
        if p.name in seen:
            raise DataError("personas", str(extra or domain), f"duplicate persona name {p.name!r}")
        seen.add(p.name)
    return personas


def _parse(text: str, file: str, domain: Domain | None) -> list[Persona]:
    label = "personas"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataError(label, file, f"invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("personas"), list):
        raise DataError(label, file, "expected a mapping with a 'personas' list")
    unknown = sorted(set(raw) - _FILE_KEYS)
    if unknown:
        raise DataError(label, file, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_FILE_KEYS))})")
    if domain and raw.get("domain") not in (None, domain.value):
        raise DataError(label, file, f"personas are for domain {raw['domain']!r}, not {domain.value!r}")
    out = []
    for i, item in enumerate(raw["personas"]):
        where = f"persona {i + 1}"
        if not isinstance(item, dict):
            raise DataError(label, file, f"{where}: expected a mapping")
        unknown = sorted(set(item) - _KEYS)
        if unknown:
            raise DataError(label, file, f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_KEYS))})")
        missing = sorted(_KEYS - set(item))
        if missing:
            raise DataError(label, file, f"{where}: missing {missing[0]!r}")
        try:
            expertise = Expertise(item["expertise"])
        except ValueError:
            raise DataError(label, file, f"{where}: expertise must be one of {', '.join(Expertise)}") from None
        goals, vocab = item["goals"], item["vocabulary"]
        if not (isinstance(goals, list) and goals and isinstance(vocab, list) and vocab):
            raise DataError(label, file, f"{where}: goals and vocabulary must be non-empty lists")
        name, role = str(item["name"]).strip(), str(item["role"]).strip()
        if not name or not role:
            raise DataError(label, file, f"{where}: name and role must not be empty")
        out.append(Persona(name, role, expertise, tuple(map(str, goals)), tuple(map(str, vocab))))
    return out
