"""Read-sets, write-sets and the rule that matches them. Pure data and functions.

A read-set holds, per table, :class:`TableRead` entries: a conjunction of column
predicates (a widening of the query's WHERE), and the primary keys of the rows the
query actually received. A write-set holds :class:`TableWrite` entries: which rows a
write may have touched before (``old``) and after (``new``), each as a conjunction of
column predicates, plus the primary keys when known.

Matching rule (shared/DESIGN.md "Read-sets, precisely"): a read is affected when a
written row's new image can satisfy its predicates, or its old image can - except that
a read which knows every row it received only cares about old images through their pks
(a row that was not received and leaves the matching set cannot change the result).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ALL_TABLES = "*"

# Predicate operators. ``in`` holds a frozenset; ``isnull`` a bool.
EQ, IN, LT, LTE, GT, GTE, ISNULL = "eq", "in", "lt", "lte", "gt", "gte", "isnull"


@dataclass(frozen=True)
class Pred:
    """``column <op> value``; values are the Python values Django compares with."""

    column: str
    op: str
    value: Any


Conjunction = tuple[Pred, ...]


@dataclass(frozen=True)
class TableRead:
    """What one query read from one table.

    ``preds`` None means "rows matter only through ``pks``" (rows reached through a
    foreign key from rows that are themselves tracked). ``pks`` None means unknown.
    """

    table: str
    preds: Conjunction | None = ()
    pks: frozenset[Any] | None = None


@dataclass(frozen=True)
class TableWrite:
    """Rows of ``table`` a committed write may have changed.

    ``old``/``new``: a conjunction every such row satisfied before/after the write, or
    None when there was no such image (an insert has no old image, a delete no new one).
    ``pks``: the primary keys of the written rows, when known.
    """

    table: str
    old: Conjunction | None = ()
    new: Conjunction | None = ()
    pks: frozenset[Any] | None = None

    @classmethod
    def whole_table(cls, table: str) -> TableWrite:
        return cls(table, (), ())


@dataclass
class ReadSet:
    """Everything one query run read, grouped by table."""

    tables: dict[str, list[TableRead]] = field(default_factory=dict)

    def add(self, read: TableRead) -> None:
        entries = self.tables.setdefault(read.table, [])
        if read not in entries:
            entries.append(read)

    @property
    def reads_everything(self) -> bool:
        return ALL_TABLES in self.tables


def _compatible(a: Any, b: Any, op_holds: Any) -> bool:
    try:
        return bool(op_holds(a, b))
    except TypeError:
        return True  # values we cannot compare: assume they may overlap


def _column_satisfiable(preds: list[Pred]) -> bool:
    """Can one value satisfy every predicate of one column? Unsure means yes."""
    null: bool | None = None
    candidates: set[Any] | None = None
    ranges: list[Pred] = []
    for pred in preds:
        if pred.op == ISNULL:
            if null is not None and null != pred.value:
                return False
            null = bool(pred.value)
        elif pred.op in (EQ, IN):
            values = {pred.value} if pred.op == EQ else set(pred.value)
            try:
                candidates = values if candidates is None else candidates & values
            except TypeError:
                return True
        else:
            ranges.append(pred)
    if null is True:
        # IS NULL with any comparison is unsatisfiable (SQL comparisons with NULL are never true).
        return not (ranges or (candidates is not None))
    if candidates is not None:
        candidates = {c for c in candidates if c is not None}
        return any(all(_satisfies_range(c, r) for r in ranges) for c in candidates)
    return _ranges_overlap(ranges)


def _satisfies_range(value: Any, pred: Pred) -> bool:
    ops = {
        LT: lambda a, b: a < b,
        LTE: lambda a, b: a <= b,
        GT: lambda a, b: a > b,
        GTE: lambda a, b: a >= b,
    }
    return _compatible(value, pred.value, ops[pred.op])


def _ranges_overlap(ranges: list[Pred]) -> bool:
    lows = [r for r in ranges if r.op in (GT, GTE)]
    highs = [r for r in ranges if r.op in (LT, LTE)]
    for low in lows:
        for high in highs:
            if low.op == GTE and high.op == LTE:
                if not _compatible(low.value, high.value, lambda a, b: a <= b):
                    return False
            elif not _compatible(low.value, high.value, lambda a, b: a < b):
                return False
    return True


def _equalities_conflict(first: tuple[Pred, ...], second: tuple[Pred, ...]) -> bool:
    """Do the two conjunctions hold ``column = a`` and ``column = b`` with ``a`` and ``b`` different?

    A quick sufficient test for "unsatisfiable" (that column can take no value), used before the
    full column-by-column test: a write's row image is mostly ``=`` predicates, and so are reads.
    """
    equal = {pred.column: pred.value for pred in first if pred.op == EQ}
    if not equal:
        return False
    for pred in second:
        if pred.op == EQ and pred.column in equal:
            try:
                if {equal[pred.column]}.isdisjoint((pred.value,)):
                    return True
            except TypeError:
                continue  # unhashable: leave it to the full test
    return False


def satisfiable(*conjunctions: Iterable[Pred]) -> bool:
    """Can one row satisfy all the given conjunctions at once?"""
    if (
        len(conjunctions) == 2
        and isinstance(conjunctions[0], tuple)
        and isinstance(conjunctions[1], tuple)
        and _equalities_conflict(conjunctions[0], conjunctions[1])
    ):
        return False
    by_column: dict[str, list[Pred]] = {}
    for conjunction in conjunctions:
        for pred in conjunction:
            by_column.setdefault(pred.column, []).append(pred)
    return all(_column_satisfiable(preds) for preds in by_column.values())


def read_affected(read: TableRead, write: TableWrite) -> bool:
    """Can ``write`` change what ``read`` saw? False only when it certainly cannot."""
    if read.pks is not None and write.pks is not None and not read.pks.isdisjoint(write.pks):
        return True
    if read.preds is None:
        # Only rows reached by pk matter: a write with unknown pks might be one of them.
        return write.pks is None and read.pks is not None and bool(read.pks)
    if write.new is not None and satisfiable(read.preds, write.new):
        return True
    if write.old is not None:
        if read.pks is not None and write.pks is not None:
            return False  # every received row is known by pk, and none was written
        return satisfiable(read.preds, write.old)
    return False


def readset_affected(readset: ReadSet, writes: Iterable[TableWrite], *, table_level: bool = False) -> bool:
    """Is any read of ``readset`` affected by any of ``writes``?"""
    if readset.reads_everything:
        return any(True for _ in writes)
    for write in writes:
        if write.table == ALL_TABLES:
            return True
        entries = readset.tables.get(write.table)
        if not entries:
            continue
        if table_level:
            return True
        if any(read_affected(entry, write) for entry in entries):
            return True
    return False
