"""Decorators, naming, validators, values, sync/async actions, settings."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from demo_project.chat.models import Channel
from reactive import query, v
from reactive.conf import reactive_settings
from reactive.errors import ArgumentError, ConfigurationError
from reactive.functions import registry as functions
from reactive.functions.calls import validate_args
from reactive.testing import ReactiveCommunicator
from reactive.values import canonical_args, decode, dumps, encode, to_json_value

from ..live_servers import LIVE_DB_ENV, REPO_ROOT, current_database_name


def test_names_come_from_modules_and_duplicates_fail() -> None:
    assert functions.lookup("messages:list").func.__name__ == "list_"
    assert functions.lookup("messages.js:list").name == "messages:list"
    with pytest.raises(ConfigurationError, match=r"Two functions are named 'testing:echo'.*test_functions.py"):

        @query(name="testing:echo")
        def another(ctx: object) -> None: ...


def test_async_functions_must_be_actions() -> None:
    with pytest.raises(ConfigurationError, match="must be plain"):

        @query(name="testing:bad_async")
        async def bad(ctx: object) -> None: ...


def test_validators_convert_and_explain() -> None:
    spec = functions.lookup("tasks:list")
    assert validate_args(spec, {}) == {}
    assert validate_args(spec, {"userId": 3.0}) == {"userId": 3}
    with pytest.raises(ArgumentError, match=r"'userId'.*expected id of auth.User, got array"):
        validate_args(spec, {"userId": [1]})
    obj = v.object({"tags": v.array(v.union(v.literal("a"), v.int())), "flag": v.boolean()})
    assert obj.validate({"tags": ["a", 2], "flag": True}, "") == {"tags": ["a", 2], "flag": True}
    with pytest.raises(Exception, match=r"tags\[1\]"):
        obj.validate({"tags": ["a", "b"], "flag": True}, "")
    with pytest.raises(Exception, match="flag"):
        obj.validate({"tags": [], "flag": 1}, "")
    serializer_spec = functions.lookup("testing:serializer", functions.Kind.MUTATION)
    assert validate_args(serializer_spec, {"name": "ab"}) == {"name": "ab"}
    with pytest.raises(ArgumentError, match="'name'"):
        validate_args(serializer_spec, {"name": "toolong"})


def test_values_round_trip_convex_encoding() -> None:
    value = {"big": 2**60, "small": 5, "nan": math.nan, "neg0": -0.0, "bytes": b"\x00\xff", "list": [1.5, None]}
    wire = encode(to_json_value(value))
    assert wire["small"] == 5 and "$integer" in wire["big"] and "$float" in wire["nan"] and "$float" in wire["neg0"]
    back = decode(wire)
    assert back["big"] == 2**60 and math.isnan(back["nan"]) and math.copysign(1, back["neg0"]) == -1
    assert back["bytes"] == b"\x00\xff"
    assert "NaN" not in dumps(wire)
    assert canonical_args({"b": 1, "a": 2}) == canonical_args({"a": 2, "b": 1})
    with pytest.raises(ValueError, match=r"\$"):
        decode({"$bad": 1})


def test_settings_reject_unknown_keys() -> None:
    with override_settings(REACTIVE={"POLL_INTERVALL": 1}), pytest.raises(ImproperlyConfigured, match="POLL_INTERVALL"):
        reactive_settings.POLL_INTERVAL  # noqa: B018
    with override_settings(REACTIVE={"PING_INTERVAL": 3}):
        assert reactive_settings.PING_INTERVAL == 3
    assert reactive_settings.PING_INTERVAL == 15.0


@pytest.mark.django_db(transaction=True)
async def test_sync_action_and_echo_over_the_socket() -> None:
    channel = await sync_to_async(Channel.objects.create)(name="c")
    client = ReactiveCommunicator()
    await client.connect()
    response = await client.action("testing:sync_action", {"channelId": channel.pk})
    assert response["success"] is True and response["result"] == 0
    query_id = await client.subscribe("testing:echo", {"value": {"nested": [1, "two", None]}})
    assert client.values[query_id] == {"nested": [1, "two", None]}
    await client.close()


@pytest.mark.django_db(transaction=True)
async def test_idle_socket_gets_a_ping() -> None:
    with override_settings(REACTIVE={"PING_INTERVAL": 0.2}):
        client = ReactiveCommunicator()
        await client.connect()
        message = await client.receive(timeout=5)
        assert message == {"type": "Ping"}
        await client.close()


@pytest.mark.django_db(transaction=True)
async def test_session_cookie_identity() -> None:
    @sync_to_async
    def login_cookie() -> str:
        User.objects.create_user(username="ann", password="pw")
        client = Client()
        assert client.login(username="ann", password="pw")
        return client.cookies["sessionid"].value

    cookie = await login_cookie()
    headers = [(b"cookie", f"sessionid={cookie}".encode())]
    # A page of the same origin: the handshake's Host and the page's Origin agree.
    client = ReactiveCommunicator(
        headers=[*headers, (b"host", b"localhost:8000"), (b"origin", b"http://localhost:8000")]
    )
    await client.connect()
    query_id = await client.mutation("tasks:create", {"text": "mine"})
    tasks = await client.subscribe("tasks:list")
    assert client.values[tasks][0]["ownerId"] is not None
    assert query_id["success"]
    await client.close()


@pytest.mark.django_db(transaction=True)
async def test_foreign_origin_is_refused() -> None:
    client = ReactiveCommunicator(headers=[(b"origin", b"https://evil.example")])
    with pytest.raises(AssertionError, match="refused"):
        await client.connect()


@pytest.mark.django_db(transaction=True)
async def test_write_from_another_process_reaches_subscribers() -> None:
    """A management command (no WebSocket, no notification reaching us on SQLite) is picked up."""
    channel = await sync_to_async(Channel.objects.create)(name="c")
    client = ReactiveCommunicator()
    await client.connect()
    query_id = await client.subscribe("messages:list", {"channelId": channel.pk})
    env = {
        **os.environ,
        LIVE_DB_ENV: await sync_to_async(current_database_name)(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    code = f"from demo_project.chat.models import Message; Message.objects.create(channel_id={channel.pk}, body='cli')"
    await sync_to_async(subprocess.run)(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=REPO_ROOT, env=env, check=True, capture_output=True
    )
    await client.wait_for(query_id, lambda value: [m["body"] for m in value] == ["cli"])
    await client.close()
