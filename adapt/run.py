"""``adapt``: check everything, train, save a standard model folder, score before and after.

Output folder layout::

    OUT/model/            the adapted sentence-transformers model (README.md is its model card,
                          .domainemb_origin.json where it came from: domainemb.model_origin)
    OUT/checkpoints/      trainer checkpoints (removed after success unless keep_checkpoints)
    OUT/run.json          the run's identity, checked on --resume
    OUT/results/          the evaluation engine's results for base and adapted model (mteb layout)
    OUT/comparison.json   before/after per suite and task type, with bootstrap intervals
    OUT/adapt.json        the run record: model fingerprints, data checksum, split, dev scores,
                          hyper-parameters, versions, seed, wall time, peak memory

All input is checked before anything is written: a bad pairs file, a base model that is not a
sentence-transformers model, an impossible setting, or an output folder holding another run or
files that are not an adapt run's, is an error before training starts. Under ``torchrun`` every process trains; only rank 0 writes the model
and scores it.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import domainemb
from domainemb.adapt.card import render_section, write_card
from domainemb.adapt.compare import COMPARISON_FILE, Comparison, build_comparison
from domainemb.adapt.config import AdaptConfig, LossName
from domainemb.adapt.data import DEV_METRIC, check_margins, dev_evaluator, load_teacher_encoder, teacher_vectors
from domainemb.adapt.losses import build_loss
from domainemb.adapt.progress import TRAINING
from domainemb.adapt.split import DevSplit, split_by_document
from domainemb.adapt.train import TrainOutcome, train_model
from domainemb.atomic import staging_folder, swap_into_place
from domainemb.errors import DomainembError
from domainemb.evaluation.tokenizer_settings import TokenizerSettings
from domainemb.jsonio import write_json
from domainemb.model_origin import adapted_origin, write_origin
from domainemb.pairs import PairFile, read_pairs
from domainemb.progress import OnEvent, StageEvent, ignore
from domainemb.suites import ModelRef, find_suites, open_suites, score_models, suite_folder
from domainemb.types import Domain

if TYPE_CHECKING:
    from transformers import TrainerCallback

    from domainemb.evaluation.encoders import SentenceTransformerEncoder

log = logging.getLogger(__name__)

MODEL_DIR = "model"
CHECKPOINTS_DIR = "checkpoints"
RUN_FILE = "run.json"
RECORD_FILE = "adapt.json"


@dataclass(frozen=True)
class AdaptResult:
    """What an adapt run produced.

    Args:
        out: The output folder.
        model_dir: The adapted model folder.
        record: The run record (also in ``OUT/adapt.json``).
        comparison: Before/after scores, when the suites were scored.
        main_process: False in the non-zero ranks of a multi-process run (they write nothing).
    """

    out: Path
    model_dir: Path
    record: dict[str, Any]
    comparison: Comparison | None
    main_process: bool


@dataclass(frozen=True)
class AdaptHooks:
    """Progress callbacks for a front end (all optional).

    Args:
        on_event: Called with a :class:`~domainemb.progress.StageEvent` as each stage starts, once the
            input is checked (so a front end that draws from the first event shows nothing for bad
            input): ``training`` after each step (with loss and dev score), a suite being built,
            and each (model, task) run as a suite is scored.
        callbacks: Extra trainer callbacks.
    """

    on_event: OnEvent | None = None
    callbacks: Sequence[TrainerCallback] = ()


def adapt(config: AdaptConfig, hooks: AdaptHooks | None = None, command: str | None = None) -> AdaptResult:
    """Fine-tune ``config.base`` on ``config.pairs`` and compare it with the base model.

    ``command`` (the command line that asked for the run; the CLI passes it) is recorded in the model
    folder's origin file (:mod:`domainemb.model_origin`), beside what the model was trained on.

    Raises:
        DataError: the pairs file is missing, empty or has a malformed line.
        DomainembError: the base is not a sentence-transformers model; an impossible setting; the
            output folder holds another run (without ``resume``) or a different one (with it), or
            is a non-empty folder that is no adapt run's; a suite to score on is altered.
    """
    hooks = hooks or AdaptHooks()
    started = time.perf_counter()
    event = hooks.on_event or ignore

    # Everything that can fail on the input fails here, before anything is written.
    log.info("reading pairs from %s", config.pairs)
    pair_file = read_pairs(config.pairs)
    loss = LossName(config.loss)
    if loss.uses_margins:
        check_margins(pair_file, loss, config.hard_negatives, every_pair=loss is LossName.MARGIN_MSE)
    split = split_by_document(pair_file.pairs, config.dev_fraction, config.seed)
    teacher = None
    if loss.uses_teacher and config.teacher:
        log.info("loading the teacher %s", config.teacher)
        teacher = load_teacher_encoder(config.teacher)
    identity = _run_identity(config, pair_file, teacher)
    out = Path(config.out)
    model_dir = out / MODEL_DIR
    main_process = is_main_process()
    if main_process:  # the other ranks would race with rank 0's run.json; torchrun stops them if rank 0 fails
        _check_out(out, config.resume, identity)
    if config.evaluate:  # base and adapted model are scored on the backend: a bad choice fails before training
        from domainemb.evaluation.backends import check_backend, check_exportable_name

        check_exportable_name(config.base, check_backend(config.backend))
    log.info("loading %s", config.base)
    base = load_base(config.base)
    tokenizer_settings = TokenizerSettings.capture(base.model)  # put back before saving: a stable fingerprint
    build_loss(base.model, config)  # checks the loss settings against the model (e.g. Matryoshka dims)
    if config.evaluate:
        _check_suites(config)

    out.mkdir(parents=True, exist_ok=True)
    if main_process:
        write_json(out / RUN_FILE, identity)
    if config.resume and model_dir.is_dir() and (out / RECORD_FILE).is_file():
        log.info("%s: training already finished; continuing with the evaluation", model_dir)
        record = json.loads((out / RECORD_FILE).read_text(encoding="utf-8"))
    else:
        event(StageEvent(TRAINING))
        outcome, dev_before = _train(base, split, config, out, hooks, teacher)
        if not outcome.main_process:
            return AdaptResult(out=out, model_dir=model_dir, record={}, comparison=None, main_process=False)
        _save_model(base, model_dir, tokenizer_settings)
        record = _record(config, base, pair_file, split, outcome, dev_before, model_dir, teacher)
        write_json(out / RECORD_FILE, record)
        write_origin(model_dir, adapted_origin(record, command))  # travels with the folder
        write_card(model_dir, render_section(record, None))
    if not main_process:
        return AdaptResult(out=out, model_dir=model_dir, record={}, comparison=None, main_process=False)

    comparison = None
    if config.evaluate:
        comparison = _compare(config, model_dir, record, hooks)
        comparison.to_disk(out / COMPARISON_FILE)
        write_card(model_dir, render_section(record, comparison))
    if not config.keep_checkpoints:
        shutil.rmtree(out / CHECKPOINTS_DIR, ignore_errors=True)
    record["wall_time_s"] = round(time.perf_counter() - started, 1)
    record["peak_memory_mb"] = _peak_memory_mb()
    write_json(out / RECORD_FILE, record)
    return AdaptResult(out=out, model_dir=model_dir, record=record, comparison=comparison, main_process=True)


def load_base(name: str) -> SentenceTransformerEncoder:
    """The base model as the evaluation engine loads it (registry name, folder or hub id).

    Raises:
        DomainembError: the name is not a sentence-transformers model (e.g. ``bm25``) or cannot be loaded.
    """
    from domainemb.evaluation.encoders import SentenceTransformerEncoder, load_encoder

    encoder = load_encoder(name)
    if not isinstance(encoder, SentenceTransformerEncoder):
        raise DomainembError(f"base model {name!r} is not a sentence-transformers model; it cannot be fine-tuned")
    return encoder


def _run_identity(
    config: AdaptConfig, pair_file: PairFile, teacher: SentenceTransformerEncoder | None = None
) -> dict[str, Any]:
    identity = {
        "base": config.base,
        "pairs_sha256": pair_file.sha256,
        "domain": Domain(config.domain).value,
        "training_settings": config.training_settings(),
    }
    if teacher is not None:  # absent otherwise, so a run from before teachers resumes as it was
        identity["teacher_fingerprint"] = teacher.fingerprint
    return identity


def _check_out(out: Path, resume: bool, identity: dict[str, Any]) -> None:
    earlier = out / RUN_FILE
    holds_run = any((out / name).exists() for name in (RUN_FILE, RECORD_FILE, MODEL_DIR, CHECKPOINTS_DIR))
    if out.exists() and not out.is_dir():
        raise DomainembError(f"{out}: exists and is not a folder")
    if out.is_dir() and not holds_run and any(not (_left_by_a_killed_start(p) or _seeded(p)) for p in out.iterdir()):
        # Someone else's folder: adapt would mix its files with theirs (and remove checkpoints/ in it).
        raise DomainembError(f"{out}: exists and is not a domainemb adapt run; choose another --out")
    if not resume:
        if holds_run:
            raise DomainembError(
                f"{out} already holds an adapt run; pass --resume to continue it, or choose another --out"
            )
        return
    if earlier.is_file():
        before = json.loads(earlier.read_text(encoding="utf-8"))
        changed = sorted(k for k in identity if before.get(k) != identity[k])
        if changed:
            raise DomainembError(
                f"{out}: cannot resume: the run there had a different {', '.join(changed)}; use the same inputs or another --out"
            )


def _seeded(path: Path) -> bool:
    """``results/`` put there before the first run: earlier evaluation results (mteb layout) the scoring keeps.

    A base model already scored on the suites (``domainemb evaluate --out X``; copy ``X/results`` into
    the new ``--out``) is then not scored again, only the adapted model.
    """
    return path.name == "results" and path.is_dir() and not path.is_symlink()


def _left_by_a_killed_start(path: Path) -> bool:
    """The temporary file of a ``run.json`` whose writer was killed: the run's very first write."""
    return path.name.startswith(f".{RUN_FILE}.") and path.name.endswith(".tmp")


