"""Hypothesis sends random and malformed frames to the sync endpoint.

Whatever arrives, the server answers with protocol messages (a FatalError for what it
cannot accept), never fails inside (no close 1011, no logged handler error), closes only
with a protocol close code, and another connection keeps getting its updates.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactive.testing import ReactiveCommunicator

pytestmark = pytest.mark.django_db(transaction=True)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,  # no example files in the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SERVER_MESSAGES = {"Transition", "MutationResponse", "ActionResponse", "AuthError", "FatalError", "Ping"}
PROTOCOL_CLOSE_CODES = {1008, 1009}
# What the consumer logs when handling a message failed: the fuzzer must never see these.
HANDLER_FAILURES = ("error handling a client message", "failed unexpectedly", "failed outside the function")
_names = itertools.count()

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
numbers = st.one_of(
    st.integers(min_value=0, max_value=4),  # plausible versions and ids: duplicates and out-of-order ones
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.just(2**53),
    st.just(2**64),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
)
udf_paths = st.sampled_from(
    [
        "channels:list",
        "channels:create",
        "messages:send",
        "testing:echo",
        "testing:staff_secret",
        "testing:public_action",
        "payments:record",
        "payments.js:record",
        "nope:nope",
        "",
        ":",
    ]
) | st.text(max_size=20)
one_element_args = st.one_of(
    st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=3), min_size=1, max_size=1),
    st.lists(json_values, min_size=1, max_size=1),
    st.sampled_from([[{"value": {"$integer": "AAAAAAAAAPA="}}], [{"value": {"$bytes": "!!"}}], [{"$reserved": 1}]]),
)
args = one_element_args | json_values
modifications = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["Add", "Remove", "Bogus"]) | json_scalars},
        optional={
            "queryId": numbers,
            "udfPath": udf_paths,
            "args": args,
            "journal": json_values,
            "componentPath": st.none() | st.text(max_size=5),
        },
    ),
    max_size=4,
)
messages = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["Connect", "ModifyQuerySet", "Mutation", "Action", "Authenticate", "Event", "Transition", "Bogus"]
        )
        | json_scalars
    },
    optional={
        "sessionId": st.text(max_size=70) | json_scalars,
        "baseVersion": numbers,
        "newVersion": numbers,
        "modifications": modifications | json_values,
        "requestId": numbers,
        "udfPath": udf_paths | json_scalars,
        "args": args,
        "componentPath": st.none() | st.text(max_size=5) | json_values,
        "tokenType": st.sampled_from(["User", "None", "Admin"]) | json_scalars,
        "value": st.text(max_size=50) | json_scalars,
        "maxObservedTimestamp": st.sampled_from(["AAAAAAAAAAA=", "//////////8=", "bad", "AA=="]) | json_scalars,
        "reactiveExtensions": json_values,
    },
)
# Around the interpreter's recursion limit is where recursive code breaks: try there above all.
depths = st.sampled_from([70, 500, 900, 950, 980, 1000, 5000, 100_000]) | st.integers(min_value=2, max_value=2000)
deep = depths.map(lambda n: "[" * n + "]" * n)
frames = st.one_of(
    messages.map(json.dumps),
    messages.map(lambda m: json.dumps(m, ensure_ascii=False)),
    st.text(max_size=40),  # not JSON, or not an object
    json_values.map(json.dumps),
    deep,
    deep.map(lambda nesting: '{"type":"Mutation","requestId":1,"udfPath":"channels:create","args":[%s]}' % nesting),
    deep.map(
        lambda nesting: (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":'
            '[{"type":"Add","queryId":0,"udfPath":"testing:echo","args":[{"value":%s}]}]}' % nesting
        )
    ),
    st.sampled_from(
        [
            '{"type":"Mutation","requestId":1,"udfPath":"testing:echo","args":[{"value":"\\ud800"}]}',
            '{"type":"Bogus\\udfff"}',
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":'
            '[{"type":"Add","queryId":0,"udfPath":"testing:echo","args":[{"value":"\\udc00x"}]}]}',
            '{"type":"Connect","sessionId":"\\u0000"}',
            '{"type":"Mutation","requestId":' + "9" * 5000 + ',"udfPath":"a:b","args":[{}]}',
            '{"type":"Mutation","requestId":1e999,"udfPath":"a:b","args":[{}]}',
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":'
            '[{"type":"Add","queryId":1,"udfPath":"testing:echo","args":[{"value":1}]},'
            '{"type":"Add","queryId":1,"udfPath":"testing:echo","args":[{"value":2}]}]}',
            '{"type":"ModifyQuerySet","baseVersion":5,"newVersion":4,"modifications":[]}',
            '{"type":"Authenticate","baseVersion":7,"tokenType":"User","value":"x"}',
            '{"type":"Authenticate","baseVersion":0,"tokenType":"User","value":"' + "a" * 40 + '"}',
            "NaN",
        ]
    ),
    st.binary(max_size=40),  # binary frames, and invalid UTF-8
)


async def start_observer() -> tuple[ReactiveCommunicator, int]:
    observer = ReactiveCommunicator()
    await observer.connect()
    return observer, await observer.subscribe("channels:list")


async def assert_observer_still_served(observer: ReactiveCommunicator, query_id: int) -> None:
    name = f"fuzz-{next(_names)}"
    await observer.mutation("channels:create", {"name": name})
    assert name in [c["name"] for c in observer.values[query_id]]
    await observer.close()


def assert_no_handler_failure(caplog: pytest.LogCaptureFixture) -> None:
    failures = [r.getMessage() for r in caplog.records if any(f in r.getMessage() for f in HANDLER_FAILURES)]
    assert failures == []
    caplog.clear()


async def send_frames(client: ReactiveCommunicator, sent: list[str | bytes]) -> None:
    for frame in sent:  # straight to the application: the communicator refuses empty frames
        key = "bytes" if isinstance(frame, bytes) else "text"
        await client.communicator.send_input({"type": "websocket.receive", key: frame})


async def drain(client: ReactiveCommunicator, sentinel_id: int) -> dict[str, Any] | None:
    """Receive until the sentinel Action is answered (everything before it was handled) or the server closes.

    Every message is applied as the official client would: Transitions must chain, whatever was sent.
    Returns the close event, or None if the connection is still open.
    """
    await client.send({"type": "Action", "requestId": sentinel_id, "udfPath": "nope:nope", "args": [{}]})
    while sentinel_id not in client.responses:
        output = await client.communicator.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            return dict(output)
        output["text"].encode()  # what a real socket must be able to carry: valid Unicode only
        message = json.loads(output["text"])
        assert message["type"] in SERVER_MESSAGES
        client._apply(message)
    return None


@FUZZ
@given(sent=st.lists(frames, min_size=1, max_size=6))
async def test_random_frames_after_connect(sent: list[str | bytes], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="reactive")
    caplog.clear()  # records of an earlier example (hypothesis re-runs them while shrinking)
    observer, query_id = await start_observer()
    client = ReactiveCommunicator()
    await client.connect()
    await send_frames(client, sent)
    closed = await drain(client, 2**53)
    if closed is not None:
        assert closed["code"] in PROTOCOL_CLOSE_CODES
        assert client.others and client.others[-1]["type"] == "FatalError"
    else:
        assert client.responses[2**53]["success"] is False
        await client.close()
    assert_no_handler_failure(caplog)
    await assert_observer_still_served(observer, query_id)


@FUZZ
@given(sent=st.lists(frames, min_size=1, max_size=4))
async def test_random_frames_before_connect(sent: list[str | bytes], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="reactive")
    caplog.clear()  # records of an earlier example (hypothesis re-runs them while shrinking)
    observer, query_id = await start_observer()
    client = ReactiveCommunicator()
    await client.connect(send_connect=False)
    await send_frames(client, sent)
    await client.send({"type": "Connect", "sessionId": "fuzz", "connectionCount": 0})
    closed = await drain(client, 2**53)
    if closed is not None:
        assert closed["code"] in PROTOCOL_CLOSE_CODES
    else:
        await client.close()
    assert_no_handler_failure(caplog)
    await assert_observer_still_served(observer, query_id)


@FUZZ
@given(
    mods=st.lists(
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["Add", "Remove"]),
                "queryId": st.integers(min_value=0, max_value=5),
                "udfPath": udf_paths,
                "args": one_element_args,
            }
        ),
        max_size=6,
    ),
    calls=st.lists(st.tuples(st.sampled_from(["Mutation", "Action"]), udf_paths, one_element_args), max_size=3),
)
async def test_well_formed_messages_with_random_content_keep_the_client_consistent(
    mods: list[dict[str, Any]], calls: list[tuple[str, str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """Valid envelopes, random paths and args, duplicate and unknown queryIds: Transitions stay consistent."""
    caplog.set_level(logging.ERROR, logger="reactive")
    caplog.clear()  # records of an earlier example (hypothesis re-runs them while shrinking)
    observer, query_id = await start_observer()
    client = ReactiveCommunicator()
    await client.connect()
    for index, mod in enumerate(mods):
        await client.send(
            {"type": "ModifyQuerySet", "baseVersion": index, "newVersion": index + 1, "modifications": [mod]}
        )
    for request_id, (kind, path, call_args) in enumerate(calls):
        await client.send({"type": kind, "requestId": request_id, "udfPath": path, "args": call_args})
    closed = None
    try:
        # Every call answered, and a Transition for the last query-set version, unless a protocol error closed.
        await client.receive_until(
            lambda: set(range(len(calls))) <= set(client.responses) and client.version["querySet"] == len(mods)
        )
    except ConnectionError:
        closed = True
    if closed:
        assert client.others and client.others[-1]["type"] == "FatalError"
    else:
        await client.close()
    assert_no_handler_failure(caplog)
    await assert_observer_still_served(observer, query_id)
