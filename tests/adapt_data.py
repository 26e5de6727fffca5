"""Small deterministic inputs for the adapt tests: a pairs file and the tasks of tiny suites.

The pairs are keyword sentences about a few finance and medicine topics, one "document" per
topic-and-number, so a model can learn to match a query to its passage in a few dozen steps. The
tiny model the adapt tests train (``tiny_model`` in tests/conftest.py) is a 2-layer BERT with
MiniLM's tokenizer: training it takes a fraction of a second per step.
"""

from __future__ import annotations

import random
from pathlib import Path

from transformers import TrainerCallback

from domainemb import pairs
from domainemb.domains.tables import pair_tables, retrieval_tables
from domainemb.jsonio import write_json
from domainemb.types import Domain, LicenceFlag, Source, TaskSpec, TaskType

TOPICS = {
    "rates": ["interest rates", "the central bank", "inflation", "bond yields", "monetary policy"],
    "earnings": ["quarterly earnings", "revenue growth", "the profit margin", "net income", "the dividend"],
    "credit": ["the credit rating", "default risk", "the loan book", "bond spreads", "the covenant"],
    "trials": ["the clinical trial", "the placebo group", "the dosage", "adverse events", "the vaccine"],
}
VERBS = ["shaped", "drove", "changed", "explained", "was linked to"]


def sentence(rng: random.Random, topic: str) -> str:
    a, b = rng.sample(TOPICS[topic], 2)
    return f"{a.capitalize()} {rng.choice(VERBS)} {b} (item {rng.randrange(1000)})."


def pair_rows(n_docs: int = 12, per_doc: int = 4, negatives: int = 1, seed: int = 0) -> list[dict]:
    """Rows in the synth pair format; every other document's pairs carry ``negatives`` negatives."""
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    rows = []
    for d in range(n_docs):
        topic = topics[d % len(topics)]
        other = topics[(d + 1) % len(topics)]
        for k in range(per_doc):
            passage = " ".join(sentence(rng, topic) for _ in range(3))
            rows.append(
                {
                    "key": f"k{d}-{k}",
                    "query": passage.split(".")[0] + "?",
                    "positive": passage,
                    "negatives": [
                        " ".join(sentence(rng, other) for _ in range(3)) for _ in range(negatives if d % 2 == 0 else 0)
                    ],
                    "persona": None,
                    "kind": "short-long",
                    "doc_id": f"doc-{d}",
                    "chunk_id": f"doc-{d}#{k}",
                    "generator": "ict",
                    "llm_model": None,
                    "template_hash": None,
                }
            )
    return rows


def write_pairs(path: Path, rows: list[dict] | None = None, card: dict | None = None) -> Path:
    """Write ``rows`` (default :func:`pair_rows`) as a pairs file, and ``card`` as the synth card beside it."""
    rows = pair_rows() if rows is None else rows
    pairs.write_pairs(path, [pairs.pair_from_record(row) for row in rows])
    if card is not None:
        write_json(pairs.card_path(path), card)
    return path


#: A synth card (domainemb.synth_card.SynthCard.to_dict) as an ICT run writes it.
SYNTH_CARD = {
    "format": "domainemb-synth-card/1",
    "counts": {
        "pairs": 48,
        "by_persona": {},
        "by_kind": {"short-long": 48},
        "by_generator": {"ict": 48},
        "with_negatives": 0,
    },
    "drops": {"dedup": 2, "decontamination": 1},
    "failed": {"total": 0, "by_reason": {}},
    "items": {"planned": 48, "generated": 48, "resumed": 0},
    "tokens": {"prompt": 0, "completion": 0},
    "cost_usd": None,
    "wall_time_s": 1.5,
    "llm": {},
    "corpus": {
        "path": "corpus/",
        "fingerprint": "0" * 64,
        "documents": 12,
        "training_chunks": 48,
        "skipped_files": {},
        "bad_jsonl_lines": 0,
    },
    "decontamination": {"against": [], "test_texts": 0, "ngram": 13},
    "config": {"generator": "ict", "domain": "finance"},
    "kinds": ["short-long"],
    "domainemb_version": "0.1.0",
}


