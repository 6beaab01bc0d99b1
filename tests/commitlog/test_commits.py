"""The commit clock, the outbox, pruning, and catching up when the outbox no longer has the gap."""

from __future__ import annotations

import contextlib
import datetime

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from demo_project.chat.models import Channel, Message
from reactive.capture import writes
from reactive.commitlog import bus, commits
from reactive.live.subscriptions import get_manager
from reactive.models import MutationRecord, OutboxEntry
from reactive.testing import ReactiveCommunicator

from ..helpers import eventually, runs_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_write_transaction_gets_the_next_number() -> None:
    start = commits.current_ts()
    channel = Channel.objects.create(name="a")
    Message.objects.create(channel=channel, body="x")
    Channel.objects.filter(pk=channel.pk).update(name="b")
    numbers = list(OutboxEntry.objects.filter(ts__gt=start).order_by("ts").values_list("ts", flat=True))
    assert numbers == [start + 1, start + 2, start + 3]
    assert commits.current_ts() == start + 3
    writes = commits.committed_writes(commits.connections["default"], start, start + 3)
    assert writes is not None and [w.table for w in writes] == ["chat_channel", "chat_message", "chat_channel"]


def test_a_commit_keeps_the_write_set_its_outbox_row_holds() -> None:
    """What this process matches from memory is exactly what other processes decode from the outbox."""
    start = commits.current_ts()
    connection = commits.connections["default"]
    kept: dict[int, list[object]] = {}
    real_publish = bus.publish

    def spy(ts: int, writes: dict[int, list[object]] | None = None) -> None:
        kept.update(writes or {})
        real_publish(ts, writes)  # type: ignore[arg-type]

    bus.publish = spy  # type: ignore[assignment]
    try:
        channel = Channel.objects.create(name="kept")
        with transaction.atomic():
            Message.objects.create(channel=channel, body="one")
            Message.objects.filter(channel=channel).update(body="two")
    finally:
        bus.publish = real_publish  # type: ignore[assignment]
    assert sorted(kept) == [start + 1, start + 2]
    for ts, write_set in kept.items():
        assert write_set == commits.committed_writes(connection, ts - 1, ts)
    # With every write-set of the range known, the outbox is not read; with one missing, it is (and, its rows
    # gone, the range reads as pruned).
    OutboxEntry.objects.filter(ts__gt=start).delete()
    assert commits.committed_writes(connection, start, start + 2, kept) == [*kept[start + 1], *kept[start + 2]]
    assert commits.committed_writes(connection, start, start + 2, {start + 2: kept[start + 2]}) is None


class Boom(Exception):
    pass


def test_a_savepoint_rolled_back_past_a_flush_takes_its_commit_number_back() -> None:
    """A flush inside a savepoint that then rolls back (a nested mutation failing) publishes nothing stale:
    what the outer transaction wrote before it is flushed again at the real commit, under the real number."""
    start = commits.current_ts()
    connection = commits.connections["default"]
    published: list[dict[int, list[object]]] = []
    real_publish = bus.publish

    def spy(ts: int, writes: dict[int, list[object]] | None = None) -> None:
        published.append(dict(writes or {}))
        real_publish(ts, writes)  # type: ignore[arg-type]

    bus.publish = spy  # type: ignore[assignment]
    try:
        with transaction.atomic():
            Channel.objects.create(name="outer")
            with contextlib.suppress(Boom), transaction.atomic():
                Channel.objects.create(name="inner")
                assert writes.flush(connection) == start + 1  # both writes, under start + 1 ...
                raise Boom  # ... which the savepoint rollback returns to the clock
        with contextlib.suppress(Boom), transaction.atomic():
            with transaction.atomic():
                Channel.objects.create(name="gone")
                writes.flush(connection)
            raise Boom
    finally:
        bus.publish = real_publish  # type: ignore[assignment]
    assert commits.current_ts() == start + 1
    assert len(published) == 1 and list(published[0]) == [start + 1]
    assert published[0][start + 1] == commits.committed_writes(connection, start, start + 1)
    names = [w.new for w in published[0][start + 1]]
    assert any(p.column == "name" and p.value == "outer" for image in names if image for p in image)
    assert not any(p.column == "name" and p.value == "inner" for image in names if image for p in image)


def test_prune_respects_retention_and_keeps_the_newest_row() -> None:
    Channel.objects.create(name="a")
    Channel.objects.create(name="b")
    MutationRecord.objects.create(
        session_id="s",
        request_id=1,
        success=True,
        result="1",
        ts=1,
        created_at=timezone.now() - datetime.timedelta(days=2),
    )
    later = timezone.now() + datetime.timedelta(hours=2)
    expected = OutboxEntry.objects.count() - 1
    assert commits.prune(later) == (expected, 1)
    assert OutboxEntry.objects.count() == 1
    call_command("reactive_prune", verbosity=0)
    assert commits.committed_writes(commits.connections["default"], 0, commits.current_ts()) is None


async def test_a_process_behind_a_pruned_outbox_reruns_everything() -> None:
    channels = [await sync_to_async(Channel.objects.create)(name=f"c{i}") for i in range(3)]
    client = ReactiveCommunicator()
    await client.connect()
    ids = [await client.subscribe("messages:list", {"channelId": c.pk}) for c in channels]
    manager = get_manager()
    behind = manager.batches.matched_ts
    assert behind is not None
    await client.mutation("messages:send", {"channelId": channels[0].pk, "body": "one", "author": "ann"})
    await client.mutation("messages:send", {"channelId": channels[1].pk, "body": "two", "author": "ann"})

    @sync_to_async
    def prune_everything_but_the_newest() -> None:
        with override_settings(REACTIVE={"OUTBOX_RETENTION": 0}):
            commits.prune(timezone.now() + datetime.timedelta(seconds=1))

    await prune_everything_but_the_newest()
    before = runs_of("messages:list", {"channelId": channels[2].pk})
    # Pretend this process slept through those commits while the outbox was pruned past them. A batch
    # already under way (a late notification) may overwrite the pretence: then pretend again.
    for _attempt in range(5):
        manager.batches.matched_ts = behind
        manager.wake()
        try:
            await eventually(lambda: runs_of("messages:list", {"channelId": channels[2].pk}) > before, attempts=40)
            break
        except AssertionError:
            continue
    assert [m["body"] for m in client.values[ids[0]]] == ["one"]
    # The outbox lost the gap, so every instance re-ran, even the untouched channel's.
    assert runs_of("messages:list", {"channelId": channels[2].pk}) > before
    await client.close()
