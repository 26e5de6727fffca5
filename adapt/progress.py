"""A trainer callback that reports steps, loss and dev score as :class:`~domainemb.progress.StageEvent`\\ s.

Library code never prints; the CLI passes its progress display, which draws the events as a bar
(steps, loss, ETA). Only the main process reports, so a multi-process run draws one bar.
"""

from __future__ import annotations

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from domainemb.progress import OnEvent, StageEvent

#: The stage of every training event.
TRAINING = "training"


class ProgressReporter(TrainerCallback):
    """Calls ``on_event`` after every step and every log line (main process only).

    Each event is ``StageEvent("training", done=<optimizer steps done>, total=<steps the run will take>,
    detail="loss 0.4123  dev nDCG@10 0.5012")``, the detail holding what has been logged so far.
    """

    def __init__(self, on_event: OnEvent, dev_metric: str | None) -> None:
        self.on_event = on_event
        self.dev_metric = f"eval_{dev_metric}" if dev_metric else None
        self.loss: float | None = None
        self.dev_score: float | None = None

    def _report(self, state: TrainerState) -> None:
        if state.is_world_process_zero:
            self.on_event(StageEvent(TRAINING, done=state.global_step, total=state.max_steps, detail=self._detail()))

    def _detail(self) -> str:
        detail = "" if self.loss is None else f"loss {self.loss:.4f}"
        if self.dev_score is not None:
            detail += f"  dev nDCG@10 {self.dev_score:.4f}"
        return detail

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
