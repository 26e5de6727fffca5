"""One ``domainemb prune`` run: check the input, calibrate, score, prune, retrain, save, evaluate.

Everything that can fail on the user's input (config values, model name, architecture, pairs
file, too few calibration pairs) is checked before anything is written to the output folder. The
run writes into a hidden sibling of ``out`` that is renamed into place only when complete, so a
failed run never leaves a half-written folder that looks complete.

Layout of ``out``::

    model/                 the pruned sentence-transformers model (plain ``SentenceTransformer(path)``)
    model/domainemb-onnx/  with ``export``: the model's ONNX graph (fp32 or int8) and what it was exported from
    model.sparse/          unstructured only: the same model in compressed sparse form (``load_sparse``)
    calibration/           the domain and general pairs the scores were computed on (JSONL)
    results/               dense and pruned scores on the suites (mteb layout), when evaluated
    prune_report.json      :class:`~domainemb.prune.report.PruneReport`
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import torch

import domainemb
from domainemb.atomic import staging_folder, swap_into_place
from domainemb.domains.benchmark import Benchmark
from domainemb.errors import DomainembError
from domainemb.evaluation.shipped_graph import ExportFormat, check_export, ship_export
from domainemb.evaluation.tokenizer_settings import TokenizerSettings
from domainemb.model_origin import write_pruned_origin
from domainemb.pairs import write_pairs
from domainemb.progress import OnEvent, StageEvent, ignore
from domainemb.prune.architecture import FfnModel, ffn_model
from domainemb.prune.calibration import CalibrationSet, calibration_set, synth_pairs, train_split_pairs
from domainemb.prune.config import PruneConfig, RetrainLoss
from domainemb.prune.distill import (
    DistillTargets,
    DistillTexts,
    corpus_texts,
    distill_targets,
    pair_texts,
    without_test_texts,
)
from domainemb.prune.gradients import GradientMoments, infonce_moments
from domainemb.prune.masks import LayerSparsity, apply_masks, masks_from_scores, sparsity_by_layer
from domainemb.prune.methods import Moments, PruneMethod
from domainemb.prune.report import REPORT, PruneReport, SuiteScores
from domainemb.prune.sparse_io import save_sparse
from domainemb.prune.stage_cache import StageCache, pairs_digest, stage_key
from domainemb.prune.structured import neuron_scores, shrink_ffn
from domainemb.suites import open_suite, score_models
from domainemb.types import Domain

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from domainemb.evaluation.encoders import Encoder, SentenceTransformerEncoder
    from domainemb.pairs import Pair

log = logging.getLogger(__name__)

OnStage = Callable[[str], None]  # inside a run, each stage function names itself; prune() sends the StageEvent


@dataclass(frozen=True)
class PruneResult:
    """The run folder and its report."""

    out: Path
    report: PruneReport


def prune(config: PruneConfig, on_event: OnEvent | None = None, command: str | None = None) -> PruneResult:
    """Prune ``config.model`` for ``config.domain`` and write the run folder ``config.out``.

    The stages, in order: load the model, check the input, score the dense model on the suites,
    calibrate (choose the pairs), score the weights, mask (or shrink), retrain, save, score the
    pruned model, report. Each is one function below.

    Args:
        config: The run.
        on_event: Called with a :class:`~domainemb.progress.StageEvent` as each stage starts (for
            progress display).
        command: The command line that asked for the run (the CLI passes it), recorded in the model
            folder's origin file (:mod:`domainemb.model_origin`).

    Raises:
        DomainembError: bad input (unknown model or architecture, unreadable pairs, too few
            calibration pairs, an output folder that is not a previous prune run); nothing is written
            to ``config.out``.
    """
    event = on_event or ignore

    def stage(name: str) -> None:
        event(StageEvent(name))

    started = time.perf_counter()
    seconds: dict[str, float] = {}
    out = Path(config.out)
    check_export(config.export)  # a missing onnx extra fails before any work
    _check_target(out)
    stages = StageCache(Path(config.stage_cache)) if config.stage_cache is not None else None
    method = config.scoring_method()
    corpus = _distill_corpus(config)  # a bad distill_texts folder fails before the model loads
    _check_teacher(config)  # so does a teacher that is neither a bi-encoder nor a cross-encoder

    stage("loading the model")
    loaded = _load(config)
    inputs = _open_inputs(config, method, event)
    with _timed(seconds, "calibration"):
        candidates = _candidates(config, method, inputs)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = staging_folder(out, "pruning")  # also removes those of runs that were killed
    try:
        dense_scores = _evaluate_dense(config, loaded, inputs, staging, stage, seconds)
        calibration = _calibrate(config, loaded, candidates, stages, stage, seconds)
        targets = _teacher(config, loaded, inputs, calibration, corpus, stage, seconds)  # before any weight changes
        weights, scores, peak_mb, diagnostics = _score(config, method, loaded, calibration, stages, stage, seconds)
        ffn, masks, overlap = _mask(config, method, loaded, weights, scores, stage)
        del scores  # a full fp32 copy of the FFN weights: not held through retraining
        retrain_steps, retraining = _retrain(config, loaded, ffn, calibration, targets, masks, stage, seconds)
        size_on_disk = _save(config, loaded, calibration, staging, stage)
        export = _export(config, loaded, staging, stage, seconds)  # before scoring: the folder's final fingerprint
        suites = _evaluate_pruned(config, method, inputs, dense_scores, staging, stage, seconds)
        report = _report(
            config,
            method,
            loaded,
            ffn,
            calibration,
            seconds=seconds | {"total": time.perf_counter() - started},
            peak_mb=peak_mb,
            diagnostics=diagnostics | overlap,
            retrain_steps=retrain_steps,
            retraining=retraining,
            size_on_disk=size_on_disk,
            suites=suites,
            export=export,
        )
        write_pruned_origin(staging / "model", report, command)  # in the folder: it travels with the model
        report.to_disk(staging)
        swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PruneResult(out=out, report=report)


# ----------------------------------------------------------------------------- stages
@dataclass(frozen=True)
class _Loaded:
    """The model to prune (pruned in place as the run goes) and what the report needs of it dense."""

    encoder: SentenceTransformerEncoder
    device: str
    ffn: FfnModel  # as loaded: structured pruning replaces the layers (the mask stage returns the new ones)
    dense_bytes: int
    dense_params: int
    dense_width: int
    tokenizer_settings: TokenizerSettings

    @property
    def model(self) -> SentenceTransformer:
        return self.encoder.model


@dataclass(frozen=True)
class _Inputs:
    """The suites the run reads (``None`` where neither calibration nor evaluation needs one)."""

    domain_bench: Benchmark | None
    general_bench: Benchmark | None

    def sides(self, config: PruneConfig) -> tuple[tuple[str, Benchmark | None, tuple[str, ...]], ...]:
        """``(side, suite, tasks)`` for the domain then the general suite."""
        return (
            ("domain", self.domain_bench, config.domain_tasks),
            ("general", self.general_bench, config.general_tasks),
        )


class _Candidates(NamedTuple):
    """One side's candidate calibration pairs, where they come from and that source's checksum."""

    pairs: list[Pair]
    source: str
    checksum: str


@dataclass(frozen=True)
class _Calibration:
    """The chosen calibration sets per side, their stage-cache keys, and what came from the cache."""

    sets: dict[str, CalibrationSet]
    keys: dict[str, str]
    reused: dict[str, dict[str, bool]]


def _load(config: PruneConfig) -> _Loaded:
    """Load the model onto the run's device and note its dense size and tokenizer settings."""
    encoder = _load_encoder(config.model)
    model = encoder.model
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    ffn = ffn_model(model)
    return _Loaded(
        encoder=encoder,
        device=device,
        ffn=ffn,
        dense_bytes=_parameter_bytes(model),
        dense_params=sum(p.numel() for p in model.parameters()),
        dense_width=ffn.layers[0].width,
        tokenizer_settings=TokenizerSettings.capture(model),  # put back before saving: a stable fingerprint
    )


