"""The `domainemb` command: a thin layer over the library; each command group lives in its own file."""

from __future__ import annotations

import os
import sys

# Nothing here may wait on a model or dataset hub unless the user asks for one.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Commands draw rich progress bars; the libraries' own tqdm bars would interleave with them.
os.environ.setdefault("TQDM_DISABLE", "1")
# bm25s passes its own `disable=` to tqdm (so TQDM_DISABLE cannot reach it) unless this is set when it is imported.
os.environ.setdefault("DISABLE_TQDM", "1")

import typer

from domainemb.cli import adapt as adapt_cli
from domainemb.cli import benchmark, evaluate
from domainemb.cli import compare as compare_cli
from domainemb.cli import llm as llm_cli
from domainemb.cli import prune as prune_cli
from domainemb.cli import stop as stop_cli
from domainemb.cli import synth as synth_cli
from domainemb.cli._common import suggest_close_choices

# In a pipe or a CI log rich draws 80 columns wide, which cuts long option names in --help
# (`--save-predictio…`); every name is whole from 100. Rich reads COLUMNS each time it draws, so a
# terminal keeps its own width and a user's COLUMNS wins.
OUTPUT_WIDTH = 120
if not sys.stdout.isatty():
    os.environ.setdefault("COLUMNS", str(OUTPUT_WIDTH))

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
suggest_close_choices(app)  # `--domain finanse`: did you mean finance?


@app.callback()
def main() -> None:
    """Domain-specific text embeddings for finance, chemistry and medicine."""
    stop_cli.install()  # `kill` stops a command the way Ctrl-C does


if __name__ == "__main__":
    app()
