"""A tagged JSON form of database values (dates, decimals, UUIDs, bytes) that decodes exactly.

Used for the outbox's write-sets and for pagination cursors, whose values must compare
equal to what the ORM returns after a round trip through JSON.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import uuid
from typing import Any


def encode_value(value: Any) -> Any:
    """A JSON-able form of a database value; raises TypeError for types it does not know."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"d": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"t": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"dec": str(value)}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, (bytes, memoryview)):
        return {"b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, frozenset):
        return {"set": [encode_value(v) for v in value]}
    raise TypeError(type(value).__name__)


def decode_value(value: Any) -> Any:
    """The inverse of :func:`encode_value`."""
    if not isinstance(value, dict):
        return value
    ((tag, inner),) = value.items()
    if tag == "dt":
        return datetime.datetime.fromisoformat(inner)
    if tag == "d":
        return datetime.date.fromisoformat(inner)
    if tag == "t":
        return datetime.time.fromisoformat(inner)
    if tag == "dec":
        return decimal.Decimal(inner)
    if tag == "uuid":
        return uuid.UUID(inner)
    if tag == "b":
        return base64.b64decode(inner)
    if tag == "set":
        return frozenset(decode_value(v) for v in inner)
    raise ValueError(f"unknown value tag {tag!r}")
