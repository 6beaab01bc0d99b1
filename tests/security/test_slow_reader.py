"""A client that never reads its socket, and one that floods subscriptions, hold up nobody else.

Counts, not timings: what waits unsent for the slow client stays bounded while others
are served change by change; the slow client, once it reads again, gets one coalesced
Transition to the newest state.
"""

from __future__ import annotations

from typing import Any

import pytest

from reactive.live.subscriptions import get_manager
from reactive.sync.session import MAX_UNSENT_TRANSITIONS
from reactive.testing import ReactiveCommunicator

from ..security_helpers import StalledSocket, close_event, reactive_settings_with, session_of

pytestmark = pytest.mark.django_db(transaction=True)

MUTATIONS = 200


@reactive_settings_with(MUTATION_BURST=MUTATIONS)  # the writer may send all its mutations at full speed
async def test_a_client_that_never_reads_gets_coalesced_transitions_and_holds_up_nobody() -> None:
    socket = StalledSocket()
    slow = ReactiveCommunicator(socket)
    await slow.connect()
    slow_query = await slow.subscribe("channels:list")
    writer = ReactiveCommunicator()
    await writer.connect()
    writer_query = await writer.subscribe("channels:list")
    session = session_of(slow)
    outgoing = session._send.__self__._outgoing  # type: ignore[attr-defined]  # the consumer's queue
    socket.stall()
    most_queued = 0
    for i in range(MUTATIONS):
        # Each mutation returns once the writer got the Transition with its write: nobody waits for `slow`.
        await writer.mutation("channels:create", {"name": f"c{i:03}"})
        assert len(writer.values[writer_query]) == i + 1
        assert session.unsent_transitions <= MAX_UNSENT_TRANSITIONS
        most_queued = max(most_queued, outgoing.qsize())
    assert most_queued <= MAX_UNSENT_TRANSITIONS
    assert len(slow.transitions) == 1  # only the first answer got through before the stall

    socket.resume()
    await slow.wait_for(slow_query, lambda value: len(value) == MUTATIONS)
    # The two that waited (one in the socket, one queued), then one coalesced Transition to the newest state.
    assert len(slow.transitions) <= 1 + MAX_UNSENT_TRANSITIONS + 1
    last = slow.transitions[-1]
    assert [m["type"] for m in last["modifications"]] == ["QueryUpdated"]
    assert last["endVersion"] == writer.transitions[-1]["endVersion"] | {"querySet": 1}
    await slow.close()
    await writer.close()


async def test_a_flood_of_subscriptions_is_bounded_and_others_keep_their_updates() -> None:
    limit = 100
    with reactive_settings_with(MAX_QUERIES_PER_CONNECTION=limit):
        observer = ReactiveCommunicator()
        await observer.connect()
        watched = await observer.subscribe("channels:list")
        instances_before = len(get_manager().instances)
        flooder = ReactiveCommunicator()
        await flooder.connect()

        def adds(first: int, count: int) -> list[dict[str, Any]]:
            return [
                {"type": "Add", "queryId": i, "udfPath": "testing:echo", "args": [{"value": i}]}
                for i in range(first, first + count)
            ]

        await flooder.modify(adds(0, limit))
        await flooder.modify(adds(limit, limit))  # past the limit: each one fails on its own
        await flooder.receive_until(lambda: len(flooder.values) + len(flooder.errors) == 2 * limit)
        assert len(flooder.values) == limit and len(flooder.errors) == limit
        assert len(get_manager().instances) == instances_before + limit

        await observer.mutation("channels:create", {"name": "still-served"})
        assert [c["name"] for c in observer.values[watched]] == ["still-served"]

        await flooder.modify(adds(2 * limit, 1))  # a client this far past the limit is broken: cut off
        closed = await close_event(flooder)
        assert closed["code"] == 1008
        assert flooder.others[-1] == {
            "type": "FatalError",
            "error": f"Far too many queries (MAX_QUERIES_PER_CONNECTION={limit})",
        }
        assert len(get_manager().instances) == instances_before
        await observer.mutation("channels:create", {"name": "after"})
        assert len(observer.values[watched]) == 2
        await observer.close()
