"""The `domainemb` command: a thin layer over the library; each command group lives in its own file."""

from __future__ import annotations

import os

# Nothing here may wait on a model or dataset hub unless the user asks for one.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Commands draw rich progress bars; the libraries' own tqdm bars would interleave with them.
os.environ.setdefault("TQDM_DISABLE", "1")

import typer

from domainemb.cli import adapt as adapt_cli
from domainemb.cli import benchmark, evaluate
from domainemb.cli import compare as compare_cli
from domainemb.cli import prune as prune_cli
from domainemb.cli import llm as llm_cli
from domainemb.cli import synth as synth_cli

app = typer.Typer(
    name="domainemb",
    help="Domain-specific text embeddings: benchmark, synthesize, adapt, prune, compare.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.registered_commands += benchmark.app.registered_commands
app.registered_commands += evaluate.app.registered_commands
app.registered_commands += compare_cli.app.registered_commands
app.registered_commands += adapt_cli.app.registered_commands
app.registered_commands += prune_cli.app.registered_commands
app.registered_commands += synth_cli.app.registered_commands
app.add_typer(llm_cli.app, name="llm")


@app.callback()
def main() -> None:
    """Domain-specific text embeddings for finance, chemistry and medicine."""


if __name__ == "__main__":
    app()
