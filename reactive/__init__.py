"""reactive: Convex-style reactive queries for Django.

Decorate functions with :func:`query`, :func:`mutation` or :func:`action`; clients
subscribe to queries over one WebSocket and receive new results whenever a commit
changes what a query read.
"""

from __future__ import annotations

from . import errors
from .functions import action, internal_action, internal_mutation, internal_query, mutation, query
from .pagination import paginate
from .validators import v

__all__ = [
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
