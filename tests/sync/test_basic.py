from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from demo_project.chat.models import Channel
from reactive.testing import ReactiveCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


async def test_subscribe_then_mutation_updates_result() -> None:
    channel = await sync_to_async(Channel.objects.create)(name="five")
    client = ReactiveCommunicator()
    await client.connect()
    query_id = await client.subscribe("messages:list", {"channelId": channel.pk})
    assert client.values[query_id] == []
    response = await client.mutation("messages:send", {"channelId": channel.pk, "body": "hello", "author": "ann"})
    assert response["success"] is True
    messages = await client.wait_for(query_id, lambda v: len(v) == 1)
    assert messages[0]["body"] == "hello"
    assert messages[0]["author"] == "ann"
    await client.close()
