"""Which browser origins may open the WebSocket and call the HTTP API cross-origin.

``REACTIVE["ALLOWED_ORIGINS"]`` lists origins (``"https://app.example.com"``) or
``"*"``. When empty, an origin is allowed if its host matches ``ALLOWED_HOSTS``. A
request without an Origin header (a non-browser client) is allowed: origin checks guard
browsers against cross-site use of their cookies, and such clients send none.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import validate_host

from .conf import reactive_settings


def origin_allowed(origin: str | None) -> bool:
    if not origin:
        return True
    allowed = list(reactive_settings.ALLOWED_ORIGINS)
    if "*" in allowed or origin in allowed:
        return True
    if allowed:
        return False
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    if host is None:
        return False
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal, written as ALLOWED_HOSTS writes it
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return validate_host(host, hosts)


class OriginValidator:
    """ASGI middleware rejecting WebSocket handshakes from origins that are not allowed."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket":
            origin = None
            for name, value in scope.get("headers", []):
                if name == b"origin":
                    origin = value.decode("latin1")
            if not origin_allowed(origin):
                await receive()  # the websocket.connect event
                await send({"type": "websocket.close", "code": 1008})
                return None
        return await self.application(scope, receive, send)
