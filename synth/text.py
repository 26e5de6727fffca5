"""Text primitives shared by chunking, validation, deduplication and decontamination.

Two tokenisations, each for one purpose:

* :func:`spans` splits on whitespace and keeps character offsets, so a chunk is an exact slice of
  its document (``text[start:end]``) and never a re-joined approximation;
* :func:`words` lower-cases and keeps runs of word characters; n-gram overlap (copy detection,
  13-gram decontamination) is computed on these, so punctuation and case never hide a copy.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

import numpy as np

_SPAN = re.compile(r"\S+")
_WORD = re.compile(r"\w+")
# An odd 64-bit multiplier for the polynomial n-gram hash (wraps modulo 2**64 in numpy uint64).
_BASE = np.uint64(0x9E3779B97F4A7C15)


def spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the whitespace-separated tokens of ``text``."""
    return [m.span() for m in _SPAN.finditer(text)]


def words(text: str) -> list[str]:
    """Lower-cased word tokens (NFKC-normalised) for overlap measures."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def normalise(text: str) -> str:
    """Case-, punctuation- and whitespace-insensitive form used for exact deduplication."""
    return " ".join(words(text))


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def copy_ratio(query: str, passage: str, n: int = 3) -> float:
    """Share of the query's word n-grams that occur verbatim in the passage (0 when the query is shorter than n)."""
    q = ngrams(words(query), n)
    if not q:
        return 0.0
    return len(q & ngrams(words(passage), n)) / len(q)


@lru_cache(maxsize=1 << 20)
def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


def ngram_hashes(text: str, n: int) -> np.ndarray:
    """Stable 64-bit hashes of every word n-gram of ``text`` (empty when it has fewer than n words).

    The hash of ``(t0 .. t{n-1})`` is ``sum(h(t_j) * B**(n-1-j))`` modulo 2**64, computed for all
    positions at once; token hashes come from blake2b, so values are the same in every process.
    """
    tokens = words(text)
    if len(tokens) < n:
        return np.empty(0, dtype=np.uint64)
    t = np.fromiter((_token_hash(w) for w in tokens), dtype=np.uint64, count=len(tokens))
    m = len(tokens) - n + 1
    out = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            out = out * _BASE + t[j : j + m]
    return out


def stable_hash(*parts: object) -> str:
    """Hex sha256 of the parts' ``repr`` joined by NUL: a deterministic id across runs and machines."""
    return hashlib.sha256("\x00".join(repr(p) for p in parts).encode("utf-8")).hexdigest()
