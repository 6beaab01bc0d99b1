"""Every patch of Django internals, in one place, with :func:`install` and :func:`uninstall`.

- ``SQLCompiler.execute_sql``: SELECTs inside a tracked query are recorded as reads;
  DELETEs are recorded as writes.
- ``SQLInsertCompiler.execute_sql`` / ``SQLUpdateCompiler.execute_sql``: writes.
- ``CursorWrapper._execute_with_wrappers``: raw SQL (not issued by a compiler): reads
  inside a tracked query, writes otherwise (table level).
- ``BaseDatabaseWrapper.commit`` / ``rollback`` / ``close`` / ``savepoint*``: the write
  buffer follows the transaction; the outbox row is written just before the commit and
  the commit number published just after it.
- Daphne's ``WebSocketFactory.__init__`` (permessage-deflate) and ``WebSocketProtocol.serverSend``
  (a frame is written to the socket when it is sent, not on the reactor's next turn).

A write outside any transaction (autocommit) is wrapped in one, so that it and its
outbox row commit together.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models.sql import compiler as sql_compiler
from django.db.models.sql.constants import MULTI, SINGLE

from . import commits, tracking, writes
from .errors import ReadOnlyError
from .readsets import TableRead

logger = logging.getLogger("reactive")

# While a compiler runs: the list collecting the SQL it sends (so raw-cursor hooks skip it).
_in_compiler: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("reactive_in_compiler", default=None)
_internal: contextvars.ContextVar[bool] = contextvars.ContextVar("reactive_internal", default=False)
_migrating = False
_originals: dict[tuple[type, str], Callable[..., Any]] = {}


def migrating() -> bool:
    return _migrating


def set_migrating(value: bool) -> None:
    """Capture is off while migrations run (the outbox may not exist yet)."""
    global _migrating
    _migrating = value


@contextlib.contextmanager
def internal_sql() -> Iterator[None]:
    """SQL of reactive's own bookkeeping: neither tracked nor captured."""
    token = _internal.set(True)
    try:
        yield
    finally:
        _internal.reset(token)


@contextlib.contextmanager
def _compiling() -> Iterator[list[str]]:
    sent: list[str] = []
    token = _in_compiler.set(sent)
    try:
        yield sent
    finally:
        _in_compiler.reset(token)


def _forbid_write_in_query() -> None:
    if tracking.current_collector() is not None:
        raise ReadOnlyError()


def _run_write(connection: BaseDatabaseWrapper, run: Callable[[], Any]) -> Any:
    """Run a write, inside a transaction if the connection is in autocommit mode."""
    if connection.get_autocommit():
        with transaction.atomic(using=connection.alias):
            return run()
    return run()


# --- compilers ----------------------------------------------------------------------------


