"""The helper set every domain module builds its tasks with.

* :func:`task_spec`: one way to declare a built-in task (bind the suite with ``functools.partial``).
* :func:`parse_once`: a parser runs once per set of verified files, however many tasks read them.
* :data:`SEED`: the one seed of every random choice a builder makes; task descriptions quote it.
* :func:`text_id`: the stable id of a text, so identical texts share one corpus document or query.
* :func:`collapse_whitespace` and :func:`lowercase_alphanumerics`: the two text normalisations, which
  do different things and are named for what they do.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from domainemb.types import Domain, Source, TaskSpec, TaskType

if TYPE_CHECKING:
    from domainemb.domains.readers import SourceFiles
    from domainemb.domains.tables import Tables

#: Seed of the builders' random choices (hard negatives, the 50/50 splits of
#: :func:`~domainemb.domains.splits.halves`), quoted by task descriptions, and the default seed of
#: lite subsampling (:class:`~domainemb.domains.build.BuildConfig`).
SEED = 42

Parsed = TypeVar("Parsed")


def task_spec(
    domain: Domain,
    name: str,
    type: TaskType,
    description: str,
    sources: tuple[Source, ...],
    build: Callable[[SourceFiles], Tables],
    **metadata: Any,
) -> TaskSpec:
    """The spec of one built-in task of ``domain``.

    A domain module binds its suite once, ``_task = partial(task_spec, Domain.FINANCE)``, and lists
    its tasks with it.

    Args:
        domain: The suite the task belongs to.
        name: Unique task name (CamelCase, mteb style).
        type: The task type.
        description: What the task measures and where its labels come from.
        sources: The sources it is built from.
        build: Reads the sources' verified files and returns the task's tables.
        **metadata: The other :class:`~domainemb.types.TaskSpec` fields (``annotations``,
            ``mteb_domains``, ``min_score``, ``max_score``, ``main_score``).
    """
    return TaskSpec(
        name=name, domain=domain, type=type, description=description, sources=sources, build=build, **metadata
    )


def parse_once(parse: Callable[..., Parsed]) -> Callable[..., Parsed]:
    """Decorate a parser ``parse(files, source, *names)`` so it runs once per set of verified files.

    Several tasks often read the same archive; the parsed result is kept for the process, keyed by
    the parser and the verified paths of the files ``names`` it reads (so a second
    :class:`~domainemb.domains.readers.SourceFiles` over the same mirror reuses it).
    :func:`forget_parsed` drops every kept result.

    Example::

        @parse_once
        def _abstracts(files: SourceFiles, source: Source, name: str) -> list[str]: ...

        _abstracts(files, HOC, "HoC-text-labels.tar.xz")  # parsed
        _abstracts(files, HOC, "HoC-text-labels.tar.xz")  # reused
    """

    @functools.wraps(parse)
    def parsed(files: SourceFiles, source: Source, *names: str) -> Parsed:
        key = (parse, tuple(files.path(source, name) for name in names))
        if key not in _PARSED:
            _PARSED[key] = parse(files, source, *names)
        return _PARSED[key]

    return parsed


_PARSED: dict[tuple[Callable[..., Any], tuple[Path, ...]], Any] = {}


def forget_parsed() -> None:
    """Drop every result kept by :func:`parse_once`, so the next call parses the raw files again."""
    _PARSED.clear()


def text_id(text: str) -> str:
    """Stable id of a text (the first 16 hex digits of its sha1), so identical texts share one id."""
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def collapse_whitespace(text: str) -> str:
    """Runs of whitespace (XML indentation, line breaks inside CSV fields) as single spaces, ends stripped."""
    return re.sub(r"\s+", " ", text).strip()


def lowercase_alphanumerics(text: str) -> str:
    """Only the lower-cased ASCII letters and digits of ``text`` (after NFKC), everything else removed.

    A matching key: two texts that differ only in case, spacing, punctuation or line breaks get the
    same key (ChemRxivQuest's evidence spans are lower-cased, re-spaced copies of the full text).
    """
    return re.sub(r"[^a-z0-9]+", "", unicodedata.normalize("NFKC", text).lower())
