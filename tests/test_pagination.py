"""reactive.paginate: keyset pages that stay fixed, grow and shrink as rows change."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from demo_project.chat.models import Channel, Message
from reactive.testing import ReactiveCommunicator

from .helpers import make_channels

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def add_messages(channel: Channel, bodies: list[str]) -> None:
    for body in bodies:
        Message.objects.create(channel=channel, body=body)


def bodies(page: dict[str, Any]) -> list[str]:
    return [m["body"] for m in page["page"]]


def opts(num: int, cursor: str | None = None, **more: Any) -> dict[str, Any]:
    return {"numItems": num, "cursor": cursor, "id": 1, **more}


async def _two_pages(client: ReactiveCommunicator, channel: Channel) -> tuple[int, int]:
    first = await client.subscribe("messages:paginated", {"channelId": channel.pk, "paginationOpts": opts(3)})
    page1 = client.values[first]
    assert bodies(page1) == ["m7", "m6", "m5"] and page1["isDone"] is False
    second = await client.subscribe(
        "messages:paginated", {"channelId": channel.pk, "paginationOpts": opts(3, page1["continueCursor"])}
    )
    return first, second


async def test_pages_are_contiguous_and_stay_fixed_when_rows_arrive_or_leave() -> None:
    (channel,) = await make_channels("c")
    await add_messages(channel, [f"m{i}" for i in range(1, 8)])
    client = ReactiveCommunicator()
    await client.connect()
    first, second = await _two_pages(client, channel)
    assert bodies(client.values[second]) == ["m4", "m3", "m2"]
    # A new message lands on the first page, which grows instead of pushing m5 onto page two.
    await add_messages(channel, ["m8"])
    await client.wait_for(first, lambda page: bodies(page) == ["m8", "m7", "m6", "m5"])
    assert bodies(client.values[second]) == ["m4", "m3", "m2"]
    # Deleting a row of page two shrinks page two only.
    await sync_to_async(Message.objects.filter(body="m3").delete)()
    await client.wait_for(second, lambda page: bodies(page) == ["m4", "m2"])
    assert bodies(client.values[first]) == ["m8", "m7", "m6", "m5"]
    third = await client.subscribe(
        "messages:paginated",
        {"channelId": channel.pk, "paginationOpts": opts(3, client.values[second]["continueCursor"])},
    )
    assert bodies(client.values[third]) == ["m1"] and client.values[third]["isDone"] is True
    assert client.values[third]["continueCursor"]
    await client.close()


async def test_journal_pins_a_page_across_reconnects() -> None:
    (channel,) = await make_channels("c")
    await add_messages(channel, [f"m{i}" for i in range(1, 8)])
    client = ReactiveCommunicator()
    await client.connect()
    first = await client.subscribe("messages:paginated", {"channelId": channel.pk, "paginationOpts": opts(3)})
    journal = client.transitions[-1]["modifications"][0]["journal"]
    assert isinstance(journal, str)
    await client.close()
    await add_messages(channel, ["m8"])
    again = ReactiveCommunicator()
    await again.connect()
    await again.modify(
        [
            {
                "type": "Add",
                "queryId": first,
                "udfPath": "messages:paginated",
                "journal": journal,
                "args": [{"channelId": channel.pk, "paginationOpts": opts(3)}],
            }
        ]
    )
    page = await again.wait_for(first)
    assert bodies(page) == ["m8", "m7", "m6", "m5"]  # still ends at m5, where it ended before
    await again.close()


async def test_end_cursor_split_and_invalid_cursor() -> None:
    (channel,) = await make_channels("c")
    await add_messages(channel, [f"m{i}" for i in range(1, 8)])
    client = ReactiveCommunicator()
    await client.connect()
    _first, second = await _two_pages(client, channel)
    end = client.values[second]["continueCursor"]
    pinned = await client.subscribe(
        "messages:paginated", {"channelId": channel.pk, "paginationOpts": opts(1, None, endCursor=end)}
    )
    assert bodies(client.values[pinned]) == ["m7", "m6", "m5", "m4", "m3", "m2"]
    assert client.values[pinned]["splitCursor"] and client.values[pinned]["pageStatus"] == "SplitRecommended"
    bad = await client.subscribe("messages:paginated", {"channelId": channel.pk, "paginationOpts": opts(3, "nope")})
    error = client.errors[bad]
    assert "InvalidCursor" in error["errorMessage"]
    assert error["errorData"] == {"isConvexSystemError": True, "paginationError": "InvalidCursor"}
    await client.close()


async def test_empty_range_is_done_with_a_string_cursor() -> None:
    (channel,) = await make_channels("c")
    client = ReactiveCommunicator()
    await client.connect()
    query = await client.subscribe("messages:paginated", {"channelId": channel.pk, "paginationOpts": opts(5)})
    assert client.values[query] == {"page": [], "isDone": True, "continueCursor": "end"}
    await add_messages(channel, ["first"])
    await client.wait_for(query, lambda page: bodies(page) == ["first"])
    await client.close()
