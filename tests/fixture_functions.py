"""Functions the tests call, registered when conftest imports this module."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import connection
from rest_framework import serializers

from demo_project.chat.models import Channel
from reactive import action, internal_query, mutation, query, v
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


@query(name="testing:groups_of", args={"userId": v.int()})
def groups_of(ctx: QueryCtx, userId: int) -> list[str]:
    """Names of a user's groups (reads the many-to-many through table)."""
    return sorted(Group.objects.filter(user__id=userId).values_list("name", flat=True))


@internal_query(name="testing:channel_names")
def channel_names(ctx: QueryCtx) -> list[str]:
    return sorted(Channel.objects.values_list("name", flat=True))


@query(name="testing:nested", args={})
def nested(ctx: QueryCtx) -> dict[str, object]:
    """Calls an internal query: its reads count as this query's reads."""
    return {"names": ctx.run_query(channel_names)}
