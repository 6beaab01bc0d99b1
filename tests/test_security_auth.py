"""Identity on the WebSocket: tokens, DRF tokens, bad and expiring tokens, logging out, connections per user."""

from __future__ import annotations

import base64
import json
import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import override_settings
from rest_framework.authtoken.models import Token

from reactive import tokens
from reactive.limits import connection_count
from reactive.subscriptions import get_manager
from reactive.testing import ReactiveCommunicator

from .security_helpers import close_event, make_user, reactive_settings_with

pytestmark = pytest.mark.django_db(transaction=True)

issue = sync_to_async(tokens.issue)


async def authenticate(client: ReactiveCommunicator, token: str | None, base_version: int) -> None:
    message = {"type": "Authenticate", "baseVersion": base_version, "tokenType": "User", "value": token}
    if token is None:
        message = {"type": "Authenticate", "baseVersion": base_version, "tokenType": "None"}
    await client.send(message)


async def test_a_bad_token_gets_auth_error_and_the_connection_continues_as_anonymous() -> None:
    ann = await make_user("ann")
    token = await issue(ann)
    client = ReactiveCommunicator()
    await client.connect()
    who = await client.subscribe("testing:whoami")
    assert client.errors[who]["errorMessage"] == "Authentication required"
    await authenticate(client, token, 0)
    await client.wait_for(who, lambda value: value == "ann")
    assert client.version["identity"] == 1

    await authenticate(client, "forged", 1)
    assert await client.receive() == {
        "type": "AuthError",
        "error": "The token is invalid or has expired",
        "baseVersion": 1,
        "authUpdateAttempted": True,
    }
    transition = await client.next_transition()
    assert [m["queryId"] for m in transition["modifications"]] == [who]
    assert client.errors[who]["errorMessage"] == "Authentication required"
    # No identity bump: the official client would take one as the server confirming its token.
    assert transition["startVersion"]["identity"] == transition["endVersion"]["identity"] == 1

    # The client counted its rejected Authenticate (its version is now 2): the next one starts there.
    await authenticate(client, token, 2)
    await client.wait_for(who, lambda value: value == "ann")
    assert client.version["identity"] == 3
    await client.close()


async def test_a_bad_token_drops_the_handshake_identity_too_and_none_restores_it() -> None:
    bob = await make_user("bob")
    client = ReactiveCommunicator(user=bob)  # as if logged in by the session cookie of the handshake
    await client.connect()
    who = await client.subscribe("testing:whoami")
    assert client.values[who] == "bob"
    await client.send({"type": "Authenticate", "baseVersion": 0, "tokenType": "Admin", "value": "x"})
    assert (await client.receive())["error"] == "Admin tokens are not accepted"
    await client.wait_for_error(who)
    await authenticate(client, None, 1)
    await client.wait_for(who, lambda value: value == "bob")
    assert client.version["identity"] == 2
    await client.close()


async def test_logging_out_reruns_the_queries_under_the_handshake_identity() -> None:
    ann, bob = await make_user("ann"), await make_user("bob")
    for handshake_user, after_logout in [(None, None), (bob, "bob")]:
        client = ReactiveCommunicator(user=handshake_user)
        await client.connect()
        who = await client.subscribe("testing:whoami")
        notes = await client.subscribe("notifications:list")
        await authenticate(client, await issue(ann), 0)
        await client.wait_for(who, lambda value: value == "ann")
        await authenticate(client, None, 1)
        if after_logout is None:
            assert (await client.wait_for_error(who))["errorMessage"] == "Authentication required"
        else:
            await client.wait_for(who, lambda value, expected=after_logout: value == expected)
        assert client.version["identity"] == 2
        assert client.values[notes] == []
        assert client.others == []  # logging out is no error
        await client.close()


async def test_a_token_expiring_in_use_reruns_the_queries_as_anonymous() -> None:
    ann = await make_user("ann")
    token = await sync_to_async(tokens.issue)(ann, 1.0)
    client = ReactiveCommunicator()
    await client.connect()
    who = await client.subscribe("testing:whoami")
    await authenticate(client, token, 0)
    await client.wait_for(who, lambda value: value == "ann")
    assert connection_count(get_manager(), ann) == 1
    assert (await client.wait_for_error(who))["errorMessage"] == "Authentication required"
    # authUpdateAttempted false: this AuthError answers no Authenticate; the client fetches a fresh token.
    assert client.others == [
        {"type": "AuthError", "error": "The token has expired", "baseVersion": 0, "authUpdateAttempted": False}
    ]
    assert client.version["identity"] == 1
    assert connection_count(get_manager(), ann) == 0
    await authenticate(client, await issue(ann), 1)
    await client.wait_for(who, lambda value: value == "ann")
    await client.close()


