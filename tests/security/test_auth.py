"""Identity on the WebSocket: tokens, DRF tokens, bad and expiring tokens, logging out, connections per user."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
import warnings

import jwt
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token

from reactive.live.subscriptions import get_manager
from reactive.security import tokens
from reactive.security.limits import connection_count, connection_key
from reactive.sync import consumer
from reactive.testing import ReactiveCommunicator

from ..helpers import post
from ..security_helpers import (
    UsernameKeyAuthentication,
    close_event,
    drf_authentication,
    make_user,
    reactive_settings_with,
)

pytestmark = pytest.mark.django_db(transaction=True)

issue = sync_to_async(tokens.issue)
TOKEN_AUTHENTICATION = "rest_framework.authentication.TokenAuthentication"


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
    assert connection_count(get_manager(), connection_key(ann, None)) == 1
    assert (await client.wait_for_error(who))["errorMessage"] == "Authentication required"
    # authUpdateAttempted false: this AuthError answers no Authenticate; the client fetches a fresh token.
    assert client.others == [
        {"type": "AuthError", "error": "The token has expired", "baseVersion": 0, "authUpdateAttempted": False}
    ]
    assert client.version["identity"] == 1
    assert connection_count(get_manager(), connection_key(ann, None)) == 0
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


async def test_drf_authtoken_keys_authenticate_the_socket_and_http_through_token_authentication() -> None:
    ann = await make_user("ann")
    key = (await sync_to_async(Token.objects.create)(user=ann)).key
    whoami = {"path": "testing:whoami", "args": [{}]}
    for classes, accepted in [
        (["rest_framework.authentication.SessionAuthentication", TOKEN_AUTHENTICATION], True),
        (["rest_framework.authentication.SessionAuthentication"], False),  # the project does not use DRF keys
    ]:
        with drf_authentication(*classes):
            client = ReactiveCommunicator()
            await client.connect()
            who = await client.subscribe("testing:whoami")
            await authenticate(client, key, 0)
            if accepted:
                await client.wait_for(who, lambda value: value == "ann")
                assert client.others == []
            else:
                assert (await client.receive())["type"] == "AuthError"
            await client.close()
            status, body = await sync_to_async(post)(Client(), "/api/query", whoami, Authorization=f"Token {key}")
            assert (status, body.get("value")) == ((200, "ann") if accepted else (401, None))


async def test_the_projects_own_drf_authentication_works_over_http_and_authenticate() -> None:
    await make_user("ann")
    whoami = {"path": "testing:whoami", "args": [{}]}
    with drf_authentication("tests.security_helpers.UsernameKeyAuthentication"):
        status, body = await sync_to_async(post)(Client(), "/api/query", whoami, Authorization="Bearer key-ann")
        assert (status, body["value"]) == (200, "ann")
        status, _ = await sync_to_async(post)(Client(), "/api/query", whoami, Authorization="Bearer key-nobody")
        assert status == 401
        # reactive's own tokens keep working next to the project's classes
        token = await issue(await sync_to_async(User.objects.get)(username="ann"))
        status, body = await sync_to_async(post)(Client(), "/api/query", whoami, Authorization=f"Bearer {token}")
        assert (status, body["value"]) == (200, "ann")

        client = ReactiveCommunicator()
        await client.connect()
        who = await client.subscribe("testing:whoami")
        await authenticate(client, "key-ann", 0)
        await client.wait_for(who, lambda value: value == "ann")
        await authenticate(client, "key-nobody", 1)
        assert (await client.receive())["type"] == "AuthError"
        await client.wait_for_error(who)
        await client.close()

        # A token minted with the project's credential expires with it.
        mint = sync_to_async(Client().post)
        response = await mint("/api/reactive/token", headers={"Authorization": "Bearer key-ann"})
        claims = jwt.decode(response.json()["token"], settings.SECRET_KEY, algorithms=["HS256"])
        assert claims["exp"] - claims["iat"] <= UsernameKeyAuthentication.lifetime


async def test_an_expiring_credential_of_the_projects_authentication_expires_the_socket_identity() -> None:
    await make_user("ann")
    with drf_authentication("tests.security_helpers.UsernameKeyAuthentication"):
        UsernameKeyAuthentication.lifetime = 1.0
        try:
            client = ReactiveCommunicator()
            await client.connect()
            who = await client.subscribe("testing:whoami")
            await authenticate(client, "key-ann", 0)
            await client.wait_for(who, lambda value: value == "ann")
            assert (await client.wait_for_error(who))["errorMessage"] == "Authentication required"
            assert [m["error"] for m in client.others] == ["The token has expired"]
            await client.close()
        finally:
            UsernameKeyAuthentication.lifetime = 3600.0


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
    rotated = "a-new-secret-key-long-enough-for-hs256-0123456789"
    with override_settings(SECRET_KEY=rotated, SECRET_KEY_FALLBACKS=[settings.SECRET_KEY]):
        assert tokens.user_for_token(token) == ann  # old tokens survive a key rotation...
    with override_settings(SECRET_KEY=rotated):
        assert tokens.user_for_token(token) is None  # ...only while the old key is a fallback
    with reactive_settings_with(TOKEN_SIGNING_KEY=rotated):
        assert tokens.user_for_token(token) is None  # a configured key replaces SECRET_KEY
        assert jwt.decode(tokens.issue(ann), rotated, algorithms=["HS256"])["sub"] == str(ann.pk)
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


@pytest.mark.django_db
def test_tokens_are_standard_jwts_and_need_a_finite_expiry() -> None:
    from django.contrib.auth.models import User

    ann = User.objects.create_user(username="ann", password="pw")
    # Any JWT library with the key reads and makes them (HS256 keyed by SECRET_KEY).
    claims = jwt.decode(tokens.issue(ann), settings.SECRET_KEY, algorithms=["HS256"])
    assert tokens.verify(jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")) is not None
    earlier = {**claims, "iat": int(claims["iat"]) - 5, "exp": int(claims["exp"]) - 5}  # integer NumericDates
    assert tokens.verify(jwt.encode(earlier, settings.SECRET_KEY, algorithm="HS256")) is not None
    without_exp = {name: value for name, value in claims.items() if name != "exp"}
    without_iat = {name: value for name, value in claims.items() if name != "iat"}
    bad_claims = [
        {**claims, "exp": math.nan},
        {**claims, "exp": math.inf},
        {**claims, "exp": -math.inf},
        {**claims, "iat": math.nan},
        {**claims, "iat": -math.inf},
        {**claims, "exp": "tomorrow"},
        {**claims, "exp": True},
        {**claims, "iat": claims["iat"] + 600},  # issued in the future
        without_exp,
        without_iat,
    ]
    for bad in bad_claims:
        assert tokens.verify(jwt.encode(bad, settings.SECRET_KEY, algorithm="HS256")) is None, bad
    with warnings.catch_warnings():  # PyJWT warns of the test key's length for HS512
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        hs512 = jwt.encode(claims, settings.SECRET_KEY, algorithm="HS512")
    assert tokens.verify(hs512) is None  # HS256 only


@pytest.mark.django_db
def test_a_token_minted_with_a_token_never_outlives_it() -> None:
    from django.contrib.auth.models import User

    ann = User.objects.create_user(username="ann", password="pw")
    first = tokens.issue(ann, lifetime=600)
    expiry = jwt.decode(first, settings.SECRET_KEY, algorithms=["HS256"])["exp"]
    token = first
    for _ in range(3):  # minting from the minted token, and so on, never moves the expiry
        response = Client().post("/api/reactive/token", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        token = response.json()["token"]
        assert jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])["exp"] == expiry
        assert tokens.verify(token).expires_at == expiry  # type: ignore[union-attr]
    # The session cookie (a logged-in browser) gets a token of the full TOKEN_MAX_AGE.
    browser = Client()
    browser.login(username="ann", password="pw")
    claims = jwt.decode(browser.post("/api/reactive/token").json()["token"], settings.SECRET_KEY, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert Client().post("/api/reactive/token", headers={"Authorization": "Bearer forged"}).status_code == 401


@pytest.mark.usefixtures("quick_refusals")
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
        assert connection_count(get_manager(), connection_key(ann, None)) == 2
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
        assert connection_count(get_manager(), connection_key(ann, None)) == 2
        await second.close()
        await again.close()
    assert connection_count(get_manager(), connection_key(ann, None)) == 0


def _from(address: str, user: User | None = None) -> ReactiveCommunicator:
    client = ReactiveCommunicator(user=user)
    client.communicator.scope["client"] = [address, 40000]
    return client


@pytest.mark.usefixtures("quick_refusals")
async def test_connections_without_a_user_are_limited_per_address() -> None:
    """MAX_CONNECTIONS_PER_ADDRESS: one address cannot open sockets until the process runs out of memory; a
    signed-in user counts for the user instead, and signing in frees the address's slot."""
    ann = await make_user("ann")
    with reactive_settings_with(MAX_CONNECTIONS_PER_ADDRESS=2):
        first, second = _from("10.0.0.1"), _from("10.0.0.1")
        await first.connect()
        await second.connect()
        third = _from("10.0.0.1")
        await third.connect()
        closed = await close_event(third)
        assert closed["code"] == 1013
        assert closed["reason"] == (
            "TooManyConcurrentRequests: too many connections for this address without a signed-in user "
            "(MAX_CONNECTIONS_PER_ADDRESS=2)"
        )
        elsewhere, signed_in = _from("10.0.0.2"), _from("10.0.0.1", ann)
        await elsewhere.connect()
        await signed_in.connect()
        assert await elsewhere.subscribe("testing:channel_count", {"copy": 0}) in elsewhere.values
        assert await signed_in.subscribe("testing:channel_count", {"copy": 0}) in signed_in.values
        assert connection_count(get_manager(), connection_key(None, "10.0.0.1")) == 2
        await authenticate(first, await issue(ann), 0)  # now counted as ann: the address has room for one more
        await first.receive_until(lambda: first.version["identity"] == 1)
        assert connection_count(get_manager(), connection_key(None, "10.0.0.1")) == 1
        fourth = _from("10.0.0.1")
        await fourth.connect()
        assert await fourth.subscribe("testing:channel_count", {"copy": 0}) in fourth.values
        for client in (first, second, elsewhere, signed_in, fourth):
            await client.close()
    assert connection_count(get_manager(), connection_key(None, "10.0.0.1")) == 0


async def test_a_refused_connection_is_answered_only_after_the_refusal_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that reconnects at once when turned away (or a flood of them) costs one handshake per socket
    per REFUSAL_DELAY_SECONDS or so, not one per round trip."""
    monkeypatch.setattr(consumer, "REFUSAL_DELAY_SECONDS", 0.5)  # 0.25 to 0.75 s
    with reactive_settings_with(MAX_CONNECTIONS_PER_ADDRESS=1):
        first, second = _from("10.0.0.1"), _from("10.0.0.1")
        await first.connect()
        answer = asyncio.get_running_loop().create_task(second.communicator.connect(timeout=5))
        await asyncio.sleep(0.1)
        assert not answer.done()  # not answered yet
        connected, _code = await answer
        assert connected
        assert (await close_event(second))["code"] == 1013
        await first.close()
