"""Atomic files and folders: each is made beside its target under a hidden name and renamed into
place when complete, so a reader (or a run that was killed mid-write) never sees half of one.

Every stage writes its outputs through these functions; none renames its own temporary files.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Let ``write`` fill a hidden temporary file beside ``path``, then rename it into place.

    Parents are created. If ``write`` raises (say, a download whose checksum is wrong), the
    temporary file is removed and ``path`` is left as it was.

    Args:
        path: The file to create or replace.
        write: Called with the temporary file's path; writes the complete content there, by any
            means (text, bytes, a stream, a library's own ``save``).

    Example:
        >>> write_atomic(Path("out/page.html"), lambda tmp: tmp.write_text(html, encoding="utf-8"))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_temporaries(path)
    # host and pid in the name: a writer killed here leaves a file the next write of ``path`` can tell is dead
    tmp = path.parent / f".{path.name}.{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _remove_dead_temporaries(path: Path) -> None:
    """Remove the temporary files of ``path`` that a writer on this host left when it was killed (``kill -9``)."""
    prefix = f".{path.name}."
    pattern = re.compile(rf"{re.escape(prefix)}(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-[0-9a-f]{{8}}\.tmp")
    with os.scandir(path.parent) as entries:
        names = [e.name for e in entries if e.name.startswith(prefix) and e.name.endswith(".tmp")]
    for name in names:
        match = pattern.fullmatch(name)
        if (
            match
            and match["host"] == _host_tag()
            and int(match["pid"]) != os.getpid()
            and not _alive(int(match["pid"]))
        ):
            (path.parent / name).unlink(missing_ok=True)


def staging_folder(target: Path, kind: str = "building") -> Path:
    """Create the hidden staging folder of ``target``, first removing those that dead builds left behind.

    The folder is ``.<target name>.<kind>-<host>-<pid>-<random>`` beside ``target``. A process
    killed before it could clean up (``kill -9``, a power cut) leaves its staging folder; the next
    build of the same target removes every one whose process, on this host, is no longer alive.
    A staging folder of a live process (a concurrent build of the same target) is left alone, as are
    those of other hosts (a shared file system) and names this function did not make.

    Args:
        target: The folder that will be swapped into place (see :func:`swap_into_place`).
        kind: A word naming the work, part of the hidden name.

    Returns:
        The new, empty staging folder (parents of ``target`` are created).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    host = _host_tag()
    remove_stale_staging(target, kind)
    staging = target.parent / f".{target.name}.{kind}-{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    return staging


def remove_stale_staging(target: Path, kind: str = "building") -> list[Path]:
    """Remove the staging folders of ``target`` (made by :func:`staging_folder`) whose process is dead.

    Returns:
        The folders removed.
    """
    target = Path(target)
    pattern = re.compile(
        rf"\.{re.escape(target.name)}\.{re.escape(kind)}-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-[0-9a-f]{{8}}"
    )
    host = _host_tag()
    removed = []
    if not target.parent.is_dir():
        return removed
    for path in sorted(target.parent.iterdir()):
        match = pattern.fullmatch(path.name)
        if not match or match["host"] != host or not path.is_dir() or path.is_symlink():
            continue
        pid = int(match["pid"])
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _host_tag() -> str:
    """This host's name in letters and digits only, so that it can sit in a folder name."""
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32]


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # not a possible process id
        return False
    return True


def swap_into_place(staging: Path, target: Path, *, replace: bool = True) -> bool:
    """Move the finished folder ``staging`` to ``target`` (both in the same parent folder).

    Args:
        staging: The complete folder, built under a hidden sibling name of ``target``.
        target: Where it belongs.
        replace: What to do when ``target`` already exists. True: ``target`` is renamed aside,
            ``staging`` renamed in, and the old folder removed afterwards, so ``target`` is never
            missing or half-replaced. False: the existing ``target`` wins (another process
            finished the same work first) and ``staging`` is removed.

    Returns:
        True if ``staging`` is now ``target``; False if ``replace`` was False and the rename
        failed, in which case ``staging`` has been removed.
    """
    staging, target = Path(staging), Path(target)
    if not replace:
        try:
            os.rename(staging, target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            return False
        return True
    # A swap killed between its renames (or while removing the old folder) left the old one: remove it.
    remove_stale_staging(target, "old")
    if target.exists():
        old = target.parent / f".{target.name}.old-{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, target)
    return True
