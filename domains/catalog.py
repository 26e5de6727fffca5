"""What `domainemb list` shows: every registered task with its type, licence and built sizes, and the
training corpora (which feed no task) with their licences."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from domainemb.domains.manifest import MANIFEST, Manifest
from domainemb.domains.registry import domain_tasks, domain_training_corpora
from domainemb.types import Domain, Size


@dataclass(frozen=True)
class CatalogRow:
    domain: str
    name: str
    type: str
    main_score: str
    licence: str
    licence_flag: str
    sizes: dict[str, int] | None


def catalog(domains: list[Domain], size: Size, benchmarks: Path) -> list[CatalogRow]:
    """Registered tasks of ``domains``; sizes come from ``benchmarks/<domain>-<size>`` when built."""
    rows = []
    for domain in domains:
        built = benchmarks / f"{domain.value}-{size.value}"
        sizes = {}
        if (built / MANIFEST).is_file():
            sizes = {t.name: t.sizes for t in Manifest.read(built).tasks}
        for spec in domain_tasks(domain):
            rows.append(
                CatalogRow(
                    domain=domain.value,
                    name=spec.name,
                    type=spec.type.value,
                    main_score=spec.main_score,
                    licence=spec.licence,
                    licence_flag=spec.licence_flag.value,
                    sizes=sizes.get(spec.name),
                )
            )
    return rows


@dataclass(frozen=True)
class CorpusRow:
    domain: str
    name: str
    unit: str
    licence: str
    licence_flag: str
    repo: str


def corpus_catalog(domains: list[Domain]) -> list[CorpusRow]:
    """Registered training corpora of ``domains`` (unlabelled text for ``export-corpus``, feeding no task)."""
    return [
        CorpusRow(
            domain=domain.value,
            name=corpus.name,
            unit=corpus.unit.value,
            licence=corpus.source.licence,
            licence_flag=corpus.source.licence_flag.value,
            repo=corpus.source.repo,
        )
        for domain in domains
        for corpus in domain_training_corpora(domain)
    ]


def sources_markdown(domains: list[Domain]) -> str:
    """A markdown table of which datasets feed which tasks, with licences (for README)."""
    from domainemb.domains.registry import domain_sources

    lines = ["| domain | dataset | licence | flag | tasks |", "|---|---|---|---|---|"]
    for domain in domains:
        tasks = domain_tasks(domain)
        for source in domain_sources(domain):
            fed = [f"{t.name} ({t.type.value})" for t in tasks if source in t.sources]
            licence = source.licence.replace("|", "/")
            lines.append(
                f"| {domain.value} | [{source.key.split('/', 1)[1]}]({source.repo}) | {licence} | {source.licence_flag.value} | {', '.join(fed)} |"
            )
    return "\n".join(lines) + "\n"
