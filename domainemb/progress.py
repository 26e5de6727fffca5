"""The one progress event the library sends to whoever draws progress (the CLI draws a bar).

Library code never prints: a long-running function takes an ``on_event`` callback and calls it
with a :class:`StageEvent` as each stage starts and as its countable work advances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StageEvent:
    """Where a run stands.

    Args:
        stage: What is happening now, as a short phrase ("training", "minilm: TinySTS").
        done: Units of the current count finished so far; ``None`` when the stage is not counted.
        total: Units the current count will take; ``None`` when not known.
        detail: Extra text shown beside the count (e.g. "loss 0.4123").

    Example:
        >>> on_event(StageEvent("scoring the dense model"))
        >>> for n, task in enumerate(tasks):
        ...     on_event(StageEvent(f"minilm: {task}", done=n, total=len(tasks)))
    """

    stage: str
    done: int | None = None
    total: int | None = None
    detail: str = ""


OnEvent = Callable[[StageEvent], None]


def ignore(event: StageEvent) -> None:
    """The callback of a caller that does not draw progress."""
