"""The ``ctx`` passed as first argument to every function."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..threads import run_sync
from .identity import current_user

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

FunctionRef = str | Callable[..., Any]


class BaseCtx:
    """Common to every kind: the caller's Django user, as the database has it during this run."""

    def __init__(self, user: Any) -> None:
        # Who the connection or request claims to be; functions see the user loaded from it (identity.py).
        self._claimed = user
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
        from .execution import call_nested
        from .registry import Kind

        return call_nested(self, ref, Kind.QUERY, args)


class MutationCtx(QueryCtx):
    """Context of a mutation: runs inside one ``transaction.atomic()``."""

    def run_mutation(self, ref: FunctionRef, **args: Any) -> Any:
        """Call another mutation inside this mutation's transaction."""
        from .execution import call_nested
        from .registry import Kind

        return call_nested(self, ref, Kind.MUTATION, args)


class ActionCtx(BaseCtx):
    """Context of a sync action: no transaction; each call below commits on its own."""

    def run_query(self, ref: FunctionRef, **args: Any) -> Any:
        from .execution import run_query_once
        from .registry import Kind, resolve

        return run_query_once(resolve(ref, Kind.QUERY), args, self._claimed)

    def run_mutation(self, ref: FunctionRef, **args: Any) -> Any:
        from .execution import run_mutation_once
        from .registry import Kind, resolve

        return run_mutation_once(resolve(ref, Kind.MUTATION), args, self._claimed)

    def run_action(self, ref: FunctionRef, **args: Any) -> Any:
        from .execution import run_action_sync
        from .registry import Kind, resolve

        return run_action_sync(resolve(ref, Kind.ACTION), args, self._claimed)


class AsyncActionCtx(BaseCtx):
    """Context of an ``async def`` action: the same calls, awaitable."""

    def __init__(self, user: Any) -> None:
        super().__init__(user)
        self._sync = ActionCtx(user)

    async def run_query(self, ref: FunctionRef, **args: Any) -> Any:
        return await run_sync(functools.partial(self._sync.run_query, ref, **args))

    async def run_mutation(self, ref: FunctionRef, **args: Any) -> Any:
        return await run_sync(functools.partial(self._sync.run_mutation, ref, **args))

    async def run_action(self, ref: FunctionRef, **args: Any) -> Any:
        from .execution import run_action_async
        from .registry import Kind, resolve

        return await run_action_async(resolve(ref, Kind.ACTION), args, self._claimed)
