"""Who a caller is, and the user as the database has it now.

A connection or request carries a *claimed* identity: the user object its handshake or
token produced, which is never refreshed. Functions never see that object. Each run
loads the user again by pk (:func:`current_user`), in the run's own transaction or
snapshot, so a revoked flag, a removed group or permission, a deactivated or deleted
user reaches the next run. As Django's ``get_user()`` does for a session on the next
request, an inactive or deleted user is anonymous.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

ANONYMOUS = "anonymous"


def identity_key(user: Any) -> str:
    """Who a result or a request is for: ``"user:<pk>"`` or ``"anonymous"``."""
    if user is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return ANONYMOUS


def current_user(claimed: Any) -> AbstractBaseUser | AnonymousUser:
    """The user ``claimed`` stands for, read from the database now; anonymous when inactive or gone.

    Inside a tracked query run the read is recorded like any other (that user's row), so a
    write to the user re-runs the query. Groups and permissions are read by the checks that
    use them (``has_perm``, ``user.groups``), from this fresh object, whose caches are empty.
    """
    # Imported here: the package's public API (reactive.QueryCtx) is imported before the app registry is ready.
    from django.contrib.auth.models import AnonymousUser

    if claimed is None:
        return AnonymousUser()
    if not getattr(claimed, "is_authenticated", False):
        return claimed
    user = get_user_model()._default_manager.filter(pk=claimed.pk).first()
    if user is None or not getattr(user, "is_active", True):
        return AnonymousUser()
    return user
