"""A model's embeddings stored another way (int8, binary, or truncated), scored by mteb's own evaluators.

:class:`QuantizedEncoder` wraps any dense :class:`~domainemb.evaluation.encoders.Encoder`. mteb
asks it for vectors as it would ask the model; it gets the model's float32 vectors (through the
embedding cache, under the model's own fingerprint, so rescoring encodes nothing twice), keeps the
first ``dim`` dimensions when truncating (Matryoshka), and quantizes them with
``sentence_transformers.util.quantization.quantize_embeddings``:

- **int8**: each dimension is cut into 256 buckets between the minimum and maximum of that
  dimension over a fixed seeded sample of the task's texts (the calibration set, encoded without a
  prompt), the same ranges for queries and documents. The vector mteb scores is each code mapped
  back to the centre of its bucket: what a store that keeps the codes and the ranges computes.
- **binary**: one bit per dimension (positive or not), unpacked to ±1. The cosine of two ±1 vectors
  is ``1 - 2 * hamming / dim``, so every similarity mteb computes ranks as Hamming distance does.

Its own fingerprint (the model's plus the variant) and name (``<model>@int8``, ``<model>@binary``,
``<model>@d64``, ``<model>@d64-int8``) keep its results apart from the model's.

Example:
    >>> binary = QuantizedEncoder(load_encoder("minilm"), Precision.BINARY, cache=EmbeddingCache())
    >>> score_models(suite, [binary], Path("work/quantized"), tasks=["FinRetrieval"])
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from domainemb.errors import DomainembError
from domainemb.evaluation.encoders import Encoder
from domainemb.types import Precision, TaskType

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.types import PromptType
    from torch.utils.data import DataLoader

    from domainemb.evaluation.cache import EmbeddingCache

log = logging.getLogger(__name__)

#: The task types rescored with stored-another-way vectors: those that score by vector similarity alone.
RESCORED_TYPES = frozenset({TaskType.RETRIEVAL, TaskType.STS})
#: Texts of a task's int8 calibration sample.
CALIBRATION_TEXTS = 1000
#: Bumped when the quantization scheme changes, so older results are not reused.
SCHEME = 1


def variant_suffix(precision: Precision | str, dim: int | None = None) -> str:
    """``int8``, ``binary``, ``d64``, ``d64-int8``: what sets a variant's name apart from its model's."""
    precision = Precision(precision)
    parts = ([f"d{dim}"] if dim is not None else []) + ([precision.value] if precision is not Precision.FLOAT32 else [])
    return "-".join(parts)


class QuantizedEncoder(Encoder):
    """``inner``'s vectors, truncated to ``dim`` and stored at ``precision`` (see the module docstring).

    Args:
        inner: A dense encoder (a sentence-transformers model or a vector encoder).
        precision: float32 (only with ``dim``), int8 or binary.
        dim: Keep only the first ``dim`` dimensions; ``None`` keeps them all.
        cache: Where ``inner``'s float32 vectors are kept and looked up; ``None`` encodes every time.
        calibration_texts: Texts of a task's int8 calibration sample.
        seed: Seed of the calibration sample.

    Raises:
        ValueError: nothing to change (float32 with every dimension), or ``dim`` below 1.
    """

    cacheable = False  # its vectors depend on the task's calibration; the inner model's are cached instead

    def __init__(
        self,
        inner: Encoder,
        precision: Precision | str,
        dim: int | None = None,
        *,
        cache: EmbeddingCache | None = None,
        calibration_texts: int = CALIBRATION_TEXTS,
        seed: int = 42,
    ) -> None:
        self.inner = inner
        self.precision = Precision(precision)
        self.dim = dim
        suffix = variant_suffix(self.precision, dim)
        if not suffix:
            raise ValueError("a float32 variant with every dimension is the model itself")
        if dim is not None and dim < 1:
            raise ValueError(f"a truncated vector keeps at least one dimension, got {dim}")
        self.suffix = suffix
        self.name = f"{inner.name}@{suffix}"
        self.model_name = f"{inner.model_name}-{suffix}"
        self.serves = frozenset(inner.serves) & RESCORED_TYPES
        self.cache = cache
        self.calibration_texts = calibration_texts
        self.seed = seed
        self.fingerprint = hashlib.sha256(
            json.dumps(
                {
                    "model": inner.fingerprint,
                    "precision": self.precision.value,
                    "dim": dim,
                    "calibration_texts": calibration_texts,
                    "seed": seed,
                    "scheme": SCHEME,
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()
        self._calibration: list[str] = []
        self._mteb: QuantizedModel | None = None

    def prepare(self, texts: Sequence[str]) -> None:
        """Fit ``inner`` where it fits on a task's texts, and draw the task's calibration sample."""
        if type(self.inner).prepare is not Encoder.prepare:
            self.inner.prepare(texts)
        from domainemb.compare.cost import sample_texts

        self._calibration = sample_texts(texts, self.calibration_texts, self.seed)
        if self._mteb is not None:
            self._mteb.ranges = None

    def mteb_model(self) -> Any:
        if self._mteb is None:
            self._mteb = QuantizedModel(self)
        return self._mteb


class QuantizedModel:
    """What mteb evaluates for a :class:`QuantizedEncoder`: the inner model's vectors, transformed."""

    def __init__(self, encoder: QuantizedEncoder) -> None:
        from domainemb.evaluation.cache import CachedModel

        self.encoder = encoder
        inner = encoder.inner.mteb_model()
        if encoder.cache is not None and encoder.inner.cacheable:
            inner = CachedModel(inner, encoder.cache, encoder.inner.fingerprint)
        self.model = inner
        self.mteb_model_meta = inner.mteb_model_meta.model_copy(
            update={"name": encoder.model_name, "revision": encoder.revision}
        )
        self.ranges: np.ndarray | None = None  # (2, dim): int8 bucket range of each dimension, per task

    def encode(
        self,
        inputs: DataLoader,
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        vectors = self._float(inputs, task_metadata, hf_split, hf_subset, prompt_type, **kwargs)
        precision = self.encoder.precision
        if precision is Precision.INT8:
            if self.ranges is None:
                self.ranges = self._calibrate(task_metadata, hf_split, hf_subset, **kwargs)
            return dequantize_int8(quantize(vectors, precision, self.ranges), self.ranges)
        if precision is Precision.BINARY:
            return unpack_binary(quantize(vectors, precision), vectors.shape[1])
        return vectors

    def _float(
        self,
        inputs: Any,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None,
        **kwargs: Any,
    ) -> np.ndarray:
        from domainemb.evaluation.cache import _to_numpy

        vectors = _to_numpy(
            self.model.encode(
                inputs,
                task_metadata=task_metadata,
                hf_split=hf_split,
                hf_subset=hf_subset,
                prompt_type=prompt_type,
                **kwargs,
            )
        ).astype(np.float32)  # (texts, model dim)
        if self.encoder.dim is not None:
            if self.encoder.dim > vectors.shape[1]:
                raise DomainembError(
                    f"{self.encoder.inner.name}: cannot truncate {vectors.shape[1]}-dimensional vectors "
                    f"to {self.encoder.dim} dimensions"
                )
            vectors = vectors[:, : self.encoder.dim]  # (texts, dim)
        return vectors

    def _calibrate(self, task_metadata: TaskMetadata, hf_split: str, hf_subset: str, **kwargs: Any) -> np.ndarray:
        from datasets import Dataset
        from torch.utils.data import DataLoader

        texts = self.encoder._calibration
        if not texts:
            raise DomainembError(
                f"{self.encoder.name}: int8 needs a calibration sample; call prepare() with the task's texts first"
            )
        loader = DataLoader(Dataset.from_dict({"text": texts}), batch_size=int(kwargs.get("batch_size", 32)))
        calibration = self._float(loader, task_metadata, hf_split, hf_subset, None, **kwargs)
        return np.stack([calibration.min(axis=0), calibration.max(axis=0)])  # (2, dim)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self.model.similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self.model.similarity_pairwise(embeddings1, embeddings2)


def quantize(vectors: np.ndarray, precision: Precision, ranges: np.ndarray | None = None) -> np.ndarray:
    """sentence-transformers' quantization: int8 codes with the given ranges, or packed sign bits."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers.util.quantization import quantize_embeddings

    return quantize_embeddings(vectors, precision=precision.value, ranges=ranges)


def dequantize_int8(codes: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """The centre of each int8 code's bucket, as sentence-transformers cut the range ``ranges`` (2, dim)."""
    starts = ranges[0].astype(np.float32)
    steps = (ranges[1].astype(np.float32) - starts) / 255
    steps = np.where(steps == 0, 1, steps)
    return ((codes.astype(np.float32) + 128.0 + 0.5) * steps + starts).astype(np.float32)  # (texts, dim)


def unpack_binary(packed: np.ndarray, dim: int) -> np.ndarray:
    """Packed sign bits (sentence-transformers' ``binary``: ``packbits - 128`` as int8) as ±1 floats."""
    bits = np.unpackbits((packed.astype(np.int16) + 128).astype(np.uint8), axis=-1)[:, :dim]  # (texts, dim)
    return (bits.astype(np.float32) * 2.0 - 1.0).astype(np.float32)
