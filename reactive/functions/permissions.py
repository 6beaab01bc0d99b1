"""What a client may call from outside: the one lookup every entry point (WebSocket, HTTP) uses.

Per-function checks are the decorators' ``permission=`` (run by
:func:`reactive.functions.execution.check_permission`); this module decides which functions are
reachable at all. Internal functions never are, whatever the path's spelling
(:func:`reactive.functions.registry.lookup` canonicalises it first), and neither is anything in a
component: reactive has no components, so a call naming one must not fall through to a
root function of the same name.
"""

from __future__ import annotations

from typing import Any

from ..errors import FunctionNotFound
from .registry import FunctionSpec, Kind, lookup


def public_function(path: str, kind: Kind | None, component_path: Any = None) -> FunctionSpec:
    """The public function of that kind a client named; raises FunctionNotFound otherwise."""
    if component_path:
        what = kind.value if kind else "function"
        raise FunctionNotFound(f"Could not find public {what} {path!r}: components are not supported")
    return lookup(path, kind)
