"""No connection's queries delay another's results by more than a batch (MAX_BATCH_RUNS_PER_CONNECTION).

Counts, not timings: the batch that brings a bystander its update runs at most the budget of another
connection's queries, however many of them the same write affects; the rest run in the next batches, and that
connection still gets every result, at one snapshot.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from demo_project.chat.models import Channel
from reactive.batches import BatchResult
from reactive.subscriptions import get_manager
from reactive.testing import ReactiveCommunicator

from .security_helpers import reactive_settings_with

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
    copies, deferred = next(batch for batch in batches if -1 in batch[0])
    assert len(copies) <= BUDGET + 1  # the bystander's query, and the heavy connection's budget
    assert deferred >= HEAVY - BUDGET
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
