"""Replacing methods of other libraries' classes, and putting them back: one :class:`Patched` per set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (class, method name, a function of the original method that returns its replacement)
Patch = tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]


class Patched:
    """A set of patches, listed by ``patches()`` when installed (so that what is importable then decides)."""

    def __init__(self, patches: Callable[[], list[Patch]]) -> None:
        self._patches = patches
        self._originals: dict[tuple[type, str], Callable[..., Any]] = {}

    def install(self) -> None:
        """Install every patch (idempotent)."""
        for cls, name, make in self._patches():
            if (cls, name) in self._originals:
                continue
            original = cls.__dict__[name]
            self._originals[(cls, name)] = original
            setattr(cls, name, make(original))

    def uninstall(self) -> None:
        """Restore the original methods."""
        for (cls, name), original in self._originals.items():
            setattr(cls, name, original)
        self._originals.clear()
