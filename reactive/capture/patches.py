"""Every patch of Django's ORM and database layer, in one place, with :func:`install` and :func:`uninstall`.

- ``SQLCompiler.execute_sql``: SELECTs inside a tracked query are recorded as reads;
  DELETEs are recorded as writes, with the deleted rows their ``RETURNING`` gives.
- ``SQLInsertCompiler.execute_sql`` / ``SQLUpdateCompiler.execute_sql``: writes.
- ``CursorWrapper._execute_with_wrappers`` / ``callproc`` / ``__getattr__`` (the driver's own
  SQL methods: ``executescript``, ``copy``...), and PostgreSQL's debug cursor ``copy``: raw SQL
  (not issued by a compiler): reads inside a tracked query, writes otherwise (table level).
- ``BaseDatabaseWrapper.commit`` / ``rollback`` / ``close`` / ``savepoint*``: the write
  buffer follows the transaction; the outbox row is written just before the commit and
  the commit number published just after it.

A write outside any transaction (autocommit) runs in one begun on the driver's cursor
(:func:`writing`), so that it and its outbox row commit together; nothing reactive runs
itself is logged by Django or counted by its tests.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models.sql import compiler as sql_compiler
from django.db.models.sql.constants import MULTI, ROW_COUNT, SINGLE

from ..commitlog import commits
from ..errors import ReadOnlyError
from ..patching import Patched
from ..readsets import ALL_TABLES, TableRead
from . import tracking, writes
from .sqltext import calls_unknown_function, is_write_sql, transaction_end

logger = logging.getLogger("reactive")

# While a compiler runs: the list collecting the SQL it sends (so raw-cursor hooks skip it).
_in_compiler: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("reactive_in_compiler", default=None)


@contextlib.contextmanager
def _compiling() -> Iterator[list[str]]:
    sent: list[str] = []
    token = _in_compiler.set(sent)
    try:
        yield sent
    finally:
        _in_compiler.reset(token)


def _forbid_write_in_query() -> None:
    collector = tracking.current_collector()
    if collector is not None and collector.read_only:
        raise ReadOnlyError()


# --- transactions of single writes ------------------------------------------------------------


def _in_transaction(connection: BaseDatabaseWrapper) -> bool:
    """Is the driver's connection inside a transaction (whatever Django believes)?"""
    raw = connection.connection
    if hasattr(raw, "in_transaction"):  # sqlite3
        return bool(raw.in_transaction)
    info = getattr(raw, "info", None)  # psycopg 3
    if info is not None:
        return int(info.transaction_status) != 0  # TransactionStatus.IDLE
    status = getattr(raw, "get_transaction_status", None)  # psycopg2
    return status() != 0 if status is not None else True


def _begin(connection: BaseDatabaseWrapper) -> None:
    mode = getattr(connection, "transaction_mode", None) if connection.vendor == "sqlite" else None
    with commits.bookkeeping_cursor(connection) as cursor:
        cursor.execute(f"BEGIN {mode}" if mode else "BEGIN")


def _end(connection: BaseDatabaseWrapper, statement: str) -> None:
    with commits.bookkeeping_cursor(connection) as cursor:
        cursor.execute(statement)


