"""``kill`` stops a command the way Ctrl-C does.

SIGTERM raises :class:`Stopped` (a ``SystemExit``), so ``finally`` blocks remove staging folders on
the way out and finished work (checkpoints, caches) stays. Without a handler Python dies on the spot
and leaves them.

Python runs a signal handler at the next bytecode, wherever that is. When it is inside a destructor
(``ZipFile.__del__`` while torch reads a checkpoint, say) the exception cannot leave it: Python
reports it to ``sys.unraisablehook`` and carries on, and the stop would be lost. The hook installed
here sees a swallowed :class:`Stopped` and raises it again a moment later from a timer, until a raise
lands where it can unwind. Once one has unwound nothing raises again, so cleanup is never interrupted.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

# How long after a swallowed stop it is raised again: short enough that a run stops at once,
# long enough that the destructor that swallowed it has returned.
RETRY_S = 0.05


class Stopped(SystemExit):
    """The command was stopped by a signal; its exit code is 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


_pending: int | None = None
_previous_hook = sys.unraisablehook


def install() -> None:
    """Make SIGTERM stop the command cleanly (main thread only, as Python's signals are)."""
    global _previous_hook
    signal.signal(signal.SIGTERM, _on_signal)
    if sys.unraisablehook is not _on_unraisable:
        _previous_hook = sys.unraisablehook
        sys.unraisablehook = _on_unraisable


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _pending
    if _pending is None:
        print(f"domainemb: stopped by signal {signum}", file=sys.stderr)
    _pending = signum
    raise Stopped(signum)


def _retry(signum: int, frame: FrameType | None) -> None:
    if _pending is not None:
        raise Stopped(_pending)


def _on_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    if isinstance(unraisable.exc_value, Stopped):
        if hasattr(signal, "setitimer"):  # SIGALRM is taken only once a stop has been swallowed
            signal.signal(signal.SIGALRM, _retry)
            signal.setitimer(signal.ITIMER_REAL, RETRY_S)
        return
    _previous_hook(unraisable)
