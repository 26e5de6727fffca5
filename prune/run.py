"""One ``domainemb prune`` run: check the input, calibrate, score, prune, retrain, save, evaluate.

Everything that can fail on the user's input (config values, model name, architecture, pairs
file, too few calibration pairs) is checked before anything is written to the output folder. The
run writes into a hidden sibling of ``out`` that is renamed into place only when complete, so a
failed run never leaves a half-written folder that looks complete.

Layout of ``out``::

    model/                 the pruned sentence-transformers model (plain ``SentenceTransformer(path)``)
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
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

import domainemb
from domainemb.domains.benchmark import Benchmark
from domainemb.errors import DomainembError
from domainemb.evaluation.tokenizer_settings import TokenizerSettings
from domainemb.prune.architecture import FfnModel, ffn_model
from domainemb.prune.calibration import CalibrationSet, calibration_set, synth_pairs, train_split_pairs, write_pairs
from domainemb.prune.config import PruneConfig, PruneMethod
from domainemb.prune.gradients import GradientMoments, infonce_moments
from domainemb.prune.importance import importance_scores
from domainemb.prune.masks import LayerSparsity, apply_masks, masks_from_scores, sparsity_by_layer
from domainemb.prune.report import REPORT, PruneReport, SuiteScores
from domainemb.prune.sparse_io import save_sparse
from domainemb.prune.stage_cache import StageCache, pairs_digest, stage_key
from domainemb.prune.structured import neuron_scores, shrink_ffn
from domainemb.suites import open_suite, score_models
from domainemb.types import Domain

if TYPE_CHECKING:
    from domainemb.adapt.pairs import TrainingPair
    from domainemb.evaluation.encoders import Encoder, SentenceTransformerEncoder

log = logging.getLogger(__name__)

OnStage = Callable[[str], None]


@dataclass(frozen=True)
class PruneResult:
    """The run folder and its report."""

    out: Path
    report: PruneReport


def prune(config: PruneConfig, on_stage: OnStage | None = None) -> PruneResult:
    """Prune ``config.model`` for ``config.domain`` and write the run folder ``config.out``.

    Args:
        config: The run.
        on_stage: Called with a short description as each stage starts (for progress display).

    Raises:
        DomainembError: bad input (unknown model or architecture, unreadable pairs, too few
            calibration pairs, an output folder that is not a previous prune run); nothing is written
            to ``config.out``.
    """
    stage = on_stage or (lambda name: None)
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    out = Path(config.out)
    _check_target(out)
    stages = StageCache(Path(config.stage_cache)) if config.stage_cache is not None else None

    stage("loading the model")
    encoder = _load_encoder(config.model)
    model = encoder.model
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    ffn = ffn_model(model)
    dense_bytes = _parameter_bytes(model)
    dense_params = sum(p.numel() for p in model.parameters())
    dense_width = ffn.layers[0].width
    tokenizer_settings = TokenizerSettings.capture(model)  # put back before saving: a stable fingerprint

    needs_domain_pairs = config.method in (PruneMethod.GAPRUNE, PruneMethod.FISHER_DOMAIN) or config.retrain_steps > 0
    needs_general_pairs = config.method in (PruneMethod.GAPRUNE, PruneMethod.FISHER_GENERAL)
    # prune takes any built benchmark for either side (check_kind=False), as it always has.
    domain_bench = (
        open_suite(
            config.domain, config.size, config.benchmarks, config.domain_benchmark, check_kind=False, on_step=stage
        )
        if config.evaluate or (needs_domain_pairs and config.pairs is None)
        else None
    )
    general_bench = (
        open_suite(
            Domain.GENERAL, config.size, config.benchmarks, config.general_benchmark, check_kind=False, on_step=stage
        )
        if config.evaluate or needs_general_pairs
        else None
    )

    if config.evaluate:  # unknown task names fail here, before any work
        for bench, tasks in ((domain_bench, config.domain_tasks), (general_bench, config.general_tasks)):
            for task in tasks:
                bench.task(task)

    t = time.perf_counter()
    candidates: dict[str, tuple[list[TrainingPair], str, str]] = {}
    if needs_domain_pairs:
        candidates["domain"] = _domain_candidates(config, domain_bench)
    if needs_general_pairs:
        pairs, tasks = train_split_pairs(general_bench, config.seed)
        candidates["general"] = (
            pairs,
            f"{general_bench.path} train splits ({', '.join(tasks) or 'none'})",
            general_bench.checksum,
        )
    for name, (pairs, source, _) in candidates.items():  # before any work: too few pairs is bad input
        if len(pairs) < config.min_calibration_pairs:
            raise DomainembError(
                f"too few {name} calibration pairs: {len(pairs)} from {source}, need at least {config.min_calibration_pairs} "
                "(give more pairs, or lower min_calibration_pairs in a config file)"
            )

    if config.retrain_steps > 0 and config.pairs is None:
        log.warning(
            "retraining on same-label train-split pairs, which costs retrieval scores; "
            "query-passage pairs from domainemb synth (--pairs) retrain far better (BENCHMARKS.md, Pruning)"
        )

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.pruning-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    seconds["calibration"] = time.perf_counter() - t
    try:
        suites_dense: dict[str, dict[str, float]] = {}
        if config.evaluate:
            stage("scoring the dense model")
            te = time.perf_counter()
            for side, bench, tasks in (
                ("domain", domain_bench, config.domain_tasks),
                ("general", general_bench, config.general_tasks),
            ):
                dense_out = staging / "results" if config.dense_results is None else Path(config.dense_results)
                suites_dense[side] = _main_scores(encoder, bench, tasks, dense_out, config, use_cache=True)
            seconds["evaluation"] = time.perf_counter() - te

        stage("choosing calibration pairs")
        t = time.perf_counter()
        sets: dict[str, CalibrationSet] = {}
        sizes = {"domain": config.domain_calibration, "general": config.general_calibration}
        keys: dict[str, str] = {}
        reused: dict[str, dict[str, bool]] = {name: {"pairs": False, "moments": False} for name in candidates}
        for name, (pairs, source, checksum) in candidates.items():
            keys[name] = stage_key(
                stage="calibration",
                model=encoder.fingerprint,
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
                model,
                sizes[name],
                config.min_calibration_pairs,
                config.candidate_pool,
                config.seed,
            )
            if stages:
                stages.put_calibration(keys[name], sets[name].pairs)
        seconds["calibration"] += time.perf_counter() - t

        stage(f"scoring weights ({config.method})")
        t = time.perf_counter()
        weights = ffn.weights()
        moments: dict[str, GradientMoments] = {}
        with _peak_memory(device) as peak:
            previous_length = model.max_seq_length
            model.max_seq_length = config.max_seq_length
            try:
                for name in ("domain", "general"):
                    if (name == "domain" and config.method in (PruneMethod.GAPRUNE, PruneMethod.FISHER_DOMAIN)) or (
                        name == "general" and needs_general_pairs
                    ):
                        key = stage_key(
                            stage="moments",
                            calibration=keys[name],
                            batch_size=config.batch_size,
                            max_seq_length=config.max_seq_length,
                            scale=config.scale,
                            device=device,
                            weights=sorted(weights),
                        )
                        cached = stages.moments(key, device) if stages else None
                        if cached is not None:
                            log.info("%s gradient moments: reused from %s", name, stages.root)
                            reused[name]["moments"] = True
                            moments[name] = cached
                            continue
                        moments[name] = infonce_moments(
                            model, weights, sets[name].pairs, config.batch_size, config.scale
                        )
                        if stages:
                            stages.put_moments(key, moments[name])
            finally:
                model.max_seq_length = previous_length
            scores = importance_scores(
                config.method,
                weights,
                domain=moments.get("domain"),
                general=moments.get("general"),
                variant=config.variant,
                alpha=config.alpha,
                beta=config.beta,
                gamma=config.gamma,
                seed=config.seed,
            )
        seconds["scoring"] = time.perf_counter() - t
        diagnostics = _dai_terms(weights, moments, config) if config.method is PruneMethod.GAPRUNE else {}
        del moments

        stage("pruning")
        masks = None
        if config.structured:
            shrink_ffn(ffn, neuron_scores(ffn, scores), config.sparsity)
            ffn = ffn_model(model)
        else:
            masks = masks_from_scores(scores, config.sparsity, config.ranking)
            if config.method is not PruneMethod.MAGNITUDE:
                diagnostics["pruned_overlap_with_magnitude"] = _overlap_with_magnitude(weights, masks, config)
            apply_masks(weights, masks)
        del scores

        retrain_steps = 0
        if config.retrain_steps:
            stage(f"retraining ({config.retrain_steps} steps)")
            from domainemb.prune.retrain import retrain

            t = time.perf_counter()
            outcome = retrain(
                model, sets["domain"].pairs, config, weights=None if config.structured else ffn.weights(), masks=masks
            )
            retrain_steps = outcome.steps
            seconds["retraining"] = time.perf_counter() - t

        stage("saving")
        tokenizer_settings.restore(model)
        model.save(str(staging / "model"))
        size_on_disk = {
            "dense_weights_bytes": dense_bytes,
            "model_weights_bytes": _safetensors_bytes(staging / "model"),
        }
        if not config.structured:
            size_on_disk["sparse_weights_bytes"] = save_sparse(staging / "model", staging / "model.sparse")[
                "sparse_bytes"
            ]
        if sets:
            (staging / "calibration").mkdir()
            for name, chosen in sets.items():
                write_pairs(chosen.pairs, staging / "calibration" / f"{name}.jsonl")

        suites: dict[str, SuiteScores] = {}
        if config.evaluate:
            stage("scoring the pruned model")
            te = time.perf_counter()
            pruned = _saved_encoder(staging / "model", config)
            for side, bench, tasks in (
                ("domain", domain_bench, config.domain_tasks),
                ("general", general_bench, config.general_tasks),
            ):
                scored = _main_scores(pruned, bench, tasks, staging / "results", config, use_cache=config.cache_pruned)
                suites[side] = SuiteScores.from_scores(str(bench.path), bench.checksum, suites_dense[side], scored)
            seconds["evaluation"] += time.perf_counter() - te

        per_layer, ffn_sparsity = _sparsity(ffn, config, dense_width)
        pruned_params = sum(p.numel() for p in model.parameters())
        zeros = sum(int((w == 0).sum()) for w in ffn.weights().values()) if not config.structured else 0
        seconds["total"] = time.perf_counter() - started
        report = PruneReport(
            model=config.model,
            model_fingerprint=encoder.fingerprint,
            domain=config.domain.value,
            method=config.method.value,
            variant=config.variant.value if config.method is PruneMethod.GAPRUNE else None,
            structured=config.structured,
            target_sparsity=config.sparsity,
            ranking=config.ranking.value,
            hyperparameters=config.to_dict(),
            per_layer=[asdict(row) for row in per_layer],
            ffn_sparsity=ffn_sparsity,
            model_sparsity=round((dense_params - pruned_params + zeros) / dense_params, 6),
            ffn_width={"dense": dense_width, "pruned": ffn.layers[0].width} if config.structured else None,
            calibration={name: s.summary() | {"reused_from_stage_cache": reused[name]} for name, s in sets.items()},
            seconds={k: round(v, 3) for k, v in seconds.items()},
            scoring_peak_memory_mb=peak.get("mb"),
            diagnostics=diagnostics,
            retrain_steps=retrain_steps,
            size_on_disk=size_on_disk,
            suites=suites,
            seed=config.seed,
            device=device,
            versions=_versions(),
        )
        report.to_disk(staging)
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PruneResult(out=out, report=report)


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


def _domain_candidates(config: PruneConfig, bench: Benchmark | None) -> tuple[list[TrainingPair], str, str]:
    if config.pairs is not None:
        pairs, checksum = synth_pairs(config.pairs)
        return pairs, str(config.pairs), checksum
    pairs, tasks = train_split_pairs(bench, config.seed)
    return pairs, f"{bench.path} train splits ({', '.join(tasks) or 'none'})", bench.checksum


# ----------------------------------------------------------------------------- evaluation
def _main_scores(
    encoder: Encoder, bench: Benchmark, tasks: tuple[str, ...], out: Path, config: PruneConfig, use_cache: bool
) -> dict[str, float]:
    result = score_models(
        bench, [encoder], out, tasks=tasks, seed=config.seed, batch_size=config.eval_batch_size, use_cache=use_cache
    )
    return {s.task: s.main_score for s in result.scores}


def _saved_encoder(folder: Path, config: PruneConfig) -> SentenceTransformerEncoder:
    from domainemb.evaluation.encoders import sentence_transformer_from_folder

    label = f"{config.method}-{config.variant}" if config.method is PruneMethod.GAPRUNE else str(config.method)
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


def _dai_terms(
    weights: dict[str, torch.nn.Parameter], moments: dict[str, GradientMoments], config: PruneConfig
) -> dict[str, float]:
    """Mean size of each DAI term over all FFN weights: shows which term decides the ranking."""
    from domainemb.prune.gradients import alignment

    f_dom, f_gen = moments["domain"].fisher(), moments["general"].fisher()
    s = alignment(moments["domain"], moments["general"])
    totals = {"fisher_term_abs": 0.0, "magnitude_term": 0.0, "alignment_abs": 0.0}
    count = 0
    for name, w in weights.items():
        theta = w.detach().float().abs()
        totals["fisher_term_abs"] += float(((f_dom[name] - config.beta * f_gen[name]) * theta).abs().sum())
        totals["magnitude_term"] += float((config.gamma * theta.sqrt()).sum())
        totals["alignment_abs"] += float(s[name].abs().sum())
        count += theta.numel()
    return {f"mean_{k}": v / count for k, v in totals.items()}


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


def _swap_into_place(staging: Path, out: Path) -> None:
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out)