def _needs_pairs(config: PruneConfig, method: PruneMethod) -> dict[str, bool]:
    """Which sides need calibration pairs: those the method reads moments of, and the domain for retraining
    (unless retraining distils on a corpus folder alone)."""
    retraining_reads_pairs = config.retrain_steps > 0 and (
        config.retrain_loss is RetrainLoss.INFONCE or config.distill_texts is None or config.distill_margins
    )
    return {
        "domain": method.needs_domain_moments or retraining_reads_pairs,
        "general": method.needs_general_moments,
    }


def _distill_corpus(config: PruneConfig) -> DistillTexts | None:
    """The passages of ``distill_texts`` when distillation retraining will read them (checked before any work)."""
    if config.distill_texts is None or not config.retrain_steps:
        return None
    return corpus_texts(Path(config.distill_texts), config.max_seq_length, config.distill_max_texts, config.seed)


def _check_teacher(config: PruneConfig) -> None:
    """Fail on a ``teacher`` that :func:`~domainemb.synth.teacher.load_teacher` refuses (no weights load here)."""
    if config.teacher is not None:
        from domainemb.synth.teacher import load_teacher

        load_teacher(config.teacher)


def _open_inputs(config: PruneConfig, method: PruneMethod, on_event: OnEvent) -> _Inputs:
    """Open (or build) the suites the run needs; unknown task names fail here, before any work."""
    needs = _needs_pairs(config, method)
    # prune takes any built benchmark for either side (check_kind=False), as it always has.
    domain_bench = (
        open_suite(
            config.domain, config.size, config.benchmarks, config.domain_benchmark, check_kind=False, on_event=on_event
        )
        if config.evaluate or (needs["domain"] and config.pairs is None)
        else None
    )
    general_bench = (
        open_suite(
            Domain.GENERAL,
            config.size,
            config.benchmarks,
            config.general_benchmark,
            check_kind=False,
            on_event=on_event,
        )
        if config.evaluate or needs["general"]
        else None
    )
    inputs = _Inputs(domain_bench, general_bench)
    if config.evaluate:
        for _, bench, tasks in inputs.sides(config):
            for task in tasks:
                bench.task(task)
    return inputs


