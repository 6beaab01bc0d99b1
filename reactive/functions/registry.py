"""The registry of decorated functions: ``@query``, ``@mutation``, ``@action`` and their internal twins.

A decorator builds an immutable :class:`FunctionSpec`, registers it under its name and
returns the function unchanged, so it stays an ordinary Python function for tests.
Names are ``"<module>:<function>"``: the module part is the last component of the
function's module path (``myapp/functions/messages.py`` -> ``messages``), or the app
package's name when the function lives directly in ``myapp/functions.py`` (-> ``myapp``).
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from ..conf import reactive_settings
from ..errors import ConfigurationError, FunctionNotFound
from .validators import Object, Validator

F = TypeVar("F", bound=Callable[..., Any])
SPEC_ATTRIBUTE = "_reactive_spec"


class Kind(enum.StrEnum):
    QUERY = "query"
    MUTATION = "mutation"
    ACTION = "action"


@dataclass(frozen=True)
class FunctionSpec:
    """What a decorator recorded about one function."""

    name: str
    kind: Kind
    internal: bool
    func: Callable[..., Any]
    args: Object | type | None
    permission: Callable[..., Any] | tuple[type, ...] | None
    is_async: bool

    @property
    def location(self) -> str:
        code = getattr(self.func, "__code__", None)
        where = f"{code.co_filename}:{code.co_firstlineno}" if code else "?"
        return f"{self.func.__module__}.{self.func.__qualname__} ({where})"


_registry: dict[str, FunctionSpec] = {}


def default_name(func: Callable[..., Any]) -> str:
    parts = func.__module__.split(".")
    module = parts[-1]
    if module in reactive_settings.FUNCTION_MODULES and len(parts) > 1:
        module = parts[-2]
    # A trailing underscore avoids shadowing builtins: `def list_` is named "…:list".
    function = func.__name__[:-1] if func.__name__.endswith("_") else func.__name__
    return f"{module}:{function}"


def canonical_path(path: str) -> str:
    """Canonicalise a client-supplied function path (PROTOCOL.md "Function names")."""
    module, sep, function = path.partition(":")
    if not sep:
        function = "default"
    if module.endswith(".js"):
        module = module[: -len(".js")]
    return f"{module}:{function}"


def _normalise_args(args: Any, func: Callable[..., Any]) -> Object | type | None:
    if args is None:
        return None
    if isinstance(args, Mapping):
        return Object(args)
    if isinstance(args, Object):
        return args
    if isinstance(args, Validator):
        raise ConfigurationError(
            f"{func.__qualname__}: args must be a dict of validators or v.object(...), not {args!r}"
        )
    if inspect.isclass(args) and hasattr(args, "is_valid"):
        return args  # a DRF Serializer class
    raise ConfigurationError(
        f"{func.__qualname__}: args must be a dict of reactive.v validators, v.object(...) "
        f"or a DRF Serializer class, not {args!r}"
    )


def register(spec: FunctionSpec) -> None:
    existing = _registry.get(spec.name)
    if existing is not None and existing.location != spec.location:
        raise ConfigurationError(
            f"Two functions are named {spec.name!r}: {existing.location} and {spec.location}. "
            f"Rename one or pass name= to its decorator."
        )
    _registry[spec.name] = spec


def _decorator(kind: Kind, internal: bool) -> Callable[..., Any]:
    @overload
    def decorate(func: F) -> F: ...

    @overload
    def decorate(
        func: None = None,
        *,
        args: Any = None,
        name: str | None = None,
        permission: Any = None,
    ) -> Callable[[F], F]: ...

    def decorate(
        func: Any = None,
        *,
        args: Any = None,
        name: str | None = None,
        permission: Any = None,
    ) -> Any:
        def wrap(f: F) -> F:
            if not callable(f):
                raise ConfigurationError(f"@{kind.value} must decorate a function, not {f!r}")
            if kind is not Kind.ACTION and inspect.iscoroutinefunction(f):
                raise ConfigurationError(
                    f"{f.__qualname__}: {kind.value}s run inside a database transaction and must "
                    f"be plain (sync) functions; use @action for async code."
                )
            if permission is not None and not callable(permission) and not isinstance(permission, (list, tuple)):
                raise ConfigurationError(f"{f.__qualname__}: permission must be a callable or a list")
            spec = FunctionSpec(
                name=name or default_name(f),
                kind=kind,
                internal=internal,
                func=f,
                args=_normalise_args(args, f),
                permission=tuple(permission) if isinstance(permission, list) else permission,
                is_async=inspect.iscoroutinefunction(f),
            )
            if ":" not in spec.name:
                raise ConfigurationError(f"{spec.location}: name {spec.name!r} must be 'module:function'")
            register(spec)
            setattr(f, SPEC_ATTRIBUTE, spec)
            return f

        if func is not None:
            return wrap(func)
        return wrap

    decorate.__name__ = ("internal_" if internal else "") + kind.value
    decorate.__doc__ = (
        f"Declare an {'internal ' if internal else ''}{kind.value}. "
        f"Use bare or with ``args=``, ``name=``, ``permission=``."
    )
    return decorate


query = _decorator(Kind.QUERY, internal=False)
mutation = _decorator(Kind.MUTATION, internal=False)
action = _decorator(Kind.ACTION, internal=False)
internal_query = _decorator(Kind.QUERY, internal=True)
internal_mutation = _decorator(Kind.MUTATION, internal=True)
internal_action = _decorator(Kind.ACTION, internal=True)


def lookup(path: str, kind: Kind | None = None, *, allow_internal: bool = False) -> FunctionSpec:
    """Find a function by client path. Unknown, internal or wrong-kind functions all say "not found"."""
    spec = _registry.get(canonical_path(path))
    if spec is None or (spec.internal and not allow_internal) or (kind and spec.kind is not kind):
        what = kind.value if kind else "function"
        raise FunctionNotFound(f"Could not find public {what} {path!r}")
    return spec


def public_function(path: str, kind: Kind | None, component_path: Any = None) -> FunctionSpec:
    """The public function of that kind a client named: the one lookup every entry point (WebSocket, HTTP) uses.

    Internal functions are never reachable, whatever the path's spelling (:func:`lookup` canonicalises it
    first), and neither is anything in a component: reactive has no components, so a call naming one must not
    fall through to a root function of the same name. Raises FunctionNotFound.
    """
    if component_path:
        what = kind.value if kind else "function"
        raise FunctionNotFound(f"Could not find public {what} {path!r}: components are not supported")
    return lookup(path, kind)


def resolve(ref: str | Callable[..., Any], kind: Kind) -> FunctionSpec:
    """Resolve a name or a decorated function for server-side calls (internal ones allowed)."""
    spec = getattr(ref, SPEC_ATTRIBUTE, None)
    if spec is None:
        if not isinstance(ref, str):
            raise FunctionNotFound(f"{ref!r} is not a reactive function")
        spec = lookup(ref, allow_internal=True)
    if spec.kind is not kind:
        raise FunctionNotFound(f"{spec.name} is a {spec.kind.value}, not a {kind.value}")
    return spec
