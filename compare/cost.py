"""The cost axis of a comparison: how fast each model encodes, how large it is, what a vector takes.

``domainemb compare`` measures every model in the same run (:func:`measure_costs`) and keeps the
result in ``analysis.json`` as a :class:`CostSummary`:

- **throughput**, texts per second: a fixed seeded sample of ``sample_texts`` texts of the domain
  suite's tasks, one untimed warm-up batch, then one timed encode of the whole sample;
- **parameters** and **size on disk** (the bytes of the model folder's weight files);
- **bytes per vector** at float32 (``4 * dim``), int8 (``dim``) and binary (``ceil(dim / 8)``).

A throughput is only as good as the machine was quiet: on two cores, one measured at load 4 is half
of one measured idle. Each timed encode therefore records its :class:`MeasurementConditions` (the
1-minute load average just before and just after it, the logical CPUs, the threads it ran with),
and :func:`load_warning` says when the throughputs of one comparison were measured under loads too
different to compare.

Lexical baselines have no weights and no dense vectors: their fields are ``None`` and ``note``
says why. Quantized and truncated rescoring (:mod:`domainemb.evaluation.quantized`) adds one
:class:`VariantScore` per precision and dimension to each dense model's profile.

Example:
    >>> summary = measure_costs({"minilm": encoder}, texts, sample_texts=256, seed=42, batch_size=32)
    >>> summary.profiles[0].throughput, summary.profiles[0].bytes_per_vector("int8")
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domainemb.types import Precision

if TYPE_CHECKING:
    import numpy as np

    from domainemb.evaluation.encoders import Encoder, ModelIdentity

log = logging.getLogger(__name__)

#: Texts of the throughput sample, unless the compare config says otherwise.
DEFAULT_SAMPLE_TEXTS = 256
#: Suffixes of the files that hold a model's weights (size on disk counts these).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5", ".msgpack", ".npy", ".npz")
#: Load averages before timing further apart than this make two throughputs not comparable.
LOAD_SPREAD = 1.0


def bytes_per_vector(dim: int, precision: Precision | str) -> int:
    """Bytes one ``dim``-dimensional vector takes at ``precision``.

    float32 is 4 bytes a dimension, int8 one, binary one bit (packed, so a partial byte counts whole).

    Raises:
        ValueError: ``dim`` below 1 or an unknown precision.
    """
    if dim < 1:
        raise ValueError(f"a vector has at least one dimension, got {dim}")
    precision = Precision(precision)
    if precision is Precision.FLOAT32:
        return 4 * dim
    if precision is Precision.INT8:
        return dim
    return math.ceil(dim / 8)


@dataclass(frozen=True)
class VariantScore:
    """One model's score with its vectors stored another way.

    Args:
        precision: How each number is kept.
        dim: Dimensions kept.
        truncated: ``dim`` is fewer than the model's (Matryoshka-style truncation).
        bytes_per_vector: What one vector takes (:func:`bytes_per_vector`).
        scores: Task -> main score, on the domain suite's retrieval and STS tasks.
        domain_score: Mean of ``scores`` (``None`` when no task was rescored).
    """

    precision: str
    dim: int
    truncated: bool
    bytes_per_vector: int
    scores: dict[str, float]
    domain_score: float | None

    @property
    def label(self) -> str:
        """``float32``, ``int8``, ``binary``, with ``@<dim>`` when truncated (``int8@64``)."""
        return f"{self.precision}@{self.dim}" if self.truncated else self.precision

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VariantScore:
        return cls(**{**data, "scores": dict(data["scores"])})


@dataclass(frozen=True)
class MeasurementConditions:
    """The state of the machine while a throughput was timed, which decides whether two throughputs compare.

    Args:
        load_before: The 1-minute load average just before the timed encode; ``None`` where the
            platform has none (``os.getloadavg``).
        load_after: The same, just after it.
        cpus: Logical CPUs of the machine (``os.cpu_count()``); ``None`` where unknown.
        threads: Threads the encoding ran with (torch's intra-op threads, or the graph runtime's where
            it says); ``None`` where not known (ONNX Runtime's default, a numpy model).
        runtime: What ran those threads: ``torch``, ``onnxruntime``, ``openvino``; empty when none is known.
    """

    load_before: float | None = None
    load_after: float | None = None
    cpus: int | None = None
    threads: int | None = None
    runtime: str = ""

    def describe(self) -> str:
        """``2 CPUs, 2 torch threads, load average 1.70 → 1.90`` (what is not known is left out)."""
        parts = []
        if self.cpus:
            parts.append(f"{self.cpus} CPU{'s' if self.cpus != 1 else ''}")
        if self.threads:
            runtime = f" {self.runtime}" if self.runtime else ""
            parts.append(f"{self.threads}{runtime} thread{'s' if self.threads != 1 else ''}")
        if self.load_before is not None or self.load_after is not None:
            parts.append(f"load average {_load(self.load_before)} → {_load(self.load_after)}")
        return ", ".join(parts)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasurementConditions:
        return cls(**data)


def _load(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def load_average() -> float | None:
    """The machine's 1-minute load average (two decimals); ``None`` where the platform has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # Windows has no load average; a sandbox may not let it be read
        return None


def measurement_conditions(
    encoder: Encoder, load_before: float | None, load_after: float | None
) -> MeasurementConditions:
    """The conditions of a timed encode by ``encoder`` between the two loads given."""
    threads, runtime = encoding_threads(encoder)
    return MeasurementConditions(load_before, load_after, os.cpu_count(), threads, runtime)


def encoding_threads(encoder: Encoder) -> tuple[int | None, str]:
    """The threads ``encoder`` encodes with and the runtime that runs them; ``(None, "")`` where not known.

    A torch model runs ``torch.get_num_threads()``; a graph (``--backend onnx``, ``openvino``) as many as
    its runner says (:attr:`~domainemb.evaluation.onnx_backend.GraphRunner.threads`); a numpy model
    (bow, GloVe) none that is counted here.
    """
    from domainemb.evaluation.encoders import SentenceTransformerEncoder

    if not isinstance(encoder, SentenceTransformerEncoder):
        return None, ""
    if encoder.backend == "torch":
        return _threads(), "torch"
    from domainemb.evaluation.backends import BACKENDS, Backend

    runner = getattr(encoder.model[0], "runner", None)  # the graph model's one module runs the graph
    return getattr(runner, "threads", None), BACKENDS[Backend(encoder.backend)].runtime


def load_warning(profiles: Sequence[CostProfile]) -> str | None:
    """Why the throughputs of ``profiles`` are not comparable, or ``None`` when they are (or nothing is known).

    They are not when the load averages before timing differ by more than :data:`LOAD_SPREAD`, or
    one is above the machine's CPUs (the load after is left out: a long encode raises it by its own
    threads).
    """
    known = [(p.model, p.conditions) for p in profiles if p.conditions is not None]
    loads = [(c.load_before, model) for model, c in known if c.load_before is not None]
    if not loads:
        return None
    reasons = []
    (low, low_model), (high, high_model) = min(loads), max(loads)
    if high - low > LOAD_SPREAD:
        reasons.append(
            f"measured at load averages from {low:.2f} ({low_model}) to {high:.2f} ({high_model}) before timing"
        )
    busy = [f"{model} at {c.load_before:.2f} on {c.cpus} CPUs" for model, c in known if _over(c)]
    if busy:
        reasons.append(f"measured with more load than CPUs ({', '.join(busy)})")
    return f"These throughputs are not comparable: {'; '.join(reasons)}." if reasons else None


def _over(conditions: MeasurementConditions) -> bool:
    return (
        conditions.load_before is not None and conditions.cpus is not None and conditions.load_before > conditions.cpus
    )


@dataclass(frozen=True)
class CostProfile:
    """What one model costs to run and to store.

    Args:
        model: The model's name in the comparison.
        parameters: Trainable and frozen parameters; ``None`` where it has no weights.
        size_on_disk: Bytes of the weight files of its folder; ``None`` where it has none.
        dim: Dimensions of its dense vectors; ``None`` for a lexical model.
        throughput: Texts encoded per second on the sample; ``None`` where it does not encode texts
            one by one (BM25 scores against an index).
        seconds: Wall time of the timed encode (``None`` when not measured).
        note: Why a field is ``None``; empty when none is.
        matryoshka_dims: Truncated dimensions the model was trained for (from its adapt record).
        variants: Domain scores with quantized or truncated vectors (float32 first when rescored).
        measured_at: When it was measured (ISO 8601, UTC); empty in files written before it was recorded.
        measured_on: Where: the CPU, its cores, torch's threads and the device
            (``Intel(R) Xeon(R) Processor, 2 cores, 2 threads, cpu``); not the host name, which a
            published report should not carry.
        kept: Taken from an earlier run's cost record (:mod:`domainemb.compare.kept`), not measured
            in the run that wrote it; ``measured_at`` and ``measured_on`` say when and where it was.
        conditions: The load, CPUs and threads its throughput was timed under (a kept profile keeps
            those of the run that measured it); ``None`` where nothing was timed (bm25) and in records
            written before they were recorded.
    """

    model: str
    parameters: int | None
    size_on_disk: int | None
    dim: int | None
    throughput: float | None
    seconds: float | None = None
    note: str = ""
    matryoshka_dims: tuple[int, ...] = ()
    variants: tuple[VariantScore, ...] = ()
    measured_at: str = ""
    measured_on: str = ""
    kept: bool = False
    conditions: MeasurementConditions | None = None

    def bytes_per_vector(self, precision: Precision | str = Precision.FLOAT32) -> int | None:
        """Bytes of one of its full vectors at ``precision``; ``None`` for a lexical model."""
        return None if self.dim is None else bytes_per_vector(self.dim, precision)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "matryoshka_dims": list(self.matryoshka_dims),
            "variants": [asdict(v) for v in self.variants],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostProfile:
        return cls(
            **{
                **data,
                "matryoshka_dims": tuple(data.get("matryoshka_dims", ())),
                "variants": tuple(VariantScore.from_dict(v) for v in data.get("variants", ())),
                "conditions": MeasurementConditions.from_dict(c) if (c := data.get("conditions")) else None,
            }
        )


@dataclass(frozen=True)
class CostSummary:
    """The cost profiles of one comparison and how they were measured.

    Args:
        sample_texts: Texts in the timed sample (fewer when the suite has fewer).
        warmup_texts: Texts of the untimed warm-up batch.
        seed: Seed of the sample.
        batch_size: Texts per forward pass.
        threads: torch's intra-op threads during the measurement.
        device: Where the models ran (``cpu``, ``cuda:0``, ...).
        rescored_tasks: The domain tasks rescored with quantized or truncated vectors.
        profiles: One per model, in report order.
    """

    sample_texts: int
    warmup_texts: int
    seed: int
    batch_size: int
    threads: int
    device: str
    rescored_tasks: tuple[str, ...] = ()
    profiles: tuple[CostProfile, ...] = field(default_factory=tuple)

    def profile(self, model: str) -> CostProfile | None:
        return next((p for p in self.profiles if p.model == model), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in asdict(self).items() if k not in ("profiles", "rescored_tasks")},
            "rescored_tasks": list(self.rescored_tasks),
            "profiles": [p.to_dict() for p in self.profiles],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostSummary:
        return cls(
            **{
                **data,
                "rescored_tasks": tuple(data.get("rescored_tasks", ())),
                "profiles": tuple(CostProfile.from_dict(p) for p in data["profiles"]),
            }
        )


# ----------------------------------------------------------------------------- measuring
def sample_texts(texts: Sequence[str], n: int, seed: int) -> list[str]:
    """A fixed sample of ``n`` distinct texts (all of them when fewer), the same for every model and run."""
    unique = sorted(set(texts))
    if len(unique) <= n:
        return unique
    return random.Random(seed).sample(unique, n)


def measure_costs(
    encoders: Mapping[str, Encoder],
    texts: Sequence[str],
    *,
    sample_size: int = DEFAULT_SAMPLE_TEXTS,
    seed: int = 42,
    batch_size: int = 32,
    clock: Callable[[], float] = time.perf_counter,
) -> CostSummary:
    """Measure every encoder on one fixed sample of ``texts`` (see the module docstring).

    Args:
        encoders: The models, by their name in the comparison (report order).
        texts: The domain suite's texts; a seeded sample of ``sample_size`` is encoded.
        sample_size: Texts in the timed sample.
        seed: Seed of the sample.
        batch_size: Texts per forward pass (also the warm-up batch's size).
        clock: Seconds since some fixed point (tests pass a fake).
    """
    from datetime import UTC, datetime

    sample = sample_texts(texts, sample_size, seed)
    warmup = sample[:batch_size]
    threads, device = _threads(), _device(encoders.values())
    measured = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "measured_on": f"{cpu_description()}, {threads} thread{'s' if threads != 1 else ''}, {device}",
    }
    profiles = tuple(
        replace(_profile(name, e, sample, warmup, batch_size, clock), **measured) for name, e in encoders.items()
    )
    return CostSummary(
        sample_texts=len(sample),
        warmup_texts=len(warmup),
        seed=seed,
        batch_size=batch_size,
        threads=threads,
        device=device,
        profiles=profiles,
    )


