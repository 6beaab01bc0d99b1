"""Convex's JSON value encoding, and turning Python/Django results into JSON values.

Wire format (shared/PROTOCOL.md "Values"): plain JSON, with ``{"$integer": b64}`` for
64-bit integers, ``{"$float": b64}`` for NaN/±Infinity/-0, ``{"$bytes": b64}`` for bytes.
Python ints within JavaScript's safe range travel as plain numbers so that ids stay
ordinary JS numbers in the browser.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import struct
import uuid
from collections.abc import Mapping
from typing import Any

from django.db import models

from .errors import EncodingError

MAX_SAFE_INTEGER = 2**53 - 1
# Convex's integers are signed 64-bit ($integer): no value holds an integer outside this range.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_KEY_LENGTH = 1024
_ZERO_TS = base64.b64encode(bytes(8)).decode()


def encode_ts(ts: int) -> str:
    """Encode a u64 commit number as base64 of 8 little-endian bytes."""
    if ts == 0:
        return _ZERO_TS
    return base64.b64encode(struct.pack("<Q", ts)).decode()


def decode_ts(value: Any) -> int:
    """Decode an encoded timestamp; raises ValueError on anything malformed."""
    if not isinstance(value, str):
        raise ValueError("timestamp must be a base64 string")
    raw = base64.b64decode(value, validate=True)
    if len(raw) != 8:
        raise ValueError("timestamp must be 8 bytes")
    return int(struct.unpack("<Q", raw)[0])


# Keys that passed :func:`_check_key` (result rows repeat the same few keys): checked once each.
_valid_keys: set[str] = set()
_VALID_KEYS_MAX = 4096


def _check_key(key: Any, path: str) -> str:
    if key in _valid_keys:
        return key  # type: ignore[no-any-return]
    if not isinstance(key, str):
        raise EncodingError(f"{path}: object keys must be strings, got {type(key).__name__}")
    if key.startswith("$"):
        raise EncodingError(f"{path}: object key {key!r} starts with '$', which is reserved")
    if len(key) > MAX_KEY_LENGTH:
        raise EncodingError(f"{path}: object key is longer than {MAX_KEY_LENGTH} characters")
    if not key.isascii() or not key.isprintable():
        raise EncodingError(f"{path}: object key {key!r} must be printable ASCII")
    if len(_valid_keys) < _VALID_KEYS_MAX:
        _valid_keys.add(key)
    return key


def model_to_dict(instance: models.Model) -> dict[str, Any]:
    """A model instance as a JSON object: ``_id`` plus every concrete field by attname."""
    opts = instance._meta
    data: dict[str, Any] = {"_id": instance.pk}
    for field in opts.concrete_fields:
        if field.primary_key:
            continue
        data[field.attname] = getattr(instance, field.attname)
    return data


def to_json_value(value: Any, path: str = "result") -> Any:
    """Turn a function's return value into plain JSON-able Python (before wire encoding).

    Model instances and querysets become objects with ``_id``; dates become ISO strings;
    Decimals become strings (no precision lost); UUIDs become strings.
    """
    try:
        return _to_json_fast(value)
    except EncodingError:
        pass  # walk again, building the path for the error message
    return _to_json_value(value, path)


_SCALARS = frozenset({str, int, float, bool})  # exact types that are JSON values as they are


def _to_json_fast(value: Any) -> Any:
    """:func:`_to_json_value` without building paths (the common types first, by exact type)."""
    kind = type(value)
    if kind in _SCALARS or value is None:
        return value
    if kind is dict:
        result = {}
        for k, v in value.items():
            if k not in _valid_keys:
                _check_key(k, "")
            result[k] = v if (type(v) in _SCALARS or v is None) else _to_json_fast(v)
        return result
    if kind is list:
        return [item if (type(item) in _SCALARS or item is None) else _to_json_fast(item) for item in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, models.Model):
        return _to_json_fast(model_to_dict(value))
    if isinstance(value, models.QuerySet):
        return [_to_json_fast(item) for item in value]
    if isinstance(value, (Mapping, list, tuple, set, frozenset)) and not isinstance(value, (str, bytes)):
        if isinstance(value, Mapping):
            return {_check_key(k, ""): _to_json_fast(v) for k, v in value.items()}
        return [_to_json_fast(item) for item in value]
    return _to_json_value(value, "result")  # every other type, by the general rules


def _to_json_value(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, models.Model):
        return _to_json_value(model_to_dict(value), path)
    if isinstance(value, models.QuerySet):
        return [_to_json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return {_check_key(k, path): _to_json_value(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (set, frozenset)):
        return [_to_json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise EncodingError(f"{path}: {type(value).__name__} is not a JSON value")


def encode(value: Any, path: str = "result") -> Any:
    """Encode JSON-able Python (output of :func:`to_json_value`) into Convex JSON.

    Raises :class:`EncodingError`, naming the path below ``path``, for a value Convex has no
    encoding for (an integer beyond 64 bits).
    """
    try:
        return _encode_fast(value)
    except EncodingError:
        pass  # walk again, building the path for the error message
    return _encode(value, path)


def _encode_fast(value: Any) -> Any:
    """:func:`_encode` without building paths (the common types first, by exact type)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict:
        return {k: _encode_fast(v) for k, v in value.items()}
    if kind is list:
        return [_encode_fast(v) for v in value]
    if kind is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    return _encode(value, "result")  # every other type, by the general rules


