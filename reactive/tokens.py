"""Signed, expiring tokens for clients that have no session cookie (mobile apps, Node, scripts).

``issue(user)`` returns a token; a client sends it in ``Authenticate`` (WebSocket) or as
``Authorization: Bearer <token>`` (HTTP). Tokens are signed with ``SECRET_KEY`` and
carry the user's session auth hash, so changing the password revokes them.
DRF's ``authtoken`` tokens are accepted too when that app is installed.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import signing

from .conf import reactive_settings

_SALT = "reactive.tokens"


def _auth_hash(user: Any) -> str:
    get_hash = getattr(user, "get_session_auth_hash", None)
    return get_hash()[:16] if get_hash else ""


def issue(user: Any) -> str:
    """A token identifying ``user``, valid for ``REACTIVE["TOKEN_MAX_AGE"]`` seconds."""
    if not getattr(user, "is_authenticated", False):
        raise ValueError("tokens are issued for authenticated users only")
    return signing.dumps({"u": str(user.pk), "h": _auth_hash(user)}, salt=_SALT, compress=True)


def user_for_token(token: str) -> Any | None:
    """The active user a token identifies, or None if it is invalid, expired or revoked."""
    try:
        payload = signing.loads(token, salt=_SALT, max_age=reactive_settings.TOKEN_MAX_AGE)
    except signing.BadSignature:
        return _drf_token_user(token)
    User = get_user_model()
    try:
        user = User._default_manager.get(pk=payload.get("u"))
    except (User.DoesNotExist, ValueError, TypeError):
        return None
    if not getattr(user, "is_active", True) or _auth_hash(user) != payload.get("h"):
        return None
    return user


def _drf_token_user(key: str) -> Any | None:
    if not apps.is_installed("rest_framework.authtoken"):
        return None
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user
