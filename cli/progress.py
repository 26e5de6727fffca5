"""The one progress display of every command: it draws the library's :class:`StageEvent`\\ s.

A counted event (one with a ``total``) draws a bar with its count, elapsed time and ETA; an
event without a count draws a spinner beside the stage. The display is transient: it is gone
once the command prints its summary.

Where stderr is not a terminal (a log file, ``nohup``, CI) a bar cannot be drawn, so the display
writes one plain line instead, at most every ``$DOMAINEMB_PROGRESS_EVERY`` seconds (default 60;
``0``: none), naming the current stage, its count and the time since the command started. A command
that ends sooner writes none.
"""

from __future__ import annotations

import os
import time
from types import TracebackType

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from domainemb.cli._common import console as stderr
from domainemb.errors import DomainembError
from domainemb.progress import StageEvent


class _Only(ProgressColumn):
    """Draws ``column`` only for counted tasks (``counted=True``) or only for uncounted ones."""

    def __init__(self, column: ProgressColumn, counted: bool) -> None:
        super().__init__()
        self.column = column
        self.counted = counted

    def get_table_column(self) -> Column:
        return self.column.get_table_column()

    def render(self, task: Task) -> RenderableType:
        return self.column(task) if (task.total is not None) == self.counted else Text("")


def _columns() -> tuple[ProgressColumn, ...]:
    return (
        _Only(SpinnerColumn(), counted=False),
        TextColumn("{task.description}"),
        _Only(BarColumn(), counted=True),
        _Only(MofNCompleteColumn(), counted=True),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        _Only(TextColumn("eta"), counted=True),
        _Only(TimeRemainingColumn(), counted=True),
    )


#: Environment variable: seconds between the plain progress lines written where stderr is not a terminal.
EVERY_ENV = "DOMAINEMB_PROGRESS_EVERY"
DEFAULT_EVERY_S = 60.0


def plain_line_interval() -> float:
    """``$DOMAINEMB_PROGRESS_EVERY`` in seconds (``0``: no plain lines).

    Raises:
        DomainembError: the value is not a finite number >= 0.
    """
    text = os.environ.get(EVERY_ENV, "").strip()
    if not text:
        return DEFAULT_EVERY_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise DomainembError(f"{EVERY_ENV}={text!r}: give the seconds between progress lines, a number >= 0")
    return value


class StageProgress:
    """A transient display on stderr that draws each :class:`StageEvent` it is called with.

    An event without a ``total`` starts a new stage (spinner and elapsed time from zero). A
    counted event moves the bar of the same count on; a new total, or a count that goes back,
    starts a new bar (its own elapsed time and ETA).

    Args:
        description: What the display says before the first event.
        start: Draw from the start. ``False`` draws from the first event: the library sends its
            first event once the input is checked, so a bad input stays a one-line error.
        show: ``False`` draws nothing (e.g. in the non-zero ranks of a multi-process run).
        console: Where to draw; the commands' stderr console by default.

    Example:
        >>> with StageProgress("pruning") as progress:
        ...     result = prune(config, on_event=progress)
    """

    def __init__(
        self, description: str = "", *, start: bool = True, show: bool = True, console: Console = stderr
    ) -> None:
        self._progress = Progress(*_columns(), console=console, transient=True, disable=not show)
        self._start = start
        self._bar: TaskID = self._progress.add_task(description, total=None, detail="")
        self._console = console
        self._show = show
        self._drawing = False
        self._every = plain_line_interval() if show and not console.is_terminal else 0.0
        self._began = self._last_line = time.monotonic()

    def __enter__(self) -> StageProgress:
        if self._start:
            self._begin()
        return self

    def _begin(self) -> None:
        """Start drawing; only a terminal gets rich's live display (elsewhere it would leave a blank line
        behind, before an error line for one; the plain lines stand in for it there)."""
        if self._show and not self._drawing:
            self._drawing = True
            if self._console.is_terminal:
                self._progress.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress.live.is_started:  # rich's stop prints an empty line on a console that is not interactive
            self._progress.stop()

    def __call__(self, event: StageEvent) -> None:
        bar = self._task()
        done = event.done or 0
        if event.total is None or event.total != bar.total or done < bar.completed:
            self._progress.remove_task(self._bar)
            self._bar = self._progress.add_task(event.stage, total=event.total, completed=done, detail=event.detail)
        else:
            self._progress.update(self._bar, description=event.stage, completed=done, detail=event.detail)
        self._begin()  # a no-op once started
        if self._every:
            self._plain_line(event)

    def _plain_line(self, event: StageEvent) -> None:
        """One line for a log file, when the last one is ``every`` seconds old."""
        now = time.monotonic()
        if now - self._last_line < self._every:
            return
        self._last_line = now
        count = f" {event.done or 0}/{event.total}" if event.total is not None else ""
        detail = f" {event.detail}" if event.detail else ""
        elapsed = time.strftime("%H:%M:%S", time.gmtime(now - self._began))
        self._console.print(f"{event.stage}{count}{detail} [{elapsed}]", markup=False, highlight=False, soft_wrap=True)

    def _task(self) -> Task:
        return next(task for task in self._progress.tasks if task.id == self._bar)

    @property
    def description(self) -> str:
        """What the display says now."""
        return self._task().description

    @property
    def counts(self) -> tuple[float, float | None]:
        """(done, total) of the current bar; total is ``None`` for a stage that is not counted."""
        task = self._task()
        return task.completed, task.total

    @property
    def started(self) -> bool:
        """Whether the display is drawing (or would be, on a terminal)."""
        return self._drawing
