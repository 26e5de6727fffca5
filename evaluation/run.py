"""Score models on a built benchmark: each task through ``mteb.evaluate``, results in mteb's layout.

Everything that can fail on the user's input (benchmark files, model names, task names, a model
asked to score a task type it cannot serve) is checked before the first task runs, so bad input
never leaves a partial result behind.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import domainemb
from domainemb.domains.benchmark import Benchmark
from domainemb.domains.manifest import TaskEntry, data_revision
from domainemb.domains.tables import TEXT_COLUMNS
from domainemb.errors import DomainembError
from domainemb.evaluation.backends import (
    check_backend,
    check_exportable_name,
    identity_on,
    parse_backend,
    with_backend,
)
from domainemb.evaluation.cache import CachedModel, CacheStats, EmbeddingCache
from domainemb.evaluation.devices import check_device_names, check_devices_exist
from domainemb.evaluation.encoders import DEFAULT_MODEL, Encoder, ModelIdentity, identify, load_encoder
from domainemb.evaluation.results import Provenance, TaskScore, prediction_path, result_path, write_model_meta
from domainemb.outputs import check_output_folder
from domainemb.progress import OnEvent, StageEvent
from domainemb.types import TaskType

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluateConfig:
    """What to evaluate and where the results go.

    Args:
        benchmark: A folder written by ``domainemb build-benchmark``.
        models: Model names: registry names (``minilm``, ``bm25``, ...), model folders or hub ids.
        tasks: Task names to run; all tasks of the benchmark when empty.
        out: Results folder (mteb layout under ``out/results``).
        overwrite: Re-run tasks already scored for the same model fingerprint and data by the installed mteb.
        seed: Seed of each task's sampling (classification, clustering).
        batch_size: Texts per forward pass.
        cache: The embedding cache file; ``None`` for the default (``$DOMAINEMB_CACHE/embeddings.sqlite``).
        use_cache: Keep and reuse embeddings on disk.
        save_predictions: Also keep mteb's per-item predictions of each task, in
            ``out/predictions/<model>/<revision>/<Task>_predictions.json`` (they feed per-item
            bootstrap intervals). Only tasks that run write them: a task scored earlier is kept as
            it is (``overwrite`` runs it again, with predictions).
        devices: Where sentence-transformers models encode: ``("cuda:0", "cuda:1")`` or
            ``("cpu", "cpu")`` start one worker process per device (once per model and run), one
            device moves the model there, none leaves sentence-transformers' choice. Scores do not
            depend on it; results record it (:mod:`domainemb.evaluation.devices`).
        backend: What runs the sentence-transformers models: ``torch``, or their exported graph on
            ``onnx``, ``onnx-int8``, ``openvino`` (:mod:`domainemb.evaluation.backends`). A non-torch
            backend is part of each model's fingerprint (results and cached embeddings are its own)
            and encodes in this process on the CPU.
    """

    benchmark: Path
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    tasks: tuple[str, ...] = ()
    out: Path = Path("results")
    overwrite: bool = False
    seed: int = 42
    batch_size: int = 32
    cache: Path | None = None
    use_cache: bool = True
    save_predictions: bool = False
    devices: tuple[str, ...] = ()
    backend: str = "torch"

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise DomainembError(f"--batch-size must be a positive whole number, got {self.batch_size!r}")
        check_device_names(self.devices)
        object.__setattr__(self, "backend", parse_backend(self.backend).value)


@dataclass(frozen=True)
class EvaluationResult:
    """The scores of one ``evaluate`` call (one per model and task, reused ones included)."""

    scores: tuple[TaskScore, ...]
    out: Path
    seconds: float
    cache: CacheStats = field(default_factory=CacheStats)


def evaluate(
    config: EvaluateConfig,
    encoders: Mapping[str, Encoder] | None = None,
    on_event: OnEvent | None = None,
) -> EvaluationResult:
    """Run every model of ``config`` on every selected task of its benchmark.

    Args:
        config: What to run.
        encoders: Encoders already loaded, by model name (tests pass fakes here); other names are
            loaded with :func:`~domainemb.evaluation.encoders.load_encoder`.
        on_event: Called with a :class:`~domainemb.progress.StageEvent` ``<model>: <task>`` as each
            task starts, counting the (model, task) runs done; the first comes once the input is checked.

    Returns:
        The scores, in model then task order.

    Raises:
        DataError: a benchmark file is missing or altered.
        UnknownNameError: an unknown model or task name.
        DomainembError: a model that cannot be loaded, or cannot serve a selected task's type;
            ``config.out`` is a file or cannot be written to.
    """
    start = time.perf_counter()
    check_output_folder(config.out)
    check_devices_exist(config.devices)
    backend = check_backend(config.backend, config.devices)
    # The manifest is read and checked once; a task's files are verified when the task runs, so a
    # re-run whose results are all kept reads no task data and loads no model.
    benchmark = Benchmark.open(config.benchmark, verify=False)
    entries = [benchmark.task(name) for name in config.tasks] if config.tasks else list(benchmark.tasks)
    if not config.models:
        raise DomainembError("no model given")
    names = list(dict.fromkeys(config.models))
    for name in names:
        if name not in (encoders or {}):
            check_exportable_name(name, backend)
    kept = {name: _kept_scores(name, (encoders or {}).get(name), entries, config) for name in names}
    loaded = {
        name: with_backend((encoders or {}).get(name) or load_encoder(name), backend)
        for name in names
        if kept[name] is None
    }
    for encoder in loaded.values():
        _check_serves(encoder, entries)
    verified: set[str] = set()

    def verified_once(entry: TaskEntry) -> None:
        if entry.name not in verified:
            benchmark.verify_task(entry)
            verified.add(entry.name)

    if loaded:  # every task file is checked before the first task runs: bad data leaves no partial result
        for entry in entries:
            verified_once(entry)

    runs = len(names) * len(entries)
    cache = EmbeddingCache(config.cache) if config.use_cache and any(e.cacheable for e in loaded.values()) else None
    scores: list[TaskScore] = []
    try:
        for name in names:
            if kept[name] is not None:
                log.info("%s: every task already scored; the model is not loaded", name)
                scores.extend(kept[name])
                continue
            encoder = loaded[name]
            with encoder.encoding_on(config.devices):  # a pool of workers starts at its first encode
                for entry in entries:
                    if on_event:
                        on_event(StageEvent(f"{Path(encoder.name).name}: {entry.name}", done=len(scores), total=runs))
                    scores.append(_score_task(encoder, benchmark, entry, config, cache))
    finally:
        if cache is not None:
            cache.close()
    return EvaluationResult(
        scores=tuple(scores),
        out=config.out,
        seconds=time.perf_counter() - start,
        cache=cache.stats if cache is not None else CacheStats(),
    )


def _kept_scores(
    name: str, encoder: Encoder | None, entries: list[TaskEntry], config: EvaluateConfig
) -> list[TaskScore] | None:
    """Every selected task's earlier score for this model, found without loading it; ``None`` if any is missing."""
    if config.overwrite:
        return None
    backend = parse_backend(config.backend)
    identity = identity_on(encoder if encoder is not None else identify(name), backend)
    if identity is None:
        return None
    scores = []
    for entry in entries:
        path = result_path(config.out, identity.model_name, identity.revision, entry.name)
        # Only a look: the task that is run again names an unkept file (in _score_task).
        earlier = earlier_score(path, identity, data_revision(entry), config.seed, warn=False)
        if earlier is None:
            return None
        scores.append(earlier)
    return scores


