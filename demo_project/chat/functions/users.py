"""Users: ``users:list``, ``users:get``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from reactive import QueryCtx, query, v

User = get_user_model()


def user_json(user: Any) -> dict[str, Any]:
    return {"_id": user.pk, "username": user.username, "dateJoined": user.date_joined}


@query(args={})
def list_(ctx: QueryCtx) -> list[dict[str, Any]]:
    """Every user, by name."""
    return [user_json(u) for u in User.objects.order_by("username")]


@query(args={"userId": v.id(User)})
def get(ctx: QueryCtx, userId: int) -> dict[str, Any] | None:
    """One user, or null if there is no such user."""
    user = User.objects.filter(pk=userId).first()
    return user_json(user) if user else None