def _profile(
    name: str, encoder: Encoder, sample: list[str], warmup: list[str], batch_size: int, clock: Callable[[], float]
) -> CostProfile:
    encode = text_encoder(encoder, batch_size)
    if encode is None:
        return CostProfile(
            model=name,
            parameters=None,
            size_on_disk=None,
            dim=None,
            throughput=None,
            note="lexical: scores queries against an index built per task; no weights, no vectors",
        )
    if type(encoder).prepare is not _base_prepare():
        encoder.prepare(sample)  # a vocabulary fitted on the texts (bag-of-words): not part of encoding
    encode(warmup)
    load_before = load_average()
    started = clock()
    vectors = encode(sample)
    seconds = clock() - started
    conditions = measurement_conditions(encoder, load_before, load_average())
    throughput = len(sample) / seconds if seconds > 0 else None
    parameters, size, note = _weights(encoder)
    dense = encoder.cacheable  # a vector that depends on the task's vocabulary is sparse and per task
    if not dense:
        note = "lexical: sparse TF-IDF vectors over a vocabulary fitted on each task; no weights"
    return CostProfile(
        model=name,
        parameters=parameters,
        size_on_disk=size,
        dim=int(vectors.shape[1]) if dense and vectors.ndim == 2 else None,
        throughput=throughput,
        seconds=round(seconds, 4),
        note=note,
        matryoshka_dims=matryoshka_dims(encoder),
        conditions=conditions,
    )


