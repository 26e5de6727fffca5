"""The two suites every stage scores on: where they live, opening or building them, scoring models.

adapt, prune and compare all score models on a domain suite and on the general suite (the
reference for forgetting). This module is the one place that decides where a suite is found, opens
it (verifying every file's checksum), builds it when it is missing, and runs the evaluation engine
on it.

A suite is either a folder the user gives, which must hold a built benchmark, or
``benchmarks/<domain>-<size>`` (by default under :data:`DEFAULT_BENCHMARKS`), which is opened when
its manifest is there and built there otherwise::

    suites = open_suites(Domain.FINANCE, Size.LITE, on_event=print)
    result = score_models(suites.domain, [encoder], Path("work/results"), seed=42)
    {s.task: s.main_score for s in result.scores}

Only standard-library and ``domainemb.types`` imports happen at module level, so the command line
can import :data:`DEFAULT_BENCHMARKS` for its help texts without loading polars or mteb.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from domainemb.errors import DomainembError
from domainemb.progress import OnEvent, StageEvent
from domainemb.types import Domain, Size

if TYPE_CHECKING:
    from domainemb.domains.benchmark import Benchmark
    from domainemb.evaluation.encoders import Encoder
    from domainemb.evaluation.run import EvaluationResult

log = logging.getLogger(__name__)

#: Where built suites are looked up, and built when missing, each as ``<domain>-<size>``.
DEFAULT_BENCHMARKS = Path("work/benchmarks")
#: The seed of a suite's lite subsampling when a stage builds it without naming one.
DEFAULT_BUILD_SEED = 42


def suite_name(domain: Domain | str, size: Size | str) -> str:
    """``<domain>-<size>``, e.g. ``finance-lite``: a built suite's folder name."""
    return f"{Domain(domain).value}-{Size(size).value}"


def suite_folder(domain: Domain | str, size: Size | str, benchmarks: Path = DEFAULT_BENCHMARKS) -> Path:
    """``benchmarks/<domain>-<size>``: where a suite is looked up and, when missing, built."""
    return Path(benchmarks) / suite_name(domain, size)


def find_suite(
    domain: Domain | str,
    size: Size | str,
    benchmarks: Path = DEFAULT_BENCHMARKS,
    folder: Path | None = None,
    check_kind: bool = True,
) -> Benchmark | None:
    """The suite when it is built; ``None`` when it is still to be built in ``benchmarks``.

    ``benchmarks/<domain>-<size>`` is to be built when it holds no manifest; when it holds other
    files instead, that is an error here, before any work, rather than when a build there fails.

    Args:
        domain: The suite's domain (``general`` for the reference suite).
        size: Which build (``lite`` or ``full``) is looked up in ``benchmarks``.
        benchmarks: The folder of built suites, ``<domain>-<size>`` each.
        folder: A built benchmark to use instead; it must exist (it is never built).
        check_kind: Refuse a given ``folder`` that is a general benchmark where a domain suite is
            wanted, or the other way round.

    Raises:
        DataError: a missing or altered file, or a folder that holds no benchmark.
        DomainembError: a given ``folder`` of the wrong kind.
    """
    from domainemb.domains.benchmark import Benchmark
    from domainemb.domains.manifest import MANIFEST

    if folder is not None:
        bench = Benchmark.open(folder)
        if check_kind:
            _check_kind(bench, Domain(domain))
        return bench
    path = suite_folder(domain, size, benchmarks)
    if (path / MANIFEST).is_file() or _holds_something(path):
        return Benchmark.open(path)  # without a manifest, this names the folder and the missing file
    return None


