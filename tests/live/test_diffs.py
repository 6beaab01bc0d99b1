"""The diffs extension: rebuilding from a diff gives exactly the full value (property-based)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from hypothesis import given, settings
from hypothesis import strategies as st

from demo_project.chat.models import Channel, Message
from reactive.functions.execution import Outcome, QueryRun
from reactive.functions.registry import Kind, lookup
from reactive.live import diffs
from reactive.live.instances import QueryInstance
from reactive.readsets import ReadSet
from reactive.testing import ReactiveCommunicator

item = st.fixed_dictionaries({"_id": st.integers(0, 30), "body": st.sampled_from(["a", "b", "c"])})
keyed_list = st.lists(item, max_size=25, unique_by=lambda i: i["_id"])


@settings(max_examples=400, deadline=None)
@given(old=keyed_list, new=keyed_list)
def test_apply_rebuilds_any_edit(old: list[dict[str, object]], new: list[dict[str, object]]) -> None:
    diff = diffs.compute(old, new)
    assert diff is not None
    assert diffs.apply(old, json.loads(json.dumps(diff))) == new


@settings(max_examples=200, deadline=None)
@given(old=keyed_list, data=st.data())
def test_small_edits_give_small_diffs(old: list[dict[str, object]], data: st.DataObject) -> None:
    new = list(old)
    if new and data.draw(st.booleans()):
        del new[data.draw(st.integers(0, len(new) - 1))]
    new.append({"_id": 1000, "body": "new"})
    diff = diffs.compute(old, new)
    assert diff is not None and diffs.apply(old, diff) == new
    assert len(diff["items"]) <= 4


def test_appending_to_a_sliding_window_costs_about_one_item() -> None:
    old = [{"_id": i, "body": f"message number {i}", "author": "ann"} for i in range(50)]
    new = [*old[1:], {"_id": 50, "body": "message number 50", "author": "ann"}]
    text = diffs.encoded_diff(json.dumps(old), json.dumps(new))
    assert text is not None
    assert len(text) <= 2 * len(json.dumps(new[-1], separators=(",", ":")))


def test_values_that_are_not_keyed_lists_go_whole() -> None:
    assert diffs.compute({"a": 1}, {"a": 2}) is None
    assert diffs.compute([1, 2], [1, 2, 3]) is None
    assert diffs.compute([{"_id": 1}, {"_id": 1}], []) is None
    assert diffs.encoded_diff("[]", '[{"_id":1}]') is None  # not smaller than the value


def _instance_with(value: list[dict[str, object]]) -> QueryInstance:
    instance = QueryInstance(("q", "{}", None), lookup("messages:list", Kind.QUERY), {}, None)
    instance.apply(QueryRun(Outcome(True, json.dumps(value)), ReadSet(), False))
    return instance


def test_a_diff_built_by_the_batch_is_used_only_against_the_value_it_was_built_from() -> None:
    old = [{"_id": i, "body": "x"} for i in range(20)]
    new = [*old[1:], {"_id": 20, "body": "y"}]
    expected = diffs.encoded_diff(json.dumps(old), json.dumps(new))
    assert expected is not None
    instance = _instance_with(old)
    base = instance.outcome
    assert base is not None
    instance.apply(QueryRun(Outcome(True, json.dumps(new)), ReadSet(), False, diff=(base, "precomputed")))
    assert instance.diff_from_previous() == "precomputed"
    # A diff built from another value than the one clients hold is not used: it is built again.
    instance = _instance_with(old)
    stale = Outcome(True, "[]")
    instance.apply(QueryRun(Outcome(True, json.dumps(new)), ReadSet(), False, diff=(stale, "from an older value")))
    assert instance.diff_from_previous() == expected


@pytest.mark.django_db(transaction=True)
async def test_clients_that_ask_get_diffs_and_others_full_values() -> None:
    channel = await sync_to_async(Channel.objects.create)(name="c")
    for i in range(10):
        await sync_to_async(Message.objects.create)(channel=channel, body=f"m{i}")
    plain, differ = ReactiveCommunicator(), ReactiveCommunicator()
    await plain.connect()
    await differ.connect(reactiveExtensions=["diffs"])
    args = {"channelId": channel.pk}
    plain_q = await plain.subscribe("messages:list", args)
    differ_q = await differ.subscribe("messages:list", args)
    await plain.mutation("messages:send", {**args, "body": "new", "author": "ann"})
    full = await plain.wait_for(plain_q, lambda v: len(v) == 11)
    await differ.receive_until(lambda: len(differ.transitions) == 2)
    update = differ.transitions[-1]["modifications"][0]
    assert "value" not in update and update["diff"]["removed"] == []
    assert differ.values[differ_q] == full  # rebuilt from the diff by the communicator
    assert len(json.dumps(update["diff"])) < len(json.dumps(full)) / 3
    await plain.close()
    await differ.close()