def _candidates(config: PruneConfig, method: PruneMethod, inputs: _Inputs) -> dict[str, _Candidates]:
    """Every side's candidate pairs; too few of them is bad input, reported before any work."""
    needs = _needs_pairs(config, method)
    candidates: dict[str, _Candidates] = {}
    if needs["domain"]:
        candidates["domain"] = _domain_candidates(config, inputs.domain_bench)
    if needs["general"]:
        general_bench = inputs.general_bench
        pairs, tasks = train_split_pairs(general_bench, config.seed)
        candidates["general"] = _Candidates(
            pairs, f"{general_bench.path} train splits ({', '.join(tasks) or 'none'})", general_bench.checksum
        )
    for name, (pairs, source, _) in candidates.items():
        if len(pairs) < config.min_calibration_pairs:
            raise DomainembError(
                f"too few {name} calibration pairs: {len(pairs)} from {source}, need at least {config.min_calibration_pairs} "
                "(give more pairs, or lower min_calibration_pairs in a config file)"
            )
    if config.retrain_steps > 0 and config.pairs is None and config.retrain_loss is RetrainLoss.INFONCE:
        log.warning(
            "retraining on same-label train-split pairs, which costs retrieval scores; "
            "query-passage pairs from domainemb synth (--pairs) retrain far better (BENCHMARKS.md, Pruning)"
        )
    if method.needs_domain_moments and config.pairs is None:
        log.warning(
            "calibrating the domain side on same-label train-split pairs; query-passage pairs from the domain's "
            "training corpora are closer to what the suites test (domainemb export-corpus, then domainemb synth "
            "--generator ict on that folder, given with --pairs; docs/prune.md)"
        )
    return candidates


