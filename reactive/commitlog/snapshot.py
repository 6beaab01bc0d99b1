"""One consistent read snapshot of the database, and the commit number it shows.

PostgreSQL: a REPEATABLE READ, READ ONLY transaction; its snapshot is taken by its first
statement, which reads the clock. SQLite: a deferred transaction (a WAL reader sees one
snapshot from its first read on), begun explicitly so that a ``transaction_mode`` of
IMMEDIATE, good for writers, does not make this reader block them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from .commits import bookkeeping_cursor


@contextlib.contextmanager
def read_snapshot(alias: str) -> Iterator[BaseDatabaseWrapper]:
    connection = connections[alias]
    if connection.in_atomic_block:
        yield connection  # already inside a transaction (a test, a nested call): use its snapshot
        return
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with bookkeeping_cursor(connection) as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield connection
        finally:
            with bookkeeping_cursor(connection) as cursor:
                cursor.execute("ROLLBACK")
        return
    with transaction.atomic(using=alias):
        if connection.vendor == "postgresql":
            with bookkeeping_cursor(connection) as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield connection
