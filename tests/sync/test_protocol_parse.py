"""``protocol.parse`` on its own: every valid client message round-trips, and every wrong field is named.

Hypothesis builds valid messages of each type, encodes them as a client would and checks that parsing
gives them back; then it spoils one field at a time and checks the precise ``ProtocolError``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reactive.errors import ProtocolError
from reactive.sync import protocol
from reactive.sync.protocol import MAX_QUERY_ID, Add, Authenticate, Call, Connect, Event, ModifyQuerySet, Remove
from reactive.values import encode_ts

PROPERTIES = settings(max_examples=150, deadline=None, database=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
ids = st.integers(min_value=0, max_value=MAX_QUERY_ID)
paths = st.text(max_size=20)
MESSAGE_TYPES = ("Connect", "ModifyQuerySet", "Mutation", "Action", "Authenticate", "Event")
session_ids = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64)

connects = st.builds(
    Connect,
    session_ids,
    st.integers(min_value=0, max_value=1000),
    st.none() | st.integers(min_value=0, max_value=2**64 - 1),
    st.lists(st.text(max_size=8), max_size=3).map(tuple),
)
adds = st.builds(Add, ids, paths, json_values, json_values, st.none() | st.text(max_size=5))
removes = st.builds(Remove, ids)
modify_query_sets = st.builds(ModifyQuerySet, ids, ids, st.lists(adds | removes, max_size=4).map(tuple))
calls = st.builds(Call, st.sampled_from(["Mutation", "Action"]), ids, paths, json_values, st.none() | st.text())
authenticates = st.one_of(
    st.builds(Authenticate, st.sampled_from(["User", "Admin"]), st.text(max_size=40), ids),
    st.builds(Authenticate, st.just("None"), st.none() | st.text(max_size=5), ids),
)


def encode(message: Any) -> dict[str, Any]:
    """A client message as a client sends it (PROTOCOL.md)."""
    if isinstance(message, Connect):
        ts = None if message.max_observed_ts is None else encode_ts(message.max_observed_ts)
        return {
            "type": "Connect",
            "sessionId": message.session_id,
            "connectionCount": message.connection_count,
            "maxObservedTimestamp": ts,
            "reactiveExtensions": list(message.extensions),
        }
    if isinstance(message, Add):
        return {
            "type": "Add",
            "queryId": message.query_id,
            "udfPath": message.udf_path,
            "args": [message.args],
            "journal": message.journal,
            "componentPath": message.component_path,
        }
    if isinstance(message, Remove):
        return {"type": "Remove", "queryId": message.query_id}
    if isinstance(message, ModifyQuerySet):
        return {
            "type": "ModifyQuerySet",
            "baseVersion": message.base_version,
            "newVersion": message.new_version,
            "modifications": [encode(mod) for mod in message.modifications],
        }
    if isinstance(message, Call):
        return {
            "type": message.kind,
            "requestId": message.request_id,
            "udfPath": message.udf_path,
            "args": [message.args],
            "componentPath": message.component_path,
        }
    if isinstance(message, Authenticate):
        return {
            "type": "Authenticate",
            "tokenType": message.token_type,
            "value": message.value,
            "baseVersion": message.base_version,
        }
    return {"type": "Event", "eventType": "x", "event": {}}


def parse(message: Any) -> Any:
    return protocol.parse(json.dumps(message))


def rejection(message: Any) -> str:
    with pytest.raises(ProtocolError) as raised:
        parse(message)
    return str(raised.value)


@PROPERTIES
@given(connects | modify_query_sets | calls | authenticates | st.just(Event()))
def test_every_valid_message_round_trips(message: Any) -> None:
    assert parse(encode(message)) == message


@PROPERTIES
@given(calls)
def test_integral_floats_are_integers(call: Call) -> None:
    assert parse({**encode(call), "requestId": float(call.request_id)}) == call


# (message type, field, a valid message of that type, the error when that field has the wrong type)
FIELDS = [
    ("Connect", "sessionId", connects, "Connect.sessionId must be a string"),
    ("ModifyQuerySet", "baseVersion", modify_query_sets, "ModifyQuerySet.baseVersion must be a non-negative integer"),
    ("ModifyQuerySet", "newVersion", modify_query_sets, "ModifyQuerySet.newVersion must be a non-negative integer"),
    ("ModifyQuerySet", "modifications", modify_query_sets, "ModifyQuerySet.modifications must be a list"),
    ("Call", "requestId", calls, "{type}.requestId must be a non-negative integer"),
    ("Call", "udfPath", calls, "{type}.udfPath must be a string"),
    ("Call", "args", calls, "{type}.args must be a one-element array holding the args object"),
    ("Authenticate", "tokenType", authenticates, "Authenticate.tokenType must be a string"),
    ("Authenticate", "baseVersion", authenticates, "Authenticate.baseVersion must be a non-negative integer"),
    ("Add", "queryId", adds, "Add.queryId must be a non-negative integer"),
    ("Add", "udfPath", adds, "Add.udfPath must be a string"),
    ("Add", "args", adds, "Add.args must be a one-element array holding the args object"),
    ("Remove", "queryId", removes, "Remove.queryId must be a non-negative integer"),
]
WRONG = {
    "a string": st.none() | st.booleans() | st.integers() | st.lists(st.text(), max_size=2),
    "a non-negative integer": st.one_of(
        st.none(),
        st.booleans(),
        st.text(max_size=3),
        st.integers(max_value=-1),
        st.integers(min_value=MAX_QUERY_ID + 1),
        st.floats().filter(lambda f: not f.is_integer()),
        st.lists(st.integers(), max_size=2),
    ),
    "a list": st.none() | st.integers() | st.text(max_size=3) | st.dictionaries(st.text(max_size=3), st.integers()),
    "a one-element array holding the args object": st.one_of(
        st.none(),
        st.dictionaries(st.text(max_size=3), st.integers()),
        st.lists(st.integers()).filter(lambda a: len(a) != 1),
    ),
}


def in_its_message(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A modification travels inside a ModifyQuerySet; every other kind is a message of its own."""
    if kind in ("Add", "Remove"):
        return {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [raw]}
    return raw