def _domain_candidates(config: PruneConfig, bench: Benchmark | None) -> _Candidates:
    if config.pairs is not None:
        pairs, checksum = synth_pairs(config.pairs)
        return _Candidates(pairs, str(config.pairs), checksum)
    pairs, tasks = train_split_pairs(bench, config.seed)
    return _Candidates(pairs, f"{bench.path} train splits ({', '.join(tasks) or 'none'})", bench.checksum)


def _evaluate_dense(
    config: PruneConfig, loaded: _Loaded, inputs: _Inputs, staging: Path, stage: OnStage, seconds: dict[str, float]
) -> dict[str, dict[str, float]]:
    """The dense model's main scores per side and task (none unless ``config.evaluate``)."""
    dense_scores: dict[str, dict[str, float]] = {}
    if not config.evaluate:
        return dense_scores
    stage("scoring the dense model")
    with _timed(seconds, "evaluation"):
        for side, bench, tasks in inputs.sides(config):
            dense_out = staging / "results" if config.dense_results is None else Path(config.dense_results)
            dense_scores[side] = _main_scores(loaded.encoder, bench, tasks, dense_out, config, use_cache=True)
    return dense_scores


def _calibrate(
    config: PruneConfig,
    loaded: _Loaded,
    candidates: dict[str, _Candidates],
    stages: StageCache | None,
    stage: OnStage,
    seconds: dict[str, float],
) -> _Calibration:
    """Choose each side's calibration pairs by k-means coverage, or take them from the stage cache."""
    stage("choosing calibration pairs")
    sets: dict[str, CalibrationSet] = {}
    sizes = {"domain": config.domain_calibration, "general": config.general_calibration}
    keys: dict[str, str] = {}
    reused: dict[str, dict[str, bool]] = {name: {"pairs": False, "moments": False} for name in candidates}
    with _timed(seconds, "calibration"):
        for name, (pairs, source, checksum) in candidates.items():
            keys[name] = stage_key(
                stage="calibration",
                model=loaded.encoder.fingerprint,
                pairs=pairs_digest(pairs),
                size=sizes[name],
                pool=config.candidate_pool,
                minimum=config.min_calibration_pairs,
                seed=config.seed,
            )
            cached = stages.calibration(keys[name]) if stages else None
            if cached is not None:
                log.info("%s calibration pairs: reused from %s", name, stages.root)
                reused[name]["pairs"] = True
                sets[name] = CalibrationSet(
                    name=name, pairs=cached, source=source, source_checksum=checksum, candidates=len(pairs)
                )
                continue
            sets[name] = calibration_set(
                name,
                pairs,
                source,
                checksum,
                loaded.model,
                sizes[name],
                config.min_calibration_pairs,
                config.candidate_pool,
                config.seed,
            )
            if stages:
                stages.put_calibration(keys[name], sets[name].pairs)
    return _Calibration(sets, keys, reused)


def _score(
    config: PruneConfig,
    method: PruneMethod,
    loaded: _Loaded,
    calibration: _Calibration,
    stages: StageCache | None,
    stage: OnStage,
    seconds: dict[str, float],
) -> tuple[dict[str, torch.nn.Parameter], dict[str, torch.Tensor], float | None, dict[str, float]]:
    """Gradient moments of the sides the method needs (or the stage cache's), then every FFN weight's score.

    Returns:
        The FFN weights, their scores, the peak memory (MB) while scoring, and the method's
        diagnostics for the report.
    """
    stage(f"scoring weights ({method.name})")
    weights = loaded.ffn.weights()
    moments: dict[str, GradientMoments] = {}
    model = loaded.model
    with _timed(seconds, "scoring"), _peak_memory(loaded.device) as peak:
        previous_length = model.max_seq_length
        model.max_seq_length = config.max_seq_length
        try:
            for name, needed in (("domain", method.needs_domain_moments), ("general", method.needs_general_moments)):
                if needed:
                    batch_size = method.gradient_batch_size(config.scoring_settings(), config.batch_size)
                    moments[name] = _moments(config, name, loaded, weights, calibration, stages, batch_size)
        finally:
            model.max_seq_length = previous_length
        settings = config.scoring_settings()
        scores = method.scores(weights, moments.get("domain"), moments.get("general"), settings)
    diagnostics = method.diagnostics(weights, Moments(moments.get("domain"), moments.get("general")), settings)
    return weights, scores, peak.get("mb"), diagnostics