def _base_prepare() -> Any:
    from domainemb.evaluation.encoders import Encoder

    return Encoder.prepare


def text_encoder(encoder: Encoder, batch_size: int) -> Callable[[list[str]], np.ndarray] | None:
    """A function that encodes texts with ``encoder`` as evaluation does; ``None`` for BM25 (no vectors)."""
    import numpy as np

    from domainemb.evaluation.encoders import SentenceTransformerEncoder, VectorEncoder

    if isinstance(encoder, SentenceTransformerEncoder):
        model = encoder.model

        def encode(texts: list[str]) -> np.ndarray:
            return np.asarray(
                model.encode(texts, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
            )

        return encode
    if isinstance(encoder, VectorEncoder):
        return lambda texts: np.asarray(encoder.embed(list(texts)))
    return None


def model_folder(encoder: Encoder | ModelIdentity) -> Path | None:
    """The folder a model was loaded from (or, not loaded, is named by), where known."""
    folder = getattr(encoder, "folder", None)
    if folder is not None:
        return Path(folder)
    path = Path(encoder.name).expanduser()
    return path if path.is_dir() else None


def weight_bytes(folder: Path) -> int:
    """Bytes of the weight files under ``folder`` (hidden files and folders left out)."""
    return sum(
        p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file()
        and p.name.endswith(WEIGHT_SUFFIXES)
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _weights(encoder: Encoder) -> tuple[int | None, int | None, str]:
    model = getattr(encoder, "model", None)
    parameters = None
    if model is not None and hasattr(model, "parameters"):
        parameters = int(sum(p.numel() for p in model.parameters()))
    folder = model_folder(encoder)
    size = weight_bytes(folder) if folder is not None else None
    graph = getattr(encoder, "graph", None)
    if graph is not None:  # --backend onnx...: the exported graph is what runs (int8: a quarter of the bytes)
        parameters, size = encoder.parameter_count, Path(graph).stat().st_size
    notes = []
    if parameters is None:
        notes.append("no parameters to count")
    if size is None:
        notes.append("no model folder to measure")
    return parameters, size, "; ".join(notes)


def matryoshka_dims(encoder: Encoder | ModelIdentity) -> tuple[int, ...]:
    """The truncated dimensions a model was trained for: ``hyperparameters.matryoshka_dims`` of the
    adapt run record (``adapt.json``) beside its folder, when that record names this folder."""
    import json

    folder = model_folder(encoder)
    if folder is None:
        return ()
    from domainemb.adapt.run import RECORD_FILE

    record_path = folder.resolve().parent / RECORD_FILE
    if not record_path.is_file():
        return ()
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        adapted = Path(record["adapted"]["path"]).resolve()
        dims = record["hyperparameters"].get("matryoshka_dims") or []
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("%s: unreadable adapt record (%s); no Matryoshka dimensions taken from it", record_path, exc)
        return ()
    if adapted != folder.resolve():
        return ()
    return tuple(sorted({int(d) for d in dims}, reverse=True))


def cpu_description() -> str:
    """The CPU model and its cores (``Intel(R) Xeon(R) Processor, 2 cores``)."""
    import platform

    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:  # not Linux
        pass
    return f"{cpu or platform.processor() or platform.machine() or 'unknown CPU'}, {os.cpu_count() or 1} cores"


def _threads() -> int:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:  # pragma: no cover - torch is a dependency
        return os.cpu_count() or 1


def _device(encoders: Any) -> str:
    devices = sorted({str(e.model.device) for e in encoders if hasattr(getattr(e, "model", None), "device")})
    return ", ".join(devices) or "cpu"


# ----------------------------------------------------------------------------- quantized rescoring
def variant_plan(dim: int, matryoshka: Sequence[int] = ()) -> list[tuple[Precision, int | None]]:
    """The (precision, truncated dimension) variants a model of ``dim`` dimensions is rescored with:
    int8 and binary at full size, and float32, int8 and binary at each Matryoshka dimension below ``dim``."""
    plan: list[tuple[Precision, int | None]] = [(Precision.INT8, None), (Precision.BINARY, None)]
    for truncated in sorted({d for d in matryoshka if d < dim}, reverse=True):
        plan += [(precision, truncated) for precision in Precision]
    return plan


def rescored_tasks(entries: Sequence[Any], serves: Any) -> list[str]:
    """The tasks of ``entries`` rescored with quantized vectors: retrieval and STS ones the model serves."""
    from domainemb.evaluation.quantized import RESCORED_TYPES
    from domainemb.types import TaskType

    return [e.name for e in entries if TaskType(e.type) in RESCORED_TYPES and TaskType(e.type) in serves]


def rescore(
    profile: CostProfile,
    encoder: Encoder,
    suite: Any,
    tasks: Sequence[str],
    float_scores: Mapping[str, float],
    out: Path,
    *,
    seed: int = 42,
    batch_size: int = 32,
    use_cache: bool = True,
    overwrite: bool = False,
    on_event: Any = None,
) -> CostProfile:
    """``profile`` with its variants: ``encoder`` scored on ``tasks`` of ``suite`` with int8, binary and
    (for a Matryoshka model) truncated vectors, by the evaluation engine, results under ``out``.

    Args:
        profile: The model's measured profile (its ``dim`` and ``matryoshka_dims`` decide the variants).
        encoder: The model, as scored in the comparison.
        suite: The domain benchmark.
        tasks: Its retrieval and STS tasks the model serves (:func:`rescored_tasks`).
        float_scores: The model's float32 main score on each of ``tasks`` (from the comparison).
        out: Results folder of the variants (mteb layout, one model folder per variant).
        seed / batch_size / use_cache / overwrite / on_event: As in :func:`domainemb.suites.score_models`.
    """
    from domainemb.evaluation.cache import EmbeddingCache
    from domainemb.evaluation.quantized import QuantizedEncoder
    from domainemb.suites import score_models

    if profile.dim is None or not tasks:
        return profile
    dim = profile.dim
    variants = [_variant(Precision.FLOAT32, dim, False, {t: float_scores[t] for t in tasks if t in float_scores})]
    cache = EmbeddingCache() if use_cache and encoder.cacheable else None
    try:
        for precision, truncated in variant_plan(dim, profile.matryoshka_dims):
            wrapped = QuantizedEncoder(encoder, precision, truncated, cache=cache, seed=seed)
            result = score_models(
                suite,
                [wrapped],
                out,
                tasks=tasks,
                seed=seed,
                batch_size=batch_size,
                use_cache=use_cache,
                overwrite=overwrite,
                on_event=on_event,
            )
            kept = truncated if truncated is not None else dim
            variants.append(
                _variant(precision, kept, truncated is not None, {s.task: s.main_score for s in result.scores})
            )
    finally:
        if cache is not None:
            cache.close()
    return replace(profile, variants=tuple(variants))


def _variant(precision: Precision, dim: int, truncated: bool, scores: dict[str, float]) -> VariantScore:
    return VariantScore(
        precision=Precision(precision).value,
        dim=dim,
        truncated=truncated,
        bytes_per_vector=bytes_per_vector(dim, precision),
        scores=scores,
        domain_score=sum(scores.values()) / len(scores) if scores else None,
    )


# ----------------------------------------------------------------------------- Pareto front
def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (higher is better on each).

    A point is on the front when no other point is at least as good on both axes and better on one.
    """
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((ox >= x and oy >= y) and (ox > x or oy > y) for j, (ox, oy) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front