def _check_serves(encoder: Encoder, entries: list[TaskEntry]) -> None:
    for entry in entries:
        if TaskType(entry.type) not in encoder.serves:
            served = ", ".join(sorted(encoder.serves))
            raise DomainembError(
                f"model {encoder.name!r} cannot score {entry.type} tasks ({entry.name}); it serves {served}. "
                "Pick tasks with --tasks or another model"
            )


def _score_task(
    encoder: Encoder, benchmark: Benchmark, entry: TaskEntry, config: EvaluateConfig, cache: EmbeddingCache | None
) -> TaskScore:
    from domainemb.evaluation.mteb_tasks import to_mteb_task

    path = result_path(config.out, encoder.model_name, encoder.revision, entry.name)
    predictions = prediction_path(config.out, encoder.model_name, encoder.revision, entry.name)
    revision = data_revision(entry)
    if not config.overwrite:
        earlier = earlier_score(path, encoder, revision, config.seed)
        if earlier is not None:
            log.info("%s on %s: already scored in %s", encoder.name, entry.name, path)
            return earlier
    import mteb

    started = time.perf_counter()
    task = type(to_mteb_task(benchmark, entry))(seed=config.seed)
    if type(encoder).prepare is not Encoder.prepare:
        encoder.prepare(task_texts(benchmark, entry))
    model = encoder.mteb_model()
    if cache is not None and encoder.cacheable:
        model = CachedModel(model, cache, encoder.fingerprint)
    outcome = mteb.evaluate(
        model,
        [task],
        cache=None,
        encode_kwargs={"batch_size": config.batch_size, "show_progress_bar": False},
        show_progress_bar=False,
        raise_error=True,
        prediction_folder=predictions.parent if config.save_predictions else None,
    )
    (result,) = outcome.task_results
    score = TaskScore(
        task=entry.name,
        task_type=entry.type,
        main_score_name=entry.main_score,
        main_score=float(result.get_score()),
        provenance=Provenance(
            model=encoder.name,
            model_name=encoder.model_name,
            model_fingerprint=encoder.fingerprint,
            benchmark=str(benchmark.path),
            benchmark_checksum=benchmark.checksum,
            task_data_revision=revision,
            domainemb_version=domainemb.__version__,
            mteb_version=mteb.__version__,
            seed=config.seed,
            wall_time_s=round(time.perf_counter() - started, 3),
            devices=encoder.devices,
            backend=encoder.backend,
        ),
        mteb_result=result,
    )
    score.to_disk(path)
    write_model_meta(path.parent, model.mteb_model_meta.to_dict())
    return score


