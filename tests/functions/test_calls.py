"""Preparing a call (reactive.functions.calls): the same bad input fails the same typed way over WebSocket and HTTP.

Also: every failure carries its ReactiveError ``code`` (``errorCode``) next to Convex's
``errorMessage``/``errorData``, and a mutation is counted once, where it runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from demo_project.chat.models import Channel
from reactive import metrics
from reactive.errors import (
    ArgumentError,
    BadRequest,
    ConfigurationError,
    EncodingError,
    FunctionNotFound,
    Invalid,
    InvalidCursor,
    LimitExceeded,
    ProtocolError,
    ReactiveError,
    client_error,
)
from reactive.functions.calls import prepare_call
from reactive.functions.execution import Outcome, execute_mutation
from reactive.functions.registry import Kind, lookup
from reactive.sync import protocol
from reactive.testing import ReactiveCommunicator

from ..helpers import post
from ..security_helpers import reactive_settings_with

pytestmark = pytest.mark.django_db(transaction=True)


def _nested(depth: int) -> dict[str, Any]:
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = {"v": value}
    return {"value": value}


BAD_INTEGER = {"value": {"$integer": "not base64!"}}
# (kind, path, args, the error code): each fails before the function runs.
CASES = [
    ("Query", "testing:echo", BAD_INTEGER, "invalid_args"),
    ("Mutation", "testing:caller", {"tag": {"$integer": "!!"}}, "invalid_args"),
    ("Action", "testing:public_action", {"x": {"$float": "AAAA"}}, "invalid_args"),
    ("Query", "testing:echo", _nested(9), "limit_exceeded"),
    ("Mutation", "testing:caller", _nested(9), "limit_exceeded"),
    ("Query", "nothing:here", {}, "not_found"),
    ("Mutation", "nothing:here", {}, "not_found"),
    ("Query", "testing:channel_names", {}, "not_found"),  # internal
    ("Mutation", "testing:internal_mutation", {}, "not_found"),
    ("Action", "testing:internal_action", {}, "not_found"),
    ("Query", "testing:echo", {"other": 1}, "invalid_args"),  # validation
]


async def _over_websocket(kind: str, path: str, args: dict[str, Any]) -> tuple[str, str, Any]:
    """(errorMessage, errorCode, errorData or None) of the call over the WebSocket."""
    client = ReactiveCommunicator()
    await client.connect()
    try:
        if kind == "Query":
            query_id = await client.subscribe(path, args)
            failed = client.errors[query_id]
            return failed["errorMessage"], failed["errorCode"], failed.get("errorData")
        response = await client.call(kind, path, args)
        assert response["success"] is False
        return response["result"], response["errorCode"], response.get("errorData")
    finally:
        await client.close()


def _over_http(kind: str, path: str, args: dict[str, Any]) -> tuple[str, str, Any]:
    status, body = post(Client(), f"/api/{kind.lower()}", {"path": path, "args": [args]})
    assert status == 560, body
    return body["errorMessage"], body["errorCode"], body.get("errorData")


@pytest.mark.parametrize(("kind", "path", "args", "code"), CASES)
async def test_the_same_bad_call_fails_the_same_way_over_websocket_and_http(
    kind: str, path: str, args: dict[str, Any], code: str
) -> None:
    with reactive_settings_with(MAX_ARGS_DEPTH=8):
        websocket = await _over_websocket(kind, path, args)
        http = await sync_to_async(_over_http)(kind, path, args)
    assert websocket == http
    assert websocket[1] == code


def test_a_bad_value_encoding_is_an_argument_error_not_a_400() -> None:
    status, body = post(Client(), "/api/query", {"path": "testing:echo", "args": [BAD_INTEGER]})
    assert status == 560 and body["errorCode"] == "invalid_args" and "$integer" in body["errorMessage"]
    with pytest.raises(ArgumentError):
        prepare_call("testing:echo", Kind.QUERY, BAD_INTEGER)


def test_prepare_call_raises_typed_errors() -> None:
    with pytest.raises(FunctionNotFound):
        prepare_call("testing:channel_names", Kind.QUERY, {})
    with reactive_settings_with(MAX_ARGS_DEPTH=8), pytest.raises(LimitExceeded):
        prepare_call("testing:echo", Kind.QUERY, _nested(9))
    with pytest.raises(ArgumentError):
        prepare_call("testing:echo", Kind.QUERY, {"other": 1}, validate=True)
    call = prepare_call("testing:echo", None, {"value": {"$integer": "AQAAAAAAAAA="}}, validate=True)
    assert (call.spec.name, call.args) == ("testing:echo", {"value": 1})


async def test_error_codes_reach_the_websocket_client() -> None:
    await sync_to_async(Channel.objects.create)(name="taken")
    client = ReactiveCommunicator()
    await client.connect()
    response = await client.mutation("channels:create", {"name": "taken"})
    # A ReactiveError raised by the function: its code, and Convex's errorData untouched.
    assert response["errorCode"] == "error" and response["errorData"] == {"code": "name_taken", "name": "taken"}
    failed = client.errors[await client.subscribe("testing:bad_sql", {})]
    assert (failed["errorMessage"], failed["errorCode"]) == ("Server Error", "server_error")
    assert "errorData" not in failed
    response = await client.action("testing:staff_action", {})
    assert (response["errorCode"], "errorData" in response) == ("unauthorized", False)
    await client.close()


def test_error_codes_reach_http_bodies() -> None:
    Channel.objects.create(name="taken")
    status, body = post(Client(), "/api/mutation", {"path": "channels:create", "args": [{"name": "taken"}]})
    assert status == 560 and body["errorCode"] == "error" and body["errorData"]["code"] == "name_taken"
    status, body = post(Client(), "/api/query", {"path": "testing:staff_secret", "args": [{}]})
    assert status == 560 and body["errorCode"] == "unauthorized"


def test_a_re_sent_failed_mutation_keeps_its_code() -> None:
    spec = lookup("testing:staff_mutation", Kind.MUTATION)
    first = execute_mutation(spec, {"name": "x"}, None, session_id="s", request_id=1, may_be_resent=False)
    again = execute_mutation(spec, {"name": "x"}, None, session_id="s", request_id=1, may_be_resent=True)
    assert first.error_code == "unauthorized" and again == first


def test_server_messages_carry_the_code() -> None:
    failed = protocol.query_failed(1, "nope", None, code="not_found")
    assert '"errorCode":"not_found"' in failed and "errorData" not in failed
    response = protocol.call_response("Mutation", 2, False, "null", "nope", None, None, "invalid_args")
    assert '"errorCode":"invalid_args"' in response and '"result":"nope"' in response
    success = protocol.call_response("Mutation", 2, True, "1", "", None, 5, "")
    assert "errorCode" not in success


def test_mutations_are_counted_once_where_they_run() -> None:
    channel = Channel.objects.create(name="counted")
    name = "messages:send"
    before = metrics.MUTATIONS.value(name)
    execute_mutation(lookup(name, Kind.MUTATION), {"channelId": channel.pk, "body": "a", "author": "ann"}, None)
    assert metrics.MUTATIONS.value(name) == before + 1
    status, _body = post(
        Client(), "/api/mutation", {"path": name, "args": [{"channelId": channel.pk, "body": "b", "author": "ann"}]}
    )
    assert status == 200 and metrics.MUTATIONS.value(name) == before + 2


async def test_a_websocket_mutation_is_counted_once() -> None:
    channel = await sync_to_async(Channel.objects.create)(name="counted")
    name = "messages:send"
    before = metrics.MUTATIONS.value(name)
    client = ReactiveCommunicator()
    await client.connect()
    assert (await client.mutation(name, {"channelId": channel.pk, "body": "a", "author": "ann"}))["success"]
    await client.close()
    assert metrics.MUTATIONS.value(name) == before + 1


@pytest.mark.parametrize(
    "error",
    [
        ArgumentError(),
        InvalidCursor(),
        EncodingError("x"),
        Invalid("a", "bad"),
        BadRequest(),
        ProtocolError("x"),
        ConfigurationError("x"),
    ],
)
def test_every_error_is_a_reactive_error_with_a_code(error: ReactiveError) -> None:
    assert isinstance(error, ReactiveError) and error.code and error.code != ReactiveError.code


def test_errors_not_meant_for_clients_stay_hidden() -> None:
    for hidden in (ConfigurationError("settings are wrong"), ValueError("internal"), EncodingError("in a function")):
        error = client_error(hidden)
        assert (error.message, error.code, error.has_data) == ("Server Error", "server_error", False)
    assert Outcome.failure(ConfigurationError("x")).error_code == "server_error"
