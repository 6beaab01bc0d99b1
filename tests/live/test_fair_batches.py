"""No connection's queries delay another's results by more than a batch (MAX_BATCH_RUNS_PER_CONNECTION).

Counts, not timings: the batch that brings a bystander its update runs at most the budget of another
connection's queries, however many of them the same write affects; the rest run in the next batches, and that
connection still gets every result, at one snapshot.
"""

from __future__ import annotations

import threading
import time

import pytest
from asgiref.sync import sync_to_async

from demo_project.chat.models import Channel
from reactive.functions.registry import lookup
from reactive.live import batches
from reactive.live.batches import BatchResult, BatchWork, RunRates, run_batch
from reactive.live.instances import QueryInstance
from reactive.live.readset_index import ReadSetIndex
from reactive.live.subscriptions import get_manager
from reactive.testing import ReactiveCommunicator

from ..security_helpers import reactive_settings_with

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET = 5
HEAVY = 30


async def heavy_and_bystander() -> tuple[ReactiveCommunicator, list[int], ReactiveCommunicator, int]:
    """A connection holding HEAVY queries that every channel write affects, and a bystander holding one."""
    heavy = ReactiveCommunicator()
    await heavy.connect()
    heavy_ids = [await heavy.subscribe("testing:channel_count", {"copy": n}) for n in range(HEAVY)]
    bystander = ReactiveCommunicator()
    await bystander.connect()
    watched = await bystander.subscribe("testing:channel_count", {"copy": -1})
    return heavy, heavy_ids, bystander, watched


def record_batches() -> list[tuple[list[int], int]]:
    """From now on, each applied batch: the ``copy`` args of the instances it ran, and how many it deferred."""
    manager = get_manager()
    batches: list[tuple[list[int], int]] = []
    apply = manager._apply

    def recording_apply(result: BatchResult) -> None:
        batches.append((sorted(instance.args["copy"] for instance in result.runs), len(result.deferred)))
        apply(result)

    manager._apply = recording_apply  # type: ignore[method-assign]
    return batches


async def test_a_connection_with_many_affected_queries_delays_others_by_at_most_a_batch() -> None:
    with reactive_settings_with(
        MAX_BATCH_RUNS_PER_CONNECTION=BUDGET,
        MAX_BATCH_SECONDS_PER_CONNECTION=60.0,
        MAX_QUERIES_PER_CONNECTION=HEAVY + 1,
    ):
        heavy, heavy_ids, bystander, watched = await heavy_and_bystander()
        batches = record_batches()
        await sync_to_async(Channel.objects.create)(name="one")
        await bystander.wait_for(watched, lambda value: value == 1)
        await heavy.receive_until(lambda: all(heavy.values[i] == 1 for i in heavy_ids))
        await heavy.close()
        await bystander.close()
    at = next(index for index, batch in enumerate(batches) if -1 in batch[0])
    copies, deferred = batches[at]
    assert len(copies) <= BUDGET + 1  # the bystander's query, and the heavy connection's budget
    # Batches before it may have run some of the heavy queries (one that gave way to a later commit, with the
    # rest deferred): whatever did not run by then is deferred, none dropped.
    ran_by_then = sum(1 for batch, _deferred in batches[: at + 1] for copy in batch if copy >= 0)
    assert deferred == HEAVY - ran_by_then
    ran = [copy for batch, _deferred in batches for copy in batch if copy >= 0]
    assert sorted(ran) == list(range(HEAVY))  # every deferred query ran, once


async def test_the_budget_in_seconds_leaves_each_connection_at_least_one_run() -> None:
    """With no time to spend, each connection still gets one run per batch: the heavy one needs HEAVY batches."""
    with reactive_settings_with(MAX_BATCH_SECONDS_PER_CONNECTION=0.0, MAX_QUERIES_PER_CONNECTION=HEAVY + 1):
        heavy = ReactiveCommunicator()
        await heavy.connect()
        heavy_ids = [await heavy.subscribe("testing:channel_count", {"copy": n}) for n in range(HEAVY)]
        batches = record_batches()
        await sync_to_async(Channel.objects.create)(name="one")
        await heavy.receive_until(lambda: all(heavy.values[i] == 1 for i in heavy_ids))
        await heavy.close()
    sizes = [len(copies) for copies, _deferred in batches]
    assert max(sizes) == 1 and sum(sizes) >= HEAVY


async def test_a_connection_whose_share_of_the_thread_is_spent_waits_and_catches_up() -> None:
    """MAX_RUN_SECONDS_PER_SECOND: a connection whose bucket empties gets no more runs until it refills, however
    many of its queries a write affected and whatever the batch budget; then every one of them runs."""
    with reactive_settings_with(MAX_QUERIES_PER_CONNECTION=HEAVY + 1):
        heavy, heavy_ids, bystander, watched = await heavy_and_bystander()
        batches = record_batches()
        scarce = {
            "MAX_RUN_SECONDS_PER_SECOND": 1e-9,
            "MAX_RUN_SECONDS_BURST": 0.002,
            "MAX_BATCH_SECONDS_PER_CONNECTION": 60,
        }
        with reactive_settings_with(MAX_QUERIES_PER_CONNECTION=HEAVY + 1, **scarce):
            await sync_to_async(Channel.objects.create)(name="one")
            await bystander.wait_for(watched, lambda value: value == 1)
        await heavy.receive_until(lambda: all(heavy.values[i] == 1 for i in heavy_ids))  # refilled: all of them
        await heavy.close()
        await bystander.close()
    copies, _deferred = next(batch for batch in batches if -1 in batch[0])
    assert len(copies) - 1 < HEAVY // 2  # the heavy connection ran what 2 ms allowed, not its 30 queries
    ran = [copy for batch, _deferred in batches for copy in batch if copy >= 0]
    assert sorted(ran) == list(range(HEAVY))