def earlier_score(
    path: Path, encoder: Encoder | ModelIdentity, revision: str, seed: int, *, warn: bool = True
) -> TaskScore | None:
    """The stored score when it is for this exact model, data and seed, scored by the installed mteb; else ``None``.

    The one test of whether a result is kept: ``evaluate`` and ``compare`` (:mod:`domainemb.compare.kept`) use it.
    A score another mteb version computed is not kept (its evaluator may score otherwise, and the table
    would mix both versions' numbers): the task runs again.

    Args:
        path: The result file.
        encoder: The model (its fingerprint and the name it is given now).
        revision: The task's data revision.
        seed: The run's seed.
        warn: Log, as a warning naming the file, why a result that is there is not kept (unreadable, or
            scored by another mteb version). The call that runs the task when nothing is kept warns; the
            calls that only look whether a model has work left pass ``False``, so each file is named once.
    """
    if not path.is_file():
        return None
    try:
        earlier = TaskScore.from_disk(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if warn:
            log.warning("%s: unreadable earlier result (%s); running the task again", path, exc)
        return None
    p = earlier.provenance
    if p.model_fingerprint != encoder.fingerprint or p.task_data_revision != revision or p.seed != seed:
        return None
    installed = installed_mteb_version()
    if p.mteb_version != installed:
        if warn:
            log.warning(
                "%s: scored by mteb %s, not the installed mteb %s; running the task again",
                path,
                p.mteb_version,
                installed,
            )
        return None
    # The same model may be named otherwise this time (another folder holding the same weights):
    # the kept score is filed under the name given now, as a fresh one would be.
    return replace(earlier, provenance=replace(p, model=encoder.name)) if p.model != encoder.name else earlier


@functools.cache
def installed_mteb_version() -> str:
    """The installed mteb's version, as ``mteb.__version__`` gives it (its package metadata), without
    importing mteb: a re-run whose results are all kept does not import it."""
    from importlib.metadata import version

    return version("mteb")


def task_texts(benchmark: Benchmark, entry: TaskEntry) -> list[str]:
    """Every text of a task (all splits; corpus titles included), sorted and de-duplicated."""
    texts: set[str] = set()
    for table in benchmark.tables(entry).values():
        for column in sorted((TEXT_COLUMNS | {"title"}) & set(table.columns)):
            values = table[column]
            if values.dtype.is_nested():
                values = values.explode()
            texts.update(v for v in values.drop_nulls().to_list() if v)
    return sorted(texts)
