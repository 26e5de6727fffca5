"""Build a benchmark folder for one domain: verified sources -> validated tables -> parquet + manifest.

The folder is written into a hidden sibling and renamed into place only when complete, so an
interrupted or failed build never leaves a half-written benchmark that looks complete. The same
inputs give byte-identical files (no timestamps; content-hash subsampling; fixed parquet options).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import domainemb
from domainemb.atomic import staging_folder, swap_into_place
from domainemb.domains.fetch import sha256_file
from domainemb.domains.helpers import SEED
from domainemb.domains.lite import LiteCaps, subsample
from domainemb.domains.manifest import MANIFEST, Manifest, TaskEntry
from domainemb.domains.readers import SourceFiles
from domainemb.domains.registry import domain_tasks
from domainemb.domains.tables import CountedTables, Tables, validate
from domainemb.errors import DomainembError
from domainemb.progress import OnEvent, StageEvent
from domainemb.types import Domain, Size, TaskSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildConfig:
    """How to build one domain's benchmark.

    Args:
        domain: Which suite.
        out: Target folder (created atomically; an existing benchmark there is replaced).
        size: ``lite`` (stratified caps) or ``full``.
        user_tasks: The user's own labelled tasks (BEIR folders or JSONL/CSV + task.yaml).
        seed: Seed of the lite subsampling.
        caps: Lite row caps.
        strict: Refuse the user's BEIR folders as they are often published (queries with no test
            judgement or none relevant, empty documents or queries) instead of leaving those out.
    """

    domain: Domain
    out: Path
    size: Size = Size.LITE
    user_tasks: tuple[Path, ...] = ()
    seed: int = SEED
    caps: LiteCaps = field(default_factory=LiteCaps)
    strict: bool = False


@dataclass(frozen=True)
class BuildResult:
    path: Path
    manifest: Manifest
    seconds: float


def build_benchmark(
    config: BuildConfig,
    files: SourceFiles | None = None,
    on_event: OnEvent | None = None,
    extra_specs: tuple[TaskSpec, ...] = (),
) -> BuildResult:
    """Build ``config.domain``'s benchmark into ``config.out``.

    Args:
        config: What to build.
        files: Source file access (mirror / pinned download); defaults to the environment's.
        on_event: Called with a :class:`~domainemb.progress.StageEvent` as each task starts
            (``<domain>: <task>``, counting the tasks built so far).
        extra_specs: Additional tasks (e.g. a synthetic corpus task) built alongside the suite.

    Returns:
        The folder, its manifest and the build time.

    Raises:
        DataError: on any missing, altered or malformed input; nothing is left at ``config.out``.
    """
    from domainemb.domains.user_tasks import load_user_task

    start = time.perf_counter()
    files = files or SourceFiles()
    specs = list(domain_tasks(config.domain)) + list(extra_specs)
    specs += [load_user_task(path, config.domain, strict=config.strict) for path in config.user_tasks]
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DomainembError(f"duplicate task name {dup[0]!r} in the {config.domain} benchmark")

    out = Path(config.out)
    _check_target(out)
    tmp = staging_folder(out, "building")  # also removes those of builds that were killed
    try:
        entries = []
        sources: dict[str, dict[str, object]] = {}
        for n, spec in enumerate(specs):
            if on_event:
                on_event(StageEvent(f"{config.domain}: {spec.name}", done=n, total=len(specs)))
            tables, counts = _task_tables(spec, files, config)
            entries.append(_write_task(spec, tables, counts, tmp / spec.name))
            for s in spec.sources:
                sources[s.key] = {
                    "repo": s.repo,
                    "commit": s.commit,
                    "licence": s.licence,
                    "licence_flag": s.licence_flag.value,
                    "files": s.checksums,
                }
        manifest = Manifest(
            domain=config.domain.value,
            size=config.size.value,
            seed=config.seed,
            domainemb_version=domainemb.__version__,
            sources=dict(sorted(sources.items())),
            tasks=entries,
        )
        (tmp / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(path=out, manifest=manifest, seconds=time.perf_counter() - start)


def _task_tables(spec: TaskSpec, files: SourceFiles, config: BuildConfig) -> tuple[Tables, Mapping[str, int]]:
    """The task's validated (and for lite, subsampled) tables, and the counts its build returned."""
    from domainemb.domains.user_tasks import UserTaskSpec

    # A user's BEIR folder may keep queries whose judgements are all 0, as mteb does (not --strict).
    need_relevant = not isinstance(spec, UserTaskSpec) or spec.strict
    lo, hi = spec.min_score, spec.max_score
    built = spec.build(files)
    counts: Mapping[str, int] = {}
    if isinstance(built, CountedTables):
        built, counts = built.tables, built.data_counts
    tables = validate(spec.name, spec.type, built, lo, hi, queries_need_relevant=need_relevant)
    if config.size is Size.LITE:
        tables = subsample(spec.type, tables, config.caps, config.seed)
        tables = validate(spec.name, spec.type, tables, lo, hi, queries_need_relevant=need_relevant)
    return tables, counts


def _write_task(spec: TaskSpec, tables: Tables, counts: Mapping[str, int], folder: Path) -> TaskEntry:
    folder.mkdir()
    checksums = {}
    for name in sorted(tables):
        path = folder / f"{name}.parquet"
        tables[name].write_parquet(path, compression="zstd", compression_level=3, statistics=False)
        checksums[path.name] = sha256_file(path)
    prefix = spec.sources[0].key.split("/")[0] if spec.sources else ""
    origin = {"user": "user", "corpus": "corpus"}.get(prefix, "builtin")
    return TaskEntry(
        name=spec.name,
        type=spec.type.value,
        main_score=spec.main_score,
        domain=spec.domain.value,
        description=spec.description,
        licence=spec.licence,
        licence_flag=spec.licence_flag.value,
        mteb_license=spec.sources[0].mteb_license if len(spec.sources) == 1 else "multiple",
        citation=spec.citation,
        annotations=spec.annotations,
        mteb_domains=list(spec.mteb_domains),
        min_score=spec.min_score,
        max_score=spec.max_score,
        origin=origin,
        sizes={name: df.height for name, df in sorted(tables.items())},
        files=checksums,
        source_checksums=spec.source_checksums,
        data_counts=dict(counts),  # a user's BEIR folder and a corpus task say what they left out
    )


def _check_target(out: Path) -> None:
    """Refuse to replace a folder that is not a benchmark (it may hold the user's own files)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).is_file())):
        raise DomainembError(f"{out}: exists and is not a domainemb benchmark; choose another --out")
