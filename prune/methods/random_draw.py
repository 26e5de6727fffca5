"""``random``: a seeded uniform draw per weight, the floor every method must beat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domainemb.prune.methods.base import PruneMethod

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import Tensor

    from domainemb.prune.methods.base import Moments, ScoringSettings


class RandomDraw(PruneMethod):
    """A seeded uniform draw in [0, 1) per weight (``settings.seed``); tensors drawn in name order."""

    name = "random"

    def score(self, theta: Mapping[str, Tensor], moments: Moments, settings: ScoringSettings) -> dict[str, Tensor]:
        import torch

        generator = torch.Generator().manual_seed(settings.seed)
        return {name: torch.rand(t.shape, generator=generator).to(t.device) for name, t in theta.items()}
