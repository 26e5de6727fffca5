"""``domainemb compare``: score models on a domain suite and the general suite, then analyse.

Steps: open (or build, into the benchmarks folder) both suites; check the input (task names, a
general counterpart for the domain's task types, model names) before anything is scored; run the
evaluation engine for every model and the ``bm25`` / ``bow`` baselines on the tasks each can serve;
collect the scores it returns, checking that each was scored on this version of its task, with the
per-item predictions it keeps for the bootstrap intervals; measure dataset complexity; write
``analysis.json``, which ``domainemb report`` renders.

Output folder::

    OUT/domain/results/...      mteb layout, one folder per model and revision (and predictions/)
    OUT/general/results/...
    OUT/quantized/results/...   domain retrieval and STS results with int8, binary and truncated vectors
    OUT/complexity.json         complexity per task (reused while a task's data are unchanged)
    OUT/costs/<key>.json        each model's cost profile, reused while its key is unchanged
    OUT/analysis.json           everything the report shows
    OUT/kept.json               the key of the run that wrote analysis.json

A re-run whose results are all kept (same models by fingerprint, same suites by manifest, same
settings) returns the kept analysis without loading a model or reading task data
(:mod:`domainemb.compare.kept`). In any other run, a model whose every result and cost profile are
kept is not loaded either: its scores and profile are read from disk, and the analysis is the one
a run that loaded it would write.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import domainemb
from domainemb.compare.analysis import DOMAIN, GENERAL, BootstrapSettings, SuiteResults, analyse
from domainemb.compare.analysis_file import (
    ANALYSIS_FILE,
    ANALYSIS_FORMAT,
    Analysis,
    BenchmarkRef,
    ComplexitySummary,
    ComplexityTools,
    ModelFingerprint,
    Provenance,
    SuiteInfo,
    TaskInfo,
    read_analysis,
)
from domainemb.compare.bootstrap import ItemScores, Unavailable, item_scores, prediction_path
from domainemb.compare.complexity import MEASURE_LABELS, Measure, TaskComplexity, measure_tasks
from domainemb.compare.config import BASELINES, CompareConfig
from domainemb.compare.kept import CostRecords, find_kept, kept_models, merged_costs, remember, run_inputs
from domainemb.domains.benchmark import Benchmark
from domainemb.domains.manifest import TaskEntry
from domainemb.errors import DomainembError, unknown_name
from domainemb.evaluation.backends import check_backend, check_exportable_name, with_backend
from domainemb.evaluation.devices import check_devices_exist
from domainemb.evaluation.encoders import Encoder, load_encoder
from domainemb.evaluation.results import TaskScore
from domainemb.jsonio import write_json
from domainemb.model_origin import origin_of
from domainemb.progress import OnEvent, StageEvent, ignore
from domainemb.suites import ModelRef, open_suites, score_models
from domainemb.types import Domain, Size, TaskType

log = logging.getLogger(__name__)

COMPLEXITY_FILE = "complexity.json"
#: Results of the quantized and truncated variants (mteb layout), beside ``domain/`` and ``general/``.
QUANTIZED_DIR = "quantized"
FORMAT = ANALYSIS_FORMAT  # the analysis file's contract lives in domainemb.compare.analysis_file
__all__ = [
    "ANALYSIS_FILE",
    "COMPLEXITY_FILE",
    "FORMAT",
    "CompareResult",
    "collect_suite",
    "compare",
    "examples",
    "read_analysis",
    "scored_suite",
]
#: Example items shown per task in the report, and the characters kept of each text.
EXAMPLES = 3
EXAMPLE_CHARS = 300


@dataclass(frozen=True)
class CompareResult:
    out: Path
    analysis_path: Path
    analysis: Analysis
    seconds: float
    kept: bool = False  # the analysis of an earlier run with the same inputs: nothing was scored or measured


def compare(
    config: CompareConfig, encoders: Mapping[str, Encoder] | None = None, on_event: OnEvent | None = None
) -> CompareResult:
    """Run one comparison (see the module docstring).

    Args:
        config: What to compare.
        encoders: Encoders already loaded, by name (tests pass fakes); others are loaded by name.
        on_event: Called with a :class:`~domainemb.progress.StageEvent` as each step starts, and as
            each (model, task) run of a suite starts.

    Raises:
        DomainembError: the general suite as the domain, suites of different sizes, unknown task
            or model names, no task type shared with the general suite, results scored on another
            version of a task, or a result missing from the results folder.
    """
    start = time.perf_counter()
    event = on_event or ignore
    if Domain(config.domain) is Domain.GENERAL:
        raise DomainembError(
            "general is the reference suite; compare a domain suite (finance, chemistry, medicine) with it"
        )
    if config.cost_sample_texts < 0:
        raise DomainembError(f"--cost-texts must be 0 (no cost measured) or more, got {config.cost_sample_texts}")
    check_devices_exist(config.devices)
    backend = check_backend(config.backend, config.devices)
    on_backend = [name for name in config.models if name not in BASELINES]  # the baselines run as they are
    for name in on_backend:
        if name not in (encoders or {}):
            check_exportable_name(name, backend)
    kept = find_kept(config, encoders)
    if kept is not None:
        event(StageEvent(f"every result is kept: the analysis of {kept.created} (nothing scored or measured)"))
        path = config.out_dir / ANALYSIS_FILE
        return CompareResult(config.out_dir, path, kept, time.perf_counter() - start, kept=True)
    domain_bench, general_bench = open_suites(
        config.domain,
        config.size,
        config.benchmarks,
        config.domain_benchmark,
        config.general_benchmark,
        on_event=event,
    )
    domain_tasks, general_tasks = _select_tasks(domain_bench, general_bench, config)
    out = config.out_dir
    suites = {DOMAIN: (domain_bench, domain_tasks), GENERAL: (general_bench, general_tasks)}
    records = CostRecords.of(config, domain_bench, domain_tasks) if config.cost_sample_texts > 0 else None
    done = kept_models(config, suites, records, encoders)  # nothing left to do: not loaded
    if done:
        kept_what = "every result and cost profile" if records is not None else "every result"
        event(StageEvent(f"{kept_what} of {', '.join(done)} kept: not loaded"))
    loaded = {name: (encoders or {}).get(name) or load_encoder(name) for name in config.all_models if name not in done}
    loaded = {name: with_backend(e, backend) if name in on_backend else e for name, e in loaded.items()}
    models = [
        done[name].ref
        if name in done
        else ModelRef.of(loaded[name], name=name, baseline=name in BASELINES and name not in config.models)
        for name in config.all_models
    ]
    origins = {name: o for name in config.models if (o := origin_of(name)) is not None}  # made by adapt or prune

    with ExitStack() as placed:  # one worker pool per model (--devices) serves both suites
        for encoder in loaded.values():
            placed.enter_context(encoder.encoding_on(config.devices))
        scores = {
            key: _score(config, key, bench, entries, loaded, out / key, event)
            for key, (bench, entries) in suites.items()
        }
    for key in suites:
        scores[key].update({name: dict(kept.scores[key]) for name, kept in done.items()})
    results = {
        key: scored_suite(out / key, bench, entries, models, scores[key]) for key, (bench, entries) in suites.items()
    }
    costs = None
    if records is not None:
        event(
            StageEvent(
                f"measuring each model's cost on {config.cost_sample_texts} {domain_bench.manifest.domain} texts"
            )
        )
        kept_costs = records.find(loaded)  # a model whose record matches is not measured again
        kept_costs.update({name: kept.cost for name, kept in done.items() if kept.cost is not None})
        fresh = {name: e for name, e in loaded.items() if name not in kept_costs}
        measured = _costs(config, domain_bench, domain_tasks, fresh) if fresh else None
        costs = merged_costs(
            list(config.all_models), measured, kept_costs, seed=config.seed, batch_size=config.batch_size
        )
        if config.rescore_quantized:
            costs = _rescore(config, costs, domain_bench, domain_tasks, models, loaded, scores[DOMAIN], out, event)
        records.store(costs, loaded)
    event(StageEvent("measuring dataset complexity"))
    complexity = _complexity(config, out, suites)
    measures = [m.value for m in Measure]
    event(StageEvent("bootstrap intervals, rank agreement and ANOVA"))
    stats = analyse(
        results[DOMAIN],
        results[GENERAL],
        [m.name for m in models],
        complexity={t: {m: c.value(Measure(m)) for m in measures} for t, c in complexity.items()},
        measures=measures,
        settings=BootstrapSettings(config.seed, config.bootstrap_samples, config.confidence),
    )
    analysis = Analysis(
        domain=Domain(config.domain).value,
        size=domain_bench.manifest.size,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        models=tuple(models),
        suites={key: _suite_info(bench, entries, key) for key, (bench, entries) in suites.items()},
        complexity=ComplexitySummary(
            measures={m.value: MEASURE_LABELS[m] for m in Measure},
            tasks=dict(complexity),
            texts_per_task=config.complexity_texts,
        ),
        statistics=stats,
        provenance=_provenance(config, models, suites),
        costs=costs,
        origins=origins,
    )
    path = out / ANALYSIS_FILE
    analysis.to_disk(path)
    suite_refs = {key: (bench.path, bench.checksum) for key, (bench, _) in suites.items()}
    remember(out, run_inputs(config, suite_refs, [(m.name, m.model_name, m.fingerprint) for m in models]), path)
    return CompareResult(out=out, analysis_path=path, analysis=analysis, seconds=time.perf_counter() - start)


# ----------------------------------------------------------------------------- input
def _select_tasks(
    domain: Benchmark, general: Benchmark, config: CompareConfig
) -> tuple[list[TaskEntry], list[TaskEntry]]:
    names = {t.name for t in domain.tasks} | {t.name for t in general.tasks}
    for name in config.tasks:
        if name not in names:
            raise unknown_name("task", name, sorted(names))
    types = {TaskType(t) for t in config.task_types}

    def keep(entry: TaskEntry) -> bool:
        return (not config.tasks or entry.name in config.tasks) and (not types or TaskType(entry.type) in types)

    selected = [t for t in domain.tasks if keep(t)], [t for t in general.tasks if keep(t)]
    for label, entries, bench in zip((domain.manifest.domain, "general"), selected, (domain, general), strict=True):
        if not entries:
            raise DomainembError(
                f"no task of the {label} suite ({bench.path}) is selected; add one with --tasks or --type"
            )
    domain_types = {t.type for t in selected[0]}
    general_types = {t.type for t in selected[1]}
    if not domain_types & general_types:
        raise DomainembError(
            f"the selected {domain.manifest.domain} tasks ({', '.join(sorted(domain_types))}) have no general counterpart: "
            f"the selected general tasks are of type {', '.join(sorted(general_types))}; select tasks of a shared type"
        )
    return selected


def _score(
    config: CompareConfig,
    key: str,
    bench: Benchmark,
    entries: list[TaskEntry],
    loaded: Mapping[str, Encoder],
    out: Path,
    on_event: OnEvent,
) -> dict[str, dict[str, TaskScore]]:
    """Score every model on the tasks of ``entries`` it serves: ``{model: {task: score}}``."""
    scores: dict[str, dict[str, TaskScore]] = {}
    for name, encoder in loaded.items():
        served = [e.name for e in entries if TaskType(e.type) in encoder.serves]
        if served:
            on_event(StageEvent(f"{key} suite: scoring {name} on {len(served)} tasks"))
            result = score_models(
                bench,
                [encoder],
                out,
                tasks=served,
                seed=config.seed,
                batch_size=config.batch_size,
                use_cache=config.use_cache,
                overwrite=config.overwrite,
                save_predictions=True,  # per-item predictions feed the bootstrap intervals
                devices=config.devices,
                on_event=on_event,
            )
            scores[name] = {s.task: s for s in result.scores}
    return scores


def _costs(config: CompareConfig, bench: Benchmark, entries: list[TaskEntry], loaded: Mapping[str, Encoder]):
    """Throughput, size and bytes per vector of every model, on one fixed sample of the domain suite's texts."""
    from domainemb.compare.cost import measure_costs
    from domainemb.evaluation.run import task_texts

    texts = sorted({text for entry in entries for text in task_texts(bench, entry)})
    return measure_costs(
        loaded, texts, sample_size=config.cost_sample_texts, seed=config.seed, batch_size=config.batch_size
    )


