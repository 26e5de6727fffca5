"""Where encoding runs: ``--devices cpu,cpu`` or ``--devices cuda:0,cuda:1``.

One device moves the model there; several start one sentence-transformers worker process per
device (``SentenceTransformer.start_multi_process_pool``), the same code path a multi-GPU machine
uses. The devices change where vectors are computed, never what they are: they are recorded in a
result's provenance but are part of neither the result's key nor the embedding cache's.

Checking a list is split in two: :func:`check_device_names` (the spelling; no import, so a
config checks it when built) and :func:`check_devices_exist` (CUDA or MPS really there; imports
torch only when such a device is named), both before any work.

Example:
    >>> parse_devices("cpu,cpu")
    ('cpu', 'cpu')
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from domainemb.errors import DomainembError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

#: Device kinds encoding can run on (torch's names).
DEVICE_KINDS = ("cpu", "cuda", "mps")
_DEVICE = re.compile(r"(?P<kind>[a-z]+)(?::(?P<index>\d+))?")

Pool = dict[str, Any]


def parse_devices(text: str) -> tuple[str, ...]:
    """The devices of a comma-separated list (``"cuda:0,cuda:1"``), checked with :func:`check_device_names`."""
    devices = tuple(part.strip() for part in text.split(","))
    check_device_names(devices)
    return devices


def check_device_names(devices: Sequence[str]) -> None:
    """Raise :class:`DomainembError` unless every entry is ``cpu``, ``cuda``, ``cuda:N``, ``mps``.

    An empty sequence is valid (sentence-transformers places the model: CUDA when there is one).
    """
    if isinstance(devices, str):
        raise DomainembError(f"--devices: expected a list of devices, got the string {devices!r}")
    for device in devices:
        if not isinstance(device, str) or not device.strip():
            listed = ",".join(str(d) for d in devices)
            raise DomainembError(f"--devices {listed!r}: an empty entry; write devices as cpu,cpu or cuda:0,cuda:1")
        match = _DEVICE.fullmatch(device)
        if match is None or match["kind"] not in DEVICE_KINDS:
            raise DomainembError(
                f"--devices: unknown device {device!r}; use {', '.join(DEVICE_KINDS)} or cuda:N, comma-separated"
            )
        if match["kind"] == "cpu" and match["index"] is not None:
            raise DomainembError(f"--devices: {device!r}: cpu takes no index; repeat it (cpu,cpu) for more processes")


def check_devices_exist(devices: Sequence[str]) -> None:
    """Raise :class:`DomainembError` when a named CUDA device or MPS is not on this machine."""
    kinds = {d.split(":")[0] for d in devices}
    if not kinds - {"cpu"}:
        return  # cpu is always there; torch is not imported for it
    import torch

    for device in devices:
        kind, _, index = device.partition(":")
        if kind == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if count == 0:
                raise DomainembError(f"--devices: {device!r}: CUDA is not available on this machine; use cpu")
            if index and int(index) >= count:
                raise DomainembError(
                    f"--devices: {device!r} does not exist; this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}"
                )
        elif kind == "mps" and not torch.backends.mps.is_available():
            raise DomainembError(f"--devices: {device!r}: MPS is not available on this machine; use cpu")


def start_pool(model: SentenceTransformer, devices: Sequence[str]) -> Pool:
    """One sentence-transformers worker process per device; stop it with :func:`stop_pool`.

    The workers are started with SIGINT ignored (it is inherited), so Ctrl-C interrupts only this
    process, whose ``finally`` stops them; they print no tracebacks of their own.
    """
    ignoring = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if ignoring else None
    try:
        pool = model.start_multi_process_pool(list(devices))
    finally:
        if ignoring:
            signal.signal(signal.SIGINT, previous)
    log.info(
        "encoding with %d processes on %s (pids %s)",
        len(pool["processes"]),
        ",".join(devices),
        ", ".join(str(p.pid) for p in pool["processes"]),
    )
    return pool


class _Exit:
    """Queued to a worker, it ends the worker as it is read: unpickling it calls ``sys.exit(0)``."""

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return sys.exit, (0,)


def stop_pool(pool: Pool, grace_s: float = 5.0) -> None:
    """End a pool's workers and reap them.

    Each worker is first asked to exit (it then runs its exit handlers, so the semaphores it made
    are released and Python warns of no leak); one still running after ``grace_s`` seconds is
    terminated by sentence-transformers' own ``stop_multi_process_pool``.
    """
    from sentence_transformers import SentenceTransformer

    processes = pool["processes"]
    exited = 0
    try:
        for _ in processes:
            pool["input"].put(_Exit())
        deadline = time.monotonic() + grace_s
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        exited = sum(p.exitcode == 0 for p in processes)
    finally:
        SentenceTransformer.stop_multi_process_pool(pool)
    log.info("stopped the %d encoding processes (%d exited, the rest terminated)", len(processes), exited)