def _check_suites(config: AdaptConfig) -> None:
    """Check the suites before training: the built ones are verified, the missing ones are built after it."""
    found = find_suites(
        config.domain, config.size, config.benchmarks, config.domain_benchmark, config.general_benchmark
    )
    for bench, domain in zip(found, (config.domain, Domain.GENERAL), strict=True):
        if bench is None:
            folder = suite_folder(domain, config.size, config.benchmarks)
            log.info("%s: not built yet; it will be built after training", folder)


def _train(
    base: SentenceTransformerEncoder,
    split: DevSplit,
    config: AdaptConfig,
    out: Path,
    hooks: AdaptHooks,
    teacher: SentenceTransformerEncoder | None = None,
) -> tuple[TrainOutcome, float | None]:
    vectors = None
    if teacher is not None:
        from domainemb.evaluation.cache import EmbeddingCache

        with EmbeddingCache() as cache:  # a re-run or a resume encodes nothing again
            vectors = teacher_vectors(
                teacher,
                split.train,
                config.hard_negatives,
                cache=cache,
                batch_size=config.eval_batch_size,
                on_event=hooks.on_event,
            )
    model = base.model
    saved_length = model.max_seq_length
    model.max_seq_length = min(config.max_seq_length, saved_length or config.max_seq_length)
    dev_before = None
    if split.dev:
        dev_before = float(
            dev_evaluator(split.dev, config.max_dev_queries, config.eval_batch_size, config.seed)(model)[DEV_METRIC]
        )
    try:
        outcome = train_model(
            model,
            split,
            config,
            out / CHECKPOINTS_DIR,
            callbacks=hooks.callbacks,
            on_event=hooks.on_event,
            teacher=vectors,
        )
    finally:
        model.max_seq_length = saved_length  # the saved model encodes like its base
    return outcome, dev_before


