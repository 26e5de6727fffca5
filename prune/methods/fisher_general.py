"""``fisher-general``: ``F·θ²`` with the diagonal Fisher of the general calibration pairs.

The domain-blind counterpart of :mod:`~domainemb.prune.methods.fisher_domain`: it keeps what the
general loss depends on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domainemb.prune.methods.base import PruneMethod
from domainemb.prune.methods.fisher_domain import fisher_loss_increase

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import Tensor

    from domainemb.prune.methods.base import Moments, ScoringSettings


class FisherGeneral(PruneMethod):
    """``F_gen·θ²``: keeps what the general loss depends on."""

    name = "fisher-general"
    needs_general_moments = True

    def score(self, theta: Mapping[str, Tensor], moments: Moments, settings: ScoringSettings) -> dict[str, Tensor]:
        return fisher_loss_increase(moments.general, theta)