def fits_int64(value: int) -> bool:
    """Can ``value`` be a Convex integer (signed 64 bits)?"""
    return INT64_MIN <= value <= INT64_MAX


def _encode(value: Any, path: str = "result") -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        if not fits_int64(value):
            raise EncodingError(f"{path}: an integer of {value.bit_length()} bits does not fit in 64 bits")
        return {"$integer": base64.b64encode(struct.pack("<q", value)).decode()}
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value) or (value == 0 and math.copysign(1, value) < 0):
            return {"$float": base64.b64encode(struct.pack("<d", value)).decode()}
        return value
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: _encode(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise EncodingError(f"{path}: {type(value).__name__} is not a JSON value")


def decode(value: Any, path: str = "args") -> Any:
    """Decode Convex JSON (from a client) into Python values, checking object keys.

    A plain JSON integer beyond 64 bits can only be a JavaScript number (``JSON.stringify(1e20)``
    writes ``100000000000000000000``), so it becomes the float it was.
    """
    if type(value) is int and not fits_int64(value):
        return _decode_number(value, path)
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, list):
        return [decode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key in ("$integer", "$float", "$bytes"):
                return _decode_special(key, inner, path)
        return {_check_key(k, path): decode(v, f"{path}.{k}") for k, v in value.items()}
    raise EncodingError(f"{path}: unsupported value of type {type(value).__name__}")


def _decode_number(value: int, path: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise EncodingError(f"{path}: the number is too large for a 64-bit float") from None


def _decode_special(key: str, inner: Any, path: str) -> Any:
    try:
        raw = base64.b64decode(inner, validate=True)
    except (TypeError, ValueError) as exc:
        raise EncodingError(f"{path}: malformed {key} value") from exc
    if key == "$bytes":
        return raw
    if len(raw) != 8:
        raise EncodingError(f"{path}: {key} must hold 8 bytes")
    if key == "$integer":
        return int(struct.unpack("<q", raw)[0])
    return float(struct.unpack("<d", raw)[0])


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """Strict, compact JSON text (no NaN/Infinity) of an already-encoded value."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False, sort_keys=sort_keys)


def canonical_args(args: dict[str, Any]) -> str:
    """A canonical text form of decoded args, used to share query instances."""
    return dumps(encode(to_json_value(args, "args"), "args"), sort_keys=True)
