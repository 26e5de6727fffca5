"""One parametrized walk over the whole registry: every task's metadata is complete and valid."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from mteb.abstasks.task_metadata import TaskMetadata

from domainemb.domains.corpora import PassageUnit
from domainemb.domains.registry import all_tasks, domain_sources, domain_tasks, domain_training_corpora, get_task
from domainemb.errors import UnknownNameError
from domainemb.types import MTEB_TYPES, Domain, LicenceFlag, TaskType

TASKS = list(all_tasks().values())
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.mark.parametrize("spec", TASKS, ids=[t.name for t in TASKS])
def test_task_metadata_is_complete(spec):
    # mteb's own convention for a task's later version: a ".vN" suffix (SummEvalSummarization.v2).
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+(\.v[0-9]+)?", spec.name), spec.name
    assert isinstance(spec.type, TaskType) and spec.main_score
    assert len(spec.description) >= 40, "describe what is measured and how labels were obtained"
    assert spec.sources and spec.licence and spec.citation.strip()
    assert isinstance(spec.licence_flag, LicenceFlag)
    if spec.annotations == "derived":
        assert "deriv" in spec.description.lower(), "derived labels must say so in the description"
    if spec.type in (TaskType.STS, TaskType.SUMMARIZATION):
        assert spec.min_score is not None and spec.max_score is not None and spec.min_score < spec.max_score
    for source in spec.sources:
        assert source.key.startswith(f"{spec.domain.value}/")
        assert source.repo.startswith("https://github.com/"), source.repo
        assert HEX40.match(source.commit), source.commit
        for f in source.files:
            assert HEX64.match(f.sha256), (source.key, f.name)
    # The same metadata must pass mteb's own validation (closed vocabularies included).
    TaskMetadata(
        name=spec.name,
        description=spec.description,
        dataset={"path": f"domainemb/{spec.name}", "revision": "x"},
        type=spec.type.value,
        category="t2t",
        eval_splits=["test"],
        eval_langs=["eng-Latn"],
        main_score=spec.main_score,
        domains=list(spec.mteb_domains) or None,
        license=spec.sources[0].mteb_license,
        annotations_creators=spec.annotations,
        modalities=["text"],
        sample_creation="found",
        bibtex_citation=spec.citation,
    )


def test_names_are_unique_and_lookup_suggests_close_names():
    names = [t.name for t in TASKS]
    assert len(names) == len(set(names))
    some = TASKS[0].name
    assert get_task(some) is TASKS[0]
    with pytest.raises(UnknownNameError, match=re.escape(some)):
        get_task(some[:-1] + "x")


@pytest.mark.parametrize(
    ("domain", "min_tasks", "min_types"),
    [(Domain.FINANCE, 10, 5), (Domain.MEDICINE, 10, 6), (Domain.CHEMISTRY, 6, 4), (Domain.GENERAL, 14, 7)],
)
def test_suite_minimum_sizes(domain, min_tasks, min_types):
    tasks = domain_tasks(domain)
    types = Counter(t.type for t in tasks)
    assert len(tasks) >= min_tasks
    assert len(types) >= min_types
    if domain is Domain.GENERAL:
        assert MTEB_TYPES <= set(types), MTEB_TYPES - set(types)


@pytest.mark.parametrize("domain", list(Domain))
def test_every_staged_dataset_is_accounted_for(domain, data_dir):
    """Each dataset folder in the mirror is a Source of its domain, a training corpus of it, or listed as unusable with a reason."""
    staged = {p.name for p in (data_dir / domain.value).iterdir() if p.is_dir()}
    used = {s.key.split("/", 1)[1] for s in domain_sources(domain)}
    corpora = {c.name for c in domain_training_corpora(domain)}
    from domainemb.domains import registry

    unused = getattr(registry._module(domain), "UNUSED", {})
    left = staged - used - corpora
    assert left <= set(unused), f"unused without a reason: {sorted(left - set(unused))}"
    assert corpora <= staged, f"training corpora missing from the mirror: {sorted(corpora - staged)}"
    assert not corpora & used, "a training corpus never feeds a task"
    for name, reason in unused.items():
        assert len(reason) > 20, name
    task_sources = {s.key for t in domain_tasks(domain) for s in t.sources}
    assert task_sources == {s.key for s in domain_sources(domain)}, "every declared source feeds a task"


#: The staged unlabelled corpora of issue 18: (key, passage unit, licence flag, licence as stated).
CORPORA = [
    ("finance/maec-earnings-calls", PassageUnit.SENTENCE_WINDOW, LicenceFlag.OPEN, "CC BY-SA 4.0"),
    ("finance/openstax-principles-accounting", PassageUnit.PARAGRAPH, LicenceFlag.NC, "CC BY-NC-SA 4.0"),
    ("chemistry/openstax-organic-chemistry", PassageUnit.PARAGRAPH, LicenceFlag.NC, "CC BY-NC-SA 4.0"),
    ("medicine/openstax-microbiology", PassageUnit.PARAGRAPH, LicenceFlag.NC, "CC BY-NC-SA 4.0"),
]


def test_training_corpora_are_registered_pinned_with_their_licences():
    registered = {c.source.key: c for d in Domain for c in domain_training_corpora(d)}
    assert sorted(registered) == sorted(key for key, *_ in CORPORA)
    assert domain_training_corpora(Domain.GENERAL) == ()
    for key, unit, flag, licence in CORPORA:
        corpus = registered[key]
        source = corpus.source
        assert corpus.unit is unit and source.licence_flag is flag and source.licence.startswith(licence), key
        assert source.repo.startswith("https://github.com/") and HEX40.match(source.commit), key
        assert source.files and all(HEX64.match(f.sha256) for f in source.files), key
        assert source.citation.strip() and len(corpus.description) > 20, key
        assert not any(source in t.sources for t in domain_tasks(Domain(key.split("/")[0]))), key


def test_a_training_corpus_that_feeds_a_task_is_refused(monkeypatch):
    from domainemb.domains import finance
    from domainemb.domains.corpora import TrainingCorpus

    monkeypatch.setattr(
        finance,
        "TRAINING_CORPORA",
        [*finance.TRAINING_CORPORA, TrainingCorpus(finance.TATQA, PassageUnit.PARAGRAPH, "x")],
    )
    with pytest.raises(ValueError, match="finance/tatqa is also a benchmark source"):
        domain_training_corpora(Domain.FINANCE)
    monkeypatch.setattr(finance, "TRAINING_CORPORA", finance.TRAINING_CORPORA[:1] * 2)
    with pytest.raises(ValueError, match="duplicate training corpus"):
        domain_training_corpora(Domain.FINANCE)


def test_duplicate_names_raise(monkeypatch):
    from domainemb.domains import registry

    dup = TASKS[0]
    real = registry.domain_tasks
    monkeypatch.setattr(registry, "domain_tasks", lambda d: real(d) + ((dup,) if d is Domain.GENERAL else ()))
    registry.all_tasks.cache_clear()
    try:
        with pytest.raises(ValueError, match="duplicate task name"):
            registry.all_tasks()
    finally:
        monkeypatch.undo()
        registry.all_tasks.cache_clear()
