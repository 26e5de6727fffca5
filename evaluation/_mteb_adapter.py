"""How mteb sees our encoders: a :class:`~domainemb.evaluation.encoders.VectorEncoder` as an mteb
``AbsEncoder``; a sentence-transformers model through mteb's own wrapper, encoding in a worker pool
when it has one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

if TYPE_CHECKING:
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.types import PromptType
    from torch.utils.data import DataLoader

    from domainemb.evaluation.encoders import VectorEncoder


class VectorModel(AbsEncoder):
    """mteb's encoder protocol over a vector encoder; similarity is cosine (mteb's own functions)."""

    def __init__(self, encoder: VectorEncoder) -> None:
        self.model = encoder
        self.mteb_model_meta = encoder.model_meta(similarity_fn_name="cosine", framework=["NumPy"])

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
        texts = [text for batch in inputs for text in batch["text"]]
        vectors = self.model.embed(texts, prompt_type.value if prompt_type is not None else None)
        return np.asarray(vectors, dtype=np.float32)  # (len(texts), dim)


class PooledSentenceTransformerWrapper(SentenceTransformerEncoderWrapper):
    """mteb's sentence-transformers wrapper, unchanged but for where it encodes: each call goes
    through ``pool()``'s worker processes (``SentenceTransformer.encode(..., pool=...)``) when it
    returns one, in this process otherwise.

    Args:
        model: The loaded sentence-transformers model.
        pool: Returns the running pool, or ``None`` to encode in this process.
    """

    def __init__(self, model: Any, pool: Callable[[], dict[str, Any] | None]) -> None:
        super().__init__(model)
        self._pool = pool

    def encode(self, inputs: DataLoader, **kwargs: Any) -> Any:
        pool = self._pool()
        if pool is not None:
            kwargs["pool"] = pool
        return super().encode(inputs, **kwargs)
