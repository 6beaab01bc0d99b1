"""Which writes re-run which queries: exactly the affected ones, from every kind of write."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, User
from django.db import connection, transaction

from demo_project.chat.models import Channel, Message
from reactive.testing import ReactiveCommunicator

from ..helpers import make_channels, outbox_count, runs_of

pytestmark = pytest.mark.django_db(transaction=True)


async def _client_on(*channels: Channel) -> tuple[ReactiveCommunicator, list[int]]:
    client = ReactiveCommunicator()
    await client.connect()
    ids = [await client.subscribe("messages:list", {"channelId": c.pk}) for c in channels]
    return client, ids


async def test_write_to_other_channel_does_not_rerun() -> None:
    five, six = await make_channels("five", "six")
    client, (q5, q6) = await _client_on(five, six)
    await client.mutation("messages:send", {"channelId": six.pk, "body": "to six", "author": "ann"})
    await client.wait_for(q6, lambda v: len(v) == 1)
    assert runs_of("messages:list", {"channelId": six.pk}) == 2
    assert runs_of("messages:list", {"channelId": five.pk}) == 1
    assert client.values[q5] == []
    await client.close()


async def test_moving_a_message_updates_both_channels() -> None:
    five, six = await make_channels("five", "six")
    client, (q5, q6) = await _client_on(five, six)
    await client.mutation("messages:send", {"channelId": five.pk, "body": "moving", "author": "ann"})
    await client.wait_for(q5, lambda v: len(v) == 1)

    @sync_to_async
    def move() -> None:
        message = Message.objects.get(body="moving")
        message.channel = six
        message.save()

    await move()
    await client.wait_for(q6, lambda v: [m["body"] for m in v] == ["moving"])
    await client.wait_for(q5, lambda v: v == [])
    await client.close()


@pytest.mark.parametrize("kind", ["update", "bulk_create", "queryset_delete", "raw_sql", "bulk_update"])
async def test_each_kind_of_write_invalidates(kind: str) -> None:
    (five,) = await make_channels("five")
    author = await sync_to_async(User.objects.create)(username="ann")
    await sync_to_async(Message.objects.create)(channel=five, author=author, body="first")
    client, (q5,) = await _client_on(five)
    assert [m["body"] for m in client.values[q5]] == ["first"]

    @sync_to_async
    def write() -> None:
        messages = Message.objects.filter(channel=five)
        if kind == "update":
            messages.update(body="changed")
        elif kind == "bulk_create":
            Message.objects.bulk_create([Message(channel=five, author=author, body="changed")])
        elif kind == "queryset_delete":
            messages.delete()
        elif kind == "bulk_update":
            rows = list(messages)
            for row in rows:
                row.body = "changed"
            Message.objects.bulk_update(rows, ["body"])
        else:
            with connection.cursor() as cursor:
                cursor.execute("UPDATE chat_message SET body = %s", ["changed"])

    await write()
    if kind == "queryset_delete":
        await client.wait_for(q5, lambda v: v == [])
    else:
        await client.wait_for(q5, lambda v: "changed" in [m["body"] for m in v])
    await client.close()


async def test_rolled_back_writes_publish_nothing() -> None:
    (five,) = await make_channels("five")
    client, (q5,) = await _client_on(five)
    before = await outbox_count()

    @sync_to_async
    def roll_back() -> None:
        try:
            with transaction.atomic():
                Message.objects.create(channel=five, body="never")
                raise RuntimeError("abort")
        except RuntimeError:
            pass
        with transaction.atomic():
            try:
                with transaction.atomic():  # a savepoint
                    Message.objects.create(channel=five, body="never either")
                    raise RuntimeError("abort savepoint")
            except RuntimeError:
                pass

    await roll_back()
    assert await outbox_count() == before
    failed = await client.mutation("messages:send", {"channelId": 999999, "body": "x", "author": "ghost"})
    assert failed["success"] is False
    assert await outbox_count() == before
    assert not await sync_to_async(User.objects.filter(username="ghost").exists)()
    # A later real write still arrives, and the rolled-back rows never did.
    await client.mutation("messages:send", {"channelId": five.pk, "body": "real", "author": "ann"})
    assert [m["body"] for m in await client.wait_for(q5, lambda v: len(v) == 1)] == ["real"]
    assert runs_of("messages:list", {"channelId": five.pk}) == 2
    await client.close()


async def test_savepoint_rollback_keeps_the_rest_of_the_transaction() -> None:
    five, six = await make_channels("five", "six")
    client, (_q5, q6) = await _client_on(five, six)

    @sync_to_async
    def partly() -> None:
        with transaction.atomic():
            Message.objects.create(channel=six, body="kept")
            try:
                with transaction.atomic():
                    Message.objects.create(channel=five, body="dropped")
                    raise RuntimeError
            except RuntimeError:
                pass

    await partly()
    await client.wait_for(q6, lambda v: len(v) == 1)
    assert runs_of("messages:list", {"channelId": five.pk}) == 1  # only the savepoint touched five
    await client.close()


async def test_two_clients_share_one_run() -> None:
    (five,) = await make_channels("five")
    first, (qa,) = await _client_on(five)
    second, (qb,) = await _client_on(five)
    await first.mutation("messages:send", {"channelId": five.pk, "body": "shared", "author": "ann"})
    await first.wait_for(qa, lambda v: len(v) == 1)
    await second.wait_for(qb, lambda v: len(v) == 1)
    assert runs_of("messages:list", {"channelId": five.pk}) == 2  # the first run and one re-run
    await first.close()
    await second.close()


async def test_unrelated_table_write_reruns_nothing() -> None:
    (five,) = await make_channels("five")
    client, (_q5,) = await _client_on(five)
    await sync_to_async(User.objects.create)(username="bystander")  # users are only joined by FK
    await client.mutation("channels:create", {"name": "another"})
    assert runs_of("messages:list", {"channelId": five.pk}) == 1
    await client.close()


async def test_many_to_many_changes_invalidate() -> None:
    user = await sync_to_async(User.objects.create)(username="ann")
    staff = await sync_to_async(Group.objects.create)(name="staff")
    client = ReactiveCommunicator()
    await client.connect()
    query = await client.subscribe("testing:groups_of", {"userId": user.pk})
    assert client.values[query] == []
    await sync_to_async(user.groups.add)(staff)
    await client.wait_for(query, lambda v: v == ["staff"])
    await sync_to_async(user.groups.remove)(staff)
    await client.wait_for(query, lambda v: v == [])
    await client.close()


async def test_nested_internal_query_reads_are_tracked() -> None:
    client = ReactiveCommunicator()
    await client.connect()
    query = await client.subscribe("testing:nested")
    assert client.values[query] == {"names": []}
    await make_channels("new")
    await client.wait_for(query, lambda v: v == {"names": ["new"]})
    await client.close()
