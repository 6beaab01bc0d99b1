"""reactive: Convex-style reactive queries for Django.

Decorate functions with :func:`query`, :func:`mutation` or :func:`action`; clients
subscribe to queries over one WebSocket and receive new results whenever a commit
changes what a query read. Everything a project's functions use is importable from here.
"""

from __future__ import annotations

from . import errors
from .errors import (
    ArgumentError,
    Forbidden,
    FunctionNotFound,
    IdentityMismatch,
    InvalidResult,
    LimitExceeded,
    ReactiveError,
    ReadOnlyError,
    Unauthorized,
)
from .functions.context import ActionCtx, AsyncActionCtx, MutationCtx, QueryCtx
from .functions.pagination import paginate
from .functions.registry import action, internal_action, internal_mutation, internal_query, mutation, query
from .functions.validators import v

__all__ = [
    "ActionCtx",
    "ArgumentError",
    "AsyncActionCtx",
    "Forbidden",
    "FunctionNotFound",
    "IdentityMismatch",
    "InvalidResult",
    "LimitExceeded",
    "MutationCtx",
    "QueryCtx",
    "ReactiveError",
    "ReadOnlyError",
    "Unauthorized",
    "action",
    "errors",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "mutation",
    "paginate",
    "query",
    "v",
]
