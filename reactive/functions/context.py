"""The ``ctx`` passed as first argument to every function.

A ctx calls other functions (``ctx.run_query``...) through the :class:`Calls` it was made with: the
execution module, which makes every ctx, gives itself, so this module never imports it back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..threads import run_sync
from .identity import current_user
from .registry import Kind

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

FunctionRef = str | Callable[..., Any]


class Calls(Protocol):
    """How a ctx calls other functions (:mod:`reactive.functions.execution` implements it)."""

    def nested(self, ctx: QueryCtx, ref: FunctionRef, kind: Kind, args: dict[str, Any]) -> Any:
        """A query or mutation called inside the running one: same transaction, same tracking."""

    def once(self, ref: FunctionRef, kind: Kind, args: dict[str, Any], user: Any) -> Any:
        """A query, mutation or action called from an action: each in its own transaction."""

    async def action_async(self, ref: FunctionRef, args: dict[str, Any], user: Any) -> Any:
        """An ``async def`` action called from an async action."""


class BaseCtx:
    """Common to every kind: the caller's Django user, as the database has it during this run."""

    def __init__(self, user: Any, calls: Calls) -> None:
        # Who the connection or request claims to be; functions see the user loaded from it (identity.py).
        self._claimed = user
        self._calls = calls
        self._user: AbstractBaseUser | AnonymousUser | None = None
        self.identity_read = False

    @property
    def user(self) -> AbstractBaseUser | AnonymousUser:
        """The Django user of the connection or request (``AnonymousUser`` when logged out).

        Read from the database on first use in each run, so it is never older than the run:
        an inactive or deleted user is anonymous. Reading it makes a query's result specific
        to this user (shared only between connections of the same user) and makes the query
        re-run when the user's row changes.
        """
        self.identity_read = True
        return self.load_user()

    def load_user(self) -> AbstractBaseUser | AnonymousUser:
        """Load the user now if this run has not yet (async code calls this on a thread before it runs)."""
        if self._user is None:
            self._user = current_user(self._claimed)
        return self._user


class QueryCtx(BaseCtx):
    """Context of a query: read-only ORM access; every read is tracked."""

    def run_query(self, ref: FunctionRef, **args: Any) -> Any:
        """Call another query (internal ones too) inside this one; its reads count as ours."""
        return self._calls.nested(self, ref, Kind.QUERY, args)


class MutationCtx(QueryCtx):
    """Context of a mutation: runs inside one ``transaction.atomic()``."""

    def run_mutation(self, ref: FunctionRef, **args: Any) -> Any:
        """Call another mutation inside this mutation's transaction."""
        return self._calls.nested(self, ref, Kind.MUTATION, args)


class ActionCtx(BaseCtx):
    """Context of a sync action: no transaction; each call below commits on its own."""

    def run_query(self, ref: FunctionRef, **args: Any) -> Any:
        return self._calls.once(ref, Kind.QUERY, args, self._claimed)

    def run_mutation(self, ref: FunctionRef, **args: Any) -> Any:
        return self._calls.once(ref, Kind.MUTATION, args, self._claimed)

    def run_action(self, ref: FunctionRef, **args: Any) -> Any:
        return self._calls.once(ref, Kind.ACTION, args, self._claimed)


class AsyncActionCtx(BaseCtx):
    """Context of an ``async def`` action: the same calls, awaitable."""

    def __init__(self, user: Any, calls: Calls) -> None:
        super().__init__(user, calls)
        self._sync = ActionCtx(user, calls)

    async def run_query(self, ref: FunctionRef, **args: Any) -> Any:
        return await run_sync(functools.partial(self._sync.run_query, ref, **args))

    async def run_mutation(self, ref: FunctionRef, **args: Any) -> Any:
        return await run_sync(functools.partial(self._sync.run_mutation, ref, **args))

    async def run_action(self, ref: FunctionRef, **args: Any) -> Any:
        return await self._calls.action_async(ref, args, self._claimed)
