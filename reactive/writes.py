"""Write capture: turn the SQL writes of a transaction into a buffered write-set.

The hooks in :mod:`reactive.patches` call the ``record_*`` functions here. Entries are
buffered on the connection (one buffer per database alias and thread, since Django
connections are per thread), trimmed on savepoint rollback, dropped on rollback, and
turned into an outbox row by :mod:`reactive.commits` just before the commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.sql.query import Query

from .conf import reactive_settings
from .readsets import ALL_TABLES, EQ, IN, ISNULL, Pred, TableWrite
from .tracking import tables_in_sql, where_preds

# Our own tables: writing them is bookkeeping, never a change anyone subscribes to.
OWN_TABLES = frozenset({"reactive_commit_clock", "reactive_outbox", "reactive_mutation_record"})
# Beyond this many rows in one statement, a write is recorded for the whole table.
MAX_ROWS_PER_STATEMENT = 1000


@dataclass
class WriteBuffer:
    """The uncommitted writes of one connection's current transaction.

    A flush (:func:`reactive.commits.flush`) stores ``entries[flushed_upto:]`` in an outbox row under a new
    commit number; the entries stay until the transaction ends, because a savepoint rolled back past a
    flush takes that outbox row (and the number) back with it, and what it held must be flushed again.
    """

    entries: list[TableWrite] = field(default_factory=list)
    flushed_upto: int = 0  # entries[:flushed_upto] are in outbox rows of this transaction
    # (savepoint id, len(entries), len(flushed), flushed_upto), as they were when the savepoint was taken
    savepoints: list[tuple[str, int, int, int]] = field(default_factory=list)
    # Commit numbers already taken in this transaction, with the write-set each one stored, as decoded
    # from the outbox row (what any process reading that row sees).
    flushed: dict[int, list[TableWrite]] = field(default_factory=dict)

    @property
    def pending(self) -> list[TableWrite]:
        """Entries not in an outbox row yet."""
        return self.entries[self.flushed_upto :]

    def reset(self) -> None:
        self.entries.clear()
        self.flushed_upto = 0
        self.savepoints.clear()
        self.flushed.clear()

    def mark(self, sid: str) -> None:
        self.savepoints.append((sid, len(self.entries), len(self.flushed), self.flushed_upto))

    def rollback_to(self, sid: str) -> None:
        for index, (mark_sid, length, taken, flushed_upto) in enumerate(self.savepoints):
            if mark_sid == sid:
                del self.entries[length:]
                # Commit numbers taken after the savepoint went back to the clock, with their outbox rows.
                for ts in list(self.flushed)[taken:]:
                    del self.flushed[ts]
                self.flushed_upto = flushed_upto
                del self.savepoints[index + 1 :]
                return

    def release(self, sid: str) -> None:
        for index, (mark_sid, _length, _taken, _flushed_upto) in enumerate(self.savepoints):
            if mark_sid == sid:
                del self.savepoints[index:]
                return


def buffer_for(connection: BaseDatabaseWrapper) -> WriteBuffer:
    buffer = getattr(connection, "_reactive_writes", None)
    if buffer is None:
        buffer = WriteBuffer()
        connection._reactive_writes = buffer  # type: ignore[attr-defined]
    return buffer


def captures(connection: BaseDatabaseWrapper) -> bool:
    """Are writes on this connection captured (the configured alias, outside migrations)?"""
    from .patches import migrating

    return connection.alias == reactive_settings.DATABASE and not migrating()


def _ignored(table: str) -> bool:
    return table in OWN_TABLES or table in reactive_settings.IGNORED_TABLES


def _record(connection: BaseDatabaseWrapper, writes: Iterable[TableWrite]) -> None:
    buffer = buffer_for(connection)
    buffer.entries.extend(w for w in writes if not _ignored(w.table))


def _value_pred(column: str, value: Any) -> Pred | None:
    if value is None:
        return Pred(column, ISNULL, True)
    if hasattr(value, "resolve_expression"):
        return None  # an expression: the stored value is unknown
    if isinstance(value, Model):
        value = value.pk
    try:
        hash(value)
    except TypeError:
        return None
    return Pred(column, EQ, value)


def instance_image(instance: Model, fields: Sequence[Any] | None = None) -> tuple[Pred, ...]:
    """A row image of ``instance``: one predicate per concrete column with a known value."""
    preds = []
    for f in fields if fields is not None else instance._meta.concrete_fields:
        if f.column is None:
            continue
        pred = _value_pred(f.column, getattr(instance, f.attname, None))
        if pred is not None:
            preds.append(pred)
    return tuple(preds)


def _pk_values(preds: Sequence[Pred], pk_column: str) -> frozenset[Any] | None:
    for pred in preds:
        if pred.column == pk_column and pred.op == EQ:
            return frozenset([pred.value])
        if pred.column == pk_column and pred.op == IN:
            return frozenset(pred.value)
    return None


def _base_preds(query: Query) -> tuple[Pred, ...]:
    # Top-level UPDATE/DELETE: the base alias is the table's own name.
    return tuple(where_preds(query.where).get(query.base_table or query.get_meta().db_table, ()))


def record_insert(connection: BaseDatabaseWrapper, query: Any, returned: Sequence[Sequence[Any]] | None) -> None:
    """An INSERT of ``query.objs`` (save(), create(), bulk_create(), m2m add)."""
    opts = query.get_meta()
    table = opts.db_table
    objs = query.objs
    if len(objs) > MAX_ROWS_PER_STATEMENT:
        _record(connection, [TableWrite(table, None, ())])
        return
    pk = opts.pk
    returned_pks: list[Any] = []
    if returned and query.fields is not None:
        returned_pks = [row[0] for row in returned if row]
    writes = []
    for index, obj in enumerate(objs):
        image = list(instance_image(obj, query.fields))
        pk_value = obj.pk if obj.pk is not None else (returned_pks[index] if index < len(returned_pks) else None)
        pks = None
        if pk_value is not None and pk is not None:
            pks = frozenset([pk_value])
            if all(p.column != pk.column for p in image):
                image.append(Pred(pk.column, EQ, pk_value))
        writes.append(TableWrite(table, None, tuple(image), pks))
    _record(connection, writes)


def record_update(connection: BaseDatabaseWrapper, query: Any) -> None:
    """An UPDATE (save() of an existing row, QuerySet.update(), bulk_update())."""
    opts = query.get_meta()
    table = opts.db_table
    where = _base_preds(query)
    updated_columns = {f.column for f, _model, _val in query.values}
    new = [p for p in where if p.column not in updated_columns]
    for f, _model, value in query.values:
        pred = _value_pred(f.column, value)
        if pred is not None:
            new.append(pred)
    pks = _pk_values(where, opts.pk.column) if opts.pk is not None else None
    _record(connection, [TableWrite(table, where, tuple(new), pks)])


def record_delete(connection: BaseDatabaseWrapper, query: Any) -> None:
    """A DELETE (before it runs). Rows deleted by pk are read first, so their images are exact."""
    from .patches import internal_sql

    opts = query.get_meta()
    table = opts.db_table
    where = _base_preds(query)
    pks = _pk_values(where, opts.pk.column) if opts.pk is not None else None
    if pks is None or len(pks) > MAX_ROWS_PER_STATEMENT:
        _record(connection, [TableWrite(table, where, None, pks)])
        return
    fields = opts.concrete_fields
    with internal_sql():
        rows = (
            query.model._base_manager.db_manager(connection.alias)
            .filter(pk__in=pks)
            .values_list(*(f.attname for f in fields))
        )
        images = [
            tuple(p for f, value in zip(fields, row, strict=True) if (p := _value_pred(f.column, value)))
            for row in rows
        ]
    _record(connection, [TableWrite(table, image, None, _pk_values(image, opts.pk.column)) for image in images])


_READ_PREFIXES = (
    "select",
    "pragma",
    "show",
    "explain",
    "set ",
    "savepoint",
    "release",
    "rollback",
    "begin",
    "commit",
    "end",
    "declare",
    "fetch",
    "close",
    "listen",
    "notify",
    "create",
    "alter",
    "drop",
    "comment",
    "grant",
    "revoke",
    "vacuum",
    "analyze",
)
_WRITE_WORDS = ("insert", "update", "delete", "replace", "merge", "truncate", "upsert", "copy")


_LEADING_NOISE = re.compile(r"^(\s+|--[^\n]*(\n|$)|/\*.*?\*/|\()*", re.DOTALL)


def is_write_sql(sql: str) -> bool:
    """May raw SQL change rows? Known reads and DDL say no; anything unrecognised says yes (widens)."""
    head = _LEADING_NOISE.sub("", sql, count=1).lower()
    if head.startswith("with"):
        return any(f"{word} " in head for word in _WRITE_WORDS[:4])
    return not head.startswith(_READ_PREFIXES)


def record_raw_write(connection: BaseDatabaseWrapper, sql: str) -> None:
    """A raw SQL write: the whole of every table it names, or of every table."""
    tables = tables_in_sql(sql)
    if not tables:
        _record(connection, [TableWrite.whole_table(ALL_TABLES)])
    else:
        _record(connection, [TableWrite.whole_table(t) for t in sorted(tables)])