class _Connection:
    """Stands for a session in a batch: FairShare and RunRates only hash and weakly reference it."""


def _instances(connection: _Connection, copies: range) -> list[QueryInstance]:
    """``testing:channel_count`` instances held by ``connection``, without a server."""
    spec = lookup("testing:channel_count")
    instances = [QueryInstance(("channels", str(n), None), spec, {"copy": n}, None) for n in copies]
    for instance in instances:
        instance.subscribers[connection] = {instance.args["copy"]}  # type: ignore[index]
    return instances


def test_the_queries_of_connections_that_ran_least_lately_run_first_in_a_batch(django_db_setup: None) -> None:
    """A bystander's query never waits behind a heavy connection's within a batch, whatever order they came in:
    here the heavy connection's new queries come before the bystander's."""
    heavy, bystander = _Connection(), _Connection()
    heavy_instances = _instances(heavy, range(5))
    [watched] = _instances(bystander, range(-1, 0))
    rates = RunRates()
    with reactive_settings_with(MAX_RUN_SECONDS_PER_SECOND=1e-9, MAX_RUN_SECONDS_BURST=10.0):
        rates.begin()
        rates.spend(heavy, 1.0, time.monotonic())  # the heavy connection took a second of the thread lately
        work = BatchWork(initial=heavy_instances, known_writes={}, deferred=[watched])
        result = run_batch(ReadSetIndex(), work, None, rates)
    assert [instance.args["copy"] for instance in result.runs] == [-1, 0, 1, 2, 3, 4]


async def test_a_closing_connection_leaves_the_index_on_the_batch_thread_not_the_event_loop() -> None:
    """Forgetting a read-set is one step per row it read: a session closing with a thousand queries must not hold
    the event loop (every other connection's) for that long. The next batch does it, before it matches."""
    with reactive_settings_with(MAX_QUERIES_PER_CONNECTION=HEAVY + 1):
        heavy, _heavy_ids, bystander, watched = await heavy_and_bystander()
        manager = get_manager()
        threads: list[str] = []
        discard = manager.index.discard

        def recording_discard(instance: QueryInstance) -> None:
            threads.append(threading.current_thread().name)
            discard(instance)

        manager.index.discard = recording_discard  # type: ignore[method-assign]
        await heavy.close()
        assert threads == [] and len(manager.index) == HEAVY + 1  # nothing done on the loop
        await sync_to_async(Channel.objects.create)(name="one")
        await bystander.wait_for(watched, lambda value: value == 1)
        await bystander.close()
    assert threads[:HEAVY] == ["reactive-batch"] * HEAVY


async def test_a_long_batch_hands_over_what_it_ran_and_each_session_still_moves_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bystander's result leaves before the heavy connection's runs are done (DELIVER_EVERY_SECONDS, here
    after every run), and the heavy connection still gets its queries in one Transition, at one snapshot."""
    monkeypatch.setattr(batches, "DELIVER_EVERY_SECONDS", 0.0)
    with reactive_settings_with(MAX_QUERIES_PER_CONNECTION=HEAVY + 1, MAX_RUN_SECONDS_PER_SECOND=1e-9):
        heavy, heavy_ids, bystander, watched = await heavy_and_bystander()
        deliveries = record_batches()
        heavy_before = len(heavy.transitions)
        await sync_to_async(Channel.objects.create)(name="one")
        await bystander.wait_for(watched, lambda value: value == 1)
        await heavy.receive_until(lambda: all(heavy.values[i] == 1 for i in heavy_ids))
        await heavy.close()
        await bystander.close()
    batch = [copies for copies, _deferred in deliveries if copies]  # the deliveries of the write's batch
    assert batch[0] == [-1]  # the bystander's own delivery comes first
    assert sorted(copy for copies in batch[1:] for copy in copies) == list(range(HEAVY))
    moved = [t for t in heavy.transitions[heavy_before:] if t["modifications"]]
    assert len(moved) == 1 and len(moved[0]["modifications"]) == HEAVY


def test_a_long_batch_gives_way_to_a_waiting_commit(monkeypatch: pytest.MonkeyPatch, django_db_setup: None) -> None:
    """Past DELIVER_EVERY_SECONDS, a batch whose thread is wanted again stops: what it did not run is deferred
    to the next batch (which starts at once, and brings the waiting commit to every session), not dropped."""
    monkeypatch.setattr(batches, "DELIVER_EVERY_SECONDS", 0.0)
    instances = _instances(_Connection(), range(5))
    delivered: list[BatchResult] = []
    pacing = batches.Pacing(delivered.append, lambda ts: True)
    result = run_batch(ReadSetIndex(), BatchWork(initial=instances, known_writes={}), None, RunRates(), pacing)
    assert delivered == []
    assert [instance.args["copy"] for instance in result.runs] == [0]
    assert result.deferred == instances[1:] and result.newly_deferred == instances[1:]
    assert result.retry_after == 0.0


def test_a_batch_gives_way_only_to_a_commit_its_snapshot_does_not_hold() -> None:
    """With several processes each commit is announced twice (directly, then its echo over the channel layer):
    the echo of a commit a batch already holds must not cut that batch short; a later commit or a new query does."""
    thread = batches.BatchThread(ReadSetIndex(), lambda: BatchWork([], {}), lambda work: None, lambda result: None)
    thread.wake(give_way_to=7)
    assert not thread._newer_than(7) and not thread._newer_than(8)
    assert thread._newer_than(6)
    thread.wake(give_way_to=batches.NEWER_THAN_ANY)
    assert thread._newer_than(10**12)
