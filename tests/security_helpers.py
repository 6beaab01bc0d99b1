"""Helpers of the security and fuzz tests: close events, a socket whose client never reads, users."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import override_settings
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from reactive.live.subscriptions import get_manager
from reactive.routing import websocket_application
from reactive.sync.session import Session
from reactive.testing import ReactiveCommunicator


async def close_event(client: ReactiveCommunicator, timeout: float = 10.0) -> dict[str, Any]:
    """Receive (and apply) messages until the server closes; return the close event (code, reason)."""
    async with asyncio.timeout(timeout):
        while True:
            output = await client.communicator.receive_output(timeout=3600)
            if output["type"] == "websocket.close":
                return dict(output)
            client._apply(json.loads(output["text"]))


class StalledSocket:
    """ASGI middleware: while ``stalled``, ``websocket.send`` waits, as on a socket whose client does not
    read (what an ASGI server with back-pressure does once the TCP buffers are full)."""

    def __init__(self, application: Any = None) -> None:
        self.application = application or websocket_application()
        self._flowing = asyncio.Event()
        self._flowing.set()

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        async def gated_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send":
                await self._flowing.wait()
            await send(message)

        return await self.application(scope, receive, gated_send)


def session_of(client: ReactiveCommunicator) -> Session:
    """The server-side session of ``client`` (in this event loop's manager)."""
    (session,) = [s for s in get_manager().sessions if s.session_id == client.session_id]
    return session


@sync_to_async
def make_user(username: str, **fields: Any) -> User:
    return User.objects.create_user(username=username, password="pw", **fields)


def reactive_settings_with(**overrides: Any) -> override_settings:
    """``override_settings`` of some REACTIVE keys, keeping the test settings' others."""
    return override_settings(REACTIVE={**django_settings.REACTIVE, **overrides})


class UsernameKeyAuthentication(BaseAuthentication):
    """A project's own DRF authentication, for the tests: ``Authorization: Bearer key-<username>``.

    Its credential carries an expiry the way simplejwt's tokens do (``request.auth.payload["exp"]``).
    """

    lifetime = 3600.0

    def authenticate(self, request: Request) -> tuple[User, Any] | None:
        header = get_authorization_header(request).split()
        if len(header) != 2 or header[0] != b"Bearer" or not header[1].startswith(b"key-"):
            return None
        user = User.objects.filter(username=header[1][4:].decode()).first()
        if user is None:
            raise AuthenticationFailed("No such key")
        return user, SimpleNamespace(payload={"exp": time.time() + self.lifetime})


def drf_authentication(*classes: str) -> override_settings:
    """``override_settings`` of ``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]``."""
    return override_settings(
        REST_FRAMEWORK={**django_settings.REST_FRAMEWORK, "DEFAULT_AUTHENTICATION_CLASSES": list(classes)}
    )
