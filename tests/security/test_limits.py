"""Every limit: a clear error naming its setting, and nothing else affected."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.core.checks import run_checks
from django.test import Client

from demo_project.chat.models import Channel
from reactive.testing import ReactiveCommunicator

from .. import fixture_functions
from ..security_helpers import close_event, reactive_settings_with

pytestmark = pytest.mark.django_db(transaction=True)


def nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth - 1):
        value = [value]
    return {"value": value}  # the args object is level 1


async def test_message_size() -> None:
    with reactive_settings_with(MAX_MESSAGE_BYTES=2000):
        client = ReactiveCommunicator()
        await client.connect()
        within = {"type": "Event", "eventType": "x", "event": "é" * 900}  # 1,8xx bytes of UTF-8
        await client.send_raw(json.dumps(within, ensure_ascii=False))
        await client.action("testing:public_action")  # answered: the Event before it was accepted
        await client.send_raw(json.dumps({**within, "event": "é" * 1000}, ensure_ascii=False))
        assert (await client.receive())["error"].endswith("bytes exceeds MAX_MESSAGE_BYTES=2000")
        assert (await close_event(client))["code"] == 1009
        body = json.dumps({"path": "testing:public_read", "args": [{"pad": "x" * 2000}]})
        response = await sync_to_async(Client().post)("/api/query", body, content_type="application/json")
        assert response.status_code == 413
        assert response.content.decode().endswith("bytes exceeds MAX_MESSAGE_BYTES=2000")


async def test_args_size_and_depth_fail_that_call_only() -> None:
    with reactive_settings_with(MAX_ARGS_BYTES=200, MAX_ARGS_DEPTH=8):
        client = ReactiveCommunicator()
        await client.connect()
        good = await client.subscribe("testing:echo", {"value": "x" * 150})
        big = await client.subscribe("testing:echo", {"value": "x" * 200})
        deep = await client.subscribe("testing:echo", nested(9))
        assert await client.subscribe("testing:echo", nested(8)) in client.values
        assert client.errors[big]["errorMessage"] == "Arguments of 212 bytes exceed MAX_ARGS_BYTES=200"
        assert client.errors[deep]["errorMessage"] == "Arguments are nested more than MAX_ARGS_DEPTH=8 levels deep"
        assert client.values[good] == "x" * 150
        response = await client.call("Mutation", "channels:create", {"name": "y" * 200})
        assert response["result"] == "Arguments of 211 bytes exceed MAX_ARGS_BYTES=200"  # {"name":"yy…"}
        response = await client.call("Action", "testing:public_action", nested(20))
        assert response["result"] == "Arguments are nested more than MAX_ARGS_DEPTH=8 levels deep"
        await client.close()
        status_and_body = await sync_to_async(http_query)("testing:echo", {"value": "x" * 300})
        assert status_and_body == (560, "Arguments of 312 bytes exceed MAX_ARGS_BYTES=200")
    assert not await sync_to_async(Channel.objects.exists)()


def http_query(path: str, args: object) -> tuple[int, str]:
    response = Client().post("/api/query", {"path": path, "args": [args]}, content_type="application/json")
    return response.status_code, response.json()["errorMessage"]


async def test_result_size_fails_that_call_only_and_undoes_a_mutation() -> None:
    with reactive_settings_with(MAX_RESULT_BYTES=1000):
        client = ReactiveCommunicator()
        await client.connect()
        small = await client.subscribe("testing:sized", {"size": 998})
        large = await client.subscribe("testing:sized", {"size": 999})
        assert client.values[small] == "x" * 998  # 1,000 bytes with its quotes
        assert client.errors[large]["errorMessage"] == "The result of 1001 bytes exceeds MAX_RESULT_BYTES=1000"
        response = await client.call("Mutation", "testing:sized_write", {"size": 2000})
        assert response["result"] == "The result of 2002 bytes exceeds MAX_RESULT_BYTES=1000"
        assert (await client.mutation("testing:sized_write", {"size": 10}))["success"] is True
        await client.close()
        assert await sync_to_async(http_query)("testing:sized", {"size": 5000}) == (
            560,
            "The result of 5002 bytes exceeds MAX_RESULT_BYTES=1000",
        )
    assert await sync_to_async(list)(Channel.objects.values_list("name", flat=True)) == ["sized-10"]


async def test_rows_read_stops_the_query_which_recovers_when_it_reads_less() -> None:
    channels = [await sync_to_async(Channel.objects.create)(name=f"c{i}") for i in range(6)]
    with reactive_settings_with(MAX_ROWS_READ=5):
        client = ReactiveCommunicator()
        await client.connect()
        every = await client.subscribe("testing:all_channels")
        few = await client.subscribe("messages:list", {"channelId": channels[0].pk})
        assert client.errors[every]["errorMessage"] == "The query read more than MAX_ROWS_READ=5 rows"
        assert client.values[few] == []
        assert await sync_to_async(http_query)("testing:all_channels", {}) == (
            560,
            "The query read more than MAX_ROWS_READ=5 rows",
        )
        # The stopped query depends on what it read: fewer rows re-run it, and now it fits.
        await sync_to_async(channels[5].delete)()
        assert await client.wait_for(every) == 5
        await client.close()


async def test_queries_per_connection() -> None:
    with reactive_settings_with(MAX_QUERIES_PER_CONNECTION=5):
        client = ReactiveCommunicator()
        await client.connect()
        adds = [{"type": "Add", "queryId": i, "udfPath": "testing:echo", "args": [{"value": i}]} for i in range(7)]
        await client.modify(adds)
        await client.receive_until(lambda: len(client.values) + len(client.errors) == 7)
        assert sorted(client.values) == [0, 1, 2, 3, 4]
        assert {e["errorMessage"] for e in client.errors.values()} == {
            "Too many queries on one connection (MAX_QUERIES_PER_CONNECTION=5)"
        }
        await client.close()


async def test_pending_mutations_and_actions_make_the_next_call_wait() -> None:
    """Back-pressure: past MAX_PENDING_MUTATIONS a call waits for a slot, it is never refused."""
    fixture_functions.GATE.clear()
    with reactive_settings_with(MAX_PENDING_MUTATIONS=2):
        client = ReactiveCommunicator()
        await client.connect()
        for _ in range(2):
            await client.call("Action", "testing:gate", wait=False)  # each holds a slot until the gate opens
        await client.call("Mutation", "channels:create", {"name": "later"}, wait=False)
        await asyncio.sleep(0.2)
        assert not await sync_to_async(Channel.objects.filter(name="later").exists)()  # not started: no slot
        assert set(client.responses) == set()
        fixture_functions.GATE.set()
        await client.receive_until(lambda: {0, 1, 2} <= set(client.responses))
        assert [client.responses[i]["success"] for i in range(3)] == [True, True, True]
        await client.close()


async def test_mutation_rate_is_a_token_bucket_that_delays() -> None:
    """Past MUTATION_BURST at once, calls run at MUTATION_RATE: every one succeeds, in order, once."""
    with reactive_settings_with(MUTATION_RATE=20.0, MUTATION_BURST=3):
        client = ReactiveCommunicator()
        await client.connect()
        for i in range(8):
            await client.call("Mutation", "channels:create", {"name": f"c{i}"}, wait=False)
        await client.receive_until(lambda: len(client.responses) == 8)
        assert all(response["success"] for response in client.responses.values())
        other = ReactiveCommunicator()  # the bucket is the connection's own
        await other.connect()
        assert (await other.call("Action", "testing:public_action"))["result"] == "Authentication required"
        await client.close()
        await other.close()
    names = await sync_to_async(lambda: list(Channel.objects.order_by("pk").values_list("name", flat=True)))()
    assert names == [f"c{i}" for i in range(8)]


async def test_a_client_that_sends_but_never_reads_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from reactive.sync import consumer

    from ..security_helpers import StalledSocket

    monkeypatch.setattr(consumer, "_CLOSE_FLUSH_SECONDS", 0.05)
    socket = StalledSocket()
    with reactive_settings_with(MAX_UNSENT_MESSAGES=10):
        client = ReactiveCommunicator(socket)
        await client.connect()
        socket.stall()
        for i in range(12):
            await client.call("Mutation", "nothing:here", request_id=i, wait=False)
        closed = await close_event(client)
        assert closed == {
            "type": "websocket.close",
            "code": 1013,
            "reason": "TooManyConcurrentRequests: the client does not read its socket (MAX_UNSENT_MESSAGES=10)",
        }


def test_system_checks_reject_bad_limits() -> None:
    with reactive_settings_with(MAX_ROWS_READ=0, MUTATION_RATE="fast", MAX_UNSENT_MESSAGES=True):
        ids = [(e.id, e.msg) for e in run_checks() if e.id.startswith("reactive.")]
    assert ("reactive.E005", "REACTIVE['MAX_ROWS_READ'] must be a positive integer.") in ids
    assert ("reactive.E004", "REACTIVE['MUTATION_RATE'] must be a positive number.") in ids
    assert ("reactive.E005", "REACTIVE['MAX_UNSENT_MESSAGES'] must be a positive integer.") in ids


async def test_a_connection_that_never_sends_connect_is_closed_after_connect_timeout() -> None:
    with reactive_settings_with(CONNECT_TIMEOUT=0.2):
        silent = ReactiveCommunicator()
        await silent.connect(send_connect=False)
        closed = await close_event(silent)
        assert closed["code"] == 1008
        assert silent.others == [{"type": "FatalError", "error": "No Connect within CONNECT_TIMEOUT=0.2 s"}]
        # A connection that sent Connect is not affected once the timeout has passed.
        client = ReactiveCommunicator()
        await client.connect()
        await asyncio.sleep(0.4)
        query_id = await client.subscribe("testing:public_read")
        assert client.values[query_id] == "ok" and client.others == []
        await client.close()


def test_timeouts_and_the_unsent_bytes_bound_are_checked() -> None:
    from reactive.checks import check_settings

    with reactive_settings_with(CONNECT_TIMEOUT=0, IDLE_TIMEOUT=-1, MAX_UNSENT_BYTES=1.5):
        ids = {(p.id, p.msg) for p in check_settings()}
    assert ("reactive.E004", "REACTIVE['CONNECT_TIMEOUT'] must be a positive number.") in ids
    assert ("reactive.E004", "REACTIVE['IDLE_TIMEOUT'] must be a positive number.") in ids
    assert ("reactive.E005", "REACTIVE['MAX_UNSENT_BYTES'] must be a positive integer.") in ids
    with reactive_settings_with(PING_INTERVAL=15, IDLE_TIMEOUT=15):
        assert [p.id for p in check_settings()] == ["reactive.E007"]
