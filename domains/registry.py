"""The task registry, built from the domain modules (one module per domain).

Each domain module (``domains/finance.py`` ...) exposes ``SOURCES`` (its pinned datasets) and
``TASKS`` (its :class:`~domainemb.types.TaskSpec` list), and may expose ``TRAINING_CORPORA``
(:class:`~domainemb.domains.corpora.TrainingCorpus` list: unlabelled text that feeds no task). The
registry imports them, rejects duplicate names and suggests the closest name on a miss.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from domainemb.errors import unknown_name
from domainemb.types import Domain, Source, TaskSpec

if TYPE_CHECKING:
    from domainemb.domains.corpora import TrainingCorpus

_MODULES = {d: f"domainemb.domains.{d.value}" for d in Domain}


@cache
def _module(domain: Domain):
    return importlib.import_module(_MODULES[domain])


def domain_of(name: str) -> Domain:
    try:
        return Domain(name)
    except ValueError:
        raise unknown_name("domain", name, [d.value for d in Domain]) from None


def domain_tasks(domain: Domain | str) -> tuple[TaskSpec, ...]:
    """The tasks of one suite, in declaration order."""
    domain = domain_of(domain) if isinstance(domain, str) else domain
    tasks = tuple(_module(domain).TASKS)
    for spec in tasks:
        if spec.domain is not domain:
            raise ValueError(f"task {spec.name} is declared in {domain} but says domain={spec.domain}")
    return tasks


def domain_sources(domain: Domain | str) -> tuple[Source, ...]:
    domain = domain_of(domain) if isinstance(domain, str) else domain
    return tuple(_module(domain).SOURCES)


def domain_training_corpora(domain: Domain | str) -> tuple[TrainingCorpus, ...]:
    """The training corpora of one domain, in declaration order (empty for a domain with none).

    Raises:
        ValueError: when a corpus belongs to another domain, is declared twice, or is also a
            benchmark source (a training corpus never feeds a task).
    """
    domain = domain_of(domain) if isinstance(domain, str) else domain
    corpora = tuple(getattr(_module(domain), "TRAINING_CORPORA", ()))
    task_sources = {s.key for s in domain_sources(domain)} | {s.key for t in domain_tasks(domain) for s in t.sources}
    seen: set[str] = set()
    for corpus in corpora:
        key = corpus.source.key
        if not key.startswith(f"{domain.value}/"):
            raise ValueError(f"training corpus {key} is declared in {domain}")
        if key in seen:
            raise ValueError(f"duplicate training corpus {key!r} in {domain}")
        if key in task_sources:
            raise ValueError(f"training corpus {key} is also a benchmark source of {domain}")
        seen.add(key)
    return corpora


@cache
def all_tasks() -> dict[str, TaskSpec]:
    """Every registered task by name; raises on duplicate names across all suites."""
    registry: dict[str, TaskSpec] = {}
    for domain in Domain:
        for spec in domain_tasks(domain):
            if spec.name in registry:
                raise ValueError(f"duplicate task name {spec.name!r} ({registry[spec.name].domain} and {domain})")
            registry[spec.name] = spec
    return registry


def get_task(name: str) -> TaskSpec:
    registry = all_tasks()
    if name not in registry:
        raise unknown_name("task", name, list(registry))
    return registry[name]
