"""How mteb sees a :class:`~domainemb.evaluation.encoders.VectorEncoder`: an mteb ``AbsEncoder``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from mteb.models.abs_encoder import AbsEncoder

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
