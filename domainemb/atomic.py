"""Atomic files and folders: each is made beside its target under a hidden name and renamed into
place when complete, so a reader (or a run that was killed mid-write) never sees half of one.

Every stage writes its outputs through these two functions; none renames its own temporary files.
"""

from __future__ import annotations

import os
import shutil
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
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, target)
    return True
