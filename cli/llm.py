"""`domainemb llm serve`: the local OpenAI-compatible LLM server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from domainemb.cli._common import console, user_errors

app = typer.Typer(help="The local LLM used by `synth` when no endpoint is configured.", no_args_is_help=True)


@app.command("serve")
@user_errors
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8080,
    model: Annotated[
        Path | None, typer.Option(help="GGUF model file (default: packaged SmolLM2-135M-Instruct Q4_1).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: all cores).")] = None,
    n_ctx: Annotated[int, typer.Option(help="Context length in tokens.")] = 2048,
) -> None:
    """Serve llama.cpp's OpenAI-compatible API on 127.0.0.1 until Ctrl-C."""
    from domainemb.synth.server import LocalServer

    server = LocalServer(model=model, port=port, threads=threads, n_ctx=n_ctx)
    try:
        with server:
            console.print(f"serving {server.model_name} at {server.base_url}  (Ctrl-C to stop)")
            console.print(
                f"use it with: domainemb synth ... --base-url {server.base_url} --llm-model {server.model_name}"
            )
            server.wait()
    except KeyboardInterrupt:  # the way to stop it; the server is stopped on the way out
        console.print("stopped")
