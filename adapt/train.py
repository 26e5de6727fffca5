"""Fine-tune with sentence-transformers' trainer: no-duplicates batches, dev checkpoints, resume.

Every ``eval_steps`` the trainer scores the dev split and writes a checkpoint (weights, optimizer,
scheduler, RNG states, data position) under ``checkpoints/``. At the end the best checkpoint by
dev nDCG@10 is loaded back. ``resume=True`` continues from the last checkpoint, restoring all of
that state, so the result matches a run that was never interrupted. A checkpoint that a kill cut
short while it was being saved is skipped (and removed): the run resumes from the newest complete one.

The same code runs data-parallel: under ``torchrun`` or ``accelerate launch`` the trainer picks up
the process group from the environment (NCCL on GPUs, gloo on CPUs).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domainemb.adapt.config import AdaptConfig, LossName
from domainemb.adapt.data import DEV_METRIC, TeacherVectors, dev_evaluator, train_datasets
from domainemb.adapt.losses import build_loss, describe_loss
from domainemb.adapt.progress import ProgressReporter
from domainemb.adapt.split import DevSplit
from domainemb.progress import OnEvent

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import TrainerCallback

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOutcome:
    """What the trainer did.

    Args:
        steps: Optimizer steps taken in total (resumed ones included).
        resumed_from: The checkpoint training continued from, if any.
        best_checkpoint: The checkpoint whose weights the model now holds (best dev score), if any.
        dev_score: Dev nDCG@10 of the final model, if there is a dev split.
        log_history: The trainer's log lines (losses, dev scores, learning rates).
        seconds: Wall time of this process's training.
        main_process: Whether this process is the one that writes results (rank 0).
        loss: The loss trained with, as :func:`~domainemb.adapt.losses.describe_loss` names it.
    """

    steps: int
    resumed_from: str | None
    best_checkpoint: str | None
    dev_score: float | None
    log_history: tuple[dict[str, Any], ...]
    seconds: float
    main_process: bool
    loss: str = ""


def train_model(
    model: SentenceTransformer,
    split: DevSplit,
    config: AdaptConfig,
    checkpoints: Path,
    callbacks: Sequence[TrainerCallback] = (),
    on_event: OnEvent | None = None,
    distinct_groups: Mapping[str, str] | None = None,
    teacher: TeacherVectors | None = None,
) -> TrainOutcome:
    """Train ``model`` in place on ``split.train``, keeping the checkpoint best on ``split.dev``.

    Args:
        model: The base model (its weights change).
        split: Training and dev pairs.
        config: Hyper-parameters; ``config.resume`` continues from the last checkpoint.
        checkpoints: Checkpoint folder.
        callbacks: Extra trainer callbacks (tests interrupt runs with one).
        on_event: Called with each step's progress as a ``training`` stage event (main process only).
        distinct_groups: The group of each anchor text; when given, no batch holds two pairs of
            one group (:class:`~domainemb.adapt.group_sampler.DistinctGroupBatchSampler`), so
            in-batch negatives are never same-group texts. ``None``: no repeated text per batch only.
        teacher: The teacher's embeddings of the training texts, for the distillation losses.
    """
    import torch
    from datasets import DatasetDict
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers
    from transformers.trainer_callback import PrinterCallback

    from domainemb.adapt.group_sampler import DistinctGroupBatchSampler

    has_dev = bool(split.dev)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1  # set by torchrun and accelerate launch
    evaluator = (
        dev_evaluator(split.dev, config.max_dev_queries, config.eval_batch_size, config.seed) if has_dev else None
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # transformers 5: a float below 1 is a fraction of the steps
        weight_decay=config.weight_decay,
        bf16=config.bf16,
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=(
            BatchSamplers.NO_DUPLICATES
            if distinct_groups is None
            else functools.partial(DistinctGroupBatchSampler, groups=dict(distinct_groups))
        ),
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.PROPORTIONAL,
        eval_strategy="steps" if has_dev else "no",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.eval_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=has_dev,
        metric_for_best_model=f"eval_{DEV_METRIC}" if has_dev else None,
        greater_is_better=True,
        logging_steps=min(10, config.eval_steps),
        report_to="none",
        disable_tqdm=True,  # the caller draws its own bar through `on_event`
        # A pooler or other head the loss never reaches has no gradient; DDP must not wait for it.
        ddp_find_unused_parameters=True,
        # An uneven last batch would leave one process waiting for the others.
        dataloader_drop_last=distributed,
        # Without a GPU, accelerate runs multi-process only when told it is on CPUs (then over gloo).
        use_cpu=not torch.cuda.is_available(),
        ddp_backend="gloo" if distributed and not torch.cuda.is_available() else None,
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    reporters = [ProgressReporter(on_event, DEV_METRIC if has_dev else None)] if on_event else []
    train_dataset = train_datasets(
        split.train, config.hard_negatives, margins=LossName(config.loss).uses_margins, teacher=teacher
    )
    loss = build_loss(model, config, list(train_dataset) if isinstance(train_dataset, DatasetDict) else [])
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        loss=loss,
        evaluator=evaluator,
        callbacks=[*reporters, *callbacks],
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log line; progress goes through `on_event`
    resume_from = last_complete_checkpoint(checkpoints) if config.resume and checkpoints.is_dir() else None
    if config.resume and resume_from is None:
        log.warning("%s: no checkpoint to resume from; training from the start", checkpoints)
    start = time.perf_counter()
    if resume_from is not None and _is_last_step(Path(resume_from)):
        # A kill after the last step's checkpoint (while the model was saved): resuming it, transformers
        # would take one step past max_steps. Training is done; take its state and its best weights.
        from transformers.trainer_callback import TrainerState

        log.info("%s: the checkpoint of the last step; training is complete", resume_from)
        trainer.state = TrainerState.load_from_json(str(Path(resume_from) / "trainer_state.json"))
        best = trainer.state.best_model_checkpoint
        trainer._load_from_checkpoint(best if args.load_best_model_at_end and best else resume_from)
    else:
        trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - start

    dev_score = None
    if evaluator is not None:
        dev_score = float(evaluator(model)[DEV_METRIC])
    return TrainOutcome(
        steps=trainer.state.global_step,
        resumed_from=resume_from,
        best_checkpoint=trainer.state.best_model_checkpoint,
        dev_score=dev_score,
        log_history=tuple(trainer.state.log_history),
        seconds=seconds,
        main_process=trainer.is_world_process_zero(),
        loss=describe_loss(loss),
    )


#: What a resume reads from a checkpoint besides the model weights (the trainer writes trainer_state.json last).
CHECKPOINT_STATE_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest ``checkpoint-N`` under ``checkpoints`` that holds everything a resume reads, or ``None``.

    A newer checkpoint that is incomplete (the process was killed while saving it) is logged and,
    in the main process, removed: the run will write that step's checkpoint again.
    """
    numbered = [p for p in checkpoints.glob("checkpoint-*") if p.is_dir() and p.name.rpartition("-")[2].isdigit()]
    for folder in sorted(numbered, key=lambda p: int(p.name.rpartition("-")[2]), reverse=True):
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        log.warning(
            "%s: incomplete checkpoint (%s), left by an interrupted save; resuming from an earlier one", folder, problem
        )
        if int(os.environ.get("RANK", "0")) == 0:
            shutil.rmtree(folder, ignore_errors=True)
    return None


def _is_last_step(checkpoint: Path) -> bool:
    """Whether ``checkpoint`` (a complete one) was saved at the run's last step."""
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return 0 < int(state.get("max_steps") or 0) <= state["global_step"]


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be resumed from (a file missing or cut short), or ``None`` when it is complete."""
    for name in CHECKPOINT_STATE_FILES:
        if not (folder / name).is_file():
            return f"no {name}"
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        if not isinstance(state.get("global_step"), int):
            return "trainer_state.json has no global_step"
    except (OSError, ValueError, AttributeError):
        return "trainer_state.json does not read"
    for name in CHECKPOINT_STATE_FILES[1:]:
        try:  # torch.save writes a zip: a file cut short has no central directory
            zipfile.ZipFile(folder / name).close()
        except (OSError, zipfile.BadZipFile):
            return f"{name} is cut short"
    weights = sorted(folder.rglob("*.safetensors"))
    if not weights:
        return "no model weights"
    from safetensors import SafetensorError, safe_open

    for path in weights:
        try:  # reads the header and checks it against the file's size
            with safe_open(str(path), framework="pt") as f:
                f.keys()
        except (OSError, SafetensorError) as exc:
            return f"{path.relative_to(folder)} does not read ({type(exc).__name__})"
    return None