def open_suite(
    domain: Domain | str,
    size: Size | str,
    benchmarks: Path = DEFAULT_BENCHMARKS,
    folder: Path | None = None,
    *,
    build_seed: int = DEFAULT_BUILD_SEED,
    check_kind: bool = True,
    on_event: OnEvent | None = None,
) -> Benchmark:
    """The suite of :func:`find_suite`, built into ``benchmarks/<domain>-<size>`` first when missing.

    Args:
        domain: The suite's domain (``general`` for the reference suite).
        size: Which build (``lite`` or ``full``) is looked up in, or built into, ``benchmarks``.
        benchmarks: The folder of built suites, ``<domain>-<size>`` each.
        folder: A built benchmark to use instead; it must exist (it is never built).
        build_seed: Seed of the lite subsampling when the suite is built.
        check_kind: As in :func:`find_suite`.
        on_event: Called with a :class:`~domainemb.progress.StageEvent` ``building the <domain> <size>
            suite into <folder>`` before a build, then with the build's own (one per task).

    Raises:
        DataError: a missing or altered file, or a given ``folder`` that holds no benchmark.
        DomainembError: a given ``folder`` of the wrong kind, or a build that fails.
    """
    bench = find_suite(domain, size, benchmarks, folder, check_kind=check_kind)
    return bench if bench is not None else _build(domain, size, benchmarks, build_seed, on_event)


def _build(domain: Domain | str, size: Size | str, benchmarks: Path, seed: int, on_event: OnEvent | None) -> Benchmark:
    from domainemb.domains.benchmark import Benchmark
    from domainemb.domains.build import BuildConfig, build_benchmark

    path = suite_folder(domain, size, benchmarks)
    message = f"building the {Domain(domain).value} {Size(size).value} suite into {path}"
    log.info(message)
    if on_event:
        on_event(StageEvent(message))
    built = build_benchmark(BuildConfig(domain=Domain(domain), out=path, size=Size(size), seed=seed), on_event=on_event)
    return Benchmark.open(built.path)


