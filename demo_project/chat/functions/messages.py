"""Chat messages: ``messages:list``, ``messages:send``, ``messages:create``, ``messages:recent``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from reactive import MutationCtx, QueryCtx, mutation, paginate, query, v

from ..models import Channel, Message

PAGE = 50


def message_json(message: Message) -> dict[str, Any]:
    return {
        "_id": message.pk,
        "channelId": message.channel_id,
        "body": message.body,
        "authorId": message.author_id,
        "author": message.author.username if message.author else None,
        "createdAt": message.created_at,
    }


@query(args={"channelId": v.id(Channel)})
def list_(ctx: QueryCtx, channelId: int) -> list[dict[str, Any]]:
    """The newest 50 messages of a channel, oldest first."""
    newest = Message.objects.filter(channel_id=channelId).select_related("author").order_by("-created_at", "-id")
    return [message_json(m) for m in reversed(newest[:PAGE])]


@query(args={})
def recent(ctx: QueryCtx) -> list[dict[str, Any]]:
    """The newest 20 messages of any channel, newest first."""
    return [message_json(m) for m in Message.objects.select_related("author").order_by("-created_at", "-id")[:20]]


@mutation(
    args={
        "channelId": v.id(Channel),
        "body": v.string(min_length=1, max_length=2000),
        "author": v.string(min_length=1, max_length=150),
    }
)
def send(ctx: MutationCtx, channelId: int, body: str, author: str) -> int:
    """Post to a channel as ``author``; creates that user, in the same transaction, if the name is new."""
    channel = Channel.objects.get(pk=channelId)
    user, _created = get_user_model().objects.get_or_create(username=author)
    return Message.objects.create(channel=channel, author=user, body=body).pk


@mutation(args={"body": v.string(min_length=1, max_length=2000)})
def create(ctx: MutationCtx, body: str) -> int:
    """Post to the default channel ("general") as the caller; returns the new message's id."""
    channel, _created = Channel.objects.get_or_create(name="general")
    author_id = ctx.user.pk if ctx.user.is_authenticated else None
    return Message.objects.create(channel=channel, author_id=author_id, body=body).pk


@query(args={"channelId": v.id(Channel), "paginationOpts": v.pagination_opts()})
def paginated(ctx: QueryCtx, channelId: int, paginationOpts: dict[str, Any]) -> dict[str, Any]:
    """A channel's history, newest first, one page at a time (for "Load more")."""
    newest = Message.objects.filter(channel_id=channelId).select_related("author").order_by("-created_at", "-id")
    return paginate(newest, paginationOpts, serialize=message_json)