async def test_an_expired_token_is_refused() -> None:
    ann = await make_user("ann")
    client = ReactiveCommunicator()
    await client.connect()
    who = await client.subscribe("testing:whoami")
    await authenticate(client, await sync_to_async(tokens.issue)(ann, -1.0), 0)
    assert (await client.receive())["type"] == "AuthError"
    assert client.errors[who]["errorMessage"] == "Authentication required"
    await client.close()


async def test_drf_authtoken_keys_authenticate_the_socket() -> None:
    ann = await make_user("ann")
    key = (await sync_to_async(Token.objects.create)(user=ann)).key
    client = ReactiveCommunicator()
    await client.connect()
    who = await client.subscribe("testing:whoami")
    await authenticate(client, key, 0)
    await client.wait_for(who, lambda value: value == "ann")
    await client.close()


@pytest.mark.django_db
def test_tokens_are_signed_expiring_jwts_revoked_by_a_password_change() -> None:
    from django.contrib.auth.models import User

    ann = User.objects.create_user(username="ann", password="pw")
    token = tokens.issue(ann)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    assert claims["sub"] == str(ann.pk) and claims["exp"] - claims["iat"] == 24 * 3600
    identity = tokens.verify(token)
    assert identity is not None and identity.user == ann and identity.expires_at == claims["exp"]

    forged_claims = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "999"}).encode()).decode().rstrip("=")
    for bad in [f"{header}.{forged_claims}.{signature}", f"{header}.{payload}.{signature[:-2]}", "x" * 5000, "", "a.b"]:
        assert tokens.verify(bad) is None
    with override_settings(SECRET_KEY="rotated", SECRET_KEY_FALLBACKS=[settings.SECRET_KEY]):
        assert tokens.user_for_token(token) == ann  # old tokens survive a key rotation...
    with override_settings(SECRET_KEY="rotated"):
        assert tokens.user_for_token(token) is None  # ...only while the old key is a fallback
    with reactive_settings_with(TOKEN_MAX_AGE=10):
        identity = tokens.verify(token)
        assert identity is not None and identity.expires_at == claims["iat"] + 10  # lowering shortens
    ann.is_active = False
    ann.save()
    assert tokens.verify(token) is None
    ann.is_active = True
    ann.set_password("new")
    ann.save()
    assert tokens.verify(token) is None
    assert tokens.verify(tokens.issue(ann)) is not None
    assert tokens.verify(tokens.issue(ann, lifetime=-1)) is None
    assert time.time() < tokens.verify(tokens.issue(ann, lifetime=5)).expires_at  # type: ignore[union-attr]


async def test_connections_per_user_are_limited() -> None:
    ann = await make_user("ann")
    with reactive_settings_with(MAX_CONNECTIONS_PER_USER=2):
        first, second = ReactiveCommunicator(user=ann), ReactiveCommunicator(user=ann)
        await first.connect()
        await second.connect()
        third = ReactiveCommunicator(user=ann)
        await third.connect()
        closed = await close_event(third)
        assert closed["code"] == 1013
        assert closed["reason"] == (
            "TooManyConcurrentRequests: too many connections for this user (MAX_CONNECTIONS_PER_USER=2)"
        )
        assert connection_count(get_manager(), ann) == 2
        # An anonymous connection is not counted, until it authenticates as ann.
        anonymous = ReactiveCommunicator()
        await anonymous.connect()
        who = await anonymous.subscribe("testing:whoami")
        await authenticate(anonymous, await issue(ann), 0)
        assert (await close_event(anonymous))["code"] == 1013
        assert who in anonymous.errors and anonymous.version["identity"] == 0
        await first.close()
        again = ReactiveCommunicator(user=ann)
        await again.connect()
        assert (await again.subscribe("testing:whoami")) in again.values
        assert connection_count(get_manager(), ann) == 2
        await second.close()
        await again.close()
    assert connection_count(get_manager(), ann) == 0