def _moments(
    config: PruneConfig,
    name: str,
    loaded: _Loaded,
    weights: dict[str, torch.nn.Parameter],
    calibration: _Calibration,
    stages: StageCache | None,
    batch_size: int,
) -> GradientMoments:
    """One side's InfoNCE gradient moments on its calibration pairs in batches of ``batch_size``, or the stage cache's."""
    key = stage_key(
        stage="moments",
        calibration=calibration.keys[name],
        batch_size=batch_size,
        max_seq_length=config.max_seq_length,
        scale=config.scale,
        device=loaded.device,
        weights=sorted(weights),
    )
    cached = stages.moments(key, loaded.device) if stages else None
    if cached is not None:
        log.info("%s gradient moments: reused from %s", name, stages.root)
        calibration.reused[name]["moments"] = True
        return cached
    moments = infonce_moments(loaded.model, weights, calibration.sets[name].pairs, batch_size, config.scale)
    if stages:
        stages.put_moments(key, moments)
    return moments


def _mask(
    config: PruneConfig,
    method: PruneMethod,
    loaded: _Loaded,
    weights: dict[str, torch.nn.Parameter],
    scores: dict[str, torch.Tensor],
    stage: OnStage,
) -> tuple[FfnModel, dict[str, torch.Tensor] | None, dict[str, float]]:
    """Zero the lowest-scored weights (or, structured, cut out the lowest-scored neurons).

    Returns:
        The model's FFN layers after pruning, the masks (``None`` when structured), and the
        overlap-with-magnitude diagnostic where the method asks for it.
    """
    stage("pruning")
    if config.structured:
        shrink_ffn(loaded.ffn, neuron_scores(loaded.ffn, scores), config.sparsity)
        return ffn_model(loaded.model), None, {}
    masks = masks_from_scores(scores, config.sparsity, config.ranking)
    overlap = (
        {"pruned_overlap_with_magnitude": _overlap_with_magnitude(weights, masks, config)}
        if method.compare_with_magnitude
        else {}
    )
    apply_masks(weights, masks)
    return loaded.ffn, masks, overlap


def _teacher(
    config: PruneConfig,
    loaded: _Loaded,
    inputs: _Inputs,
    calibration: _Calibration,
    corpus: DistillTexts | None,
    stage: OnStage,
    seconds: dict[str, float],
) -> DistillTargets | None:
    """The dense model's fp32 embeddings of the distillation texts (``None`` unless retraining distils).

    Called while the model is still dense; the embeddings go through the embedding cache. Texts and
    margin triples that touch a test text of the suites (13-gram overlap) are dropped first. With a
    ``teacher``, it labels the margins of those same triples (its scores cached too), not the dense model.
    """
    if not config.retrain_steps or config.retrain_loss is not RetrainLoss.DISTILL:
        return None
    stage("removing the suites' test texts from the distillation texts")
    from domainemb.evaluation.cache import EmbeddingCache
    from domainemb.synth.decontam import load_held_out
    from domainemb.synth.teacher import load_teacher

    held_out = load_held_out(config.domain, _built_suites(config, inputs))  # none built: the registered tasks
    domain = calibration.sets.get("domain")
    if corpus is not None:
        texts = without_test_texts(corpus, held_out)
    else:
        texts = pair_texts(domain.pairs, domain.source, config.distill_max_texts, config.seed, held_out)
    triples = [
        p
        for p in (domain.pairs if config.distill_margins else ())
        if not any(map(held_out.touches, (p.query, p.positive, *p.negatives)))
    ]
    labelled = f", labelling the margin triples with teacher {config.teacher}" if config.teacher else ""
    stage(f"encoding the distillation texts with the dense model{labelled}")
    with _timed(seconds, "retraining"), EmbeddingCache() as cache:
        return distill_targets(
            loaded.model,
            loaded.encoder.fingerprint,
            texts,
            triples,
            config.max_seq_length,
            config.eval_batch_size,
            cache,
            teacher=load_teacher(config.teacher, cache) if config.teacher is not None else None,
        )


