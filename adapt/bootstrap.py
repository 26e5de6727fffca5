"""Seeded bootstrap confidence intervals for a mean change over tasks.

A change is measured per task (adapted score minus base score). When per-item changes are
available (per query, per pair) a task contributes an array of them; when only the task's main
score is, it contributes one number. The interval resamples tasks with replacement and, within each
drawn task, its items with replacement (a two-level bootstrap), then takes percentiles of the mean.
With a single task of a single number there is nothing to resample and no interval is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap confidence interval.

    Args:
        mean: The mean over tasks of each task's mean value.
        low: Lower percentile bound, or ``None`` when it cannot be estimated.
        high: Upper percentile bound, or ``None`` when it cannot be estimated.
        n_tasks: Tasks averaged.
        confidence: Coverage of the interval (e.g. 0.95).
    """

    mean: float
    low: float | None
    high: float | None
    n_tasks: int
    confidence: float


def bootstrap_mean(
    values_by_task: Sequence[Sequence[float]], samples: int, seed: int, confidence: float = 0.95
) -> Interval:
    """The mean of task means, with a percentile interval from a two-level bootstrap.

    Args:
        values_by_task: Per task, its per-item values (or its one task-level value).
        samples: Bootstrap resamples.
        seed: Seed of the resampling (the same inputs and seed give the same interval).
        confidence: Coverage of the interval.

    Example:
        >>> round(bootstrap_mean([[0.02], [0.05], [-0.01]], samples=1000, seed=0).mean, 4)
        0.02
    """
    tasks = [np.asarray(v, dtype=np.float64) for v in values_by_task]
    if not tasks or any(t.size == 0 for t in tasks):
        raise ValueError("every task needs at least one value")
    mean = float(np.mean([t.mean() for t in tasks]))
    if len(tasks) == 1 and tasks[0].size == 1:
        return Interval(mean=mean, low=None, high=None, n_tasks=1, confidence=confidence)
    rng = np.random.default_rng(seed)
    # Per task, `samples` resampled item means: (n_tasks, samples).
    item_means = np.stack(
        [
            t[rng.integers(0, t.size, size=(samples, t.size))].mean(axis=1) if t.size > 1 else np.full(samples, t[0])
            for t in tasks
        ]
    )
    drawn = rng.integers(0, len(tasks), size=(samples, len(tasks)))  # (samples, n_tasks)
    means = item_means[drawn, np.arange(samples)[:, None]].mean(axis=1)  # (samples,)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(mean=mean, low=float(low), high=float(high), n_tasks=len(tasks), confidence=confidence)
