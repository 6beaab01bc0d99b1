"""A closed connection is freed by reference counting: it leaves no reference cycle for the garbage collector.

A cycle per connection is cheap until connections come and go by the thousand (a flood of refused sockets, a
restart of every client): then full collections free them tens of thousands at a time, and stop every thread
of the process for a tenth of a second or more while they do.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from reactive.testing import ReactiveCommunicator

pytestmark = pytest.mark.django_db(transaction=True)

CONNECTIONS = 20


@pytest.fixture
def collected_garbage() -> Iterator[list[object]]:
    """What the collector finds unreachable in the test's body (kept in ``gc.garbage`` to be counted)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_closed_connections_leave_no_reference_cycles(collected_garbage: list[object]) -> None:
    warm = ReactiveCommunicator()  # the process's first connection starts its manager
    await warm.connect()
    await warm.close()
    gc.collect()
    collected_garbage.clear()
    for _ in range(CONNECTIONS):
        client = ReactiveCommunicator()
        await client.connect()
        await client.subscribe("testing:channel_count", {"copy": 0})
        await client.close()
    del client
    gc.collect()
    # Before: 56 objects per connection. What is left comes from the process, not the connections (on PostgreSQL
    # + Redis, a few of the channel layer's and the driver's).
    assert len(collected_garbage) < 3 * CONNECTIONS