SOURCE = Source(
    key="test/adapt-synthetic",
    repo="https://example.org/adapt-synthetic",
    commit="0" * 40,
    files=(),
    licence="CC0-1.0",
    licence_flag=LicenceFlag.OPEN,
    citation="Synthetic test data.",
    mteb_license="cc0-1.0",
)


def _retrieval(seed: int, topics: list[str]):
    rng = random.Random(seed)
    corpus = [(f"d{i}", "", " ".join(sentence(rng, topics[i % len(topics)]) for _ in range(2))) for i in range(30)]
    queries, qrels = [], []
    for q in range(10):
        target = corpus[q * 3]
        queries.append((f"q{q}", target[2].split(".")[0] + "?"))
        qrels.append((f"q{q}", target[0], 1))
    return retrieval_tables(corpus, queries, qrels, None)


def _sts(seed: int, topics: list[str]):
    rng = random.Random(seed)
    rows = []
    for i in range(30):
        t1 = topics[i % len(topics)]
        t2 = t1 if i % 2 == 0 else topics[(i + 1) % len(topics)]
        rows.append((sentence(rng, t1), sentence(rng, t2), 4.0 + rng.random() if t1 == t2 else rng.random()))
    return pair_tables(rows, TaskType.STS)


def _spec(name: str, domain: Domain, type: TaskType, build, **kwargs) -> TaskSpec:
    return TaskSpec(
        name=name,
        domain=domain,
        type=type,
        description=f"Synthetic {type} task for the adapt tests.",
        sources=(SOURCE,),
        build=build,
        annotations="derived",
        **kwargs,
    )


def suite_specs() -> dict[Domain, tuple[TaskSpec, ...]]:
    """A tiny finance suite (retrieval + STS) and a tiny general suite (retrieval + STS):
    ``tiny_suites("adapt")`` (tests/conftest.py) builds them."""
    finance = ["rates", "earnings", "credit"]
    general = ["trials", "rates"]
    return {
        Domain.FINANCE: (
            _spec("TinyFinRetrieval", Domain.FINANCE, TaskType.RETRIEVAL, lambda f: _retrieval(1, finance)),
            _spec("TinyFinSTS", Domain.FINANCE, TaskType.STS, lambda f: _sts(2, finance), min_score=0.0, max_score=5.0),
        ),
        Domain.GENERAL: (
            _spec("TinyGenRetrieval", Domain.GENERAL, TaskType.RETRIEVAL, lambda f: _retrieval(3, general)),
            _spec("TinyGenSTS", Domain.GENERAL, TaskType.STS, lambda f: _sts(4, general), min_score=0.0, max_score=5.0),
        ),
    }


class Interrupted(Exception):
    """Stands for the process being killed."""


class InterruptAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Interrupted(f"killed at step {self.step}")


#: A probe (tests/kill_data.py) of every training step: ``[global step, loss]``, as each step's backward pass ends.
STEP_LOSS = (
    "transformers.trainer:Trainer.training_step",
    "lambda loss, trainer, *args, **kwargs: [trainer.state.global_step + 1, float(loss)]",
)


def adapt_command(base: str | Path, pairs: Path, out: Path, settings: dict) -> list[str]:
    """``domainemb adapt`` arguments with ``settings`` in a YAML file beside ``out`` (no scoring, checkpoints kept)."""
    config = out.parent / f"{out.name}.yaml"
    lines = [f"{k}: {v}" for k, v in settings.items()] + ["evaluate: false", "keep_checkpoints: true"]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["adapt", "--base", str(base), "--pairs", str(pairs), "--domain", "finance", "--out", str(out)] + [
        "--config",
        str(config),
    ]
