"""The `domainemb` command: a thin layer over the library; each command group lives in its own file."""

from __future__ import annotations

import os

# Nothing here may wait on a model or dataset hub unless the user asks for one.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer

from domainemb.cli import benchmark

app = typer.Typer(
    name="domainemb",
    help="Domain-specific text embeddings: benchmark, synthesize, adapt, prune, compare.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.registered_commands += benchmark.app.registered_commands


@app.callback()
def main() -> None:
    """Domain-specific text embeddings for finance, chemistry and medicine."""


if __name__ == "__main__":
    app()
