"""Which browser origins may open the WebSocket and call the HTTP API cross-origin.

An origin is a scheme, a host and a port, compared as Django's CSRF check compares them
(``CsrfViewMiddleware._origin_verified``):

- the request's own origin is always allowed: its scheme (``request.scheme``, which honours
  ``SECURE_PROXY_SSL_HEADER``) and its host and port (``request.get_host()``, which checks
  ``ALLOWED_HOSTS`` and honours ``USE_X_FORWARDED_HOST``);
- so is every origin listed in ``REACTIVE["ALLOWED_ORIGINS"]``, written as in
  ``CSRF_TRUSTED_ORIGINS``: ``"https://app.example.com"`` (exactly that origin; a port other
  than the scheme's default is part of it: ``"http://localhost:5173"``), or
  ``"https://*.example.com"`` (that scheme, ``example.com`` and its subdomains, on the default
  port unless the entry names one). ``"*"`` allows any origin.

A request without an Origin header (a non-browser client) is allowed: origin checks guard
browsers against cross-site use of their cookies, and such clients send none.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.utils.http import is_same_domain

from ..conf import reactive_settings


def origin_allowed(origin: str | None, request: HttpRequest) -> bool:
    """Whether a request (or WebSocket handshake) carrying ``Origin: origin`` may proceed."""
    if not origin:
        return True
    return origin == own_origin(request) or _listed(origin)


def own_origin(request: HttpRequest) -> str | None:
    """The origin the request was made to, or None when its host is not in ``ALLOWED_HOSTS``."""
    try:
        return f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return None


def _listed(origin: str) -> bool:
    allowed = list(reactive_settings.ALLOWED_ORIGINS)
    if "*" in allowed or origin in allowed:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    for entry in allowed:
        scheme, _, pattern = entry.partition("://")
        if pattern.startswith("*.") and scheme == parsed.scheme and is_same_domain(parsed.netloc, pattern[1:]):
            return True
    return False


class _HandshakeRequest(HttpRequest):
    """A WebSocket handshake seen as an HttpRequest, so Django's own ``scheme`` and ``get_host()`` apply."""

    def __init__(self, scope: dict[str, Any]) -> None:
        super().__init__()
        self._secure_scheme = scope.get("scheme") in ("wss", "https")
        server = scope.get("server") or (None, None)
        self.META["SERVER_NAME"] = str(server[0] or "")
        self.META["SERVER_PORT"] = str(server[1] or "")
        for name, value in scope.get("headers", []):
            key = "HTTP_" + name.decode("latin1").upper().replace("-", "_")
            self.META[key] = value.decode("latin1")

    def _get_scheme(self) -> str:
        return "https" if self._secure_scheme else "http"


class OriginValidator:
    """ASGI middleware rejecting WebSocket handshakes from origins that are not allowed (close 1008)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket":
            request = _HandshakeRequest(scope)
            if not origin_allowed(request.headers.get("Origin"), request):
                await receive()  # the websocket.connect event
                await send({"type": "websocket.close", "code": 1008})
                return None
        return await self.application(scope, receive, send)