def _built_suites(config: PruneConfig, inputs: _Inputs) -> list[Path]:
    """The domain and general suites this run reads, or finds built (none is built for decontamination alone)."""
    from domainemb.suites import find_suite

    paths = []
    for domain, folder, bench in (
        (config.domain, config.domain_benchmark, inputs.domain_bench),
        (Domain.GENERAL, config.general_benchmark, inputs.general_bench),
    ):
        bench = bench or find_suite(domain, config.size, config.benchmarks, folder, check_kind=False)
        if bench is not None and bench.path not in paths:
            paths.append(bench.path)
    return paths


def _retrain(
    config: PruneConfig,
    loaded: _Loaded,
    ffn: FfnModel,
    calibration: _Calibration,
    targets: DistillTargets | None,
    masks: dict[str, torch.Tensor] | None,
    stage: OnStage,
    seconds: dict[str, float],
) -> tuple[int, dict[str, object]]:
    """Retraining with the pruned weights held at zero: distillation towards ``targets``, or InfoNCE
    on the domain calibration pairs. The steps taken, and what the report records of them."""
    if not config.retrain_steps:
        return 0, {}
    stage(f"retraining ({config.retrain_loss.value}, {config.retrain_steps} steps)")
    weights = None if config.structured else ffn.weights()
    with _timed(seconds, "retraining"):
        if targets is not None:
            from domainemb.prune.distill import distill, embedding_mse

            def heldout_mse() -> float | None:
                return embedding_mse(
                    loaded.model,
                    targets.heldout_texts,
                    targets.heldout_embeddings,
                    config.max_seq_length,
                    config.eval_batch_size,
                )

            before = heldout_mse()
            outcome = distill(loaded.model, targets, config, weights=weights, masks=masks)
            summary: dict[str, object] = {
                "losses": ["MSELoss", *(["MarginMSELoss"] if targets.triples else [])],
                "texts": targets.summary(),
                "heldout_mse_to_dense": {"before": before, "after": heldout_mse()},
                "margin_labels": _margin_labels(config, loaded, targets),
            }
        else:
            from domainemb.prune.retrain import retrain

            domain = calibration.sets["domain"]
            outcome = retrain(loaded.model, domain.pairs, config, weights=weights, masks=masks)
            summary = {
                "losses": ["MultipleNegativesRankingLoss"],
                "pairs": {"source": domain.source, "pairs": len(domain.pairs)},
            }
    mean_loss = next((h["train_loss"] for h in reversed(outcome.log_history) if "train_loss" in h), None)
    return outcome.steps, {
        "loss": config.retrain_loss.value,
        **summary,
        "steps": outcome.steps,
        "mean_train_loss": mean_loss,
    }


def _margin_labels(config: PruneConfig, loaded: _Loaded, targets: DistillTargets) -> dict[str, object] | None:
    """Who labelled the MarginMSE triples: the teacher (name, kind, fingerprint) or the dense model;
    ``None`` when no margins were asked for."""
    if not config.distill_margins:
        return None
    if targets.teacher is not None:
        return {"by": "teacher", **targets.teacher, "triples": len(targets.triples)}
    return {
        "by": "dense model",
        "name": config.model,
        "fingerprint": loaded.encoder.fingerprint,
        "triples": len(targets.triples),
    }


