"""The commit clock and the outbox.

Just before a transaction that wrote commits, :func:`append` takes the next commit
number from a single-row clock (the row lock serialises committers, so numbers follow
commit order) and stores the write-set under that number in the outbox, in the same
transaction. After the commit, the number is published on the bus. A process that
misses a notification reads the outbox; numbers are contiguous, so a gap is visible.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from ..conf import reactive_settings
from ..db_values import decode_value, encode_value
from ..readsets import Pred, TableWrite

# The next commit number. It never repeats one the outbox holds, even when the clock row was set back (a
# fixture, a restored backup, a test's serialized rollback): numbers go on from the highest of both.
_NEWEST_STORED = "COALESCE((SELECT MAX(ts) FROM reactive_outbox), 0)"
_TAKE_TS = {
    "postgresql": (
        f"INSERT INTO reactive_commit_clock (id, ts) VALUES (1, {_NEWEST_STORED} + 1) ON CONFLICT (id) "
        f"DO UPDATE SET ts = GREATEST(reactive_commit_clock.ts, {_NEWEST_STORED}) + 1 RETURNING ts"
    ),
    "sqlite": (
        f"INSERT INTO reactive_commit_clock (id, ts) VALUES (1, {_NEWEST_STORED} + 1) ON CONFLICT (id) "
        f"DO UPDATE SET ts = MAX(reactive_commit_clock.ts, {_NEWEST_STORED}) + 1 RETURNING ts"
    ),
}
_INSERT_OUTBOX = "INSERT INTO reactive_outbox (ts, writes, created_at) VALUES (%s, %s, %s)"
# Beyond this many entries, a transaction's write-set is stored per table, without rows.
MAX_ENTRIES_PER_COMMIT = 2000


# --- write-set codec (outbox rows are JSON text) ------------------------------------------


def _encode_image(image: tuple[Pred, ...] | None) -> Any:
    if image is None:
        return None
    encoded = []
    for pred in image:
        try:
            encoded.append([pred.column, pred.op, encode_value(pred.value)])
        except TypeError:
            continue  # an exotic value: leave the column unconstrained (widens)
    return encoded


def _decode_image(image: Any) -> tuple[Pred, ...] | None:
    if image is None:
        return None
    return tuple(Pred(column, op, decode_value(value)) for column, op, value in image)


def encode_writes(writes: Sequence[TableWrite]) -> str:
    if len(writes) > MAX_ENTRIES_PER_COMMIT:
        writes = [TableWrite.whole_table(t) for t in sorted({w.table for w in writes})]
    rows = []
    for w in writes:
        try:
            pks = None if w.pks is None else [encode_value(pk) for pk in w.pks]
        except TypeError:
            pks = None  # a key the codec cannot store: unknown (widens)
        if pks is not None and any(isinstance(pk, dict) and "b" in pk for pk in pks):
            pks = None
        rows.append([w.table, _encode_image(w.old), _encode_image(w.new), pks])
    return json.dumps(rows, separators=(",", ":"))


def decode_writes(text: str) -> list[TableWrite]:
    writes = []
    for table, old, new, pks in json.loads(text):
        writes.append(
            TableWrite(
                table,
                _decode_image(old),
                _decode_image(new),
                None if pks is None else frozenset(decode_value(pk) for pk in pks),
            )
        )
    return writes


# --- the clock and the outbox ------------------------------------------------------------


@contextlib.contextmanager
def bookkeeping_cursor(connection: BaseDatabaseWrapper) -> Iterator[Any]:
    """A cursor for reactive's own statements: the driver's, so ``connection.queries``, ``assertNumQueries``,
    execute wrappers and reactive's own hooks never see them (the host's code is counted for its own SQL only).
    Parameters use Django's ``%s`` style on every backend.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = connection.create_cursor()
        try:
            yield cursor
        finally:
            cursor.close()


def append(connection: BaseDatabaseWrapper, writes: Sequence[TableWrite]) -> tuple[int, list[TableWrite]]:
    """Store ``writes`` in the outbox under a new commit number (inside the committing transaction).

    Returns the number and the write-set as the row holds it (what any process reading it back sees).
    """
    payload = encode_writes(writes)
    with bookkeeping_cursor(connection) as cursor:
        cursor.execute(_TAKE_TS["postgresql" if connection.vendor == "postgresql" else "sqlite"])
        ts = int(cursor.fetchone()[0])
        cursor.execute(_INSERT_OUTBOX, [ts, payload, timezone.now()])
    return ts, decode_writes(payload)


def current_ts(connection: BaseDatabaseWrapper | None = None) -> int:
    """The newest commit number visible to ``connection`` (0 before the first commit)."""
    connection = connection or connections[reactive_settings.DATABASE]
    with bookkeeping_cursor(connection) as cursor:
        cursor.execute("SELECT ts FROM reactive_commit_clock WHERE id = 1")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def committed_writes(
    connection: BaseDatabaseWrapper,
    after: int,
    upto: int,
    known: Mapping[int, list[TableWrite]] | None = None,
) -> list[TableWrite] | None:
    """The write-sets of commits ``after < ts <= upto``; None if some are gone (pruned).

    ``known``: write-sets this process already has (its own commits, as :func:`append` stored
    them); when it holds every one of the range, the outbox is not read.
    """
    if upto <= after:
        return []
    if known is not None and upto - after <= len(known):
        found = [known.get(ts) for ts in range(after + 1, upto + 1)]
        if all(writes is not None for writes in found):
            return [write for writes in found for write in writes or ()]
    with bookkeeping_cursor(connection) as cursor:
        cursor.execute(
            "SELECT ts, writes FROM reactive_outbox WHERE ts > %s AND ts <= %s ORDER BY ts",
            [after, upto],
        )
        rows = cursor.fetchall()
    if len(rows) != upto - after:
        return None
    writes: list[TableWrite] = []
    for _ts, text in rows:
        writes.extend(decode_writes(text))
    return writes


def prune(now: datetime.datetime | None = None) -> tuple[int, int]:
    """Delete outbox rows and mutation records past their retention; returns how many of each went.

    The newest outbox row is always kept, so the clock's value stays visible in the outbox.
    """
    now = now or timezone.now()
    outbox_cutoff = now - datetime.timedelta(seconds=reactive_settings.OUTBOX_RETENTION)
    mutation_cutoff = now - datetime.timedelta(seconds=reactive_settings.MUTATION_RETENTION)
    connection = connections[reactive_settings.DATABASE]
    with bookkeeping_cursor(connection) as cursor:
        cursor.execute(
            "DELETE FROM reactive_outbox WHERE created_at < %s AND ts < (SELECT MAX(ts) FROM reactive_outbox)",
            [outbox_cutoff],
        )
        outbox = int(cursor.rowcount or 0)
        cursor.execute("DELETE FROM reactive_mutation_record WHERE created_at < %s", [mutation_cutoff])
        mutations = int(cursor.rowcount or 0)
    return outbox, mutations
