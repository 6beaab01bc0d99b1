"""reactive.paginate: keyset pages that stay fixed, grow and shrink as rows change."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db.models import QuerySet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo_project.chat.models import Channel, Message
from reactive import paginate
from reactive.functions.pagination import END, InvalidCursor
from reactive.live.instances import QueryInstance
from reactive.live.subscriptions import get_manager
from reactive.sync.session import MAX_COPIES_OF_A_QUERY
from reactive.testing import ReactiveCommunicator

from ..helpers import make_channels
from ..security_helpers import reactive_settings_with

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


# --- crafted cursors and page sizes ---------------------------------------------------------------


def _crafted(payload: Any) -> str:
    """A cursor in the shape the server writes, holding any JSON, but not signed by the server."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
cursors = st.one_of(
    st.text(max_size=60),
    json_values.map(_crafted),
    st.lists(json_values, min_size=2, max_size=2).map(_crafted),  # a key of the right length, any types
    st.just(_crafted([{"dt": "2024-01-01T00:00:00"}, 1])),  # the right types, naive
    st.just(_crafted(["x", 1])),
)


@pytest.fixture
def messages() -> QuerySet[Message]:
    channel = Channel.objects.create(name="c")
    for body in ["m1", "m2", "m3", "m4"]:
        Message.objects.create(channel=channel, body=body)
    return Message.objects.filter(channel=channel).order_by("-created_at", "-id")


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cursor=cursors, as_end=st.booleans())
@pytest.mark.django_db(transaction=False)
def test_a_crafted_cursor_is_an_invalid_cursor_never_a_server_error(
    messages: QuerySet[Message], cursor: str, as_end: bool
) -> None:
    opts = {"numItems": 2, "cursor": None, "endCursor": cursor} if as_end else {"numItems": 2, "cursor": cursor}
    try:
        page = paginate(messages, opts)
    except InvalidCursor:
        return
    assert cursor == END and page["isDone"] is True  # the one cursor anybody may write


@pytest.mark.django_db(transaction=False)
def test_cursors_the_server_wrote_still_page(messages: QuerySet[Message]) -> None:
    first = paginate(messages, {"numItems": 2, "cursor": None})
    second = paginate(messages, {"numItems": 2, "cursor": first["continueCursor"]})
    assert [m.body for m in second["page"]] == ["m2", "m1"]
    with pytest.raises(InvalidCursor):  # a cursor of another ordering, though one of this server's
        paginate(messages.order_by("id"), {"numItems": 2, "cursor": first["continueCursor"]})


async def test_a_crafted_cursor_fails_the_query_with_invalid_cursor() -> None:
    (channel,) = await make_channels("c")
    client = ReactiveCommunicator()
    await client.connect()
    for cursor in [_crafted(["x", 1]), _crafted([None, None]), _crafted([{"d": "2024-01-01"}, "y"])]:
        bad = await client.subscribe("messages:paginated", {"channelId": channel.pk, "paginationOpts": opts(3, cursor)})
        assert client.errors[bad]["errorData"] == {"isConvexSystemError": True, "paginationError": "InvalidCursor"}
    await client.close()


async def test_num_items_beyond_max_page_size_is_a_clear_error() -> None:
    (channel,) = await make_channels("c")
    client = ReactiveCommunicator()
    await client.connect()
    with reactive_settings_with(MAX_PAGE_SIZE=100):
        within = await client.subscribe("messages:paginated", {"channelId": channel.pk, "paginationOpts": opts(100)})
        beyond = await client.subscribe("messages:paginated", {"channelId": channel.pk, "paginationOpts": opts(101)})
    assert client.values[within]["isDone"] is True
    assert client.errors[beyond]["errorMessage"] == "A page of 101 items exceeds MAX_PAGE_SIZE=100"
    await client.close()


async def test_pagination_ids_do_not_multiply_instances() -> None:
    (channel,) = await make_channels("c")
    await add_messages(channel, ["m1"])
    client = ReactiveCommunicator()
    await client.connect()
    for pagination_id in range(MAX_COPIES_OF_A_QUERY):
        more = {"maximumRowsRead": pagination_id * 1.5, "maximumBytesRead": 1e6 + pagination_id}
        args = {"channelId": channel.pk, "paginationOpts": {**opts(3), "id": pagination_id, **more}}
        query = await client.subscribe("messages:paginated", args)
        assert bodies(client.values[query]) == ["m1"]
    assert len(live_instances("messages:paginated")) == 1
    await client.close()


def live_instances(name: str) -> list[QueryInstance]:
    return [instance for instance in get_manager().instances.values() if instance.spec.name == name]
