"""Typed errors, all in one hierarchy under :class:`ReactiveError`: a stable ``code``, a message, JSON ``data``.

Raise :class:`ReactiveError` (or a subclass) from a function to send the client a
message, its ``code`` and structured ``data``: :func:`client_error` is the one place that
maps an exception to what the client is told (``errorMessage``, ``errorCode``,
``errorData`` on the wire, docs/protocol.md). Any other exception, and an error that is
not meant for clients (``expose = False``: :class:`ConfigurationError`), reaches the client
as a generic "Server Error" (code ``server_error``) so internals never leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_NO_DATA = object()


class ReactiveError(Exception):
    """An error meant for the client: ``message`` and optional JSON-serialisable ``data``."""

    code = "error"
    default_message = "Error"
    # Whether the message may be shown to a client; a developer's mistake (ConfigurationError) may not.
    expose = True

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


class InvalidCursor(ReactiveError):
    """A pagination cursor that this query did not produce (the official client restarts from page one)."""

    code = "invalid_cursor"
    default_message = "InvalidCursor: the pagination cursor is not valid for this query"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, data={"isConvexSystemError": True, "paginationError": "InvalidCursor"})


class EncodingError(ReactiveError, ValueError):
    """A value that cannot be represented on the wire, with the path to it (:mod:`reactive.values`).

    Client arguments that fail to decode become an :class:`ArgumentError` (:mod:`reactive.functions.calls`); a
    result that fails to encode, an :class:`InvalidResult`.
    """

    code = "invalid_encoding"
    default_message = "The value has no Convex encoding"
    # Raised inside a function, it is the function's bug (logged, "Server Error"), as any other exception.
    expose = False


class Invalid(ReactiveError):
    """A validation failure of :mod:`reactive.functions.validators`: ``path`` (``items[2].x``), ``message``, ``code``.

    Its ``code`` is the validator's (``invalid_type``, ``too_long``, ...); the call fails with an
    :class:`ArgumentError` whose ``data`` holds :meth:`as_detail`.
    """

    code = "invalid"

    def __init__(self, path: str, message: str, code: str = "invalid") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
        self.code = code

    def as_detail(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "code": self.code}


class BadRequest(ReactiveError):
    """An HTTP request that is not a function call at all (malformed body): answered ``400``."""

    code = "bad_request"
    default_message = "Malformed request"


class ProtocolError(ReactiveError):
    """A client message that does not follow the protocol (answered with a ``FatalError``)."""

    code = "protocol_error"
    default_message = "The message does not follow the protocol"


class ConfigurationError(ReactiveError):
    """A function or setting is defined wrongly; raised at import or start-up. Never shown to clients."""

    code = "configuration_error"
    default_message = "Configuration error"
    expose = False


SERVER_ERROR_CODE = "server_error"


@dataclass(frozen=True)
class ClientError:
    """What a client is told about a failure: ``message``, ``code``, and ``data`` when ``has_data``."""

    message: str
    code: str
    data: Any = None
    has_data: bool = False


def client_error(exc: BaseException) -> ClientError:
    """Map any exception to what is safe to send to a client."""
    if isinstance(exc, ReactiveError) and exc.expose:
        message = str(exc.message)
        if not message.isascii():  # lone surrogates cannot go over a socket: replace them
            message = message.encode("utf-8", "replace").decode()
        return ClientError(message, str(exc.code), exc.data, exc.has_data)
    return ClientError("Server Error", SERVER_ERROR_CODE)
