"""What `domainemb list` shows: every registered task with its type, licence and built sizes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from domainemb.domains.manifest import MANIFEST, Manifest
from domainemb.domains.registry import domain_tasks
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
