"""Model-folder fingerprints, hashed once: remembered by each file's path, size and modification time.

A fingerprint is the sha256 over every weight and config file of a folder (see
:func:`~domainemb.evaluation.encoders.fingerprint_folder`); hashing mpnet's 440 MB takes seconds,
and a re-run whose results are all kept should cost nothing. So the fingerprint of a folder is
kept in ``$DOMAINEMB_CACHE/fingerprints.json`` under a key made of each file's relative path,
size, inode and modification time (nanoseconds), and the ``extra`` settings hashed with it. Any
change to a file changes its key, and the folder is hashed again.

A folder with a file modified in the last :data:`RACY_SECONDS` is hashed but not remembered: a
file rewritten twice within one tick of the file system's clock could keep its size and mtime
(git's "racily clean" problem), and such a folder is probably still being written anyway.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from domainemb.jsonio import write_json

log = logging.getLogger(__name__)

#: Files modified this recently make a folder's fingerprint not worth remembering.
RACY_SECONDS = 2.0
#: Entries kept in the file (the oldest go first).
MAX_ENTRIES = 512


def cache_file() -> Path:
    """``$DOMAINEMB_CACHE/fingerprints.json`` (default ``~/.cache/domainemb``)."""
    root = os.environ.get("DOMAINEMB_CACHE") or Path.home() / ".cache" / "domainemb"
    return Path(root).expanduser() / "fingerprints.json"


def remembered(files: list[Path], root: Path, extra: dict[str, Any] | None, compute: Callable[[], str]) -> str:
    """The fingerprint of ``files`` (under ``root``), from the cache when their stat key is known.

    Args:
        files: The files the fingerprint covers, in hashing order.
        root: Their folder (keys use paths relative to it, and its resolved path).
        extra: The settings hashed with the files.
        compute: Hashes the files; called only when the key is unknown.
    """
    key_digest = hashlib.sha256(str(root.resolve()).encode())
    newest = 0
    for file in files:
        st = file.stat()
        newest = max(newest, st.st_mtime_ns)
        key_digest.update(
            f"\0{file.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_ino}\0{st.st_mtime_ns}".encode()
        )
    key_digest.update(json.dumps(extra or {}, sort_keys=True).encode())
    key = key_digest.hexdigest()
    path = cache_file()
    entries = _read(path)
    if key in entries:
        return entries[key]
    value = compute()
    if time.time_ns() - newest > RACY_SECONDS * 1e9:
        entries = _read(path)  # another process may have added entries meanwhile
        entries[key] = value
        if len(entries) > MAX_ENTRIES:
            entries = dict(list(entries.items())[-MAX_ENTRIES:])
        try:
            write_json(path, entries)
        except OSError as exc:  # a read-only cache folder costs a re-hash next time, nothing more
            log.debug("%s: cannot remember fingerprints (%s)", path, exc)
    return value


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