@pytest.mark.parametrize(("kind", "field", "valid", "error"), FIELDS, ids=[f"{k}.{f}" for k, f, _, _ in FIELDS])
@PROPERTIES
@given(data=st.data())
def test_each_field_of_the_wrong_type_is_named(kind: str, field: str, valid: Any, error: str, data: Any) -> None:
    raw = encode(data.draw(valid))
    expected = error.format(type=raw["type"])
    wrong = data.draw(WRONG[expected.split(" must be ", 1)[1]])
    assert rejection(in_its_message(kind, {**raw, field: wrong})) == expected
    missing = {name: value for name, value in raw.items() if name != field}
    assert rejection(in_its_message(kind, missing)) == f"{raw['type']} message is missing field {field!r}"


@PROPERTIES
@given(json_values.filter(lambda kind: kind not in MESSAGE_TYPES))
def test_unknown_message_types_are_named(kind: Any) -> None:
    assert rejection({"type": kind}).startswith("Unknown message type ")


@PROPERTIES
@given(json_values.filter(lambda kind: kind not in ("Add", "Remove")))
def test_unknown_modifications_are_named(kind: Any) -> None:
    message = in_its_message("Add", {"type": kind, "queryId": 0})
    assert rejection(message).startswith("Unknown query set modification ")
    assert rejection(in_its_message("Add", 5)) == "ModifyQuerySet.modifications must hold objects"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "Connect", "sessionId": ""}, "Connect.sessionId must be 1 to 64 printable ASCII characters"),
        ({"type": "Connect", "sessionId": "x" * 65}, "Connect.sessionId must be 1 to 64 printable ASCII characters"),
        ({"type": "Connect", "sessionId": "a\nb"}, "Connect.sessionId must be 1 to 64 printable ASCII characters"),
        ({"type": "Connect", "sessionId": "s", "maxObservedTimestamp": "AA=="}, "Connect.maxObservedTimestamp: "),
        ({"type": "Connect", "sessionId": "s", "reactiveExtensions": "diffs"}, "Connect.reactiveExtensions must be"),
        ({"type": "Connect", "sessionId": "s", "reactiveExtensions": [1]}, "Connect.reactiveExtensions must be"),
        ({"type": "Authenticate", "tokenType": "Root", "baseVersion": 0}, "Authenticate.tokenType must be 'User',"),
        ({"type": "Authenticate", "tokenType": "User", "baseVersion": 0}, "Authenticate.value must be a string"),
        ([1], "A message must be a JSON object"),
        ({"type": ["Connect"]}, "Unknown message type a list"),
        ({}, "Unknown message type None"),
    ],
)
def test_field_values_are_checked(message: Any, error: str) -> None:
    assert rejection(message).startswith(error)
