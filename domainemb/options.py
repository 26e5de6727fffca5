"""Help text on the fields of a frozen config dataclass, so a front end can offer them as options.

A config's defaults live on its fields; the CLI builds its options from them (``cli/options.py``),
so a default is written once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING
from typing import Any


@dataclasses.dataclass(frozen=True)
class Option:
    """How a config field is offered on the command line.

    Args:
        help: One line of help text.
        flag: The option's name, when it is not the field's (``--kind`` for ``kinds``).
        metavar: How a value is written, for a field that is not a plain value (``FIRST:LAST``).
    """

    help: str
    flag: str | None = None
    metavar: str | None = None


def option(default: Any = MISSING, *, help: str, flag: str | None = None, metavar: str | None = None) -> Any:
    """A dataclass field carrying its :class:`Option` (no ``default``: a required field).

    Example:
        >>> @dataclass(frozen=True)
        ... class Settings:
        ...     seed: int = option(42, help="Seed of every sampling decision.")
    """
    return dataclasses.field(default=default, metadata={"option": Option(help, flag, metavar)})


def option_of(field: dataclasses.Field) -> Option | None:
    """The :class:`Option` of a field made with :func:`option`, else ``None``."""
    return field.metadata.get("option")
