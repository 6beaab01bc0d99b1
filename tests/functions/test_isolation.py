"""One failure stays in one query: what cannot be run, encoded or diffed fails that instance only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from reactive.live import diffs
from reactive.testing import ReactiveCommunicator

from ..helpers import post

pytestmark = pytest.mark.django_db(transaction=True)


async def _bad_query_and_a_good_one(bad: str) -> tuple[ReactiveCommunicator, int, int]:
    client = ReactiveCommunicator()
    await client.connect()
    broken = await client.subscribe(bad)
    good = await client.subscribe("channels:list")
    assert client.values[good] == []
    return client, broken, good


async def test_error_data_that_cannot_be_encoded_fails_that_query_only() -> None:
    client, broken, good = await _bad_query_and_a_good_one("testing:huge_error_data")
    assert client.errors[broken]["errorMessage"] == "0 channels"
    await client.mutation("channels:create", {"name": "general"})  # a write both queries read
    await client.wait_for(good, lambda channels: [c["name"] for c in channels] == ["general"])
    await client.receive_until(lambda: client.errors[broken]["errorMessage"] == "1 channels")
    assert "errorData" not in client.errors[broken]  # the message goes alone: its data is no Convex value
    await client.close()


async def test_a_result_that_cannot_be_encoded_fails_that_query_only() -> None:
    client, broken, good = await _bad_query_and_a_good_one("testing:huge_result")
    message = (
        "The function returned a value that cannot be sent: result.n: an integer of 71 bits does not fit in 64 bits"
    )
    assert client.errors[broken]["errorMessage"] == message
    await client.mutation("channels:create", {"name": "general"})
    await client.wait_for(good, lambda channels: [c["name"] for c in channels] == ["general"])
    assert client.errors[broken]["errorMessage"] == message
    await client.close()


async def test_a_diff_that_fails_to_build_sends_the_whole_value(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(old: Any, new: Any) -> None:
        raise RuntimeError("a bug in the diff")

    monkeypatch.setattr(diffs, "compute", broken)
    client = ReactiveCommunicator()
    await client.connect(reactiveExtensions=[diffs.EXTENSION])
    channels = await client.subscribe("channels:list")
    await client.mutation("channels:create", {"name": "general"})
    await client.wait_for(channels, lambda value: [c["name"] for c in value] == ["general"])
    await client.close()


# Integers beyond 64 bits, however they come: a JavaScript number (1e20 is written as an integer),
# a plain JSON integer, a string of digits turned into a pk.
HUGE_ARGS = [({"n": 1e20}, "testing:int_arg"), ({"n": 2**70}, "testing:int_arg"), ({"channelId": 2**70}, "")]


@pytest.mark.parametrize(("args", "query"), HUGE_ARGS)
async def test_integers_beyond_64_bits_are_argument_errors_on_the_socket(args: dict[str, Any], query: str) -> None:
    client = ReactiveCommunicator()
    await client.connect()
    failed = await client.subscribe(query or "messages:list", args)
    assert "must fit in 64 bits" in client.errors[failed]["errorMessage"]
    assert client.errors[failed]["errorData"][0]["code"] == "out_of_range"
    mutation = "testing:int_arg_write" if query else "messages:send"
    response = await client.call("Mutation", mutation, {**args, **({} if query else {"body": "b", "author": "a"})})
    assert response["success"] is False and "must fit in 64 bits" in response["result"]
    assert await client.subscribe("testing:int_arg", {"n": 2**62}) in client.values  # the socket stays open
    await client.close()


@pytest.mark.parametrize(("args", "query"), HUGE_ARGS)
def test_integers_beyond_64_bits_are_argument_errors_over_http(args: dict[str, Any], query: str) -> None:
    status, body = post(Client(), "/api/query", {"path": query or "messages:list", "args": [args]})
    assert status == 560 and "must fit in 64 bits" in body["errorMessage"]
    mutation = "testing:int_arg_write" if query else "messages:send"
    extra = {} if query else {"body": "b", "author": "a"}
    status, body = post(Client(), "/api/mutation", {"path": mutation, "args": [{**args, **extra}]})
    assert status == 560 and body["errorData"][0]["code"] == "out_of_range"


async def test_a_huge_number_for_any_value_is_the_float_it_was() -> None:
    client = ReactiveCommunicator()
    await client.connect()
    echoed = await client.subscribe("testing:echo", {"value": 2**70})
    assert client.values[echoed] == float(2**70)
    too_large = await client.subscribe("testing:echo", {"value": 10**400})
    assert client.errors[too_large]["errorMessage"] == "args.value: the number is too large for a 64-bit float"
    await client.close()
