"""The `domainemb` command: a thin layer over the library; each command group lives in its own file."""

from __future__ import annotations

import os

# Nothing here may wait on a model or dataset hub unless the user asks for one.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Commands draw rich progress bars; the libraries' own tqdm bars would interleave with them.
os.environ.setdefault("TQDM_DISABLE", "1")

import typer

from domainemb.cli import benchmark, evaluate

app = typer.Typer(
    name="domainemb",
    help="Domain-specific text embeddings: benchmark, synthesize, adapt, prune, compare.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.registered_commands += benchmark.app.registered_commands
app.registered_commands += evaluate.app.registered_commands


@app.callback()
def main() -> None:
    """Domain-specific text embeddings for finance, chemistry and medicine."""


if __name__ == "__main__":
    app()
