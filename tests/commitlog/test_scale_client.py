"""The WebSocket test client of the scale-out tests (tests/ws_client.py) checks what it claims to check.

The first tests feed it server messages directly; the last one runs it against a live server, on any
database and channel layer (both passes of ``make test``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from demo_project.chat.models import Channel, Message
from reactive.values import encode_ts
from tests.live_servers import LiveServerFactory
from tests.ws_client import ProtocolViolation, SyncClient


def transition(start: tuple[int, int, int], end: tuple[int, int, int], **values: Any) -> dict[str, Any]:
    def version(v: tuple[int, int, int]) -> dict[str, Any]:
        return {"querySet": v[0], "identity": v[1], "ts": encode_ts(v[2])}

    modifications = [
        {"type": "QueryUpdated", "queryId": int(qid), "value": value, "logLines": [], "journal": None}
        for qid, value in values.items()
    ]
    return {
        "type": "Transition",
        "startVersion": version(start),
        "endVersion": version(end),
        "modifications": modifications,
    }


def client_with_one_query() -> SyncClient:
    client = SyncClient("http://127.0.0.1:1", name="probe")
    client._query_set_version = 1  # as if it had sent one ModifyQuerySet
    client._apply(transition((0, 0, 0), (1, 0, 5), **{"0": []}), 0)
    assert client.violations == [] and client.values == {0: []}
    return client


def test_a_transition_must_start_where_the_previous_one_ended() -> None:
    client = client_with_one_query()
    client._apply(transition((1, 0, 4), (1, 0, 6)), 0)
    assert len(client.violations) == 1 and "starts at" in client.violations[0]


def test_ts_must_not_go_backwards_on_a_connection() -> None:
    client = client_with_one_query()
    client._apply(transition((1, 0, 5), (1, 0, 3)), 0)
    assert len(client.violations) == 1 and "backwards" in client.violations[0]


def test_the_invariant_runs_after_every_transition() -> None:
    client = client_with_one_query()

    def no_long_lists(c: SyncClient) -> None:
        assert len(c.values[0]) < 2, "too long"

    client.check = no_long_lists
    client._apply(transition((1, 0, 5), (1, 0, 6), **{"0": [1]}), 0)
    assert client.violations == []
    client._apply(transition((1, 0, 6), (1, 0, 7), **{"0": [1, 2]}), 0)
    assert len(client.violations) == 1 and "too long" in client.violations[0]


async def test_a_mutation_settles_only_when_a_transition_reaches_its_ts() -> None:
    client = client_with_one_query()
    client.pending[0] = ("messages:send", {})
    client._apply({"type": "MutationResponse", "requestId": 0, "success": True, "result": 1, "ts": encode_ts(9)}, 0)
    assert 0 in client.pending and 0 not in client.confirmed
    client._apply(transition((1, 0, 5), (1, 0, 8)), 0)
    assert 0 in client.pending
    client._apply(transition((1, 0, 8), (1, 0, 9)), 0)
    assert 0 not in client.pending and client.confirmed[0]["result"] == 1
    client._apply(transition((1, 0, 2), (1, 0, 10)), 0)
    with pytest.raises(ProtocolViolation):
        await client.wait_for(lambda c: True, timeout=1)


@pytest.fixture
async def _close_worker_connections() -> AsyncIterator[None]:
    yield
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_worker_connections")
async def test_the_client_reconnects_and_resends_its_queries_and_mutations(
    live_server_factory: LiveServerFactory,
) -> None:
    channel = await sync_to_async(Channel.objects.create)(name="c")
    server = await asyncio.to_thread(live_server_factory)
    client = SyncClient(server.url, name="client", auto_reconnect=True)
    try:
        await client.connect()
        query_id = await client.subscribe("messages:list", {"channelId": channel.pk})
        args = {"channelId": channel.pk, "body": "once", "author": "ann"}
        first = await client.mutation("messages:send", args, request_id=3)
        assert first["success"]

        await asyncio.to_thread(server.restart)
        # The server closed the connection; the client came back with the same session and query ids.
        await client.wait_for(lambda c: c.connected and any(t.connection == 1 for t in c.transitions))
        assert client.closed_by_server == 1
        assert [m["body"] for m in client.values[query_id]] == ["once"]
        again = await client.mutation("messages:send", args, request_id=3)  # the same request: not run again
        assert (again["result"], again["ts"]) == (first["result"], first["ts"])
        assert await sync_to_async(Message.objects.filter(body="once").count)() == 1
        assert client.violations == []
    finally:
        await client.close()