def _save_model(base: SentenceTransformerEncoder, model_dir: Path, tokenizer_settings: TokenizerSettings) -> None:
    tokenizer_settings.restore(base.model)
    tmp = staging_folder(model_dir, "saving")  # also removes the folder of a save that was killed
    try:
        base.model.save_pretrained(str(tmp))
        swap_into_place(tmp, model_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _record(
    config: AdaptConfig,
    base: SentenceTransformerEncoder,
    pair_file: PairFile,
    split: DevSplit,
    outcome: TrainOutcome,
    dev_before: float | None,
    model_dir: Path,
    teacher: SentenceTransformerEncoder | None = None,
) -> dict[str, Any]:
    import sentence_transformers
    import torch
    import transformers

    from domainemb.evaluation.encoders import fingerprint_folder

    return {
        "domain": Domain(config.domain).value,
        "base": {"name": config.base, "model_name": base.model_name, "fingerprint": base.fingerprint},
        "adapted": {
            "path": str(model_dir),
            "model_name": adapted_model_name(config),
            "fingerprint": fingerprint_folder(model_dir),
        },
        "data": {
            "pairs": str(config.pairs),
            "sha256": pair_file.sha256,
            "pairs_used": len(pair_file.pairs),
            "duplicates": pair_file.duplicates,
            "train_with_negatives": sum(
                1 for p in split.train if config.hard_negatives and len(p.negatives) >= config.hard_negatives
            ),
            "train_with_margins": sum(
                1 for p in split.train if config.hard_negatives and len(p.margins) >= config.hard_negatives
            ),
            "train_pairs": len(split.train),
            "dev_pairs": len(split.dev),
            "train_documents": split.train_documents,
            "dev_documents": split.dev_documents,
            "synth_card": pair_file.card.to_dict() if pair_file.card else None,
        },
        "hyperparameters": config.hyperparameters(),
        "teacher": None
        if teacher is None
        else {"name": teacher.name, "model_name": teacher.model_name, "fingerprint": teacher.fingerprint},
        "training": {
            "loss": outcome.loss,
            "steps": outcome.steps,
            "resumed_from": outcome.resumed_from,
            "best_checkpoint": Path(outcome.best_checkpoint).name if outcome.best_checkpoint else None,
            "dev_metric": DEV_METRIC,
            "dev_score_before": dev_before,
            "dev_score_after": outcome.dev_score,
            "seconds": round(outcome.seconds, 1),
            "world_size": int(os.environ.get("WORLD_SIZE", "1")),
            "log_history": list(outcome.log_history),
        },
        "seed": config.seed,
        "domainemb_version": domainemb.__version__,
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        },
    }