@contextlib.contextmanager
def writing(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """Around one write: in autocommit mode, make it and its outbox row one transaction.

    Django runs a single write in autocommit mode as its own transaction. Its outbox row must commit
    with it, so the write runs between a BEGIN and a COMMIT sent on the driver's cursor: Django's state
    (``in_atomic_block``, ``on_commit``, savepoints) and the statements it logs stay as they were. Inside
    a transaction, the commit hook flushes instead.
    """
    buffer = writes.buffer_for(connection)
    if buffer.own_transaction or not connection.get_autocommit() or _in_transaction(connection):
        # Django's transaction (its commit hook flushes), or one the host began with raw SQL (its raw COMMIT
        # does: see _raw_sql).
        yield
        return
    buffer.own_transaction = True
    try:
        _begin(connection)
        try:
            yield
            if buffer.pending:
                if not _in_transaction(connection):
                    _begin(connection)  # the write committed by itself (executescript): number it apart
                writes.flush(connection)
            if _in_transaction(connection):
                _end(connection, "COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                if _in_transaction(connection):
                    _end(connection, "ROLLBACK")
            buffer.reset()
            raise
        _publish(buffer)
    finally:
        buffer.own_transaction = False


def _publish(buffer: writes.WriteBuffer) -> None:
    committed = dict(buffer.flushed)
    buffer.reset()
    if committed:
        from ..commitlog.bus import publish

        publish(max(committed), committed)


# --- compilers ----------------------------------------------------------------------------


def _captured_write(connection: BaseDatabaseWrapper) -> bool:
    if not writes.captures(connection):
        return False
    _forbid_write_in_query()
    return True


def _select_execute_sql(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def execute_sql(self: Any, result_type: Any = MULTI, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self, sql_compiler.SQLDeleteCompiler):
            if not _captured_write(self.connection):
                with _compiling():
                    return original(self, result_type, *args, **kwargs)
            with writing(self.connection):
                return _delete(self, original, result_type, *args, **kwargs)
        collector = tracking.current_collector()
        if collector is None or isinstance(self, (sql_compiler.SQLUpdateCompiler, sql_compiler.SQLInsertCompiler)):
            with _compiling():
                return original(self, result_type, *args, **kwargs)
        if self.query.select_for_update and collector.read_only:
            raise ReadOnlyError("Queries are read-only: select_for_update() locks rows; lock them in a mutation")
        # Joins the compiler adds (select_related) have no count before it runs: None = new.
        refcounts = {alias: self.query.alias_refcount.get(alias, 0) for alias in self.query.alias_map}
        with _compiling() as sent:
            result = original(self, result_type, *args, **kwargs)
        sql = " ".join(sent)
        try:
            plan = tracking.analyse_select(self, refcounts)
        except Exception:  # an unanalysable query is widened, never left untracked
            logger.debug("reactive: widening an unanalysable query", exc_info=True)
            tracking.record_raw_read(collector, sql)
            return result
        return _record_result(collector, plan, sql, result, result_type)

    return execute_sql


def _record_result(
    collector: tracking.ReadCollector, plan: tracking.SelectPlan, sql: str, result: Any, result_type: Any
) -> Any:
    if result_type == MULTI:
        if isinstance(result, list):
            rows = [row for chunk in result for row in chunk]
            tracking.record_select(collector, plan, sql, rows)
            return result

        def chunks() -> Iterator[Any]:
            seen = False
            for chunk in result:
                seen = True
                tracking.record_select(collector, plan, sql, chunk)
                yield chunk
            if not seen:
                tracking.record_select(collector, plan, sql, [])

        return chunks()
    if result_type == SINGLE:
        tracking.record_select(collector, plan, sql, [result] if result else [])
        return result
    # Cursors and row counts: the rows are not seen here, so their pks are unknown.
    untracked_pks = [TableRead(table, preds or ()) for table, preds, _index, _field in plan.pk_columns]
    tracking.record_select(collector, tracking.SelectPlan(plan.reads + untracked_pks, []), sql, [])
    return result


def _returns_deleted_rows(connection: BaseDatabaseWrapper) -> bool:
    if connection.vendor == "postgresql":
        return True
    return connection.vendor == "sqlite" and connection.Database.sqlite_version_info >= (3, 35)  # type: ignore[attr-defined]


# Deleted rows whose old images are kept; past it, the DELETE is recorded for its whole table.
_IMAGED_ROWS = writes.MAX_ROWS_PER_STATEMENT + 1


def _delete(compiler: Any, original: Callable[..., Any], result_type: Any, *args: Any, **kwargs: Any) -> Any:
    """A DELETE, with ``RETURNING *`` where the backend can: exact old images without a second statement.

    ``*``, not the model's columns: the table may not match the model (a column renamed by a migration that has
    not been loaded), and a DELETE that works without reactive must work with it; the returned columns are
    matched to fields by name. Elsewhere (and for callers wanting a cursor) the WHERE is the old image.
    """
    query = compiler.query
    connection = compiler.connection
    if result_type != ROW_COUNT or not _returns_deleted_rows(connection):
        writes.record_delete(connection, query, None)
        with _compiling():
            return original(compiler, result_type, *args, **kwargs)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return 0
    if not sql:
        return 0
    with _compiling(), connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING *", params)
        columns = [description[0] for description in cursor.description or ()]
        rows = cursor.fetchmany(_IMAGED_ROWS)
        count = len(rows)
        while more := cursor.fetchmany(10_000):
            count += len(more)
    by_column = {f.column: f for f in writes.deleted_columns(query)}
    fields = [by_column.get(column) for column in columns]
    table = query.get_meta().db_table
    converters = compiler.get_converters([f.get_col(table) if f is not None else None for f in fields])
    writes.record_delete(connection, query, compiler.apply_converters(rows, converters) if converters else rows, fields)
    return count


def _insert_execute_sql(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def execute_sql(self: Any, returning_fields: Any = None) -> Any:
        if not _captured_write(self.connection):
            with _compiling():
                return original(self, returning_fields)
        with writing(self.connection), _compiling():
            rows = original(self, returning_fields)
            writes.record_insert(self.connection, self.query, returning_fields, rows)
            return rows

    return execute_sql


def _update_execute_sql(original: Callable[..., Any]) -> Callable[..., Any]:
    """``execute_sql``, and (Django 6.1) ``execute_returning_sql``, of an UPDATE."""

    @functools.wraps(original)
    def execute_sql(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _captured_write(self.connection):
            with _compiling():
                return original(self, *args, **kwargs)
        with writing(self.connection):
            # Analyse before executing: pre_sql_setup may rewrite the WHERE.
            writes.record_update(self.connection, self.query)
            with _compiling():
                return original(self, *args, **kwargs)

    return execute_sql


# --- raw cursors --------------------------------------------------------------------------


def sql_text(sql: Any, cursor: Any) -> str | None:
    """The text of SQL given as ``str``, ``bytes`` or a composed object (``psycopg.sql``); None if unknown."""
    if isinstance(sql, str):
        return sql
    if isinstance(sql, (bytes, bytearray, memoryview)):
        return bytes(sql).decode("utf-8", "replace")
    as_string = getattr(sql, "as_string", None)
    if as_string is not None:
        with contextlib.suppress(Exception):
            return str(as_string(cursor))
    return None


@contextlib.contextmanager
def _raw_sql(connection: BaseDatabaseWrapper, sql: Any, cursor: Any) -> Iterator[None]:
    """Around raw SQL: a write of every table it names (or of every table, when its text is unknown),
    or, in a tracked query, a read of the same.
    """
    text = sql_text(sql, cursor)
    if text is not None and (ending := transaction_end(text)) is not None:
        with _ending_raw_transaction(connection, ending):
            yield
        return
    collector = tracking.current_collector()
    writes_rows = text is None or is_write_sql(text)
    # A function call may write, and what it writes no text says: outside a query that is a write of every
    # table; inside one (which must not write) a read of every table.
    calls = not writes_rows and text is not None and calls_unknown_function(text)
    if writes_rows or (calls and collector is None):
        if _captured_write(connection):
            with writing(connection):
                writes.record_raw_write(connection, None if calls else text)
                yield
            return
    elif collector is not None and text is not None:
        if calls:
            collector.add(TableRead(ALL_TABLES))
        tracking.record_raw_read(collector, text)
    yield


@contextlib.contextmanager
def _ending_raw_transaction(connection: BaseDatabaseWrapper, ending: str) -> Iterator[None]:
    """A COMMIT or ROLLBACK sent as raw SQL ends a transaction Django does not know about: the writes it held
    are flushed into it before a COMMIT and published after; a ROLLBACK forgets them."""
    buffer = writes.buffer_for(connection)
    if ending == "commit" and buffer.pending and writes.captures(connection):
        writes.flush(connection)
    try:
        yield
    except BaseException:
        if ending == "commit":
            buffer.reset()  # the commit failed: its transaction, and the numbers it took, are gone
        raise
    if ending == "rollback":
        buffer.reset()
    elif buffer.flushed:
        _publish(buffer)


def _cursor_execute(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def _execute_with_wrappers(self: Any, sql: Any, params: Any, many: bool, executor: Any) -> Any:
        sent = _in_compiler.get()
        if sent is not None:
            sent.append(sql if isinstance(sql, str) else str(sql))
            return original(self, sql, params, many, executor)
        with _raw_sql(self.db, sql, self.cursor):
            return original(self, sql, params, many, executor)

    return _execute_with_wrappers


def _callproc(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def callproc(self: Any, procname: Any, *args: Any, **kwargs: Any) -> Any:
        # A stored procedure may read and write anything: its text is unknown.
        with _raw_sql(self.db, None, self.cursor):
            return original(self, procname, *args, **kwargs)

    return callproc


# Methods of the driver's cursors that run SQL without Django's execute(), reached through
# CursorWrapper.__getattr__: sqlite3's executescript(script), psycopg 3's copy(statement) (a context
# manager: the rows are written inside its block), psycopg2's copy_expert(sql, file) and copy_from(file, table).
_DRIVER_SQL_METHODS = frozenset({"executescript", "copy", "copy_expert", "copy_from"})


def _cursor_getattr(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def __getattr__(self: Any, attr: str) -> Any:
        value = original(self, attr)
        return _driver_method(self, attr, value) if attr in _DRIVER_SQL_METHODS else value

    return __getattr__


def _driver_method(wrapper: Any, attr: str, method: Callable[..., Any]) -> Callable[..., Any]:
    connection = wrapper.db

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        if attr == "copy_from":
            table = args[1] if len(args) > 1 else kwargs.get("table")
            sql: Any = f"COPY {table} FROM STDIN" if isinstance(table, str) else None
        else:
            sql = args[0] if args else next(iter(kwargs.values()), None)
        if attr == "copy":
            return _copy_block(connection, sql, wrapper.cursor, lambda: method(*args, **kwargs))
        with _raw_sql(connection, sql, wrapper.cursor):
            return method(*args, **kwargs)

    return call


def _debug_sql_method(attr: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A method of a backend's debug cursor that runs SQL itself (PostgreSQL's ``copy``), captured alike."""

    def patch(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return _driver_method(self, attr, functools.partial(original, self))(*args, **kwargs)

        return method

    return patch


def _debug_cursor_patches() -> list[tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    """With DEBUG, PostgreSQL's CursorDebugWrapper defines ``copy`` (psycopg 3) or ``copy_expert``/``copy_to``
    (psycopg2) itself, so CursorWrapper.__getattr__ never sees them."""
    try:
        from django.db.backends.postgresql.base import CursorDebugWrapper
    except Exception:  # no psycopg installed
        return []
    return [
        (CursorDebugWrapper, name, _debug_sql_method(name))
        for name in sorted(_DRIVER_SQL_METHODS)
        if name in CursorDebugWrapper.__dict__
    ]


@contextlib.contextmanager
def _copy_block(connection: BaseDatabaseWrapper, sql: Any, cursor: Any, open_copy: Callable[[], Any]) -> Iterator[Any]:
    with _raw_sql(connection, sql, cursor), open_copy() as copy:
        yield copy


# --- transactions -------------------------------------------------------------------------


def _commit(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def commit(self: BaseDatabaseWrapper) -> Any:
        buffer = writes.buffer_for(self)
        if buffer.pending and writes.captures(self):
            try:
                if self.vendor == "sqlite" and not _in_transaction(self):
                    _begin(self)  # a script committed the transaction early (executescript): number the rest apart
                writes.flush(self)
            except DatabaseError:
                buffer.reset()
                raise
            except Exception as exc:  # a bug: the commit must fail as a database error, so that Django rolls back
                buffer.reset()
                logger.exception("reactive: recording the writes of a transaction failed")
                message = "reactive could not record this transaction's writes; it was not committed"
                raise DatabaseError(message) from exc
        try:
            result = original(self)
        except BaseException:
            buffer.reset()
            raise
        _publish(buffer)
        return result

    return commit


def _reset_after(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def reset(self: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        finally:
            writes.buffer_for(self).reset()

    return reset


def _savepoint(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def savepoint(self: BaseDatabaseWrapper) -> Any:
        sid = original(self)
        if sid is not None:
            writes.buffer_for(self).mark(sid)
        return sid

    return savepoint


def _savepoint_rollback(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def savepoint_rollback(self: BaseDatabaseWrapper, sid: str) -> Any:
        result = original(self, sid)
        writes.buffer_for(self).rollback_to(sid)
        return result

    return savepoint_rollback


def _savepoint_commit(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def savepoint_commit(self: BaseDatabaseWrapper, sid: str) -> Any:
        result = original(self, sid)
        writes.buffer_for(self).release(sid)
        return result

    return savepoint_commit


_PATCHES: list[tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
    (sql_compiler.SQLCompiler, "execute_sql", _select_execute_sql),
    (sql_compiler.SQLInsertCompiler, "execute_sql", _insert_execute_sql),
    (sql_compiler.SQLUpdateCompiler, "execute_sql", _update_execute_sql),
    *(
        [(sql_compiler.SQLUpdateCompiler, "execute_returning_sql", _update_execute_sql)]
        if "execute_returning_sql" in sql_compiler.SQLUpdateCompiler.__dict__  # Django 6.1
        else []
    ),
    (CursorWrapper, "_execute_with_wrappers", _cursor_execute),
    (CursorWrapper, "callproc", _callproc),
    (CursorWrapper, "__getattr__", _cursor_getattr),
    (BaseDatabaseWrapper, "commit", _commit),
    (BaseDatabaseWrapper, "rollback", _reset_after),
    (BaseDatabaseWrapper, "close", _reset_after),
    (BaseDatabaseWrapper, "savepoint", _savepoint),
    (BaseDatabaseWrapper, "savepoint_rollback", _savepoint_rollback),
    (BaseDatabaseWrapper, "savepoint_commit", _savepoint_commit),
]


_patched = Patched(lambda: _PATCHES + _debug_cursor_patches())
install = _patched.install
uninstall = _patched.uninstall
