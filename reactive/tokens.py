"""Signed, expiring tokens for clients that have no session cookie (mobile apps, Node, scripts).

``issue(user)`` returns a token; a client sends it in ``Authenticate`` (WebSocket) or as
``Authorization: Bearer <token>`` (HTTP). A token is a JWT (HS256, keyed by
``SECRET_KEY``, or one of ``SECRET_KEY_FALLBACKS`` while keys rotate) with ``iat`` and
``exp``: the official ``convex`` client reads those to fetch a fresh token before the old
one expires. It carries the user's session auth hash, so changing the password revokes
it, and it is never valid for longer than ``REACTIVE["TOKEN_MAX_AGE"]`` after ``iat``,
so lowering that setting shortens tokens already issued. DRF's ``authtoken`` keys are
accepted too when that app is installed (they do not expire).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.crypto import constant_time_compare, salted_hmac

from .conf import reactive_settings

_SALT = "reactive.tokens"
# Longer strings are not tokens of ours or DRF's: refuse them before any work.
MAX_TOKEN_LENGTH = 4096


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_HEADER = _b64(b'{"alg":"HS256","typ":"JWT"}')


def _signature(signing_input: str, secret: str) -> str:
    return _b64(salted_hmac(_SALT, signing_input, secret=secret, algorithm="sha256").digest())


def _auth_hash(user: Any, secret: str) -> str:
    """Changes with the user's password (as Django's session auth hash does), so a new one revokes tokens."""
    password = getattr(user, "password", "") or ""
    return salted_hmac(_SALT + ".user", f"{user.pk}:{password}", secret=secret, algorithm="sha256").hexdigest()[:16]


@dataclass(frozen=True)
class TokenIdentity:
    """Who a valid token identifies, and until when (a ``time.time()`` value; None: no expiry)."""

    user: Any
    expires_at: float | None


def issue(user: Any, lifetime: float | None = None) -> str:
    """A token identifying ``user``, valid for ``lifetime`` seconds (default: ``TOKEN_MAX_AGE``)."""
    if not getattr(user, "is_authenticated", False):
        raise ValueError("tokens are issued for authenticated users only")
    now = round(time.time(), 3)
    lifetime = reactive_settings.TOKEN_MAX_AGE if lifetime is None else lifetime
    claims = {
        "sub": str(user.pk),
        "h": _auth_hash(user, settings.SECRET_KEY),
        "iat": now,
        "exp": round(now + lifetime, 3),
    }
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{_HEADER}.{payload}"
    return f"{signing_input}.{_signature(signing_input, settings.SECRET_KEY)}"


def verify(token: str) -> TokenIdentity | None:
    """The active user a token identifies and its expiry, or None if it is invalid, expired or revoked."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        return None
    header, _, rest = token.partition(".")
    if header != _HEADER:
        user = _drf_token_user(token)
        return None if user is None else TokenIdentity(user, None)
    payload, _, signature = rest.partition(".")
    signing_input = f"{header}.{payload}"
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    secret = next((s for s in secrets if constant_time_compare(signature, _signature(signing_input, s))), None)
    if secret is None:
        return None
    try:
        claims = json.loads(_unb64(payload))
        expires_at = min(float(claims["exp"]), float(claims["iat"]) + float(reactive_settings.TOKEN_MAX_AGE))
        user_pk = claims["sub"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None
    if time.time() >= expires_at:
        return None
    User = get_user_model()
    try:
        user = User._default_manager.get(pk=user_pk)
    except (User.DoesNotExist, ValueError, TypeError):
        return None
    if not getattr(user, "is_active", True) or not constant_time_compare(
        _auth_hash(user, secret), str(claims.get("h"))
    ):
        return None
    return TokenIdentity(user, expires_at)


def user_for_token(token: str) -> Any | None:
    """The active user a token identifies, or None if it is invalid, expired or revoked."""
    identity = verify(token)
    return None if identity is None else identity.user


def _drf_token_user(key: str) -> Any | None:
    # DRF keys are 40 alphanumeric characters; anything else is not looked up at all.
    if not apps.is_installed("rest_framework.authtoken") or not (key.isascii() and key.isalnum() and len(key) <= 40):
        return None
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user
