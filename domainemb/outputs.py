"""Checks that a stage can write where the user asked, made before any work.

A run that scores for an hour and then cannot write its results has wasted the hour: each stage
checks its output path first, with these two functions, and fails with one line naming the path.
The check writes nothing that stays (a probe file is made and removed at once).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from domainemb.errors import DomainembError


def check_output_folder(path: Path) -> None:
    """Fail unless ``path`` is a folder this process can write in, or one it can create.

    Args:
        path: The output folder (it may not exist yet; its missing parents may not either).

    Raises:
        DomainembError: ``path`` (or one of its parents) is an existing file, or the nearest
            existing folder cannot be written to.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DomainembError(f"{path}: exists and is not a folder; choose another --out")
    _check_can_write_in(path)


def check_output_file(path: Path) -> None:
    """Fail unless ``path`` can be written as a file (and its folder can hold files beside it).

    Raises:
        DomainembError: ``path`` is a folder, a parent is a file, or the folder cannot be written to.
    """
    path = Path(path)
    if path.is_dir():
        raise DomainembError(f"{path}: is a folder; --out names a file")
    _check_can_write_in(path.parent)


def _check_can_write_in(path: Path) -> None:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise DomainembError(f"{path}: cannot write there: {existing} is a file, not a folder")
    try:
        # os.access says yes to root on a read-only file system: only a real file tells.
        with tempfile.TemporaryFile(dir=existing, prefix=".domainemb-write-check-"):
            pass
    except OSError as exc:
        raise DomainembError(f"{path}: cannot write there ({exc.strerror or exc}: {existing})") from None
