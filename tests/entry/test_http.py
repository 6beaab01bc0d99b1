"""The HTTP API: /api/query, /api/mutation, /api/action, /api/function, tokens, metrics."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from demo_project.chat.models import Channel, Message
from demo_project.shop.models import Order
from reactive.security import tokens

from ..helpers import post
from ..security_helpers import reactive_settings_with

pytestmark = pytest.mark.django_db(transaction=True)


def test_query_mutation_and_function_endpoints() -> None:
    client = Client()
    channel = Channel.objects.create(name="five")
    status, body = post(
        client,
        "/api/mutation",
        {
            "path": "messages:send",
            "format": "convex_encoded_json",
            "args": [{"channelId": channel.pk, "body": "over http", "author": "ann"}],
        },
    )
    assert status == 200 and body == {"status": "success", "value": Message.objects.get().pk, "logLines": []}
    status, body = post(client, "/api/query", {"path": "messages:list", "args": [{"channelId": channel.pk}]})
    assert status == 200
    assert isinstance(body, dict) and [m["body"] for m in body["value"]] == ["over http"]
    status, body = post(client, "/api/function", {"path": "channels:list", "args": {}})
    assert status == 200 and body == {
        "status": "success",
        "value": [{"_id": channel.pk, "name": "five"}],
        "logLines": [],
    }


def test_function_errors_use_status_560() -> None:
    client = Client()
    Channel.objects.create(name="taken")
    status, body = post(client, "/api/mutation", {"path": "channels:create", "args": [{"name": "taken"}]})
    assert status == 560
    assert body == {
        "status": "error",
        "errorMessage": "A channel named 'taken' already exists",
        "errorCode": "error",
        "errorData": {"code": "name_taken", "name": "taken"},
        "logLines": [],
    }
    status, body = post(client, "/api/query", {"path": "messages:list", "args": [{"channelId": "x"}]})
    assert status == 560 and isinstance(body, dict) and "channelId" in body["errorMessage"]
    status, body = post(client, "/api/query", {"path": "messages:send", "args": [{}]})
    assert status == 560 and body == {
        "status": "error",
        "logLines": [],
        "errorMessage": "Could not find public query 'messages:send'",
        "errorCode": "not_found",
    }
    status, body = post(client, "/api/function", {"path": "payments:record", "args": {"orderId": 1, "reference": "r"}})
    assert status == 560 and isinstance(body, dict) and "Could not find" in body["errorMessage"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{broken", "Malformed JSON"),
        ([1], "must be a JSON object"),
        ({"args": [{}]}, "'path' must be a function name"),
        ({"path": "channels:list", "args": {}}, "one-element array"),
        ({"path": "channels:list", "args": [{}], "format": "xml"}, "Unsupported format"),
    ],
)
def test_malformed_requests_get_400_with_a_reason(body: object, message: str) -> None:
    client = Client()
    response = client.post("/api/query", body, content_type="application/json")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_action_endpoint_and_bearer_token() -> None:
    client = Client()
    order = Order.objects.create(description="shirt", amount_cents=100)
    status, body = post(client, "/api/action", {"path": "payments:process", "args": [{"orderId": order.pk}]})
    assert status == 200 and isinstance(body, dict) and body["value"]["reference"].startswith("pay_")
    ann = User.objects.create_user(username="ann", password="pw")
    token = tokens.issue(ann)
    status, body = post(
        client, "/api/mutation", {"path": "tasks:create", "args": [{"text": "mine"}]}, Authorization=f"Bearer {token}"
    )
    assert status == 200
    status, body = post(client, "/api/query", {"path": "tasks:list", "args": [{"userId": ann.pk}]})
    assert isinstance(body, dict) and [t["text"] for t in body["value"]] == ["mine"]
    status, _ = post(
        client, "/api/mutation", {"path": "tasks:create", "args": [{"text": "x"}]}, Authorization="Bearer forged"
    )
    assert status in (401, 403)


def test_token_view_and_session_csrf() -> None:
    User.objects.create_user(username="ann", password="pw")
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="ann", password="pw")
    response = client.post("/api/reactive/token")
    assert response.status_code == 403  # a session-authenticated POST needs the CSRF token
    token_client = Client()
    token_client.login(username="ann", password="pw")
    token = token_client.post("/api/reactive/token").json()["token"]
    assert tokens.user_for_token(token) == User.objects.get(username="ann")


def test_cors_headers_for_allowed_origins_only_compared_by_scheme_host_and_port() -> None:
    client = Client()
    with reactive_settings_with(ALLOWED_ORIGINS=["http://localhost:3000"]):
        allowed = client.options("/api/query", headers={"Origin": "http://localhost:3000"})
        assert allowed["Access-Control-Allow-Origin"] == "http://localhost:3000"
        assert "Convex-Client" in allowed["Access-Control-Allow-Headers"]
        own = client.options("/api/query", headers={"Origin": "http://testserver"})
        assert own["Access-Control-Allow-Origin"] == "http://testserver"
        for origin in (
            "http://localhost:3001",
            "https://localhost:3000",
            "http://testserver:8000",
            "https://evil.example",
        ):
            denied = client.options("/api/query", headers={"Origin": origin})
            assert "Access-Control-Allow-Origin" not in denied, origin


def test_metrics_endpoint_is_prometheus_text_for_staff_or_the_metrics_token() -> None:
    token = {"Authorization": "Bearer metrics-token-of-the-tests"}  # tests/settings.py: METRICS_TOKEN
    response = Client().get("/api/reactive/metrics", headers=token)
    text = response.content.decode()
    assert response.status_code == 200
    for name in (
        "reactive_connections",
        "reactive_live_query_instances",
        "reactive_query_runs_total",
        "reactive_invalidations_total",
        "reactive_transitions_total",
        "reactive_bytes_sent_total",
    ):
        assert f"# TYPE {name}" in text
    # Behind a reverse proxy every request comes from 127.0.0.1: the address proves nothing.
    local = Client(REMOTE_ADDR="127.0.0.1")
    assert local.get("/api/reactive/metrics").status_code == 403
    for wrong in ("Bearer metrics-token-of-the-test", "Token metrics-token-of-the-tests", "Bearer ", "Bearer"):
        assert local.get("/api/reactive/metrics", headers={"Authorization": wrong}).status_code == 403, wrong
    with reactive_settings_with(METRICS_TOKEN=None):
        assert local.get("/api/reactive/metrics", headers=token).status_code == 403
    User.objects.create_user(username="ann", password="pw")
    local.login(username="ann", password="pw")
    assert local.get("/api/reactive/metrics").status_code == 403
    User.objects.create_user(username="staff", password="pw", is_staff=True)
    remote = Client(REMOTE_ADDR="203.0.113.9")
    remote.login(username="staff", password="pw")
    assert remote.get("/api/reactive/metrics").status_code == 200


def test_an_ipv6_origin_is_compared_with_the_host_and_port_of_the_request() -> None:
    from django.test import RequestFactory

    from reactive.security.origins import origin_allowed

    request = RequestFactory().get("/", HTTP_HOST="[::1]:8000")
    assert origin_allowed("http://[::1]:8000", request)
    assert not origin_allowed("http://[::1]:8001", request)
    assert not origin_allowed("http://[::2]:8000", request)
    assert not origin_allowed("http://[bad", request)
    assert not origin_allowed("http://[::1]:8000", RequestFactory().get("/", HTTP_HOST="evil.example"))
