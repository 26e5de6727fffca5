"""YAML files of frozen-dataclass settings: read, reject unknown keys, type-check each value.

``domainemb adapt --config`` and ``domainemb prune --config`` both read their hyper-parameters
through :func:`read_settings`; every error is one line that names the file and the key.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import fields
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from domainemb.errors import DomainembError


def load_yaml(text: str) -> Any:
    """``yaml.safe_load``, with every way the text can fail a one-line ``ValueError``.

    Besides invalid YAML: a value YAML recognises but Python cannot build (the date ``2020-13-45``,
    an integer of more than 4300 digits), and nesting deeper than the recursion limit.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"a value that cannot be read ({str(exc).splitlines()[0]})") from None


def read_settings(path: Path, config_type: type, run_fields: frozenset[str] | set[str], what: str) -> dict[str, Any]:
    """The settings in a YAML mapping, as the types of ``config_type``'s fields.

    Args:
        path: The YAML file.
        config_type: The frozen dataclass the settings are for.
        run_fields: Fields given on the command line, never in the file.
        what: What the file configures, for messages (``"adapt"``, ``"prune"``).

    Raises:
        DomainembError: an unreadable file, invalid YAML, an unknown key (with the closest
            known one), a command-line field, or a value of the wrong type.
    """
    try:
        raw = load_yaml(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DomainembError(f"{path}: cannot read the {what} config: {exc.strerror or exc}") from None
    except ValueError as exc:  # invalid YAML (load_yaml), or not UTF-8
        raise DomainembError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DomainembError(f"{path}: the {what} config must be a mapping of keys to values")
    hints = typing.get_type_hints(config_type)
    allowed = [f.name for f in fields(config_type) if f.name not in run_fields]
    settings: dict[str, Any] = {}
    for key, value in raw.items():
        if key in run_fields:
            raise DomainembError(f"{path}: {key!r} is given on the command line, not in the config file")
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
            raise DomainembError(f"{path}: unknown key {key!r}{hint}")
        settings[key] = coerce(path, key, value, hints[key])
    return settings


def coerce(path: Path, key: str, value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` of field ``key``; a one-line error otherwise."""

    def bad(expected: str) -> DomainembError:
        return DomainembError(f"{path}: {key} must be {expected}, got {value!r}")

    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else ()
    if options:  # ``X | None``
        if value is None:
            return None
        hint = next(o for o in options if o is not type(None))
    if hint is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads `2e-5` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise bad("a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        try:
            return float(value)
        except OverflowError:  # an integer no float can hold
            raise bad("a finite number") from None
    if hint is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise bad("a path")
        return Path(value)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        if not isinstance(value, str) or value not in {m.value for m in hint}:  # a list is unhashable
            raise bad(f"one of {', '.join(m.value for m in hint)}")
        return hint(value)
    if typing.get_origin(hint) is tuple:
        (item, _) = typing.get_args(hint)
        if not isinstance(value, list):
            raise bad("a list")
        return tuple(coerce(path, f"{key}[{i}]", v, item) for i, v in enumerate(value))
    raise TypeError(f"no YAML coercion for {key}: {hint}")  # a new field type: extend this function


def plain(value: Any) -> Any:
    """A setting as JSON wants it (paths as strings, tuples as lists)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value
