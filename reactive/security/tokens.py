"""Signed, expiring tokens for clients that have no session cookie (mobile apps, Node, scripts).

``issue(user)`` returns a token; a client sends it in ``Authenticate`` (WebSocket) or as
``Authorization: Bearer <token>`` (HTTP). A token is a standard JWT made and checked by PyJWT:
HS256, keyed by ``REACTIVE["TOKEN_SIGNING_KEY"]``, or else by ``SECRET_KEY`` (or one of
``SECRET_KEY_FALLBACKS`` while keys rotate), with the claims ``sub`` (the user's pk), ``iat``
and ``exp`` (seconds, to the millisecond): the official ``convex`` client reads those to fetch a fresh
token before the old one expires. A token without a finite ``exp`` and ``iat`` is refused.

A token also carries ``h``, a hash of the user's password hash, so changing the password
revokes it, and it is never valid for longer than ``REACTIVE["TOKEN_MAX_AGE"]`` after ``iat``,
so lowering that setting shortens tokens already issued. ``issue(user, expires_at=...)`` caps
a token's expiry: a token minted with another token keeps that token's expiry.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.crypto import constant_time_compare, salted_hmac

from ..conf import reactive_settings

_SALT = "reactive.tokens"
_ALGORITHM = "HS256"
# Longer strings are not tokens of ours: refuse them before any work.
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class TokenIdentity:
    """Who a valid credential identifies, and until when (a ``time.time()`` value; None: no expiry)."""

    user: Any
    expires_at: float | None


def _signing_keys() -> list[str]:
    """The key tokens are signed with, first, then the keys still accepted."""
    if reactive_settings.TOKEN_SIGNING_KEY:
        return [str(reactive_settings.TOKEN_SIGNING_KEY)]
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _auth_hash(user: Any, key: str) -> str:
    """Changes with the user's password (as Django's session auth hash does), so a new one revokes tokens."""
    password = getattr(user, "password", "") or ""
    return salted_hmac(_SALT + ".user", f"{user.pk}:{password}", secret=key, algorithm="sha256").hexdigest()[:16]


def _milliseconds(seconds: float) -> float:
    """Rounded down to the millisecond: a NumericDate that never exceeds ``seconds``."""
    return math.floor(seconds * 1000) / 1000


def issue(user: Any, lifetime: float | None = None, *, expires_at: float | None = None) -> str:
    """A token identifying ``user``, valid for ``lifetime`` seconds (default: ``TOKEN_MAX_AGE``).

    ``expires_at`` (a ``time.time()`` value) caps the expiry: pass the expiry of the credential the
    token is minted with, so that a token never outlives the one it came from.
    """
    if not getattr(user, "is_authenticated", False):
        raise ValueError("tokens are issued for authenticated users only")
    now = _milliseconds(time.time())
    lifetime = reactive_settings.TOKEN_MAX_AGE if lifetime is None else lifetime
    expiry = now + lifetime if expires_at is None else min(now + lifetime, expires_at)
    key = _signing_keys()[0]
    claims = {"sub": str(user.pk), "h": _auth_hash(user, key), "iat": now, "exp": _milliseconds(expiry)}
    return jwt.encode(claims, key, algorithm=_ALGORITHM)


def verify(token: str) -> TokenIdentity | None:
    """The active user a token of ours identifies and its expiry, or None if it is invalid, expired or revoked."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        return None
    for key in _signing_keys():
        claims = _decode(token, key)
        if claims is not None:
            return _identity(claims, key)
    return None


def _decode(token: str, key: str) -> dict[str, Any] | None:
    """The claims of a token signed with ``key``, or None (bad signature, malformed, or expired)."""
    try:
        claims = jwt.decode(token, key, algorithms=[_ALGORITHM], options={"require": ["exp", "iat", "sub"]})
    except (jwt.PyJWTError, OverflowError):  # OverflowError: PyJWT's int() of an infinite exp
        return None
    # NumericDate claims must be finite numbers: PyJWT parses NaN and Infinity, and only checks exp with int().
    for name in ("exp", "iat"):
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
    return dict(claims)


def _identity(claims: dict[str, Any], key: str) -> TokenIdentity | None:
    expires_at = min(float(claims["exp"]), float(claims["iat"]) + float(reactive_settings.TOKEN_MAX_AGE))
    if time.time() >= expires_at:
        return None
    User = get_user_model()
    try:
        user = User._default_manager.get(pk=claims["sub"])
    except (User.DoesNotExist, ValueError, TypeError):
        return None
    if not getattr(user, "is_active", True) or not constant_time_compare(_auth_hash(user, key), str(claims.get("h"))):
        return None
    return TokenIdentity(user, expires_at)


def user_for_token(token: str) -> Any | None:
    """The active user a token identifies, or None if it is invalid, expired or revoked."""
    identity = verify(token)
    return None if identity is None else identity.user
