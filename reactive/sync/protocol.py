"""Every message type of the sync protocol, defined once: parsing with clear errors, encoding.

Client messages are parsed into small dataclasses; anything malformed raises
:class:`~reactive.errors.ProtocolError` with a message that says what is wrong.
Server messages are built as JSON text; query values arrive pre-encoded so a result
shared by many subscribers is serialised once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ProtocolError
from ..values import decode_ts, dumps, encode_ts

MAX_QUERY_ID = 2**53

_T = TypeVar("_T")


@dataclass(frozen=True)
class Connect:
    session_id: str
    connection_count: int
    max_observed_ts: int | None
    extensions: tuple[str, ...]


@dataclass(frozen=True)
class Add:
    query_id: int
    udf_path: str
    args: Any
    journal: Any
    component_path: Any = None


@dataclass(frozen=True)
class Remove:
    query_id: int


@dataclass(frozen=True)
class ModifyQuerySet:
    base_version: int
    new_version: int
    modifications: tuple[Add | Remove, ...]


@dataclass(frozen=True)
class Call:
    """A Mutation or an Action."""

    kind: str
    request_id: int
    udf_path: str
    args: Any
    component_path: Any = None


@dataclass(frozen=True)
class Authenticate:
    token_type: str
    value: str | None
    base_version: int


@dataclass(frozen=True)
class Event:
    pass


ClientMessage = Connect | ModifyQuerySet | Call | Authenticate | Event


def _field(message: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    if name not in message:
        raise ProtocolError(f"{message.get('type')} message is missing field {name!r}")
    value = message[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"{message.get('type')}.{name} must be {what}")
    return value


def _int(message: dict[str, Any], name: str) -> int:
    value = _field(message, name, (int, float), "a non-negative integer")
    if isinstance(value, float) and not value.is_integer():  # also NaN and ±Infinity
        raise ProtocolError(f"{message.get('type')}.{name} must be a non-negative integer")
    if isinstance(value, bool) or not 0 <= value <= MAX_QUERY_ID:
        raise ProtocolError(f"{message.get('type')}.{name} must be a non-negative integer")
    return int(value)


def _args(message: dict[str, Any]) -> Any:
    args = _field(message, "args", list, "a one-element array holding the args object")
    if len(args) != 1:
        raise ProtocolError(f"{message.get('type')}.args must be a one-element array holding the args object")
    return args[0]


def _show(value: Any) -> str:
    """A short, safe rendering of a client value for an error message (never its whole content)."""
    if isinstance(value, str):
        return repr(value[:60])
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return f"a {type(value).__name__}"


def _load(text: str) -> Any:
    """``json.loads``, refusing what no client could have meant: lone UTF-16 surrogates (escaped or
    not), which are not Unicode and would break the socket the moment they were echoed back."""
    try:
        message = json.loads(text)
        if "\\u" in text or not text.isascii():
            json.dumps(message, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ProtocolError("Malformed JSON: a string holds a lone UTF-16 surrogate") from None
    except RecursionError:
        raise ProtocolError("Malformed JSON: nested too deeply") from None
    except ValueError as exc:
        raise ProtocolError(f"Malformed JSON: {exc}") from None
    return message


def _dispatch(raw: Any, parsers: dict[str, Callable[[dict[str, Any]], _T]], not_an_object: str, unknown: str) -> _T:
    """Hand an object to the parser its ``type`` names; ``unknown`` is formatted with that type."""
    if not isinstance(raw, dict):
        raise ProtocolError(not_an_object)
    kind = raw.get("type")
    parser = parsers.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise ProtocolError(unknown.format(_show(kind)))
    return parser(raw)


def _connect(message: dict[str, Any]) -> Connect:
    session_id = _field(message, "sessionId", str, "a string")
    if not 0 < len(session_id) <= 64 or not (session_id.isascii() and session_id.isprintable()):
        raise ProtocolError("Connect.sessionId must be 1 to 64 printable ASCII characters")
    max_ts = message.get("maxObservedTimestamp")
    try:
        max_observed = decode_ts(max_ts) if max_ts is not None else None
    except ValueError as exc:
        raise ProtocolError(f"Connect.maxObservedTimestamp: {exc}") from None
    extensions = message.get("reactiveExtensions") or []
    if not isinstance(extensions, list) or not all(isinstance(e, str) for e in extensions):
        raise ProtocolError("Connect.reactiveExtensions must be a list of strings")
    count = message.get("connectionCount", 0)
    return Connect(session_id, count if isinstance(count, int) else 0, max_observed, tuple(extensions))


def _add(raw: dict[str, Any]) -> Add:
    udf_path = _field(raw, "udfPath", str, "a string")
    query_id = _int(raw, "queryId")
    return Add(query_id, udf_path, _args(raw), raw.get("journal"), raw.get("componentPath"))


def _remove(raw: dict[str, Any]) -> Remove:
    return Remove(_int(raw, "queryId"))


_MODIFICATIONS: dict[str, Callable[[dict[str, Any]], Add | Remove]] = {"Add": _add, "Remove": _remove}


def _modification(raw: Any) -> Add | Remove:
    return _dispatch(
        raw,
        _MODIFICATIONS,
        "ModifyQuerySet.modifications must hold objects",
        "Unknown query set modification {} (expected Add or Remove)",
    )


def _modify_query_set(message: dict[str, Any]) -> ModifyQuerySet:
    base, new = _int(message, "baseVersion"), _int(message, "newVersion")
    raw_mods = _field(message, "modifications", list, "a list")
    return ModifyQuerySet(base, new, tuple(_modification(raw) for raw in raw_mods))


def _call(message: dict[str, Any]) -> Call:
    """A Mutation or an Action: the same fields, told apart by ``kind``."""
    request_id = _int(message, "requestId")
    udf_path = _field(message, "udfPath", str, "a string")
    return Call(message["type"], request_id, udf_path, _args(message), message.get("componentPath"))


def _authenticate(message: dict[str, Any]) -> Authenticate:
    token_type = _field(message, "tokenType", str, "a string")
    if token_type not in ("User", "None", "Admin"):
        raise ProtocolError("Authenticate.tokenType must be 'User', 'None' or 'Admin'")
    value = message.get("value")
    if token_type != "None" and not isinstance(value, str):
        raise ProtocolError("Authenticate.value must be a string")
    return Authenticate(token_type, value, _int(message, "baseVersion"))


def _event(message: dict[str, Any]) -> Event:
    return Event()


_PARSERS: dict[str, Callable[[dict[str, Any]], ClientMessage]] = {
    "Connect": _connect,
    "ModifyQuerySet": _modify_query_set,
    "Mutation": _call,
    "Action": _call,
    "Authenticate": _authenticate,
    "Event": _event,
}
"""One parser per client message type, dispatched by the message's ``type``."""


