"""Who a request or an ``Authenticate`` token is: reactive's tokens, then the project's own DRF authentication.

The HTTP API authenticates with :func:`authentication_classes`: reactive's bearer tokens
first, then ``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]`` (DRF's session and basic
authentication by default; ``TokenAuthentication``, simplejwt's ``JWTAuthentication``, …
when the project uses them), and last a class that refuses a ``Bearer``/``Token`` header
that no class accepted, so a bad token is a ``403``, never a silent anonymous call.

The sync protocol's ``Authenticate`` token goes the same way (:func:`authenticate_token`):
a token of reactive's, else each of those classes, given the token as the header it reads
(``Authorization: <keyword> <token>``, with the class's ``keyword``, ``Bearer`` by default).
Everything is resolved at the moment of the request or the ``Authenticate``: nothing is cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django.http import HttpRequest
from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings

from . import tokens
from .tokens import TokenIdentity

_TOKEN_SCHEMES = (b"bearer", b"token")


def _credentials(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` (or ``Token <token>``) header, if any."""
    header = authentication.get_authorization_header(request).split()
    if len(header) != 2 or header[0].lower() not in _TOKEN_SCHEMES:
        return None
    return header[1].decode("latin1")


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` with a token from :func:`reactive.security.tokens.issue`.

    A token that is not a valid one of reactive's is left to the classes after this one;
    ``request.auth`` is the token's :class:`~reactive.security.tokens.TokenIdentity`.
    """

    def authenticate(self, request: Request) -> tuple[Any, TokenIdentity] | None:
        token = _credentials(request)
        identity = None if token is None else tokens.verify(token)
        return None if identity is None else (identity.user, identity)

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class RefuseUnacceptedToken(authentication.BaseAuthentication):
    """Last in line: a ``Bearer``/``Token`` header that no class before accepted is refused (403)."""

    def authenticate(self, request: Request) -> None:
        if _credentials(request) is not None:
            raise exceptions.AuthenticationFailed("The token is invalid or has expired")
        return None


def _project_classes() -> list[type[authentication.BaseAuthentication]]:
    # api_settings imports the dotted paths (the stubs type them as the strings of the settings).
    classes = cast(list[type[authentication.BaseAuthentication]], api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    return [cls for cls in classes if cls not in (BearerTokenAuthentication, RefuseUnacceptedToken)]


def authentication_classes() -> list[type[authentication.BaseAuthentication]]:
    """The HTTP API's authentication: reactive's tokens, the project's DRF classes, then the refusal."""
    return [BearerTokenAuthentication, *_project_classes(), RefuseUnacceptedToken]


def credential_expiry(auth: Any) -> float | None:
    """When the credential of a request (``request.auth``) expires, if it says (a ``time.time()`` value)."""
    if isinstance(auth, TokenIdentity):
        return auth.expires_at
    payload = getattr(auth, "payload", None)  # a JWT of another library, e.g. simplejwt's AccessToken
    if isinstance(payload, Mapping) and isinstance(payload.get("exp"), (int, float)):
        return float(payload["exp"])
    return None


def authenticate_token(token: str) -> TokenIdentity | None:
    """Who an ``Authenticate`` token identifies, as an HTTP request bearing it would be; None if no one."""
    identity = tokens.verify(token)
    if identity is not None:
        return identity
    if not 0 < len(token) <= tokens.MAX_TOKEN_LENGTH:
        return None
    for cls in _project_classes():
        authenticator = cls()
        request = HttpRequest()
        request.META["HTTP_AUTHORIZATION"] = f"{getattr(authenticator, 'keyword', 'Bearer')} {token}"
        try:
            result = authenticator.authenticate(Request(request))
        except exceptions.AuthenticationFailed:
            continue  # refused by this class: another may read the token differently
        user = None if result is None else result[0]
        if getattr(user, "is_authenticated", False) and getattr(user, "is_active", True):
            return TokenIdentity(user, credential_expiry(result[1]))  # type: ignore[index]
    return None
