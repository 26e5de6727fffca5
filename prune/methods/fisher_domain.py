"""``fisher-domain``: ``F·θ²`` with the diagonal Fisher of the domain calibration pairs.

``F_j·θ_j²`` is the diagonal-Fisher (second-order) estimate of the loss increase when weight ``j``
is set to zero, so the weights whose removal costs the domain loss least go first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domainemb.prune.methods.base import PruneMethod

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import Tensor

    from domainemb.prune.gradients import GradientMoments
    from domainemb.prune.methods.base import Moments, ScoringSettings


def fisher_loss_increase(moments: GradientMoments, theta: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``F·θ²`` per weight: the estimated loss increase of zeroing it."""
    fisher = moments.fisher()
    return {name: fisher[name] * t.square() for name, t in theta.items()}


class FisherDomain(PruneMethod):
    """``F_dom·θ²``: keeps what the domain loss depends on."""

    name = "fisher-domain"
    needs_domain_moments = True

    def score(self, theta: Mapping[str, Tensor], moments: Moments, settings: ScoringSettings) -> dict[str, Tensor]:
        return fisher_loss_increase(moments.domain, theta)