def _save(
    config: PruneConfig, loaded: _Loaded, calibration: _Calibration, staging: Path, stage: OnStage
) -> dict[str, int]:
    """Write the pruned model (and its sparse form), and the calibration pairs; the sizes on disk."""
    stage("saving")
    loaded.tokenizer_settings.restore(loaded.model)
    loaded.model.save(str(staging / "model"))
    size_on_disk = {
        "dense_weights_bytes": loaded.dense_bytes,
        "model_weights_bytes": _safetensors_bytes(staging / "model"),
    }
    if not config.structured:
        size_on_disk["sparse_weights_bytes"] = save_sparse(staging / "model", staging / "model.sparse")["sparse_bytes"]
    if calibration.sets:
        (staging / "calibration").mkdir()
        for name, chosen in calibration.sets.items():
            write_pairs(staging / "calibration" / f"{name}.jsonl", chosen.pairs)
    return size_on_disk


def _export(
    config: PruneConfig, loaded: _Loaded, staging: Path, stage: OnStage, seconds: dict[str, float]
) -> dict[str, object]:
    """Ship the saved model's ONNX graph in its folder (``config.export``); what the report records of it."""
    if config.export is ExportFormat.NONE:
        return {}
    stage(f"exporting the {config.export.value} graph")
    with _timed(seconds, "export"):
        shipped = ship_export(staging / "model", config.export, model=loaded.model)
    folder = loaded.encoder.folder
    dense_on_disk = (_safetensors_bytes(folder) if folder is not None else 0) or loaded.dense_bytes
    return {
        "format": shipped.format,
        "file": f"model/{shipped.file}",
        "bytes": shipped.bytes,
        "dense_bytes_on_disk": dense_on_disk,
        "fraction_of_dense": round(shipped.bytes / dense_on_disk, 6),
        "weights_fingerprint": shipped.weights_fingerprint,
    }


def _evaluate_pruned(
    config: PruneConfig,
    method: PruneMethod,
    inputs: _Inputs,
    dense_scores: dict[str, dict[str, float]],
    staging: Path,
    stage: OnStage,
    seconds: dict[str, float],
) -> dict[str, SuiteScores]:
    """The saved pruned model's scores beside the dense ones, per suite (none unless ``config.evaluate``)."""
    suites: dict[str, SuiteScores] = {}
    if not config.evaluate:
        return suites
    stage("scoring the pruned model")
    with _timed(seconds, "evaluation"):
        pruned = _saved_encoder(staging / "model", config, method)
        for side, bench, tasks in inputs.sides(config):
            scored = _main_scores(pruned, bench, tasks, staging / "results", config, use_cache=config.cache_pruned)
            suites[side] = SuiteScores.from_scores(str(bench.path), bench.checksum, dense_scores[side], scored)
    return suites


def _report(
    config: PruneConfig,
    method: PruneMethod,
    loaded: _Loaded,
    ffn: FfnModel,
    calibration: _Calibration,
    *,
    seconds: dict[str, float],
    peak_mb: float | None,
    diagnostics: dict[str, float],
    retrain_steps: int,
    retraining: dict[str, object],
    size_on_disk: dict[str, int],
    suites: dict[str, SuiteScores],
    export: dict[str, object],
) -> PruneReport:
    """What the run did and what it cost, measured on the pruned model."""
    model = loaded.model
    per_layer, ffn_sparsity = _sparsity(ffn, config, loaded.dense_width)
    pruned_params = sum(p.numel() for p in model.parameters())
    zeros = sum(int((w == 0).sum()) for w in ffn.weights().values()) if not config.structured else 0
    return PruneReport(
        model=config.model,
        model_fingerprint=loaded.encoder.fingerprint,
        domain=config.domain.value,
        method=method.name,
        variant=method.variant(config.scoring_settings()),
        structured=config.structured,
        target_sparsity=config.sparsity,
        ranking=config.ranking.value,
        hyperparameters=config.to_dict(),
        per_layer=[asdict(row) for row in per_layer],
        ffn_sparsity=ffn_sparsity,
        model_sparsity=round((loaded.dense_params - pruned_params + zeros) / loaded.dense_params, 6),
        ffn_width={"dense": loaded.dense_width, "pruned": ffn.layers[0].width} if config.structured else None,
        calibration={
            name: s.summary() | {"reused_from_stage_cache": calibration.reused[name]}
            for name, s in calibration.sets.items()
        },
        seconds={k: round(v, 3) for k, v in seconds.items()},
        scoring_peak_memory_mb=peak_mb,
        diagnostics=diagnostics,
        retrain_steps=retrain_steps,
        retraining=retraining,
        size_on_disk=size_on_disk,
        suites=suites,
        export=export,
        seed=config.seed,
        device=loaded.device,
        versions=_versions(),
    )


