"""Nothing to do costs nothing: a ``domainemb compare`` re-run that keeps what an earlier run found.

Two things are kept in the compare output folder, each under a key made of everything that
decides it, and written atomically:

- **the cost of each model** (``OUT/costs/<key>.json``, :class:`CostRecords`): its
  :class:`~domainemb.compare.cost.CostProfile` (throughput, parameters, size, bytes per vector)
  with its quantized and truncated rescoring, keyed by the model's fingerprint and the settings
  that decide the profile (:func:`cost_inputs`: the domain suite's manifest and selected tasks, the
  sample size, seed, batch size, devices, backend, the quantized rescoring and its scheme). A run
  that finds a model's record takes the profile from it instead of measuring, marked
  ``kept`` with when and where it was measured; any change in the key measures it again.
- **the whole analysis** (``OUT/kept.json``, :func:`find_kept` / :func:`remember`): the key of the
  run that wrote ``OUT/analysis.json`` (:func:`run_inputs`: every setting of the run, each suite's
  folder and manifest checksum, each model's name and fingerprint) and the sha256 of that file. A
  re-run with the same key, whose result files are all still there for the same fingerprints, task
  data and seed, scored by the installed mteb, returns that analysis: it loads no model (a model
  folder's fingerprint is remembered by its files' stat, :mod:`domainemb.evaluation.fingerprints`),
  reads no task data (only the two manifests) and measures nothing.
- **each model with nothing left to do** (:func:`kept_models`): in a run that is not kept as a whole
  (a model or a task added, one model changed), a model whose every result on the selected tasks
  it serves is there for its fingerprint, task data and seed, scored by the installed mteb version,
  and whose cost record matches, is not loaded: its scores are read from its result files and its
  profile from its record. What it serves is taken from the earlier analysis in the folder (written
  by this domainemb version); a model that analysis does not name is loaded.

Example:
    >>> kept = find_kept(config, encoders={})
    >>> kept.created if kept is not None else "to be run"
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domainemb.jsonio import write_json

if TYPE_CHECKING:
    from domainemb.compare.analysis_file import Analysis
    from domainemb.compare.config import CompareConfig
    from domainemb.compare.cost import CostProfile, CostSummary
    from domainemb.domains.benchmark import Benchmark
    from domainemb.domains.manifest import TaskEntry
    from domainemb.evaluation.encoders import Encoder, ModelIdentity
    from domainemb.evaluation.results import TaskScore
    from domainemb.suites import ModelRef

log = logging.getLogger(__name__)

#: The key of the run that wrote ``analysis.json``, beside it.
KEPT_FILE = "kept.json"
KEPT_FORMAT = "domainemb-compare-kept/1"
#: One cost record per model and settings, under the compare output folder.
COSTS_DIR = "costs"
COST_FORMAT = "domainemb-compare-cost/1"
#: Settings of a run that are not part of its key as given: where it is written, whether it re-runs,
#: and where the suites are found (the key holds each suite's resolved folder and manifest checksum,
#: so ``../work/benchmarks/x`` from one folder and ``work/benchmarks/x`` from its parent are one suite).
_NOT_IN_KEY = frozenset({"out", "overwrite", "use_cache", "benchmarks", "domain_benchmark", "general_benchmark"})


def _digest(inputs: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import domainemb

    found = {"domainemb": domainemb.__version__}
    for package in ("mteb", "sentence-transformers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = ""
    return found


# ----------------------------------------------------------------------------- the whole analysis
def run_inputs(
    config: CompareConfig, suites: Mapping[str, tuple[Path, str]], models: Sequence[tuple[str, str, str]]
) -> dict[str, Any]:
    """Everything that decides a comparison's analysis.

    Args:
        config: The run's settings (all but :data:`_NOT_IN_KEY`, so a setting added later is in the key).
        suites: ``domain`` and ``general``: the benchmark folder and its manifest checksum.
        models: ``(name, model_name, fingerprint)`` of every model, in report order.
    """
    from domainemb.compare.config import BASELINES

    settings = {k: v for k, v in asdict(config).items() if k not in _NOT_IN_KEY}
    return {
        "versions": _versions(),
        "settings": json.loads(json.dumps(settings, sort_keys=True, default=str)),
        "suites": {
            key: {"path": str(Path(path).resolve()), "checksum": checksum} for key, (path, checksum) in suites.items()
        },
        "models": [
            {
                "name": name,
                "model_name": model_name,
                "fingerprint": fingerprint,
                "baseline": name in BASELINES and name not in config.models,
            }
            for name, model_name, fingerprint in models
        ],
    }


def remember(out: Path, inputs: Mapping[str, Any], analysis_path: Path) -> None:
    """Record that ``analysis_path`` (just written) is the analysis of ``inputs`` (see :func:`run_inputs`)."""
    write_json(
        out / KEPT_FILE,
        {
            "format": KEPT_FORMAT,
            "key": _digest(inputs),
            "analysis_sha256": hashlib.sha256(analysis_path.read_bytes()).hexdigest(),
            "inputs": inputs,
        },
    )


def find_kept(config: CompareConfig, encoders: Mapping[str, Encoder] | None = None) -> Analysis | None:
    """The analysis an earlier run wrote for exactly these inputs, when every result it read is still there.

    Loads no model, reads no task data: each model is identified by its remembered fingerprint
    (:func:`~domainemb.evaluation.encoders.identify`), each suite by its manifest. ``None`` when
    anything differs or cannot be known cheaply (a hub id, a suite still to be built, ``overwrite``);
    the caller then runs the comparison.

    Args:
        config: The run.
        encoders: Encoders already loaded, by name (their fingerprints are used as they are).
    """
    from domainemb.compare.analysis_file import ANALYSIS_FILE, Analysis

    out = config.out_dir
    analysis_path, kept_path = out / ANALYSIS_FILE, out / KEPT_FILE
    if config.overwrite or not analysis_path.is_file() or not kept_path.is_file():
        return None
    try:
        kept = json.loads(kept_path.read_text(encoding="utf-8"))
        key, analysis_sha = kept["key"], kept["analysis_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: unreadable (%s); comparing again", kept_path, exc)
        return None
    suites = _suite_manifests(config)
    if suites is None:
        return None
    identities = [_identify(name, config, (encoders or {}).get(name)) for name in config.all_models]
    if any(identity is None for identity in identities):
        return None
    models = [(name, i.model_name, i.fingerprint) for name, i in zip(config.all_models, identities, strict=True)]
    if _digest(run_inputs(config, suites, models)) != key:
        log.info("%s: the settings, suites or models differ from the kept analysis; comparing again", out)
        return None
    raw = analysis_path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != analysis_sha:
        log.info("%s: not the analysis %s was written for; comparing again", analysis_path, kept_path)
        return None
    try:
        analysis = Analysis.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("%s: unreadable (%s); comparing again", analysis_path, exc)
        return None
    return analysis if _results_kept(out, analysis, config.seed) else None


def _identify(name: str, config: CompareConfig, encoder: Encoder | None) -> ModelIdentity | Encoder | None:
    """The model's identity on the run's backend (the baselines run as they are), from ``encoder``
    where one was given (as the comparison runs it: :func:`~domainemb.evaluation.backends.with_backend`)."""
    from domainemb.compare.config import BASELINES
    from domainemb.evaluation.backends import identity_on, parse_backend
    from domainemb.evaluation.encoders import identify

    identity = encoder or identify(name)
    return identity if name in BASELINES else identity_on(identity, parse_backend(config.backend))


def _suite_manifests(config: CompareConfig) -> dict[str, tuple[Path, str]] | None:
    """Both suites' folders and manifest checksums, where both are built; reads only the manifests."""
    from domainemb.compare.analysis import DOMAIN, GENERAL
    from domainemb.domains.benchmark import Benchmark
    from domainemb.domains.manifest import MANIFEST
    from domainemb.errors import DomainembError
    from domainemb.suites import suite_folder
    from domainemb.types import Domain

    folders = {
        DOMAIN: config.domain_benchmark or suite_folder(config.domain, config.size, config.benchmarks),
        GENERAL: config.general_benchmark or suite_folder(Domain.GENERAL, config.size, config.benchmarks),
    }
    if not all((folder / MANIFEST).is_file() for folder in folders.values()):
        return None
    try:
        return {key: (folder, Benchmark.open(folder, verify=False).checksum) for key, folder in folders.items()}
    except (DomainembError, OSError, ValueError):
        return None  # the comparison itself says what is wrong


def _results_kept(out: Path, analysis: Analysis, seed: int) -> bool:
    """Every result file the analysis was made from is there, for the same model, task data and seed, scored
    by the installed mteb."""
    tasks = {key: [(t.name, t.type, t.data_revision) for t in suite.tasks] for key, suite in analysis.suites.items()}
    return all(_model_results(out, model, tasks, seed) is not None for model in analysis.models)


def _model_results(
    out: Path, model: ModelRef, tasks: Mapping[str, Sequence[tuple[str, str, str]]], seed: int
) -> dict[str, dict[str, TaskScore]] | None:
    """The model's kept score on every task it serves, by suite key then task; ``None`` when one is missing.

    A score is kept as the evaluation engine keeps it (:func:`~domainemb.evaluation.run.earlier_score`:
    the same fingerprint, task data and seed, scored by the installed mteb), so what is read here is
    what a run that loads the model would be given back.

    Args:
        out: The compare output folder (``out/<key>/results/...``).
        model: The model (its ``serves`` decides which tasks it must have).
        tasks: ``(name, type, data revision)`` of each selected task, by suite key.
        seed: The run's seed.
    """
    from domainemb.evaluation.encoders import ModelIdentity
    from domainemb.evaluation.results import result_path
    from domainemb.evaluation.run import earlier_score

    identity = ModelIdentity(model.name, model.model_name, model.fingerprint)
    found: dict[str, dict[str, TaskScore]] = {}
    for key, suite_tasks in tasks.items():
        found[key] = {}
        for name, task_type, revision in suite_tasks:
            if task_type not in model.serves:
                continue
            path = result_path(out / key, model.model_name, model.revision, name)
            score = earlier_score(path, identity, revision, seed, warn=False)  # named once, by the run that scores it
            if score is None:
                log.info(
                    "%s: missing, unreadable or scored for another model, task version, seed or mteb version", path
                )
                return None
            found[key][name] = score
    return found


# ----------------------------------------------------------------------------- models with nothing left to do
@dataclass(frozen=True)
class KeptModel:
    """A model of the run with nothing left to do, and what the comparison needs of it, read from disk.

    Attributes:
        ref: The model as the analysis names it (as :meth:`~domainemb.suites.ModelRef.of` its loaded encoder).
        scores: Its kept score on each selected task it serves, by suite key then task.
        cost: Its kept cost profile; ``None`` when the run measures no cost.
    """

    ref: ModelRef
    scores: Mapping[str, Mapping[str, TaskScore]]
    cost: KeptCost | None


def kept_models(
    config: CompareConfig,
    suites: Mapping[str, tuple[Benchmark, Sequence[TaskEntry]]],
    records: CostRecords | None,
    encoders: Mapping[str, Encoder] | None = None,
) -> dict[str, KeptModel]:
    """The models of ``config`` that need not be loaded: every result and the cost profile are kept.

    A model is kept when its identity is known without loading it (its remembered fingerprint on
    the run's backend, as :func:`find_kept` identifies it), what it serves is known (from the
    encoder given, else from the earlier analysis in the folder), it has a kept score on every
    selected task of a type it serves, and ``records`` holds its cost profile under this run's key.

    Args:
        config: The run (nothing is kept with ``overwrite``).
        suites: The selected tasks of each suite, by key (``domain`` and ``general``).
        records: This run's cost records; ``None`` when it measures no cost.
        encoders: Encoders already given, by name.

    Returns:
        The kept models by name, in the run's model order.
    """
    from domainemb.compare.config import BASELINES
    from domainemb.domains.manifest import data_revision
    from domainemb.suites import ModelRef

    if config.overwrite:
        return {}
    tasks = {key: [(e.name, e.type, data_revision(e)) for e in entries] for key, (_, entries) in suites.items()}
    earlier = _earlier_serves(config.out_dir)
    found: dict[str, KeptModel] = {}
    for name in config.all_models:
        given = (encoders or {}).get(name)
        identity = _identify(name, config, given)
        if identity is None:
            continue
        serves = tuple(sorted(given.serves)) if given is not None else earlier.get(_serves_key(identity))
        if serves is None:
            continue
        ref = ModelRef(
            name=name,
            model_name=identity.model_name,
            fingerprint=identity.fingerprint,
            revision=identity.revision,
            baseline=name in BASELINES and name not in config.models,
            serves=serves,
        )
        scores = _model_results(config.out_dir, ref, tasks, config.seed)
        if scores is None:
            continue
        cost = None
        if records is not None:
            cost = records.find({name: identity}).get(name)
            if cost is None:
                continue
        found[name] = KeptModel(ref=ref, scores=scores, cost=cost)
    return found


def _serves_key(model: ModelRef | ModelIdentity | Encoder) -> tuple[str, str, str]:
    return model.model_name, model.fingerprint, model.revision


def _earlier_serves(out: Path) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """What each model of the folder's earlier analysis serves, by model name, fingerprint and revision;
    empty when there is none, it is unreadable, or another domainemb version wrote it."""
    import domainemb
    from domainemb.compare.analysis_file import ANALYSIS_FILE, ANALYSIS_FORMAT
    from domainemb.suites import ModelRef
    from domainemb.types import TaskType

    path = out / ANALYSIS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != ANALYSIS_FORMAT or data["provenance"]["domainemb_version"] != domainemb.__version__:
            return {}
        # A model adapt or prune made has its origin beside the ref (analysis_file); it is no part of it.
        models = [ModelRef.from_dict({k: v for k, v in m.items() if k != "origin"}) for m in data["models"]]
        return {_serves_key(m): tuple(sorted(TaskType(t) for t in m.serves)) for m in models}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("%s: unreadable (%s); every model is loaded", path, exc)
        return {}


# ----------------------------------------------------------------------------- cost records
def cost_inputs(config: CompareConfig, suite: Benchmark, entries: Sequence[TaskEntry]) -> dict[str, Any]:
    """The settings that decide every model's cost profile in a run (the model's own part is added per model)."""
    from domainemb.domains.manifest import data_revision
    from domainemb.evaluation.quantized import CALIBRATION_TEXTS, SCHEME

    return {
        "format": COST_FORMAT,
        "versions": _versions(),
        "suite": suite.checksum,
        "tasks": {e.name: data_revision(e) for e in entries},  # the throughput sample is drawn from their texts
        "sample_texts": config.cost_sample_texts,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "devices": list(config.devices),
        "backend": config.backend,
        "rescore_quantized": config.rescore_quantized,
        "quantized_scheme": SCHEME,
        "calibration_texts": CALIBRATION_TEXTS,
    }


@dataclass(frozen=True)
class KeptCost:
    """A model's cost profile from an earlier run, with how that run's sample was measured."""

    profile: CostProfile
    sample_texts: int
    warmup_texts: int
    threads: int
    device: str


class CostRecords:
    """The cost records of one compare output folder (``OUT/costs/<key>.json``, see the module docstring).

    Args:
        folder: ``OUT/costs``.
        inputs: :func:`cost_inputs` of this run.
        reuse: Take kept profiles (``False`` with ``overwrite``: every model is measured again).
    """

    def __init__(self, folder: Path, inputs: Mapping[str, Any], reuse: bool = True) -> None:
        self.folder = folder
        self.inputs = dict(inputs)
        self.reuse = reuse

    @classmethod
    def of(cls, config: CompareConfig, suite: Benchmark, entries: Sequence[TaskEntry]) -> CostRecords:
        return cls(config.out_dir / COSTS_DIR, cost_inputs(config, suite, entries), reuse=not config.overwrite)

    def model_inputs(self, encoder: Encoder | ModelIdentity) -> dict[str, Any]:
        """The key's inputs for one model: its fingerprint and its Matryoshka dimensions, with the run's."""
        from domainemb.compare.cost import matryoshka_dims

        return {**self.inputs, "model": encoder.fingerprint, "matryoshka_dims": list(matryoshka_dims(encoder))}

    def path(self, encoder: Encoder | ModelIdentity) -> Path:
        return self.folder / f"{_digest(self.model_inputs(encoder))[:32]}.json"

    def find(self, encoders: Mapping[str, Encoder | ModelIdentity]) -> dict[str, KeptCost]:
        """The kept cost of each model whose record matches, by its name in this run (marked ``kept``).

        A model not loaded is found by its identity: its fingerprint on the run's backend, and its
        Matryoshka dimensions from the adapt record beside its folder, as for the loaded model.
        """
        if not self.reuse:
            return {}
        found = {}
        for name, encoder in encoders.items():
            kept = self._read(self.path(encoder), self.model_inputs(encoder))
            if kept is not None:
                found[name] = replace(kept, profile=replace(kept.profile, model=name, kept=True))
        return found

    def _read(self, path: Path, inputs: Mapping[str, Any]) -> KeptCost | None:
        from domainemb.compare.cost import CostProfile

        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != COST_FORMAT or data.get("inputs") != json.loads(json.dumps(inputs, default=str)):
                return None
            return KeptCost(
                profile=CostProfile.from_dict(data["profile"]),
                sample_texts=int(data["sample_texts"]),
                warmup_texts=int(data["warmup_texts"]),
                threads=int(data["threads"]),
                device=str(data["device"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("%s: unreadable cost record (%s); measuring again", path, exc)
            return None

    def store(self, costs: CostSummary, encoders: Mapping[str, Encoder]) -> None:
        """Write a record of every profile of ``costs`` measured in this run (kept ones are already on disk)."""
        for profile in costs.profiles:
            if profile.kept:
                continue
            encoder = encoders[profile.model]
            write_json(
                self.path(encoder),
                {
                    "format": COST_FORMAT,
                    "inputs": self.model_inputs(encoder),
                    "sample_texts": costs.sample_texts,
                    "warmup_texts": costs.warmup_texts,
                    "threads": costs.threads,
                    "device": costs.device,
                    "profile": profile.to_dict(),
                },
            )


def merged_costs(
    names: Sequence[str], measured: CostSummary | None, kept: Mapping[str, KeptCost], *, seed: int, batch_size: int
) -> CostSummary:
    """One summary, in ``names`` order, of the profiles measured now and those kept.

    The summary's sample, threads and device are this run's where it measured a model, else the
    first kept record's; each kept profile carries its own ``measured_at`` and ``measured_on``.
    """
    from domainemb.compare.cost import CostSummary

    profiles = {p.model: p for p in (measured.profiles if measured is not None else ())}
    profiles.update({name: k.profile for name, k in kept.items()})
    if measured is not None:
        base = replace(measured, profiles=())
    else:
        first = kept[names[0]]
        base = CostSummary(
            sample_texts=first.sample_texts,
            warmup_texts=first.warmup_texts,
            seed=seed,
            batch_size=batch_size,
            threads=first.threads,
            device=first.device,
        )
    return replace(base, profiles=tuple(profiles[name] for name in names))
