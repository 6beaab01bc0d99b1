"""Notifications of the signed-in user: ``notifications:list``."""

from __future__ import annotations

from typing import Any

from reactive import QueryCtx, query

from ..models import Notification


@query(args={})
def list_(ctx: QueryCtx) -> list[dict[str, Any]]:
    """The caller's 20 newest notifications (none when signed out)."""
    if not ctx.user.is_authenticated:
        return []
    rows = Notification.objects.filter(user_id=ctx.user.pk).order_by("-created_at", "-id")[:20]
    return [{"_id": n.pk, "text": n.text, "createdAt": n.created_at} for n in rows]