def _holds_something(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


class Suites(NamedTuple):
    """A domain suite and the general suite, of the same size."""

    domain: Benchmark
    general: Benchmark


def open_suites(
    domain: Domain | str,
    size: Size | str,
    benchmarks: Path = DEFAULT_BENCHMARKS,
    domain_folder: Path | None = None,
    general_folder: Path | None = None,
    *,
    build_seed: int = DEFAULT_BUILD_SEED,
    on_event: OnEvent | None = None,
) -> Suites:
    """Both suites (see :func:`open_suite`), checked by :func:`find_suites` before either is built.

    Args:
        domain: The domain suite's domain.
        size: Which build is looked up in, or built into, ``benchmarks``.
        benchmarks: The folder of built suites, ``<domain>-<size>`` each.
        domain_folder: A built domain benchmark to use instead.
        general_folder: A built general benchmark to use instead.
        build_seed: Seed of the lite subsampling of a suite that is built.
        on_event: As in :func:`open_suite`.

    Raises:
        DataError: a missing or altered file, or a folder that holds no benchmark.
        DomainembError: a given folder of the wrong kind, suites of different sizes, or a failed build.
    """
    found = find_suites(domain, size, benchmarks, domain_folder, general_folder)
    return Suites(
        domain=found[0] or _build(domain, size, benchmarks, build_seed, on_event),
        general=found[1] or _build(Domain.GENERAL, size, benchmarks, build_seed, on_event),
    )


def find_suites(
    domain: Domain | str,
    size: Size | str,
    benchmarks: Path = DEFAULT_BENCHMARKS,
    domain_folder: Path | None = None,
    general_folder: Path | None = None,
) -> tuple[Benchmark | None, Benchmark | None]:
    """Both suites where built (see :func:`find_suite`), ``None`` where still to be built.

    Lets a stage check its suites before long work (training) and build the missing ones after it.

    Raises:
        DataError: a missing or altered file, or a folder that holds no benchmark.
        DomainembError: a given folder of the wrong kind, or suites of different sizes (a suite
            still to be built counts as ``size``).
    """
    found = (
        find_suite(domain, size, benchmarks, domain_folder),
        find_suite(Domain.GENERAL, size, benchmarks, general_folder),
    )
    domain_size, general_size = (Size(size).value if b is None else b.manifest.size for b in found)
    if domain_size != general_size:
        raise DomainembError(
            f"the domain suite is {domain_size} and the general suite {general_size}; compare suites of the same size"
        )
    return found


def _check_kind(bench: Benchmark, domain: Domain) -> None:
    if (bench.manifest.domain == Domain.GENERAL.value) != (domain is Domain.GENERAL):
        want = "the general suite" if domain is Domain.GENERAL else "a domain suite"
        raise DomainembError(f"{bench.path} is a {bench.manifest.domain} benchmark, not {want}")


def score_models(
    suite: Benchmark,
    encoders: Sequence[Encoder],
    out: Path,
    *,
    tasks: Sequence[str] = (),
    seed: int = 42,
    batch_size: int = 32,
    use_cache: bool = True,
    overwrite: bool = False,
    save_predictions: bool = False,
    on_event: OnEvent | None = None,
    devices: Sequence[str] = (),
) -> EvaluationResult:
    """Score ``encoders`` on ``suite`` with the evaluation engine; results in mteb's layout under ``out``.

    A task already scored in ``out`` for the same model fingerprint, task data and seed, by the
    installed mteb version, is reused, not run again (unless ``overwrite``).

    Args:
        suite: The suite (see :func:`open_suite`).
        encoders: The models, each filed under its ``name``.
        out: Results folder (``out/results/...``, and ``out/predictions/...`` with ``save_predictions``).
        tasks: Only these tasks of the suite; all when empty. Every encoder must serve each one's type.
        seed: Seed of each task's sampling.
        batch_size: Texts per forward pass.
        use_cache: Keep and reuse embeddings in the embedding cache.
        overwrite: Run tasks again even where a matching result exists.
        save_predictions: Also keep mteb's per-item predictions (they feed per-item bootstrap intervals).
        on_event: Called with a :class:`~domainemb.progress.StageEvent` as each (model, task) run starts.
        devices: Where sentence-transformers models encode (see ``EvaluateConfig.devices``).

    Returns:
        The engine's result: one :class:`~domainemb.evaluation.results.TaskScore` per model and
        task, in model then task order.
    """
    from domainemb.evaluation.run import EvaluateConfig, evaluate

    config = EvaluateConfig(
        benchmark=suite.path,
        models=tuple(e.name for e in encoders),
        tasks=tuple(tasks),
        out=out,
        overwrite=overwrite,
        seed=seed,
        batch_size=batch_size,
        use_cache=use_cache,
        save_predictions=save_predictions,
        devices=tuple(devices),
    )
    return evaluate(config, encoders={e.name: e for e in encoders}, on_event=on_event)


@dataclass(frozen=True)
class ModelRef:
    """A scored model: the name given, the name its results are filed under, and its fingerprint.

    Args:
        name: The name the user gave (a registry name, a folder or a hub id).
        model_name: The name results are filed under (mteb's ``org/name``).
        fingerprint: sha256 of everything that decides the model's outputs.
        revision: The result sub-folder under ``model_name`` (empty when not recorded).
        baseline: A lexical baseline added to a comparison, not a model the user named.
        serves: The task types the model can be scored on (empty when not recorded).
    """

    name: str
    model_name: str
    fingerprint: str
    revision: str = ""
    baseline: bool = False
    serves: tuple[str, ...] = ()

    @classmethod
    def of(cls, encoder: Encoder, name: str | None = None, baseline: bool = False) -> ModelRef:
        """The reference of a loaded encoder (``name`` defaults to the encoder's)."""
        return cls(
            name=encoder.name if name is None else name,
            model_name=encoder.model_name,
            fingerprint=encoder.fingerprint,
            revision=encoder.revision,
            baseline=baseline,
            serves=tuple(sorted(encoder.serves)),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRef:
        """Read a mapping written from a ``ModelRef`` (``serves`` may be a list)."""
        return cls(**{**data, "serves": tuple(data.get("serves", ()))})

    def identity(self) -> dict[str, str]:
        """Name, model name and fingerprint: what a result file needs to name the model."""
        return {"name": self.name, "model_name": self.model_name, "fingerprint": self.fingerprint}
