"""``MethodRegistry``: prune methods by name; a duplicate name is an error, a miss suggests the closest."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from domainemb.errors import unknown_name
from domainemb.prune.methods.base import PruneMethod

_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


class MethodRegistry:
    """Prune methods by name, in registration order (the order ``--method`` lists them).

    Args:
        methods: The methods to register.

    Raises:
        ValueError: two methods of one name, a name that is not lower case words joined by
            ``-``, or something that is not a :class:`PruneMethod`.
    """

    def __init__(self, methods: Iterable[PruneMethod] = ()) -> None:
        self._methods: dict[str, PruneMethod] = {}
        for method in methods:
            self.register(method)

    def register(self, method: PruneMethod) -> PruneMethod:
        """Add ``method`` under its name; returns it."""
        if not isinstance(method, PruneMethod):
            raise ValueError(f"{method!r} is not a PruneMethod")
        name = getattr(method, "name", None)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"{type(method).__name__}: method name {name!r} is not lower case words joined by '-'")
        if name in self._methods:
            raise ValueError(
                f"duplicate prune method name {name!r} ({type(self._methods[name]).__name__} and {type(method).__name__})"
            )
        self._methods[name] = method
        return method

    def get(self, name: str) -> PruneMethod:
        """The method called ``name``.

        Raises:
            UnknownNameError: no such method; the message suggests the closest names.
        """
        try:
            return self._methods[name]
        except KeyError:
            raise unknown_name("prune method", str(name), self.names()) from None

    def names(self) -> list[str]:
        """Every method's name, in registration order."""
        return list(self._methods)

    def copy(self) -> MethodRegistry:
        """A registry of the same methods, to add to without changing this one."""
        return MethodRegistry(self._methods.values())

    def __iter__(self) -> Iterator[PruneMethod]:
        return iter(self._methods.values())

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def __len__(self) -> int:
        return len(self._methods)
