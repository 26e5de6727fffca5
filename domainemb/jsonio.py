"""JSON files written atomically (see :mod:`domainemb.atomic`), so a reader never sees half a file, and JSON
text from the user's files read with every fault a ``ValueError`` (:func:`loads_text`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from domainemb.atomic import write_atomic

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def loads_text(text: str) -> Any:
    """``json.loads`` for the user's files: every way the text can fail is a ``ValueError`` with a short reason.

    ``json`` lets two faults escape as other errors (a number of more than 4300 digits, nesting deeper
    than the recursion limit) and reads a lone surrogate escape (``"\\ud800"``) into a ``str`` that no
    file, tokenizer or table can hold; all three are refused here.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(exc.msg) from None
    except ValueError:  # int() of a numeral of more than 4300 digits
        raise ValueError("a number of more than 4300 digits") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text):  # a pair of surrogate escapes is one character; a lone one is none
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a lone surrogate escape (\\ud800-\\udfff) is no text") from None
    return value


def write_json(path: Path, data: Any, *, indent: int = 2, sort_keys: bool = False) -> None:
    """Write ``data`` as UTF-8 JSON to ``path`` atomically (parents created; non-JSON values as ``str``)."""
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=False, default=str) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