def adapted_model_name(config: AdaptConfig) -> str:
    """The name results of the adapted model are filed under (mteb's ``org/name``)."""
    base = Path(config.base).name if Path(config.base).exists() else config.base.split("/")[-1]
    return f"domainemb-adapted/{base}-{Domain(config.domain).value}"


def _compare(config: AdaptConfig, model_dir: Path, record: dict[str, Any], hooks: AdaptHooks) -> Comparison:
    from domainemb.evaluation.backends import with_backend
    from domainemb.evaluation.encoders import sentence_transformer_from_folder

    event = hooks.on_event or ignore
    base = with_backend(load_base(config.base), config.backend)  # torch: the model itself
    adapted_name = str(model_dir)
    adapted = sentence_transformer_from_folder(
        model_dir,
        name=adapted_name,
        model_name=record["adapted"]["model_name"],
        fingerprint=record["adapted"]["fingerprint"],
    )
    adapted = with_backend(adapted, config.backend)
    suites = open_suites(
        config.domain,
        config.size,
        config.benchmarks,
        config.domain_benchmark,
        config.general_benchmark,
        build_seed=config.seed,  # a suite built here is subsampled with the run's seed
        on_event=event,
    )
    scores = {}
    for suite, bench, tasks in (
        ("domain", suites.domain, config.domain_tasks),
        ("general", suites.general, config.general_tasks),
    ):
        event(StageEvent(f"scoring base and adapted model on the {suite} suite"))
        # The engine files the results under OUT/results, in mteb's layout.
        result = score_models(
            bench,
            [base, adapted],
            Path(config.out),
            tasks=tasks,
            seed=config.seed,
            batch_size=config.eval_batch_size,
            on_event=event,
        )
        scores[suite] = list(result.scores)
    return build_comparison(
        domain=Domain(config.domain).value,
        base=ModelRef(name=config.base, model_name=base.model_name, fingerprint=base.fingerprint),
        adapted=ModelRef(name=adapted_name, model_name=adapted.model_name, fingerprint=adapted.fingerprint),
        suites=scores,
        samples=config.bootstrap_samples,
        seed=config.seed,
    )


def is_main_process() -> bool:
    """Rank 0 of a torchrun / accelerate launch, or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def _peak_memory_mb() -> dict[str, float | None]:
    """Peak resident memory of this process and, on a GPU, peak GPU memory allocated, in MiB."""
    import torch

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return {"rss": round(rss, 1), "gpu": round(gpu, 1) if gpu is not None else None}
