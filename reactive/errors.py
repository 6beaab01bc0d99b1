"""Typed errors. Each carries a wire ``code``; :class:`ReactiveError` may carry JSON ``data``.

Raise :class:`ReactiveError` (or a subclass) from a function to send the client a
message and structured ``data``; any other exception reaches the client as a
generic "Server Error" so internals never leak.
"""

from __future__ import annotations

from typing import Any

_NO_DATA = object()


class ReactiveError(Exception):
    """An error meant for the client: ``message`` and optional JSON-serialisable ``data``."""

    code = "error"
    default_message = "Error"

    def __init__(self, message: str | None = None, data: Any = _NO_DATA) -> None:
        self.message = message or self.default_message
        self._data = data
        super().__init__(self.message)

    @property
    def has_data(self) -> bool:
        return self._data is not _NO_DATA

    @property
    def data(self) -> Any:
        return None if self._data is _NO_DATA else self._data


class ArgumentError(ReactiveError):
    """Arguments failed validation; ``data`` lists ``{"path", "message", "code"}`` entries."""

    code = "invalid_args"
    default_message = "Invalid arguments"


class FunctionNotFound(ReactiveError):
    """No public function of that name and kind exists."""

    code = "not_found"
    default_message = "Function not found"


class Unauthorized(ReactiveError):
    """An anonymous caller was denied by a function's ``permission=``."""

    code = "unauthorized"
    default_message = "Authentication required"


class Forbidden(ReactiveError):
    """An authenticated caller was denied by a function's ``permission=``."""

    code = "forbidden"
    default_message = "Permission denied"


class IdentityMismatch(ReactiveError):
    """A request re-used a ``(sessionId, requestId)`` that another identity's request already holds.

    The other request's outcome stays with its owner; the message says nothing about it.
    """

    code = "identity_mismatch"
    default_message = "This request id of the session belongs to a request of another identity"


class ReadOnlyError(ReactiveError):
    """A query tried to write to the database."""

    code = "read_only"
    default_message = "Queries are read-only: use a mutation to write"


class LimitExceeded(ReactiveError):
    """A limit of :mod:`reactive.security.limits` was reached; the message names the setting."""

    code = "limit_exceeded"
    default_message = "Limit exceeded"


class InvalidResult(ReactiveError):
    """A function returned a value that has no Convex encoding (say, an integer beyond 64 bits)."""

    code = "invalid_result"
    default_message = "The function returned a value that cannot be sent"


class ProtocolError(Exception):
    """A client message that does not follow the protocol."""


class ConfigurationError(Exception):
    """A function or setting is defined wrongly; raised at import or start-up."""


def client_message(exc: BaseException) -> tuple[str, Any, bool]:
    """Map any exception to ``(message, data, has_data)`` safe to send to a client."""
    if isinstance(exc, ReactiveError):
        message = str(exc.message)
        if not message.isascii():  # lone surrogates cannot go over a socket: replace them
            message = message.encode("utf-8", "replace").decode()
        return message, exc.data, exc.has_data
    return "Server Error", None, False
