"""Errors a user can act on. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class DomainembError(Exception):
    """Base class for every error caused by the user's input or environment."""


class DataError(DomainembError):
    """A dataset file is missing, altered, malformed or inconsistent.

    The message always names the dataset (or task) and the file.
    """

    def __init__(self, dataset: str, file: str, problem: str) -> None:
        self.dataset = dataset
        self.file = file
        self.problem = problem
        super().__init__(f"{dataset}: {file}: {problem}")


class UnknownNameError(DomainembError, KeyError):
    """A name (domain, task, model, ...) is not registered; the message suggests close names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


def unknown_name(kind: str, name: str, known: list[str]) -> UnknownNameError:
    """Build an :class:`UnknownNameError` that suggests the closest known names."""
    import difflib

    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(known))}"
    return UnknownNameError(f"unknown {kind} {name!r}{hint}")
