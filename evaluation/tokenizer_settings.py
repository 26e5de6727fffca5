"""The fast tokenizer's truncation and padding settings, captured at load and put back before saving.

Every call to a fast tokenizer leaves its own truncation and padding settings in the backend, and
``tokenizer.json`` records them. Without putting back the settings the model was loaded with, a
saved folder, and so its fingerprint (the embedding cache's key and the provenance in every
result), would depend on what a run happened to encode last (a training batch, a dev query).
sentence-transformers passes its own settings on every call, so embeddings are the same either way.
``domainemb adapt`` and ``domainemb prune`` both save through this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenizerSettings:
    """Truncation and padding of a sentence-transformers model's fast tokenizer (``None``: off)."""

    truncation: dict[str, Any] | None
    padding: dict[str, Any] | None
    #: ``False`` for a slow (pure Python) tokenizer, which keeps no such state.
    fast: bool = True

    @classmethod
    def capture(cls, model: Any) -> TokenizerSettings:
        """The settings of ``model``'s tokenizer now (call right after loading)."""
        backend = _backend(model)
        if backend is None:
            return cls(None, None, fast=False)
        return cls(_copy(backend.truncation), _copy(backend.padding))

    def restore(self, model: Any) -> None:
        """Put these settings back into ``model``'s tokenizer."""
        backend = _backend(model)
        if not self.fast or backend is None:
            return
        if self.truncation is None:
            backend.no_truncation()
        else:
            backend.enable_truncation(**self.truncation)
        if self.padding is None:
            backend.no_padding()
        else:
            backend.enable_padding(**self.padding)


def _backend(model: Any) -> Any:
    return getattr(getattr(model, "tokenizer", None), "_tokenizer", None)


def _copy(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if settings is None else dict(settings)
