"""Encode throughput of several encoders measured side by side in one process (the benchmark scripts' one helper).

Every encoder encodes the same texts once per round, the order reversed every other round, so the
machine's load falls on all of them alike; a ratio is then taken within each round.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np


def timed_rounds(
    encode: Mapping[str, Callable[[], np.ndarray]], repeats: int, texts: int
) -> tuple[dict[str, list[float]], dict[str, np.ndarray]]:
    """Seconds of each round per encoder, and each encoder's vectors of the last round.

    Args:
        encode: Per name, a call that encodes the sample (after a warm-up the caller did).
        repeats: Rounds.
        texts: Texts in the sample (for the printed rate).
    """
    names = tuple(encode)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    vectors: dict[str, np.ndarray] = {}
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else tuple(reversed(names)):
            started = time.perf_counter()
            vectors[name] = encode[name]()
            seconds[name].append(time.perf_counter() - started)
            print(f"round {round_ + 1}: {name} {texts / seconds[name][-1]:.1f} texts/s")
    return seconds, vectors


def row_cosines(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``vectors`` with the same row of ``reference``."""
    return (vectors * reference).sum(axis=1) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(reference, axis=1))


def speed(seconds: Sequence[float], reference: Sequence[float], texts: int) -> dict[str, float | list[float]]:
    """Texts per second (median round), the rounds, and the speed-up over ``reference`` two ways."""
    median = statistics.median(seconds)
    return {
        "texts_per_s": round(texts / median, 2),
        "seconds": [round(s, 3) for s in seconds],
        "vs_reference": round(statistics.median(reference) / median, 3),
        # the ratio within each round (the encoders of a round share the machine's load), then the median
        "vs_reference_median_of_rounds": round(
            statistics.median(r / s for r, s in zip(reference, seconds, strict=True)), 3
        ),
    }