def _rescore(
    config: CompareConfig,
    costs,
    bench: Benchmark,
    entries: list[TaskEntry],
    models: list[ModelRef],
    loaded: Mapping[str, Encoder],
    scores: Mapping[str, Mapping[str, TaskScore]],
    out: Path,
    on_event: OnEvent,
):
    """``costs`` with each dense model's domain retrieval and STS scores at int8, binary and its Matryoshka
    dimensions (only models whose profile is measured in this run are in ``loaded``)."""
    from dataclasses import replace

    from domainemb.compare.cost import rescore, rescored_tasks

    serves = {m.name: m.serves for m in models}
    profiles, rescored = [], set()
    for profile in costs.profiles:
        tasks = rescored_tasks(entries, serves[profile.model]) if profile.dim is not None else []
        if tasks and not profile.kept:  # a kept profile holds the variants of the run that measured it
            encoder = loaded[profile.model]
            on_event(StageEvent(f"{bench.manifest.domain} suite: rescoring {profile.model} with quantized vectors"))
            float_scores = {t: s.main_score for t, s in scores.get(profile.model, {}).items()}
            profile = rescore(
                profile,
                encoder,
                bench,
                tasks,
                float_scores,
                out / QUANTIZED_DIR,
                seed=config.seed,
                batch_size=config.batch_size,
                use_cache=config.use_cache,
                overwrite=config.overwrite,
                on_event=on_event,
            )
        rescored.update(tasks)
        profiles.append(profile)
    return replace(costs, profiles=tuple(profiles), rescored_tasks=tuple(e.name for e in entries if e.name in rescored))


# ----------------------------------------------------------------------------- results
def scored_suite(
    out: Path,
    bench: Benchmark,
    entries: list[TaskEntry],
    models: list[ModelRef],
    scores: Mapping[str, Mapping[str, TaskScore]],
) -> SuiteResults:
    """Every model's ``scores`` on ``entries`` (as the evaluation engine returned them, by model and task).

    A task outside a model's types (``bm25`` on classification) is missing by design. Per-item
    scores for the bootstrap intervals come from the predictions the engine keeps in ``out``.

    Raises:
        DomainembError: a score for another version of the task's data than ``bench`` holds.
    """
    return _suite_results(out, bench, entries, models, lambda model, entry: scores[model.name][entry.name])


def collect_suite(out: Path, bench: Benchmark, entries: list[TaskEntry], models: list[ModelRef]) -> SuiteResults:
    """Read every model's results on ``entries`` back from ``out`` (the evaluation engine's layout).

    A task outside a model's types (``bm25`` on classification) is missing by design.

    Raises:
        DomainembError: a result file that should be there is not, or was scored on another
            version of the task's data than ``bench`` holds.
    """
    return _suite_results(out, bench, entries, models, lambda model, entry: _read_score(out, model, entry))


def _read_score(out: Path, model: ModelRef, entry: TaskEntry) -> TaskScore:
    from domainemb.evaluation.results import result_path

    path = result_path(out, model.model_name, model.revision, entry.name)
    if not path.is_file():
        raise DomainembError(
            f"{out}: no result of model {model.name} on task {entry.name} (expected {path}); "
            "run `domainemb compare` again to score what is missing"
        )
    try:
        return TaskScore.from_disk(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise DomainembError(
            f"{path}: unreadable result ({exc}); delete it and run `domainemb compare` again"
        ) from None


def _suite_results(
    out: Path,
    bench: Benchmark,
    entries: list[TaskEntry],
    models: list[ModelRef],
    score_of: Callable[[ModelRef, TaskEntry], TaskScore],
) -> SuiteResults:
    from domainemb.evaluation.mteb_tasks import data_revision
    from domainemb.evaluation.results import result_path

    scores: dict[str, dict[str, float | None]] = {}
    items: dict[str, dict[str, ItemScores | Unavailable]] = {}
    for model in models:
        scores[model.name], items[model.name] = {}, {}
        for entry in entries:
            if entry.type not in model.serves:
                continue
            score = score_of(model, entry)
            expected = data_revision(entry)
            if score.provenance.task_data_revision != expected:
                path = result_path(out, model.model_name, model.revision, entry.name)
                raise DomainembError(
                    f"{path}: scored on another version of task {entry.name} (data revision "
                    f"{score.provenance.task_data_revision}, the benchmark {bench.path} holds {expected}); "
                    "run `domainemb compare --overwrite`"
                )
            scores[model.name][entry.name] = score.main_score
            predictions = prediction_path(out, model.model_name, model.revision, entry.name)
            items[model.name][entry.name] = item_scores(
                predictions, bench, entry, score.main_score, seed=score.provenance.seed
            )
    return SuiteResults(name=bench.manifest.domain, types={e.name: e.type for e in entries}, scores=scores, items=items)


def _complexity(
    config: CompareConfig, out: Path, suites: dict[str, tuple[Benchmark, list[TaskEntry]]]
) -> dict[str, TaskComplexity]:
    path = out / COMPLEXITY_FILE
    known: dict[str, TaskComplexity] = {}
    if path.is_file():
        try:
            known = {t: TaskComplexity(**c) for t, c in json.loads(path.read_text(encoding="utf-8")).items()}
        except (ValueError, TypeError):
            log.warning("%s: unreadable; measuring again", path)
    llm = _llm_factory(config)
    measured: dict[str, TaskComplexity] = {}
    for bench, entries in suites.values():
        measured.update(
            measure_tasks(
                bench,
                entries,
                texts=config.complexity_texts,
                seed=config.seed,
                llm=llm,
                llm_items=config.llm_items,
                known=known,
            )
        )
    write_json(path, {**{t: asdict(c) for t, c in known.items()}, **{t: asdict(c) for t, c in measured.items()}})
    return measured


def _llm_factory(config: CompareConfig):
    if not config.llm_model:
        return None
    from domainemb.synth.llm import OpenAIClient

    return lambda: OpenAIClient(model=config.llm_model, base_url=config.llm_base_url, seed=config.seed)


# ----------------------------------------------------------------------------- report data
def _suite_info(bench: Benchmark, entries: list[TaskEntry], key: str) -> SuiteInfo:
    from domainemb.evaluation.mteb_tasks import data_revision

    return SuiteInfo(
        domain=bench.manifest.domain,
        size=bench.manifest.size,
        benchmark=str(bench.path),
        checksum=bench.checksum,
        built_with=bench.manifest.domainemb_version,
        results=f"{key}/",
        tasks=tuple(
            TaskInfo(
                name=e.name,
                type=e.type,
                main_score=e.main_score,
                description=e.description,
                licence=e.licence,
                licence_flag=e.licence_flag,
                citation=e.citation,
                origin=e.origin,
                sizes=e.sizes,
                data_revision=data_revision(e),
                examples=tuple(examples(bench, e)),
            )
            for e in entries
        ),
    )


def examples(bench: Benchmark, entry: TaskEntry, n: int = EXAMPLES) -> list[dict[str, str]]:
    """The first ``n`` items of a task as short strings (the report escapes them)."""
    tables = bench.tables(entry)
    task_type = TaskType(entry.type)
    if task_type in (TaskType.RETRIEVAL, TaskType.RERANKING):
        corpus = dict(zip(tables["corpus"]["id"].to_list(), tables["corpus"]["text"].to_list(), strict=True))
        relevant: dict[str, str] = {}
        for query, doc, score in tables["qrels"].iter_rows():
            if score > 0:
                relevant.setdefault(query, doc)
        rows = []
        for query, text in tables["queries"].head(n).iter_rows():
            rows.append({"query": text, "relevant document": corpus.get(relevant.get(query, ""), "")})
    else:
        frame = tables["test"].head(n)
        rows = [dict(zip(frame.columns, row, strict=True)) for row in frame.iter_rows()]
    return [{k: _short(v) for k, v in row.items()} for row in rows]


def _short(value: Any) -> str:
    if isinstance(value, list):
        value = " | ".join(str(v) for v in value)
    text = str(value)
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def _provenance(
    config: CompareConfig, models: list[ModelRef], suites: dict[str, tuple[Benchmark, list[TaskEntry]]]
) -> Provenance:
    from importlib.metadata import version

    import mteb

    from domainemb.compare.complexity import spacy_model_version

    return Provenance(
        domainemb_version=domainemb.__version__,
        mteb_version=mteb.__version__,
        python=platform.python_version(),
        seed=config.seed,
        benchmarks={key: BenchmarkRef(path=str(b.path), checksum=b.checksum) for key, (b, _) in suites.items()},
        models={m.name: ModelFingerprint(model_name=m.model_name, fingerprint=m.fingerprint) for m in models},
        complexity_tools=ComplexityTools(textstat=version("textstat"), parser=spacy_model_version()),
        command="domainemb compare " + " ".join(_command_args(config)),
    )


def _command_args(config: CompareConfig) -> list[str]:
    args = [Domain(config.domain).value, *(f"--model {m}" for m in config.models), f"--size {Size(config.size).value}"]
    args += [f"--tasks {t}" for t in config.tasks] + [f"--type {TaskType(t).value}" for t in config.task_types]
    if config.seed != 42:
        args.append(f"--seed {config.seed}")
    return args