def _select_execute_sql(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def execute_sql(self: Any, result_type: Any = MULTI, *args: Any, **kwargs: Any) -> Any:
        if _internal.get():
            return original(self, result_type, *args, **kwargs)
        if isinstance(self, sql_compiler.SQLDeleteCompiler):
            if not writes.captures(self.connection):
                return original(self, result_type, *args, **kwargs)
            _forbid_write_in_query()

            def run_delete() -> Any:
                writes.record_delete(self.connection, self.query)
                with _compiling():
                    return original(self, result_type, *args, **kwargs)

            return _run_write(self.connection, run_delete)
        collector = tracking.current_collector()
        if collector is None or isinstance(self, (sql_compiler.SQLUpdateCompiler, sql_compiler.SQLInsertCompiler)):
            with _compiling():
                return original(self, result_type, *args, **kwargs)
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
    untracked_pks = [TableRead(table, preds or ()) for table, preds, _index in plan.pk_columns]
    tracking.record_select(collector, tracking.SelectPlan(plan.reads + untracked_pks, []), sql, [])
    return result


def _insert_execute_sql(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def execute_sql(self: Any, returning_fields: Any = None) -> Any:
        if _internal.get() or not writes.captures(self.connection):
            with _compiling():
                return original(self, returning_fields)
        _forbid_write_in_query()

        def run_insert() -> Any:
            with _compiling():
                rows = original(self, returning_fields)
            writes.record_insert(self.connection, self.query, rows if returning_fields else None)
            return rows

        return _run_write(self.connection, run_insert)

    return execute_sql


def _update_execute_sql(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def execute_sql(self: Any, result_type: Any) -> Any:
        if _internal.get() or not writes.captures(self.connection):
            with _compiling():
                return original(self, result_type)
        _forbid_write_in_query()

        def run_update() -> Any:
            # Analyse before executing: pre_sql_setup may rewrite the WHERE.
            writes.record_update(self.connection, self.query)
            with _compiling():
                return original(self, result_type)

        return _run_write(self.connection, run_update)

    return execute_sql


# --- raw cursors --------------------------------------------------------------------------


def _cursor_execute(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def _execute_with_wrappers(self: Any, sql: Any, params: Any, many: bool, executor: Any) -> Any:
        sent = _in_compiler.get()
        if sent is not None:
            sent.append(sql if isinstance(sql, str) else str(sql))
            return original(self, sql, params, many, executor)
        if _internal.get() or not isinstance(sql, str):
            return original(self, sql, params, many, executor)
        connection = self.db
        if writes.is_write_sql(sql):
            if not writes.captures(connection):
                return original(self, sql, params, many, executor)
            _forbid_write_in_query()

            def run_raw() -> Any:
                writes.record_raw_write(connection, sql)
                return original(self, sql, params, many, executor)

            return _run_write(connection, run_raw)
        collector = tracking.current_collector()
        if collector is not None:
            tracking.record_raw_read(collector, sql)
        return original(self, sql, params, many, executor)

    return _execute_with_wrappers


# --- transactions -------------------------------------------------------------------------


def _commit(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def commit(self: BaseDatabaseWrapper) -> Any:
        buffer = writes.buffer_for(self)
        if buffer.pending and writes.captures(self):
            commits.flush(self)
        committed = dict(buffer.flushed)
        try:
            result = original(self)
        finally:
            buffer.reset()
        if committed:
            from .bus import publish

            publish(max(committed), committed)
        self._reactive_last_commit = max(committed) if committed else None  # type: ignore[attr-defined]
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


# --- Daphne: permessage-deflate -------------------------------------------------------------


# zlib memLevel of each connection's compressor (1-9; zlib's default 8). It is not negotiated: it sizes the
# compressor's hash table and output buffer, about 2**(memLevel + 9) bytes; at 8 that was most of the memory
# an idle connection costs, while sync messages (small, repetitive) compress almost as well at 4.
DEFLATE_MEM_LEVEL = 4


def _accept_deflate(offers: list[Any]) -> Any:
    """Accept the client's first permessage-deflate offer (browsers and most clients make one)."""
    from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept

    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer, mem_level=DEFLATE_MEM_LEVEL)
    return None


def _websocket_factory_init(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        from .conf import reactive_settings

        original(self, *args, **kwargs)
        if reactive_settings.WEBSOCKET_COMPRESSION:
            self.setProtocolOptions(perMessageCompressionAccept=_accept_deflate)

    return __init__


# --- Daphne: frames written when sent ---------------------------------------------------------


def _write_now(transport: Any) -> None:
    """Write what a Twisted TCP transport buffered now, not on the reactor's next turn.

    Twisted buffers every write until the reactor next polls the socket, which is after every
    callback of the current turn: a Transition fanned out to many sessions in one turn reached
    the first client only after the last one was framed. Only a plain, open TCP transport is
    written (TLS wrappers and closing connections are left to the reactor); whatever the socket
    does not take, or an error, stays with the reactor, which still watches it for writing.
    """
    from twisted.internet import tcp

    # Exactly a TCP connection: a wrapper (TLS) forwards unknown attributes to the connection under it,
    # whose state it does not share.
    if not isinstance(transport, tcp.Connection) or not transport.connected:
        return
    if transport.disconnecting or transport._writeDisconnecting or not transport._tempDataLen:
        return
    if transport.doWrite() is not None:
        transport.startWriting()  # an error: the reactor finds it on its next turn and closes the connection


def _websocket_server_send(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def serverSend(self: Any, content: Any, binary: bool = False) -> None:
        original(self, content, binary)
        _write_now(self.transport)

    return serverSend


def _daphne_patches() -> list[tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    try:
        from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
    except ImportError:  # served by another ASGI server: it negotiates compression itself
        return []
    return [
        (WebSocketFactory, "__init__", _websocket_factory_init),
        (WebSocketProtocol, "serverSend", _websocket_server_send),
    ]


_PATCHES: list[tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
    (sql_compiler.SQLCompiler, "execute_sql", _select_execute_sql),
    (sql_compiler.SQLInsertCompiler, "execute_sql", _insert_execute_sql),
    (sql_compiler.SQLUpdateCompiler, "execute_sql", _update_execute_sql),
    (CursorWrapper, "_execute_with_wrappers", _cursor_execute),
    (BaseDatabaseWrapper, "commit", _commit),
    (BaseDatabaseWrapper, "rollback", _reset_after),
    (BaseDatabaseWrapper, "close", _reset_after),
    (BaseDatabaseWrapper, "savepoint", _savepoint),
    (BaseDatabaseWrapper, "savepoint_rollback", _savepoint_rollback),
    (BaseDatabaseWrapper, "savepoint_commit", _savepoint_commit),
]


def install() -> None:
    """Install every patch (idempotent)."""
    for cls, name, make in _PATCHES + _daphne_patches():
        if (cls, name) in _originals:
            continue
        original = cls.__dict__[name]
        _originals[(cls, name)] = original
        setattr(cls, name, make(original))


def uninstall() -> None:
    """Restore Django's own methods."""
    for (cls, name), original in _originals.items():
        setattr(cls, name, original)
    _originals.clear()