def parse(text: str) -> ClientMessage:
    """Parse one client message; raises ProtocolError on anything malformed."""
    return _dispatch(_load(text), _PARSERS, "A message must be a JSON object", "Unknown message type {}")


# --- server messages ----------------------------------------------------------------------

Version = tuple[int, int, int]  # (querySet, identity, ts)


def _version(version: Version) -> str:
    return '{"querySet":%d,"identity":%d,"ts":"%s"}' % (version[0], version[1], encode_ts(version[2]))


def query_updated(query_id: int, value_json: str, journal: str | None = None) -> str:
    return '{"type":"QueryUpdated","queryId":%d,"value":%s,"logLines":[],"journal":%s}' % (
        query_id,
        value_json,
        dumps(journal),
    )


def query_diffed(query_id: int, diff_json: str, journal: str | None = None) -> str:
    """A QueryUpdated carrying a diff (reactive.live.diffs) instead of the value; only for clients that asked."""
    return '{"type":"QueryUpdated","queryId":%d,"diff":%s,"logLines":[],"journal":%s}' % (
        query_id,
        diff_json,
        dumps(journal),
    )


def query_failed(
    query_id: int, message: str, data_json: str | None, journal: str | None = None, *, code: str = ""
) -> str:
    """``errorCode`` is ours (docs/protocol.md): Convex's client reads only ``errorMessage`` and ``errorData``."""
    data = "" if data_json is None else ',"errorData":' + data_json
    return '{"type":"QueryFailed","queryId":%d,"errorMessage":%s,"errorCode":%s,"logLines":[],"journal":%s%s}' % (
        query_id,
        dumps(message),
        dumps(code),
        dumps(journal),
        data,
    )


def query_removed(query_id: int) -> str:
    return '{"type":"QueryRemoved","queryId":%d}' % query_id


def transition(start: Version, end: Version, modifications: list[str]) -> str:
    return '{"type":"Transition","startVersion":%s,"endVersion":%s,"modifications":[%s]}' % (
        _version(start),
        _version(end),
        ",".join(modifications),
    )


def call_response(
    kind: str,
    request_id: int,
    success: bool,
    value_json: str,
    error_message: str,
    error_data_json: str | None,
    ts: int | None,
    error_code: str = "",
) -> str:
    """A MutationResponse or ActionResponse; a failure carries our ``errorCode`` besides Convex's fields."""
    parts = [f'"type":"{kind}Response"', f'"requestId":{request_id}', f'"success":{"true" if success else "false"}']
    if success:
        parts.append(f'"result":{value_json}')
        if ts is not None:
            parts.append(f'"ts":"{encode_ts(ts)}"')
    else:
        parts.append(f'"result":{dumps(error_message)}')
        parts.append(f'"errorCode":{dumps(error_code)}')
        if error_data_json is not None:
            parts.append(f'"errorData":{error_data_json}')
    parts.append('"logLines":[]')
    return "{" + ",".join(parts) + "}"


def auth_error(error: str, base_version: int, *, attempted: bool = True) -> str:
    """``attempted=False``: not an answer to an Authenticate (the token expired while in use)."""
    return dumps({"type": "AuthError", "error": error, "baseVersion": base_version, "authUpdateAttempted": attempted})


def fatal_error(error: str) -> str:
    return dumps({"type": "FatalError", "error": error})


PING = '{"type":"Ping"}'
