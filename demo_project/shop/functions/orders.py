"""Orders: ``orders:list``, ``orders:create``."""

from __future__ import annotations

from typing import Any

from reactive import MutationCtx, QueryCtx, mutation, query, v

from ..models import Order


@query(args={})
def list_(ctx: QueryCtx) -> list[dict[str, Any]]:
    return [
        {"_id": o.pk, "description": o.description, "amountCents": o.amount_cents, "paid": o.paid}
        for o in Order.objects.order_by("-created_at", "-id")[:50]
    ]


@mutation(args={"description": v.string(min_length=1, max_length=200), "amountCents": v.int(min=1)})
def create(ctx: MutationCtx, description: str, amountCents: int) -> int:
    return Order.objects.create(description=description, amount_cents=amountCents).pk
