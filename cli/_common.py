"""Shared CLI plumbing: one-line errors with exit code 2, the console, offline-friendly logging."""

from __future__ import annotations

import functools
import logging
import sys
import typing
from collections.abc import Callable
from enum import Enum
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from domainemb.errors import DomainembError, unknown_name

console = Console(stderr=True)
out = Console()


def fail(message: str) -> None:
    """Print one error line and exit with code 2 (no traceback)."""
    # messages may hold [brackets]: escape them so rich prints them as text
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _log_warnings_to_stderr() -> None:
    """Warnings and errors go to stderr, one line each; nothing below WARNING does.

    The level is on the handler, not only on the root logger: a library that sets its own logger
    to DEBUG (bm25s does, on import) would otherwise print its debug lines into our output.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn :class:`DomainembError` (bad input) into a one-line message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _log_warnings_to_stderr()
        try:
            return func(*args, **kwargs)
        except DomainembError as exc:
            fail(str(exc).replace("\n", " "))

    return wrapper


def suggest_close_choices(app: typer.Typer) -> None:
    """Make every closed-vocabulary option or argument of ``app``'s commands suggest the closest
    names on a miss (``unknown domain 'finanse'; did you mean finance?``), as an unknown model does.

    typer's own check only lists the choices. Each command keeps declaring its option as the
    enum (``Annotated[Domain, typer.Option(...)]``); this gives that option a parser, once, here.
    Repeatable and optional enum options keep typer's check.
    """
    for command in app.registered_commands:
        hints = typing.get_type_hints(command.callback, include_extras=True)
        for name, hint in hints.items():
            if typing.get_origin(hint) is not typing.Annotated:
                continue
            kind, *extras = typing.get_args(hint)
            info = next((e for e in extras if isinstance(e, typer.models.ParameterInfo)), None)
            if info is None or info.parser is not None or not (isinstance(kind, type) and issubclass(kind, Enum)):
                continue
            info.parser = _choice_parser(kind, name.removesuffix("_name").replace("_", " "))
            if isinstance(info, typer.models.OptionInfo) and info.metavar is None:
                info.metavar = "<" + "|".join(str(m.value) for m in kind) + ">"
            # Annotations are strings (``from __future__ import annotations``) that typer evaluates
            # again, into new option objects: keep the evaluated one, which holds the parser.
            _annotations(command.callback)[name] = hint
    for group in app.registered_groups:
        if group.typer_instance is not None:
            suggest_close_choices(group.typer_instance)


def _annotations(function: Callable[..., Any]) -> dict[str, Any]:
    while hasattr(function, "__wrapped__"):  # user_errors wraps the command; both share one dict
        function = function.__wrapped__
    return function.__annotations__


def _choice_parser(enum: type[Enum], what: str) -> Callable[[Any], Enum]:
    names = [str(m.value) for m in enum]

    def parse(value: Any) -> Enum:
        if isinstance(value, enum):
            return value
        if str(value) in names:
            return enum(str(value))
        message = str(unknown_name(what, str(value), names))
        if "did you mean" in message:  # the suggestion, and every choice as typer lists them
            message += f" (one of {', '.join(names)})"
        raise typer.BadParameter(message)

    return parse
