"""Write capture: turn the SQL writes of a transaction into a buffered write-set.

The hooks in :mod:`reactive.capture.patches` call the ``record_*`` functions here. Entries are
buffered on the connection (one buffer per database alias and thread, since Django
connections are per thread), trimmed on savepoint rollback, dropped on rollback, and
turned into an outbox row by :mod:`reactive.commitlog.commits` just before the commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.constants import OnConflict
from django.db.models.sql.query import Query

from ..commitlog import commits
from ..conf import reactive_settings
from ..readsets import ALL_TABLES, EQ, IN, Pred, TableWrite
from .images import UNKNOWN, is_computed, row_image, stored_value, value_pred
from .tracking import tables_in_sql, where_preds

# Our own tables: writing them is bookkeeping, never a change anyone subscribes to.
OWN_TABLES = frozenset({"reactive_commit_clock", "reactive_outbox", "reactive_mutation_record"})
# Beyond this many rows in one statement, a write is recorded for the whole table.
MAX_ROWS_PER_STATEMENT = 1000


@dataclass
class WriteBuffer:
    """The uncommitted writes of one connection's current transaction.

    A flush (:func:`flush`) stores ``entries[flushed_upto:]`` in an outbox row under a new
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
    # A single write in autocommit mode is running in a transaction of reactive's (patches.writing).
    own_transaction: bool = False

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


_migrating = False


def set_migrating(value: bool) -> None:
    """Capture is off while migrations run (the outbox may not exist yet)."""
    global _migrating
    _migrating = value


def captures(connection: BaseDatabaseWrapper) -> bool:
    """Are writes on this connection captured (the configured alias, outside migrations)?"""
    return connection.alias == reactive_settings.DATABASE and not _migrating


def flush(connection: BaseDatabaseWrapper) -> int | None:
    """Store the transaction's writes not yet in the outbox there, under a new commit number (inside the
    transaction, just before it commits); None when there are none."""
    buffer = buffer_for(connection)
    pending = buffer.pending
    if not pending:
        return None
    ts, stored = commits.append(connection, pending)
    buffer.flushed_upto = len(buffer.entries)
    # This process's batches match this commit without reading the row back (see commits.committed_writes).
    buffer.flushed[ts] = stored
    return ts


def _ignored(table: str) -> bool:
    return table in OWN_TABLES or table in reactive_settings.IGNORED_TABLES


def _record(connection: BaseDatabaseWrapper, writes: Iterable[TableWrite]) -> None:
    buffer = buffer_for(connection)
    buffer.entries.extend(w for w in writes if not _ignored(w.table))


def _pk_values(preds: Sequence[Pred], pk_column: str) -> frozenset[Any] | None:
    for pred in preds:
        if pred.column == pk_column and pred.op == EQ:
            return frozenset([pred.value])
        if pred.column == pk_column and pred.op == IN:
            return frozenset(pred.value)
    return None


def _opts(query: Query) -> Any:
    """The options of the model whose table the statement writes (a proxy's concrete model)."""
    return query.get_meta().concrete_model._meta  # type: ignore[union-attr]


def _where(query: Query) -> tuple[Pred, ...]:
    # A top-level UPDATE/DELETE qualifies its columns by the table's own name. (Never read
    # ``query.base_table`` here: it is cached, and before compiling it is None.)
    return tuple(where_preds(query.where).get(_opts(query).db_table, ()))


def _pks(pk_field: Any, value: Any) -> frozenset[Any] | None:
    # A composite primary key (no column of its own) is unknown: its parts are in the image.
    stored = UNKNOWN if value is None or pk_field.column is None else stored_value(pk_field, value)
    return None if stored is UNKNOWN else frozenset([stored])