# ----------------------------------------------------------------------------- input
def _check_target(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / REPORT).is_file())):
        raise DomainembError(f"{out}: exists and is not an earlier prune run; choose another --out")


def _load_encoder(name: str) -> SentenceTransformerEncoder:
    from domainemb.evaluation.encoders import SentenceTransformerEncoder, load_encoder

    encoder = load_encoder(name)
    if not isinstance(encoder, SentenceTransformerEncoder):
        raise DomainembError(f"cannot prune {name!r}: it is not a sentence-transformers model")
    return encoder


# ----------------------------------------------------------------------------- evaluation
def _main_scores(
    encoder: Encoder, bench: Benchmark, tasks: tuple[str, ...], out: Path, config: PruneConfig, use_cache: bool
) -> dict[str, float]:
    result = score_models(
        bench, [encoder], out, tasks=tasks, seed=config.seed, batch_size=config.eval_batch_size, use_cache=use_cache
    )
    return {s.task: s.main_score for s in result.scores}


def _saved_encoder(folder: Path, config: PruneConfig, method: PruneMethod) -> SentenceTransformerEncoder:
    from domainemb.evaluation.encoders import sentence_transformer_from_folder

    label = method.label(config.scoring_settings())
    kind = "structured" if config.structured else "unstructured"
    name = f"pruned-{label}-{kind}-{config.sparsity:g}-r{config.retrain_steps}"
    return sentence_transformer_from_folder(
        folder, name=name, model_name=f"domainemb-pruned/{Path(config.model).name}-{name}"
    )


# ----------------------------------------------------------------------------- measurements
def _sparsity(ffn: FfnModel, config: PruneConfig, dense_width: int) -> tuple[list[LayerSparsity], float]:
    if config.structured:
        removed = round(1 - ffn.layers[0].width / dense_width, 6)
        return [LayerSparsity(layer.index, removed, removed, removed) for layer in ffn.layers], removed
    return sparsity_by_layer([(layer.index, layer.up.weight, layer.down.weight) for layer in ffn.layers])


def _overlap_with_magnitude(
    weights: dict[str, torch.nn.Parameter], masks: dict[str, torch.Tensor], config: PruneConfig
) -> float:
    """Fraction of the pruned weights that magnitude pruning at the same sparsity would also prune."""
    magnitude = masks_from_scores({n: w.detach().abs() for n, w in weights.items()}, config.sparsity, config.ranking)
    both = sum(int((~masks[n] & ~magnitude[n]).sum()) for n in masks)
    pruned = sum(int((~masks[n]).sum()) for n in masks)
    return round(both / pruned, 6) if pruned else 0.0


def _parameter_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _safetensors_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.safetensors"))


@contextmanager
def _timed(seconds: dict[str, float], key: str) -> Iterator[None]:
    """Add the block's wall time to ``seconds[key]``."""
    start = time.perf_counter()
    yield
    seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - start


@contextmanager
def _peak_memory(device: str) -> Iterator[dict[str, float]]:
    """Peak memory while the block runs: CUDA allocator peak, or sampled resident set size (MB)."""
    result: dict[str, float] = {}
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        yield result
        result["mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return
    peak = [_rss_bytes()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], _rss_bytes())
        result["mb"] = round(peak[0] / 2**20, 1)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    except OSError:  # not Linux: the process's lifetime peak is the best available
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _versions() -> dict[str, str]:
    import sentence_transformers
    import transformers

    return {
        "domainemb": domainemb.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }
