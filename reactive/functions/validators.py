"""Argument validators, used as ``reactive.v``.

``v.object({...})`` is implied by a dict passed as ``args=`` to a decorator::

    @query(args={"channelId": v.id(Channel), "limit": v.optional(v.int(min=1, max=100))})
    def list(ctx, channelId, limit=50): ...

Each validator checks and converts one value and raises :class:`Invalid` with the
path of the offending argument and a readable problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import models

from ..errors import Invalid
from ..values import fits_int64


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _out_of_range(path: str) -> Invalid:
    return Invalid(path, "must fit in 64 bits (a signed 64-bit integer)", "out_of_range")


class Validator:
    """Base class: ``validate(value, path)`` returns the converted value or raises Invalid."""

    optional = False
    description = "any"

    def validate(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def _fail(self, value: Any, path: str, code: str = "invalid_type") -> Invalid:
        return Invalid(path, f"expected {self.description}, got {_type_name(value)}", code)

    def __repr__(self) -> str:
        return f"v.{self.description}"


class Int(Validator):
    description = "integer"

    def __init__(self, *, min: int | None = None, max: int | None = None) -> None:
        self.min, self.max = min, max

    def validate(self, value: Any, path: str) -> int:
        if isinstance(value, bool):
            raise self._fail(value, path)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise self._fail(value, path)
        if not fits_int64(value):
            raise _out_of_range(path)
        if self.min is not None and value < self.min:
            raise Invalid(path, f"must be at least {self.min}", "min_value")
        if self.max is not None and value > self.max:
            raise Invalid(path, f"must be at most {self.max}", "max_value")
        return value


class Float(Validator):
    description = "number"

    def __init__(self, *, min: float | None = None, max: float | None = None) -> None:
        self.min, self.max = min, max

    def validate(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(value, path)
        value = float(value)
        if self.min is not None and not value >= self.min:
            raise Invalid(path, f"must be at least {self.min}", "min_value")
        if self.max is not None and not value <= self.max:
            raise Invalid(path, f"must be at most {self.max}", "max_value")
        return value


class String(Validator):
    description = "string"

    def __init__(self, *, min_length: int = 0, max_length: int | None = None) -> None:
        self.min_length, self.max_length = min_length, max_length

    def validate(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self._fail(value, path)
        if "\x00" in value:
            # PostgreSQL cannot store it, and Django's forms refuse it for the same reason.
            raise Invalid(path, "must not contain NUL characters", "null_characters_not_allowed")
        if len(value) < self.min_length:
            raise Invalid(path, f"must be at least {self.min_length} characters", "min_length")
        if self.max_length is not None and len(value) > self.max_length:
            raise Invalid(path, f"must be at most {self.max_length} characters", "max_length")
        return value


class Boolean(Validator):
    description = "boolean"

    def validate(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self._fail(value, path)
        return value


class Id(Validator):
    """The primary key of ``model`` (its type checked; existence is the function's business)."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.description = f"id of {model._meta.label}"

    def validate(self, value: Any, path: str) -> Any:
        pk = self.model._meta.pk
        assert pk is not None
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
            raise self._fail(value, path)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        try:
            pk_value = pk.to_python(value)
        except Exception:  # Django raises ValidationError subclasses and TypeErrors here.
            raise self._fail(value, path) from None
        if isinstance(pk_value, int) and not fits_int64(pk_value):
            raise _out_of_range(path)
        return pk_value


class Optional(Validator):
    optional = True

    def __init__(self, inner: Validator) -> None:
        self.inner = inner
        self.description = f"optional {inner.description}"

    def validate(self, value: Any, path: str) -> Any:
        if value is None:
            return None
        return self.inner.validate(value, path)


class Array(Validator):
    def __init__(self, item: Validator, *, max_length: int | None = None) -> None:
        self.item, self.max_length = item, max_length
        self.description = f"array of {item.description}"

    def validate(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self._fail(value, path)
        if self.max_length is not None and len(value) > self.max_length:
            raise Invalid(path, f"must have at most {self.max_length} items", "max_length")
        return [self.item.validate(item, f"{path}[{i}]") for i, item in enumerate(value)]


class Object(Validator):
    """An object with exactly these fields (optional ones may be missing)."""

    description = "object"

    def __init__(self, fields: Mapping[str, Validator]) -> None:
        for name, validator in fields.items():
            if not isinstance(validator, Validator):
                raise TypeError(f"field {name!r}: {validator!r} is not a reactive.v validator")
        self.fields = dict(fields)

    def validate(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self._fail(value, path)
        prefix = f"{path}." if path else ""
        unexpected = sorted(set(value) - set(self.fields))
        if unexpected:
            raise Invalid(f"{prefix}{unexpected[0]}", "unexpected argument", "unexpected")
        result: dict[str, Any] = {}
        for name, validator in self.fields.items():
            if name not in value:
                if validator.optional:
                    continue
                raise Invalid(f"{prefix}{name}", "this argument is required", "required")
            result[name] = validator.validate(value[name], f"{prefix}{name}")
        return result


class Literal(Validator):
    def __init__(self, value: str | int | float | bool | None) -> None:
        self.value = value
        self.description = f"literal {value!r}"

    def validate(self, value: Any, path: str) -> Any:
        # True == 1 in Python; a literal matches only a value of the same kind.
        if isinstance(value, bool) != isinstance(self.value, bool) or value != self.value:
            raise Invalid(path, f"expected {self.value!r}", "invalid_choice")
        return self.value


class Union(Validator):
    def __init__(self, *options: Validator) -> None:
        if not options:
            raise TypeError("v.union() needs at least one validator")
        self.options = options
        self.description = " or ".join(o.description for o in options)
        self.optional = any(o.optional for o in options)

    def validate(self, value: Any, path: str) -> Any:
        for option in self.options:
            try:
                return option.validate(value, path)
            except Invalid:
                continue
        raise Invalid(path, f"expected {self.description}", "invalid_choice")


class Any_(Validator):
    description = "any value"

    def validate(self, value: Any, path: str) -> Any:
        return value


class _Namespace:
    """The ``v`` namespace: ``v.int()``, ``v.string()``, ``v.id(Model)``…"""

    int: Callable[..., Int] = Int
    float: Callable[..., Float] = Float
    string: Callable[..., String] = String
    boolean: Callable[..., Boolean] = Boolean
    id: Callable[..., Id] = Id
    optional: Callable[..., Optional] = Optional
    array: Callable[..., Array] = Array
    object: Callable[..., Object] = Object
    literal: Callable[..., Literal] = Literal
    union: Callable[..., Union] = Union
    any: Callable[..., Any_] = Any_

    @staticmethod
    def pagination_opts() -> Object:
        """``paginationOpts`` as clients send it (see :func:`reactive.paginate`)."""
        return PaginationOpts()


v = _Namespace()

__all__: Sequence[str] = ["Invalid", "Validator", "v"]


# Options that never change a page (paginate ignores them): dropped, so that queries differing only by them
# (the client's pagination ``id`` above all) share one instance instead of each costing a re-run.
_PAGE_NEUTRAL_OPTIONS = ("id", "maximumRowsRead", "maximumBytesRead")


class PaginationOpts(Object):
    """``paginationOpts`` as clients (ours and Convex's) send it, without the options that never change a page."""

    def __init__(self) -> None:
        nullable_string: Validator = v.union(v.string(max_length=4096), v.literal(None))
        super().__init__(
            {
                "numItems": v.int(min=1),
                "cursor": nullable_string,
                "endCursor": v.optional(nullable_string),
                "id": v.optional(v.int()),
                "maximumRowsRead": v.optional(v.float()),
                "maximumBytesRead": v.optional(v.float()),
            }
        )

    def validate(self, value: Any, path: str) -> dict[str, Any]:
        opts = super().validate(value, path)
        for name in _PAGE_NEUTRAL_OPTIONS:
            opts.pop(name, None)
        return opts
