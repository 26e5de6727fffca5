"""``magnitude``: ``|θ|``, the smallest weights go first (no calibration data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domainemb.prune.methods.base import PruneMethod

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import Tensor

    from domainemb.prune.methods.base import Moments, ScoringSettings


class Magnitude(PruneMethod):
    """``|θ|``: the baseline every data-driven method is compared with."""

    name = "magnitude"
    compare_with_magnitude = False  # it is magnitude pruning

    def score(self, theta: Mapping[str, Tensor], moments: Moments, settings: ScoringSettings) -> dict[str, Tensor]:
        return {name: t.abs() for name, t in theta.items()}
