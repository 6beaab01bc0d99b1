"""Functions the tests call, registered when conftest imports this module."""

from __future__ import annotations

import threading

from django.contrib.auth.models import Group
from django.db import connection
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser, IsAuthenticated, IsAuthenticatedOrReadOnly

from demo_project.chat.models import Channel
from reactive import action, internal_action, internal_mutation, internal_query, mutation, query, v
from reactive.errors import ReactiveError
from reactive.functions.context import ActionCtx, AsyncActionCtx, BaseCtx, MutationCtx, QueryCtx


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


# --- security tests (tests/security/, tests/sync/test_fuzz.py, tests/entry/test_fuzz_http.py) -------------------------


def _is_staff(ctx: BaseCtx, args: dict[str, object]) -> bool:
    return bool(ctx.user.is_staff)


@query(name="testing:staff_secret", args={}, permission=_is_staff)
def staff_secret(ctx: QueryCtx) -> dict[str, object]:
    """Staff only (a callable check); the value names every channel."""
    return {"secret": "s3cret", "channels": sorted(Channel.objects.values_list("name", flat=True))}


@query(name="testing:whoami", args={}, permission=[IsAuthenticated])
def whoami(ctx: QueryCtx) -> str:
    """Authenticated users only (a DRF permission class)."""
    return ctx.user.get_username()


@query(name="testing:public_read", args={}, permission=[IsAuthenticatedOrReadOnly])
def public_read(ctx: QueryCtx) -> str:
    """A query is a safe method for DRF classes: anyone may read."""
    return "ok"


@mutation(name="testing:staff_mutation", args={"name": v.string()}, permission=[IsAdminUser])
def staff_mutation(ctx: MutationCtx, name: str) -> int:
    return Channel.objects.create(name=name).pk


def _may_add_channels(ctx: BaseCtx, args: dict[str, object]) -> bool:
    return bool(ctx.user.has_perm("chat.add_channel"))


@query(name="testing:channel_editor", args={}, permission=_may_add_channels)
def channel_editor(ctx: QueryCtx) -> str:
    """Only users with the ``chat.add_channel`` permission (their own, or a group's)."""
    return "editor"


@mutation(name="testing:caller", args={"tag": v.string()})
def caller(ctx: MutationCtx, tag: str) -> str:
    """Records who ran it: a channel named ``<tag>:<username>`` (``anonymous`` when logged out)."""
    name = f"{tag}:{ctx.user.get_username() or 'anonymous'}"
    Channel.objects.create(name=name)
    return name


@action(name="testing:async_whoami", args={})
async def async_whoami(ctx: AsyncActionCtx) -> str:
    """An ``async def`` action reading ``ctx.user`` on the event loop."""
    return ctx.user.get_username() or "anonymous"


@action(name="testing:staff_action", args={}, permission=_is_staff)
def staff_action(ctx: ActionCtx) -> str:
    return "done"


@action(name="testing:public_action", args={}, permission=[IsAuthenticatedOrReadOnly])
def public_action(ctx: ActionCtx) -> str:
    """An action is a POST for DRF classes: anonymous callers are refused."""
    return "done"


@internal_mutation(name="testing:internal_mutation", args={})
def internal_write(ctx: MutationCtx) -> int:
    return Channel.objects.create(name="internal").pk


@internal_action(name="testing:internal_action", args={})
def internal_act(ctx: ActionCtx) -> str:
    return "internal"


@query(name="testing:sized", args={"size": v.int(min=0)})
def sized(ctx: QueryCtx, size: int) -> str:
    """A result of about ``size`` bytes."""
    return "x" * size


@mutation(name="testing:sized_write", args={"size": v.int(min=0)})
def sized_write(ctx: MutationCtx, size: int) -> str:
    """Writes a channel, then returns about ``size`` bytes: too big a result must undo the write."""
    Channel.objects.create(name=f"sized-{size}")
    return "x" * size


@query(name="testing:all_channels", args={})
def all_channels(ctx: QueryCtx) -> int:
    """Reads every channel row."""
    return len(list(Channel.objects.all()))


GATE = threading.Event()


@action(name="testing:gate", args={})
def gate(ctx: ActionCtx) -> bool:
    """Holds its worker thread until a test sets ``GATE`` (at most 10 s)."""
    return GATE.wait(10)


# --- failure isolation (tests/functions/test_isolation.py) ---------------------------------------------

HUGE = 2**70  # fits no 64-bit integer, so no Convex value holds it


@query(name="testing:huge_error_data", args={})
def huge_error_data(ctx: QueryCtx) -> int:
    """Reads every channel, then fails with data that cannot be encoded."""
    count = Channel.objects.count()
    raise ReactiveError(f"{count} channels", data={"n": HUGE})


@query(name="testing:huge_result", args={})
def huge_result(ctx: QueryCtx) -> dict[str, int]:
    """Reads every channel, then returns a value that cannot be encoded."""
    return {"channels": Channel.objects.count(), "n": HUGE}


@query(name="testing:int_arg", args={"n": v.int()})
def int_arg(ctx: QueryCtx, n: int) -> int:
    return n


@mutation(name="testing:int_arg_write", args={"n": v.int()})
def int_arg_write(ctx: MutationCtx, n: int) -> int:
    return n


@query(name="testing:channel_count", args={"copy": v.int()})
def channel_count(ctx: QueryCtx, copy: int) -> int:
    """How many channels there are: every channel write affects every ``copy`` (one instance each)."""
    return Channel.objects.count()