def record_insert(
    connection: BaseDatabaseWrapper,
    query: Any,
    returning_fields: Sequence[Any] | None,
    returned: Sequence[Sequence[Any]] | None,
) -> None:
    """An INSERT of ``query.objs`` (save(), create(), bulk_create(), m2m add), after it ran.

    ``returned``: one row of ``returning_fields`` per object, converted by Django (the pk, generated
    columns, database defaults), when the backend returned rows; they complete the new image. An upsert
    (``update_conflicts``) may have updated an existing row instead of inserting: its old image is
    unknown (any row), and its new image holds only the columns the conflict sets.
    """
    opts = _opts(query)
    table = opts.db_table
    objs = query.objs
    if len(objs) > MAX_ROWS_PER_STATEMENT:
        _record(connection, [TableWrite(table, (), ())])
        return
    upsert = query.on_conflict == OnConflict.UPDATE
    inserted = [f for f in query.fields or () if not is_computed(f)]
    if upsert:
        conflict = {f.name for f in query.update_fields or ()} | {f.name for f in query.unique_fields or ()}
        inserted = [f for f in inserted if f.name in conflict]
    rows = list(returned or ()) if returning_fields else []
    entries = []
    for index, obj in enumerate(objs):
        image = {f.column: value_pred(f, getattr(obj, f.attname, None)) for f in inserted}
        pk_value = getattr(obj, opts.pk.attname, None)
        if index < len(rows):
            for f, value in zip(returning_fields or (), rows[index], strict=False):
                image[f.column] = value_pred(f, value)
                if f is opts.pk:
                    pk_value = value
        elif upsert:
            pk_value = None  # the conflict may have updated a row with another pk than the object's
        pks = _pks(opts.pk, pk_value)
        if pks is not None:
            image[opts.pk.column] = Pred(opts.pk.column, EQ, next(iter(pks)))
        new = tuple(pred for pred in image.values() if pred is not None)
        entries.append(TableWrite(table, () if upsert else None, new, pks))
    _record(connection, entries)


def record_update(connection: BaseDatabaseWrapper, query: Any) -> None:
    """An UPDATE (save() of an existing row, QuerySet.update(), bulk_update()), before it runs.

    Old image: the WHERE's conjuncts on the table. New image: those conjuncts on the columns the UPDATE
    leaves alone (not generated columns: the database recomputes them), and ``column = value`` for each
    SET value whose stored form is known.
    """
    opts = _opts(query)
    where = _where(query)
    updated = {f.column for f, _model, _value in query.values}
    untouched = {f.column for f in opts.local_concrete_fields if not is_computed(f)} - updated
    new = [pred for pred in where if pred.column in untouched]
    new.extend(pred for f, _model, value in query.values if (pred := value_pred(f, value)) is not None)
    _record(connection, [TableWrite(opts.db_table, where, tuple(new), _pk_values(where, opts.pk.column))])


def deleted_columns(query: Query) -> list[Any]:
    """The fields whose columns a DELETE's rows hold: every column of its table (a child of multi-table
    inheritance has its own table; its parents' columns are in theirs)."""
    return [f for f in _opts(query).local_concrete_fields if f.column is not None]


def record_delete(
    connection: BaseDatabaseWrapper,
    query: Any,
    rows: Iterable[Sequence[Any]] | None,
    fields: Sequence[Any | None] = (),
) -> None:
    """A DELETE, with the rows it deleted (converted) when they are known: ``fields[i]`` is the model field of
    column ``i`` of each row, None for a column the model does not know (the model may not match the table)."""
    opts = _opts(query)
    table = opts.db_table
    if rows is None:
        where = _where(query)
        _record(connection, [TableWrite(table, where, None, _pk_values(where, opts.pk.column))])
        return
    known = [(index, f) for index, f in enumerate(fields) if f is not None]
    pk_index = next((index for index, f in known if f is opts.pk), None)
    entries = []
    for count, row in enumerate(rows):
        if count == MAX_ROWS_PER_STATEMENT:
            entries = [TableWrite(table, (), None)]
            break
        image = row_image([f for _index, f in known], [row[index] for index, _f in known])
        pks = None if pk_index is None else _pks(opts.pk, row[pk_index])
        entries.append(TableWrite(table, image, None, pks))
    _record(connection, entries)


def record_raw_write(connection: BaseDatabaseWrapper, sql: str | None) -> None:
    """A raw SQL write: the whole of every table it names, or of every table (also when its text is unknown)."""
    tables = tables_in_sql(sql) if sql is not None else set()
    if not tables:
        _record(connection, [TableWrite.whole_table(ALL_TABLES)])
    else:
        _record(connection, [TableWrite.whole_table(t) for t in sorted(tables)])
