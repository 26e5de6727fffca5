"""Shared CLI plumbing: one-line errors with exit code 2, the console, offline-friendly logging."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from domainemb.errors import DomainembError

console = Console(stderr=True)
out = Console()


def fail(message: str) -> None:
    """Print one error line and exit with code 2 (no traceback)."""
    console.print(
        f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True
    )  # messages may hold [brackets]
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
