"""SIGTERM stops a command cleanly even when it lands where Python cannot raise it (a destructor)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

# The signal is delivered, and its handler run, inside __del__: Python swallows the exception
# there ("Exception ignored in ..."), which used to lose the stop and leave the loop running.
SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    from domainemb.cli import stop

    stop.install()

    class KilledWhileDeleted:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:  # the handler runs here, inside the destructor
                pass

    try:
        KilledWhileDeleted()
        print("still running", flush=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.01)
        print("never stopped", flush=True)
    finally:
        print("cleaned up", flush=True)
    """
)


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_a_stop_swallowed_by_a_destructor_is_raised_again():
    result = _run(SCRIPT)
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert "never stopped" not in result.stdout
    assert result.stdout.splitlines() == ["still running", "cleaned up"]
    assert result.stderr.count("stopped by signal") == 1
    assert "Exception ignored" not in result.stderr


def test_a_plain_stop_unwinds_once_and_other_unraisables_are_still_reported():
    script = textwrap.dedent(
        """
        import gc, os, signal, time
        from domainemb.cli import stop

        stop.install()

        class Broken:
            def __del__(self):
                raise ValueError("a destructor's own error")

        Broken()
        gc.collect()
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            time.sleep(0.3)  # cleanup is not interrupted by a second raise
            print("cleaned up", flush=True)
        """
    )
    result = _run(script)
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert result.stdout.splitlines() == ["cleaned up"]
    assert "a destructor's own error" in result.stderr
    assert result.stderr.count("stopped by signal") == 1
