"""Row images in the stored domain: the values a column holds, as lookups compare them.

A write image and a read predicate are only comparable when both hold the value the database stores,
in one Python form. Django turns a lookup's right-hand side into that form with the field's
``get_prep_value`` (``filter(day="2024-01-02")`` compares with ``date(2024, 1, 2)``), so images are
converted the same way: ``obj.score = "7"`` is stored, and matched, as ``Decimal("7")``. Where the
conversion is not certain to give the stored value (an expression, a value the database rounds, JSON,
a conversion that fails), the column is left out of the image: a conjunction with fewer terms matches
more rows, so leaving a column out only widens.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import models

from ..readsets import EQ, ISNULL, Pred

# A value whose stored form is not known.
UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "UNKNOWN"})()

_INTEGER_FIELDS = (models.AutoField, models.BigAutoField, models.SmallAutoField, models.IntegerField)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def is_computed(field: Any) -> bool:
    """Is the column's value computed by the database on every write (a generated column)?"""
    return isinstance(field, models.GeneratedField)


def stored_value(field: Any, value: Any) -> Any:
    """``value`` (as code assigned it, or as read back and converted) as the column stores it, or UNKNOWN."""
    if value is None:
        # JSONField: None may be SQL NULL or JSON null; every other field stores None as NULL.
        return UNKNOWN if isinstance(field, models.JSONField) else None
    if hasattr(value, "resolve_expression") or isinstance(field, models.JSONField):
        return UNKNOWN  # computed by the database, or compared in JSON's own domain
    if isinstance(value, models.Model):
        value = value.pk
    if isinstance(field, _INTEGER_FIELDS) and type(value) is int:
        return value  # the common case, without a call
    try:
        prepared = field.get_prep_value(value)
    except Exception:  # a value the field would refuse: the database never stored it as we guess
        return UNKNOWN
    if isinstance(prepared, decimal.Decimal):
        prepared = _stored_decimal(field, prepared)
    return prepared if _hashable(prepared) else UNKNOWN


def _stored_decimal(field: Any, value: decimal.Decimal) -> Any:
    """A Decimal the column stores exactly; a value it would round (PostgreSQL) or keep (SQLite) is UNKNOWN."""
    if not value.is_finite():
        return UNKNOWN
    places = getattr(field, "decimal_places", None)
    if places is None:
        return value
    try:
        if value != value.quantize(decimal.Decimal(1).scaleb(-places)):
            return UNKNOWN
    except decimal.InvalidOperation:
        return UNKNOWN
    return value


def value_pred(field: Any, value: Any) -> Pred | None:
    """``column = value`` (``IS NULL`` for None) in the stored domain, or None when the value is not known."""
    stored = UNKNOWN if field.column is None else stored_value(field, value)  # a composite pk has no column
    if stored is UNKNOWN:
        return None
    if stored is None:
        return Pred(field.column, ISNULL, True)
    return Pred(field.column, EQ, stored)


def row_image(fields: Iterable[Any], row: Sequence[Any]) -> tuple[Pred, ...]:
    """A conjunction describing one row: ``fields[i]`` holds ``row[i]``, for every value known."""
    return tuple(pred for f, value in zip(fields, row, strict=True) if (pred := value_pred(f, value)) is not None)
