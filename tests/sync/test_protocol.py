"""The sync protocol end to end: consistency, exactly-once mutations, errors, identity, actions."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from demo_project.chat.models import Channel, Message, Notification
from demo_project.shop.models import Order, Payment
from reactive.live.subscriptions import instance_for
from reactive.models import MutationRecord
from reactive.security import tokens
from reactive.testing import ReactiveCommunicator

from ..helpers import make_channels

pytestmark = pytest.mark.django_db(transaction=True)


async def test_no_message_without_its_author_while_sends_run() -> None:
    (five,) = await make_channels("five")
    reader = ReactiveCommunicator()
    await reader.connect()
    users_q = await reader.subscribe("users:list")
    messages_q = await reader.subscribe("messages:list", {"channelId": five.pk})
    writer = ReactiveCommunicator()
    await writer.connect()
    sends = 20
    checked = 0

    async def write() -> None:
        for i in range(sends):
            await writer.call("Mutation", "messages:send", {"channelId": five.pk, "body": f"m{i}", "author": f"a{i}"})

    task = asyncio.create_task(write())
    while len(reader.values.get(messages_q, [])) < sends:
        await reader.next_transition()
        names = {u["username"] for u in reader.values[users_q]}
        for message in reader.values[messages_q]:
            assert message["author"] in names, f"{message} is shown before its author exists"
        checked += 1
    await task
    assert checked >= 1
    assert {u["username"] for u in reader.values[users_q]} == {f"a{i}" for i in range(sends)}
    await reader.close()
    await writer.close()


async def test_resent_mutation_runs_once_even_after_reconnect() -> None:
    (five,) = await make_channels("five")
    first = ReactiveCommunicator(session_id="11111111-2222-3333-4444-555555555555")
    await first.connect()
    args = {"channelId": five.pk, "body": "once", "author": "ann"}
    response = await first.mutation("messages:send", args, request_id=7)
    again = await first.mutation("messages:send", args, request_id=7)
    assert again == response
    await first.close()
    # The client reconnects (a new socket, same sessionId) and re-sends the unconfirmed mutation; the
    # stored outcome is looked up first. A client that claims a first connection is answered the same
    # way (its second run fails on the unique record and rolls back).
    for connection_count in (1, 0):
        second = ReactiveCommunicator(session_id=first.session_id)
        await second.connect(connectionCount=connection_count)
        replay = await second.call("Mutation", "messages:send", args, request_id=7)
        assert replay["result"] == response["result"] and replay["ts"] == response["ts"]
        await second.receive_until(lambda c=second: c.version["ts"] >= 1 and bool(c.transitions))
        assert await sync_to_async(Message.objects.filter(body="once").count)() == 1
        assert await sync_to_async(MutationRecord.objects.count)() == 1
        await second.close()


async def test_a_resent_mutation_that_would_now_fail_still_gets_its_stored_outcome() -> None:
    """On a first connection the request runs again (no lookup first); its failure must not replace the success."""
    client = ReactiveCommunicator()
    await client.connect()
    first = await client.mutation("channels:create", {"name": "once"}, request_id=3)
    again = await client.mutation("channels:create", {"name": "once"}, request_id=3)  # would fail: name taken
    assert first["success"] and again == first
    assert await sync_to_async(Channel.objects.filter(name="once").count)() == 1
    await client.close()


async def test_mutations_of_one_connection_run_in_order() -> None:
    (five,) = await make_channels("five")
    client = ReactiveCommunicator()
    await client.connect()
    query = await client.subscribe("messages:list", {"channelId": five.pk})
    for i in range(10):
        await client.call(
            "Mutation", "messages:send", {"channelId": five.pk, "body": str(i), "author": "ann"}, wait=False
        )
    messages = await client.wait_for(query, lambda v: len(v) == 10)
    assert [m["body"] for m in messages] == [str(i) for i in range(10)]
    await client.close()


@pytest.mark.parametrize(
    ("udf_path", "args", "expected"),
    [
        ("messages:list", {"channelId": "five"}, "Invalid argument 'channelId' for messages:list: expected id"),
        ("messages:list", {}, "Invalid argument 'channelId' for messages:list: this argument is required"),
        ("messages:list", {"channelId": 1, "extra": 2}, "Invalid argument 'extra'"),
        ("messages:nope", {}, "Could not find public query 'messages:nope'"),
        ("payments:record", {"orderId": 1, "reference": "x"}, "Could not find public query 'payments:record'"),
        ("messages:send", {}, "Could not find public query 'messages:send'"),
    ],
)
async def test_bad_queries_fail_alone(udf_path: str, args: dict[str, object], expected: str) -> None:
    client = ReactiveCommunicator()
    await client.connect()
    good = await client.subscribe("channels:list")
    bad = await client.subscribe(udf_path, args)
    assert expected in client.errors[bad]["errorMessage"]
    assert client.values[good] == []
    await client.mutation("channels:create", {"name": "still-works"})
    await client.wait_for(good, lambda v: len(v) == 1)
    await client.close()


async def test_bad_mutations_fail_with_clear_errors() -> None:
    client = ReactiveCommunicator()
    await client.connect()
    invalid = await client.call("Mutation", "messages:send", {"channelId": 1, "body": 5, "author": "x"})
    assert invalid["success"] is False
    assert "Invalid argument 'body'" in invalid["result"]
    assert invalid["errorData"] == [{"path": "body", "message": "expected string, got number", "code": "invalid_type"}]
    internal = await client.call("Mutation", "payments:record", {"orderId": 1, "reference": "x"})
    assert internal == {**internal, "success": False, "result": "Could not find public mutation 'payments:record'"}
    assert "errorData" not in internal
    app_error = await client.call("Mutation", "channels:create", {"name": "dup"})
    app_error = await client.call("Mutation", "channels:create", {"name": "dup"})
    assert app_error["success"] is False
    assert app_error["errorData"] == {"code": "name_taken", "name": "dup"}
    await client.close()


async def test_malformed_messages_get_errors_and_the_connection_survives() -> None:
    client = ReactiveCommunicator()
    await client.connect()
    for raw in [
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"type": "Bogus"}),
        json.dumps({"type": "Mutation", "requestId": "x", "udfPath": "a:b", "args": [{}]}),
    ]:
        await client.send_raw(raw)
        error = await client.receive()
        assert error["type"] == "FatalError" and error["error"]
    await client.send_raw(data=b"\x00\x01")
    assert (await client.receive())["type"] == "FatalError"
    query = await client.subscribe("channels:list")
    assert client.values[query] == []
    await client.close()


async def test_wrong_query_set_version_is_fatal() -> None:
    client = ReactiveCommunicator()
    await client.connect()
    await client.send({"type": "ModifyQuerySet", "baseVersion": 3, "newVersion": 4, "modifications": []})
    error = await client.receive()
    assert error["type"] == "FatalError" and "version" in error["error"]
    with pytest.raises(ConnectionError):
        await client.receive()
    await client.close()


async def test_identity_from_token_and_per_user_results() -> None:
    ann = await sync_to_async(User.objects.create_user)(username="ann", password="x")
    bob = await sync_to_async(User.objects.create_user)(username="bob", password="x")
    await sync_to_async(Notification.objects.create)(user=ann, text="for ann")
    client = ReactiveCommunicator()
    await client.connect()
    query = await client.subscribe("notifications:list")
    assert client.values[query] == []
    token = await sync_to_async(tokens.issue)(ann)
    await client.send({"type": "Authenticate", "tokenType": "User", "value": token, "baseVersion": 0})
    await client.wait_for(query, lambda v: [n["text"] for n in v] == ["for ann"])
    assert client.version["identity"] == 1
    other = ReactiveCommunicator(user=bob)
    await other.connect()
    bob_query = await other.subscribe("notifications:list")
    assert other.values[bob_query] == []
    await sync_to_async(Notification.objects.create)(user=bob, text="for bob")
    await other.wait_for(bob_query, lambda v: [n["text"] for n in v] == ["for bob"])
    assert [n["text"] for n in client.values[query]] == ["for ann"]
    await client.send({"type": "Authenticate", "tokenType": "User", "value": "forged", "baseVersion": 1})
    await client.receive_until(lambda: bool(client.others))
    assert client.others[-1]["type"] == "AuthError"
    await client.close()
    await other.close()


async def test_action_runs_and_records_through_a_mutation() -> None:
    order = await sync_to_async(Order.objects.create)(description="shirt", amount_cents=2500)
    client = ReactiveCommunicator()
    await client.connect()
    stats = await client.subscribe("analytics:stats")
    response = await client.action("payments:process", {"orderId": order.pk})
    assert response["success"] is True and response["result"]["reference"].startswith("pay_")
    await client.wait_for(stats, lambda v: v["payments"] == 1 and v["revenueCents"] == 2500)
    again = await client.action("payments:process", {"orderId": order.pk})
    assert again["success"] is False and again["errorData"]["code"] == "already_paid"
    assert await sync_to_async(Payment.objects.count)() == 1
    await client.close()


async def test_removing_a_query_stops_its_updates() -> None:
    (five,) = await make_channels("five")
    client = ReactiveCommunicator()
    await client.connect()
    query = await client.subscribe("messages:list", {"channelId": five.pk})
    await client.unsubscribe(query)
    transition = await client.next_transition()
    assert transition["modifications"] == [{"type": "QueryRemoved", "queryId": query}]
    await client.mutation("messages:send", {"channelId": five.pk, "body": "x", "author": "ann"})
    assert query not in client.values
    await client.close()


async def test_a_query_failing_in_sql_fails_alone() -> None:
    """On PostgreSQL an SQL error aborts the transaction: the batch must isolate it."""
    (five,) = await make_channels("five")
    client = ReactiveCommunicator()
    await client.connect()
    broken = await client.subscribe("testing:bad_sql")
    good = await client.subscribe("messages:list", {"channelId": five.pk})
    assert client.errors[broken]["errorMessage"] == "Server Error"
    await client.mutation("messages:send", {"channelId": five.pk, "body": "still", "author": "ann"})
    await client.wait_for(good, lambda v: len(v) == 1)
    await client.close()


async def test_non_integer_numbers_in_integer_fields_are_protocol_errors() -> None:
    client = ReactiveCommunicator()
    await client.connect()
    await client.send_raw('{"type":"Mutation","requestId":NaN,"udfPath":"a:b","args":[{}]}')
    assert (await client.receive())["type"] == "FatalError"
    await client.send_raw('{"type":"Mutation","requestId":1e400,"udfPath":"a:b","args":[{}]}')
    assert (await client.receive())["type"] == "FatalError"
    assert client.values == {}
    query = await client.subscribe("channels:list")
    assert client.values[query] == []
    await client.close()


async def test_failing_query_reruns_only_when_what_it_read_changes() -> None:
    await make_channels("five")
    client = ReactiveCommunicator()
    await client.connect()
    broken = await client.subscribe("testing:bad_sql")
    await client.mutation("tasks:create", {"text": "unrelated"})
    instance = instance_for("testing:bad_sql", {})
    assert instance is not None and instance.runs == 1
    await client.mutation("channels:create", {"name": "related"})
    await client.receive_until(lambda: instance.runs == 2)
    assert client.errors[broken]["errorMessage"] == "Server Error"
    await client.close()
