"""The prune methods: one file per method, one line each in :data:`METHODS`.

Adding a method (see :class:`~domainemb.prune.methods.base.PruneMethod`):

1. a file here with a subclass that sets ``name``, the gradient moments it needs
   (``needs_domain_moments``, ``needs_general_moments``) and implements ``score``;
2. one line below in :data:`METHODS`.

``domainemb prune --method`` then offers it, ``PruneConfig`` accepts it, and the run chooses the
calibration pairs and makes the gradient passes it declared.
"""

from __future__ import annotations

from enum import StrEnum

from domainemb.prune.methods.base import Moments, PruneMethod, ScoringSettings
from domainemb.prune.methods.fisher_domain import FisherDomain
from domainemb.prune.methods.fisher_general import FisherGeneral
from domainemb.prune.methods.gaprune import GAPrune
from domainemb.prune.methods.magnitude import Magnitude
from domainemb.prune.methods.random_draw import RandomDraw
from domainemb.prune.methods.registry import MethodRegistry

#: Every method, in the order ``--method`` lists them.
METHODS = MethodRegistry(
    [
        GAPrune(),
        Magnitude(),
        FisherDomain(),
        FisherGeneral(),
        RandomDraw(),
    ]
)

#: The registered names as a ``StrEnum``: the choices ``domainemb prune --method`` offers.
MethodName = StrEnum("MethodName", {name.upper().replace("-", "_"): name for name in METHODS.names()})


def get_method(name: str) -> PruneMethod:
    """The registered method called ``name`` (an :class:`~domainemb.errors.UnknownNameError` that
    suggests the closest names otherwise)."""
    return METHODS.get(name)


def method_names() -> list[str]:
    """Every registered method's name, in registry order."""
    return METHODS.names()


def register(method: PruneMethod) -> PruneMethod:
    """Add a method to :data:`METHODS` (a duplicate name is a ``ValueError``)."""
    return METHODS.register(method)


__all__ = [
    "METHODS",
    "MethodName",
    "MethodRegistry",
    "Moments",
    "PruneMethod",
    "ScoringSettings",
    "get_method",
    "method_names",
    "register",
]
