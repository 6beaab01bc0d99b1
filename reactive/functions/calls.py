"""Preparing a client's call, the one way for every entry point (WebSocket queries and calls, HTTP).

:func:`prepare_call` finds the public function, checks the arguments against
``MAX_ARGS_DEPTH``/``MAX_ARGS_BYTES`` and decodes them; :func:`validate_args` checks
them against the function's ``args=``. Each raises a typed :class:`~reactive.errors.ReactiveError`,
so the same bad input fails the same way over the WebSocket and over HTTP.
Mutations and actions are validated where they run (:mod:`reactive.functions.execution`), so that a
mutation's failure is recorded with its request; a subscribed query is validated once, here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from ..errors import ArgumentError, EncodingError, Invalid
from ..security.limits import check_args
from ..values import decode
from .registry import FunctionSpec, Kind, public_function
from .validators import Object


@dataclass(frozen=True)
class PreparedCall:
    """A public function and its decoded arguments (validated only if :func:`prepare_call` was asked to)."""

    spec: FunctionSpec
    args: Any


def prepare_call(
    path: str, kind: Kind | None, raw_args: Any, component_path: Any = None, *, validate: bool = False
) -> PreparedCall:
    """Look up, limit-check and decode (and with ``validate``, validate) one call as the client sent it.

    Raises :class:`~reactive.errors.FunctionNotFound`, :class:`~reactive.errors.LimitExceeded` or
    :class:`~reactive.errors.ArgumentError` (a value with a malformed encoding included).
    """
    spec = public_function(path, kind, component_path)
    check_args(raw_args)
    try:
        args = decode(raw_args)
    except EncodingError as exc:
        raise ArgumentError(str(exc)) from None
    return PreparedCall(spec, validate_args(spec, args) if validate else args)


def validate_args(spec: FunctionSpec, raw: Any) -> dict[str, Any]:
    """Check and convert client args; raises :class:`ArgumentError` naming the argument."""
    if not isinstance(raw, dict):
        raise ArgumentError(
            f"Arguments of {spec.name} must be an object, got {type(raw).__name__}",
            data=[{"path": "", "message": "expected an object", "code": "invalid_type"}],
        )
    if spec.args is None:
        return _check_signature(spec, raw)
    if isinstance(spec.args, Object):
        try:
            return spec.args.validate(raw, "")
        except Invalid as exc:
            raise ArgumentError(
                f"Invalid argument {exc.path!r} for {spec.name}: {exc.message}", data=[exc.as_detail()]
            ) from None
    serializer = spec.args(data=raw)
    if serializer.is_valid():
        return dict(serializer.validated_data)
    details = [
        {"path": name, "message": str(messages[0]), "code": getattr(messages[0], "code", "invalid")}
        for name, messages in serializer.errors.items()
    ]
    first = details[0]
    raise ArgumentError(f"Invalid argument {first['path']!r} for {spec.name}: {first['message']}", data=details)


def _check_signature(spec: FunctionSpec, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        inspect.signature(spec.func).bind(None, **raw)
    except TypeError as exc:
        raise ArgumentError(f"Invalid arguments for {spec.name}: {exc}") from None
    return raw
