"""A trainer callback that reports steps and loss to whoever draws the progress bar.

Library code never prints; the CLI passes a function that updates a rich bar (steps, loss, ETA).
Only the main process reports, so a multi-process run draws one bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


@dataclass(frozen=True)
class TrainingProgress:
    """Where training stands.

    Args:
        step: Optimizer steps done.
        total: Optimizer steps the run will take.
        loss: The last logged training loss, if any yet.
        dev_score: The last dev nDCG@10, if evaluated yet.
    """

    step: int
    total: int
    loss: float | None = None
    dev_score: float | None = None


OnProgress = Callable[[TrainingProgress], None]


class ProgressReporter(TrainerCallback):
    """Calls ``on_progress`` after every step and every log line (main process only)."""

    def __init__(self, on_progress: OnProgress, dev_metric: str | None) -> None:
        self.on_progress = on_progress
        self.dev_metric = f"eval_{dev_metric}" if dev_metric else None
        self.loss: float | None = None
        self.dev_score: float | None = None

    def _report(self, state: TrainerState) -> None:
        if state.is_world_process_zero:
            self.on_progress(TrainingProgress(state.global_step, state.max_steps, self.loss, self.dev_score))

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self._report(state)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self._report(state)

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs=None, **kwargs
    ) -> None:
        logs = logs or {}
        if "loss" in logs:
            self.loss = float(logs["loss"])
        if self.dev_metric and self.dev_metric in logs:
            self.dev_score = float(logs[self.dev_metric])
        self._report(state)
