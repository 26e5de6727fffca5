"""The base class of every prune method: say which gradient moments it needs, then score the weights.

A method is one small class in its own file (:mod:`~domainemb.prune.methods.magnitude` is the
shortest) and one line in the registry (:mod:`domainemb.prune.methods`). The run reads what the
method declares to decide which calibration pairs to choose and which gradient passes to make;
nothing else learns the method's name. The command line imports the registry for its
``--method`` choices, so a method module imports torch inside its functions, not at the top::

    class Magnitude(PruneMethod):
        \"\"\"``|θ|``: the smallest weights go first.\"\"\"

        name = "magnitude"

        def score(self, theta, moments, settings):
            return {name: t.abs() for name, t in theta.items()}
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from domainemb.prune.config import DaiVariant

if TYPE_CHECKING:
    from torch import Tensor

    from domainemb.prune.gradients import GradientMoments


@dataclass(frozen=True)
class Moments:
    """Gradient moments of the InfoNCE loss on the calibration pairs, per side.

    A method sees only the sides it declares (:attr:`PruneMethod.needs_domain_moments`,
    :attr:`PruneMethod.needs_general_moments`); the others are ``None``.

    Attributes:
        domain: Moments on the domain calibration pairs.
        general: Moments on the general calibration pairs.
    """

    domain: GradientMoments | None = None
    general: GradientMoments | None = None


@dataclass(frozen=True)
class ScoringSettings:
    """The settings of a run that scoring may read (the :class:`~domainemb.prune.config.PruneConfig`
    fields of the same names).

    Attributes:
        variant: DAI formula of ``gaprune``.
        alpha: Weight of the gradient alignment in DAI.
        beta: Weight of the general Fisher subtracted from the domain Fisher.
        gamma: Weight of ``√|θ|`` in DAI.
        seed: Seed of methods that draw at random.
    """

    variant: DaiVariant = DaiVariant.PAPER
    alpha: float = 0.2
    beta: float = 1.0
    gamma: float = 0.5
    seed: int = 42


class PruneMethod(ABC):
    """How each FFN weight is scored; the lowest-scored weights are removed.

    Subclasses set :attr:`name` and the ``needs_*`` flags and implement :meth:`score`; the
    optional hooks add a variant label and report diagnostics.

    Attributes:
        name: What ``--method`` calls it (lower case, words joined by ``-``).
        needs_domain_moments: Scores read gradient moments on the domain calibration pairs.
        needs_general_moments: Scores read gradient moments on the general calibration pairs.
        compare_with_magnitude: The report says how much of its pruning magnitude pruning would
            have done too (meaningless for magnitude itself).
    """

    name: ClassVar[str]
    needs_domain_moments: ClassVar[bool] = False
    needs_general_moments: ClassVar[bool] = False
    compare_with_magnitude: ClassVar[bool] = True

    @abstractmethod
    def score(self, theta: Mapping[str, Tensor], moments: Moments, settings: ScoringSettings) -> dict[str, Tensor]:
        """Importance of every weight: higher is kept longer.

        Args:
            theta: The weights to score by name, detached fp32.
            moments: The gradient moments this method declared it needs (the others are ``None``).
            settings: The run's scoring settings.

        Returns:
            One finite fp32 tensor per name, of its weight's shape.
        """

    @property
    def needs_gradients(self) -> bool:
        """Whether scoring needs a calibration gradient pass at all."""
        return self.needs_domain_moments or self.needs_general_moments

    def variant(self, settings: ScoringSettings) -> str | None:
        """The formula variant the run used, for the report (``None``: the method has one formula)."""
        return None

    def label(self, settings: ScoringSettings) -> str:
        """``name``, or ``name-variant``: names the pruned model's results."""
        variant = self.variant(settings)
        return self.name if variant is None else f"{self.name}-{variant}"

    def gradient_batch_size(self, settings: ScoringSettings, batch_size: int) -> int:
        """Pairs per calibration gradient batch (default: the run's ``batch_size``)."""
        return batch_size

    def diagnostics(
        self, weights: Mapping[str, Tensor], moments: Moments, settings: ScoringSettings
    ) -> dict[str, float]:
        """Extra numbers for the report's ``diagnostics`` (none by default)."""
        return {}

    def scores(
        self,
        weights: Mapping[str, Tensor],
        domain: GradientMoments | None = None,
        general: GradientMoments | None = None,
        settings: ScoringSettings | None = None,
    ) -> dict[str, Tensor]:
        """Score ``weights`` (any dtype) with the moments this method needs: what the run calls.

        Raises:
            ValueError: moments the method needs are missing, or a score is not finite.
        """
        import torch

        missing = [
            side
            for side, needed, given in (
                ("domain", self.needs_domain_moments, domain),
                ("general", self.needs_general_moments, general),
            )
            if needed and given is None
        ]
        if missing:
            raise ValueError(f"{self.name} needs {' and '.join(missing)} gradient moments")
        moments = Moments(
            domain=domain if self.needs_domain_moments else None,
            general=general if self.needs_general_moments else None,
        )
        theta = {name: w.detach().float() for name, w in weights.items()}
        scores = self.score(theta, moments, settings or ScoringSettings())
        for name, score in scores.items():
            if not torch.isfinite(score).all():
                raise ValueError(f"{self.name}: non-finite importance scores in {name}")
        return scores

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
