"""Who may call what: ``permission=``, internal functions on every path, CSRF, WebSocket origins."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils.crypto import get_random_string
from rest_framework.authtoken.models import Token

from demo_project.chat.models import Channel
from demo_project.shop.models import Order, Payment
from reactive.security import tokens
from reactive.testing import ReactiveCommunicator

from ..helpers import post
from ..security_helpers import make_user, reactive_settings_with

pytestmark = pytest.mark.django_db(transaction=True)


# --- permission= ------------------------------------------------------------------------------


async def test_denied_queries_get_typed_errors_that_reveal_nothing() -> None:
    await sync_to_async(Channel.objects.create)(name="classified")
    ann, boss = await make_user("ann"), await make_user("boss", is_staff=True)
    for user, expected in [(None, "Authentication required"), (ann, "Permission denied")]:
        client = ReactiveCommunicator(user=user)
        await client.connect()
        secret = await client.subscribe("testing:staff_secret")
        failed = client.errors[secret]
        assert failed["errorMessage"] == expected
        assert "errorData" not in failed
        assert "classified" not in json.dumps(client.transitions) and "s3cret" not in json.dumps(client.transitions)
        # Logging in as staff re-runs the denied query under the new identity.
        token = await sync_to_async(tokens.issue)(boss)
        await client.send({"type": "Authenticate", "tokenType": "User", "value": token, "baseVersion": 0})
        value = await client.wait_for(secret)
        assert value == {"secret": "s3cret", "channels": ["classified"]}
        await client.close()


async def test_drf_permission_classes_over_the_socket() -> None:
    ann, boss = await make_user("ann"), await make_user("boss", is_staff=True)
    anonymous = ReactiveCommunicator()
    await anonymous.connect()
    whoami = await anonymous.subscribe("testing:whoami")
    public = await anonymous.subscribe("testing:public_read")
    assert anonymous.errors[whoami]["errorMessage"] == "Authentication required"
    assert anonymous.values[public] == "ok"  # IsAuthenticatedOrReadOnly: a query is a read
    action = await anonymous.action("testing:public_action")  # ...an action is not
    assert action == {**action, "success": False, "result": "Authentication required"}
    assert "errorData" not in action
    await anonymous.close()

    member = ReactiveCommunicator(user=ann)
    await member.connect()
    denied = await member.call("Mutation", "testing:staff_mutation", {"name": "nope"})
    assert denied == {**denied, "success": False, "result": "Permission denied"}
    assert (await member.action("testing:staff_action"))["result"] == "Permission denied"
    await member.close()
    assert not await sync_to_async(Channel.objects.filter(name="nope").exists)()

    staff = ReactiveCommunicator(user=boss)
    await staff.connect()
    assert (await staff.mutation("testing:staff_mutation", {"name": "yes"}))["success"] is True
    assert (await staff.action("testing:staff_action"))["result"] == "done"
    await staff.close()


def test_permissions_over_http() -> None:
    User.objects.create_user(username="ann", password="pw")
    boss = User.objects.create_user(username="boss", password="pw", is_staff=True)
    anonymous = Client()
    assert post(anonymous, "/api/query", {"path": "testing:staff_secret", "args": [{}]}) == (
        560,
        {"status": "error", "errorMessage": "Authentication required", "errorCode": "unauthorized", "logLines": []},
    )
    assert post(anonymous, "/api/query", {"path": "testing:public_read", "args": [{}]})[0] == 200
    member = Client()
    member.login(username="ann", password="pw")
    status, body = post(member, "/api/mutation", {"path": "testing:staff_mutation", "args": [{"name": "x"}]})
    assert status == 560 and body["errorMessage"] == "Permission denied" and "errorData" not in body
    bearer = f"Bearer {tokens.issue(boss)}"
    status, body = post(Client(), "/api/action", {"path": "testing:staff_action", "args": [{}]}, Authorization=bearer)
    assert (status, body["value"]) == (200, "done")


# --- internal functions -----------------------------------------------------------------------

INTERNAL_PATHS = [
    "payments:record",
    "payments.js:record",
    "/payments:record",
    "payments:record ",
    "Payments:record",
    "payments:record:",
    "testing:internal_mutation",
    "testing:internal_action",
    "testing:channel_names",
]
# What a crafted call would pass, should it ever reach the function.
INTERNAL_ARGS: dict[str, Any] = {"orderId": 1, "reference": "forged"}


@pytest.mark.parametrize("udf_path", INTERNAL_PATHS)
async def test_internal_functions_are_unreachable_over_the_socket(udf_path: str) -> None:
    await sync_to_async(Order.objects.create)(description="shirt", amount_cents=100)
    args = INTERNAL_ARGS if udf_path.lower().startswith(("payments", "/payments")) else {}
    client = ReactiveCommunicator()
    await client.connect()
    query = await client.subscribe(udf_path, args)
    assert client.errors[query]["errorMessage"].startswith("Could not find public query")
    for kind in ("Mutation", "Action"):
        response = await client.call(kind, udf_path, args)
        assert response["success"] is False and response["result"].startswith(f"Could not find public {kind.lower()}")
        assert "errorData" not in response
    await client.close()
    assert await sync_to_async(Payment.objects.count)() == 0
    assert not await sync_to_async(Channel.objects.filter(name="internal").exists)()


@pytest.mark.parametrize("udf_path", INTERNAL_PATHS)
def test_internal_functions_are_unreachable_over_http(udf_path: str) -> None:
    Order.objects.create(description="shirt", amount_cents=100)
    args = INTERNAL_ARGS if udf_path.lower().startswith(("payments", "/payments")) else {}
    client = Client()
    for endpoint in ("query", "mutation", "action"):
        status, body = post(client, f"/api/{endpoint}", {"path": udf_path, "args": [args]})
        assert status == 560 and body["errorMessage"].startswith(f"Could not find public {endpoint}")
    status, body = post(client, "/api/function", {"path": udf_path, "args": args})
    assert status == 560 and body["errorMessage"].startswith("Could not find public function")
    assert Payment.objects.count() == 0
    assert not Channel.objects.filter(name="internal").exists()


async def test_a_component_path_reaches_no_function() -> None:
    """reactive has no components: a call into one must not fall through to a root function."""
    client = ReactiveCommunicator()
    await client.connect()
    await client.modify(
        [{"type": "Add", "queryId": 0, "udfPath": "channels:list", "args": [{}], "componentPath": "payments"}]
    )
    await client.receive_until(lambda: 0 in client.errors)
    assert "components are not supported" in client.errors[0]["errorMessage"]
    for kind in ("Mutation", "Action"):
        await client.send(
            {"type": kind, "requestId": 9, "udfPath": "channels:create", "args": [{"name": "c"}], "componentPath": "x"}
        )
        await client.receive_until(lambda: 9 in client.responses)
        assert "components are not supported" in client.responses.pop(9)["result"]
    await client.close()
    body = {"path": "channels:create", "args": {"name": "c"}, "componentPath": "x"}
    status, reply = await sync_to_async(post)(Client(), "/api/function", body)
    assert status == 560 and "components are not supported" in reply["errorMessage"]
    assert await sync_to_async(Channel.objects.count)() == 0


# --- CSRF -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("/api/mutation", {"path": "tasks:create", "args": [{"text": "mine"}]}),
        ("/api/action", {"path": "testing:public_action", "args": [{}]}),
    ],
)
def test_session_calls_need_csrf_and_token_calls_do_not(endpoint: str, body: dict[str, Any]) -> None:
    ann = User.objects.create_user(username="ann", password="pw")
    browser = Client(enforce_csrf_checks=True)
    browser.login(username="ann", password="pw")
    status, text = post(browser, endpoint, body)
    assert status == 403 and "CSRF" in str(text)
    secret = get_random_string(32)  # what the csrftoken cookie holds; a page would send it along
    browser.cookies["csrftoken"] = secret
    assert post(browser, endpoint, body, **{"X-CSRFToken": secret})[0] == 200

    for authorization in (f"Bearer {tokens.issue(ann)}", f"Token {Token.objects.create(user=ann).key}"):
        no_cookies = Client(enforce_csrf_checks=True)
        assert post(no_cookies, endpoint, body, Authorization=authorization)[0] == 200
    # A token no authentication class accepts is refused (401, WWW-Authenticate: Bearer), never run as anonymous.
    assert post(Client(enforce_csrf_checks=True), endpoint, body, Authorization="Bearer forged")[0] == 401


# --- WebSocket origin -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed_origins", "origin", "accepted"),
    [
        ([], None, True),  # no Origin: not a browser, no cookies to abuse
        ([], "http://127.0.0.1:8000", True),  # the server's own origin (scheme, host and port)
        ([], "http://127.0.0.1:9999", False),  # same host, another port: another origin
        ([], "https://127.0.0.1:8000", False),  # another scheme
        ([], "http://localhost:8000", False),  # another host, even one in ALLOWED_HOSTS
        ([], "https://evil.example", False),
        ([], "null", False),
        (["https://app.example.com"], "https://app.example.com", True),
        (["https://app.example.com"], "http://127.0.0.1:8000", True),  # the own origin stays allowed
        (["https://app.example.com"], "http://app.example.com", False),
        (["https://app.example.com"], "https://app.example.com:8443", False),
        (["https://app.example.com"], "https://app.example.com.evil.example", False),
        (["http://localhost:5173"], "http://localhost:5173", True),
        (["http://localhost:5173"], "http://localhost:5174", False),
        (["https://*.example.com"], "https://a.b.example.com", True),
        (["https://*.example.com"], "https://example.com", True),
        (["https://*.example.com"], "http://a.example.com", False),
        (["https://*.example.com"], "https://a.example.com:8443", False),
        (["https://*.example.com"], "https://evilexample.com", False),
        (["*"], "https://anything.example", True),
    ],
)
async def test_websocket_origin_check(allowed_origins: list[str], origin: str | None, accepted: bool) -> None:
    headers = [(b"host", b"127.0.0.1:8000")] + ([] if origin is None else [(b"origin", origin.encode())])
    with reactive_settings_with(ALLOWED_ORIGINS=allowed_origins):
        client = ReactiveCommunicator(headers=headers)
        connected, code = await client.communicator.connect()
        assert connected is accepted
        if accepted:
            await client.communicator.disconnect()
        else:
            assert code == 1008


async def test_the_websocket_origin_follows_the_scheme_the_proxy_reports() -> None:
    headers = [(b"host", b"app.example.com"), (b"origin", b"https://app.example.com")]
    for proxy_headers, accepted in [([], False), ([(b"x-forwarded-proto", b"https")], True)]:
        with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"), ALLOWED_HOSTS=["*"]):
            client = ReactiveCommunicator(headers=headers + proxy_headers)
            connected, _ = await client.communicator.connect()
            assert connected is accepted
            if connected:
                await client.communicator.disconnect()


def test_allowed_origins_entries_must_be_origins() -> None:
    from reactive.checks import check_settings

    entries = ["*", "https://app.example.com", "http://localhost:5173", "https://*.example.com", "app.example.com"]
    with reactive_settings_with(ALLOWED_ORIGINS=[*entries, "https://app.example.com/path"]):
        problems = [(p.id, p.msg) for p in check_settings()]
    assert problems == [
        ("reactive.E006", "REACTIVE['ALLOWED_ORIGINS'] entry 'app.example.com' is not an origin."),
        ("reactive.E006", "REACTIVE['ALLOWED_ORIGINS'] entry 'https://app.example.com/path' is not an origin."),
    ]
