"""Journals are the server's: only one it issued for that query pins anything, so none multiplies instances."""

from __future__ import annotations

from typing import Any

import pytest

from reactive.live.instances import QueryInstance
from reactive.live.subscriptions import get_manager
from reactive.sync.session import MAX_COPIES_OF_A_QUERY
from reactive.testing import ReactiveCommunicator

from ..helpers import make_channels
from ..security_helpers import reactive_settings_with
from .test_pagination import add_messages, bodies, opts

pytestmark = pytest.mark.django_db(transaction=True)


def live_instances(name: str) -> list[QueryInstance]:
    return [instance for instance in get_manager().instances.values() if instance.spec.name == name]


async def add_with_journal(client: ReactiveCommunicator, udf_path: str, args: dict[str, Any], journal: Any) -> int:
    query_id = client._next_query_id
    client._next_query_id += 1
    await client.modify([{"type": "Add", "queryId": query_id, "udfPath": udf_path, "args": [args], "journal": journal}])
    await client.receive_until(lambda: query_id in client.values or query_id in client.errors)
    return query_id


async def test_journals_a_client_makes_up_share_one_instance() -> None:
    (channel,) = await make_channels("c")
    await add_messages(channel, [f"m{i}" for i in range(1, 5)])
    client = ReactiveCommunicator()
    await client.connect()
    page = {"channelId": channel.pk, "paginationOpts": opts(2)}
    for n in range(MAX_COPIES_OF_A_QUERY):
        listed = await add_with_journal(client, "channels:list", {}, f"journal-{n}")
        assert client.values[listed] == [{"_id": channel.pk, "name": "c"}]
        paged = await add_with_journal(client, "messages:paginated", page, ["end", "x" * n][n % 2])
        assert bodies(client.values[paged]) == ["m4", "m3"]
    assert len(live_instances("channels:list")) == 1
    assert len(live_instances("messages:paginated")) == 1
    # One copy more of a query on one connection costs every Transition a modification more: refused.
    extra = await add_with_journal(client, "channels:list", {}, "one-more")
    assert client.errors[extra]["errorMessage"] == (
        f"The same query is subscribed more than {MAX_COPIES_OF_A_QUERY} times"
    )
    assert len(live_instances("channels:list")) == 1
    await client.close()


async def test_a_journal_is_honoured_only_for_the_query_it_was_issued_for() -> None:
    first, second = await make_channels("first", "second")
    await add_messages(first, [f"f{i}" for i in range(1, 5)])
    await add_messages(second, [f"s{i}" for i in range(1, 5)])
    client = ReactiveCommunicator()
    await client.connect()
    page = {"channelId": first.pk, "paginationOpts": opts(2)}
    await client.subscribe("messages:paginated", page)
    journal = client.transitions[-1]["modifications"][0]["journal"]
    assert isinstance(journal, str)
    await client.close()  # as on a reconnect: no live instance of the page is left
    await add_messages(first, ["f5"])
    await add_messages(second, ["s5"])
    again = ReactiveCommunicator()
    await again.connect()
    pinned = await add_with_journal(again, "messages:paginated", page, journal)
    assert bodies(again.values[pinned]) == ["f5", "f4", "f3"]  # pinned where the page ended
    other = {"channelId": second.pk, "paginationOpts": opts(2)}
    fresh = await add_with_journal(again, "messages:paginated", other, journal)
    assert bodies(again.values[fresh]) == ["s5", "s4"]  # another query's journal: ignored
    raw = journal.rsplit(":", 1)[0]  # the page end without the server's signature
    unsigned = await add_with_journal(again, "messages:paginated", page, raw)
    assert bodies(again.values[unsigned]) == ["f5", "f4"]
    await again.close()


async def test_a_journal_larger_than_max_args_bytes_fails_the_query() -> None:
    client = ReactiveCommunicator()
    await client.connect()
    with reactive_settings_with(MAX_ARGS_BYTES=100):
        failed = await add_with_journal(client, "channels:list", {}, "j" * 101)
    assert client.errors[failed]["errorMessage"] == "A journal of 101 bytes exceeds MAX_ARGS_BYTES=100"
    await client.close()
