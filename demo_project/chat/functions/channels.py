"""Channels: ``channels:list``, ``channels:create``."""

from __future__ import annotations

from typing import Any

from reactive import MutationCtx, QueryCtx, ReactiveError, mutation, query, v

from ..models import Channel


@query(args={})
def list_(ctx: QueryCtx) -> list[dict[str, Any]]:
    return [{"_id": c.pk, "name": c.name} for c in Channel.objects.order_by("name")]


@mutation(args={"name": v.string(min_length=1, max_length=80)})
def create(ctx: MutationCtx, name: str) -> int:
    """Create a channel; a taken name fails with ``data={"code": "name_taken"}``."""
    if Channel.objects.filter(name=name).exists():
        raise ReactiveError(f"A channel named {name!r} already exists", data={"code": "name_taken", "name": name})
    return Channel.objects.create(name=name).pk
