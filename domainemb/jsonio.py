"""JSON files written atomically (see :mod:`domainemb.atomic`), so a reader never sees half a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from domainemb.atomic import write_atomic


def write_json(path: Path, data: Any, *, indent: int = 2, sort_keys: bool = False) -> None:
    """Write ``data`` as UTF-8 JSON to ``path`` atomically (parents created; non-JSON values as ``str``)."""
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=False, default=str) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
