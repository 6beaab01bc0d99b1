"""Functions the tests call, registered when conftest imports this module."""

from __future__ import annotations

from django.db import connection
from rest_framework import serializers

from demo_project.chat.models import Channel
from reactive import action, mutation, query, v
from reactive.context import ActionCtx, MutationCtx, QueryCtx


@query(name="testing:echo", args={"value": v.any()})
def echo(ctx: QueryCtx, value: object) -> object:
    return value


@action(name="testing:sync_action", args={"channelId": v.id(Channel)})
def sync_action(ctx: ActionCtx, channelId: int) -> int:
    """A plain (sync) action calling a query."""
    return len(ctx.run_query("messages:list", channelId=channelId))


class RenameSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(max_length=5)


@mutation(name="testing:serializer", args=RenameSerializer)
def with_serializer(ctx: MutationCtx, name: str) -> str:
    return name.upper()


@query(name="testing:bad_sql", args={})
def bad_sql(ctx: QueryCtx) -> int:
    """Reads messages, then runs SQL that the database rejects."""
    list(Channel.objects.all())
    with connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM chat_message")
    return 0
