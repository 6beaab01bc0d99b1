"""Limits on what one client may send, receive and hold; each one is a ``REACTIVE`` setting.

Here: the checks of arguments (``MAX_ARGS_BYTES``, ``MAX_ARGS_DEPTH``) and results
(``MAX_RESULT_BYTES``), the token bucket behind ``MUTATION_RATE``/``MUTATION_BURST``, and
the counts behind ``MAX_CONNECTIONS_PER_USER`` and ``MAX_CONNECTIONS_PER_ADDRESS``.
Applied elsewhere: ``MAX_MESSAGE_BYTES`` (consumer, HTTP views), ``MAX_PENDING_MUTATIONS``
(the consumer makes a connection wait, as it does for ``MUTATION_RATE``) and ``MAX_UNSENT_MESSAGES`` (consumer),
``MAX_QUERIES_PER_CONNECTION`` and the Transition backlog (session), ``MAX_ROWS_READ``
(:class:`reactive.capture.tracking.ReadCollector`). Every error names its setting, so whoever
hits a limit knows which one to raise.
"""

from __future__ import annotations

import json
import weakref
from collections import Counter
from typing import Any

from ..conf import reactive_settings
from ..errors import ArgumentError, LimitExceeded


def check_args(raw: Any) -> None:
    """Check the arguments of one call or query as they came from the client (before decoding)."""
    depth_limit = reactive_settings.MAX_ARGS_DEPTH
    if _deeper_than(raw, depth_limit):
        raise LimitExceeded(f"Arguments are nested more than MAX_ARGS_DEPTH={depth_limit} levels deep")
    try:
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode())
    except UnicodeEncodeError:
        raise ArgumentError("Arguments contain a lone UTF-16 surrogate, which is not valid Unicode") from None
    except (TypeError, ValueError) as exc:  # not JSON at all (only possible from Python callers)
        raise ArgumentError(f"Arguments are not JSON: {exc}") from None
    limit = reactive_settings.MAX_ARGS_BYTES
    if size > limit:
        raise LimitExceeded(f"Arguments of {size} bytes exceed MAX_ARGS_BYTES={limit}")


def _deeper_than(value: Any, limit: int) -> bool:
    """Is ``value`` nested more than ``limit`` levels deep? Iterative: deep input must not recurse."""
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def check_result(text: str) -> str:
    """Return a result's JSON text if it is within ``MAX_RESULT_BYTES``; else raise.

    Encoding also rejects strings a function built with lone surrogates, which no socket could carry.
    """
    size = len(text.encode())
    limit = reactive_settings.MAX_RESULT_BYTES
    if size > limit:
        raise LimitExceeded(f"The result of {size} bytes exceeds MAX_RESULT_BYTES={limit}")
    return text


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; :meth:`take` spends one if there is one."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float) -> float:
        """Spend a token and return 0, or return the seconds until there is one (spending nothing)."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return (1 - self.tokens) / self.rate
        self.tokens -= 1
        return 0.0


# Connections per user, and those of no user per client address, counted per subscription manager (one per
# server process and event loop).
_connections: weakref.WeakKeyDictionary[Any, Counter[Any]] = weakref.WeakKeyDictionary()

# Who a connection is counted as: ("user", pk), ("address", client address), or None (not counted: no address).
ConnectionKey = tuple[str, Any] | None


def connection_key(user: Any, address: str | None) -> ConnectionKey:
    """An authenticated user's connections count for the user, the others for the address they come from."""
    if getattr(user, "is_authenticated", False):
        return ("user", user.pk)
    return None if address is None else ("address", address)


def connection_limit(key: tuple[str, Any]) -> tuple[str, int]:
    """The setting that bounds connections counted as ``key``, and its value."""
    name = "MAX_CONNECTIONS_PER_USER" if key[0] == "user" else "MAX_CONNECTIONS_PER_ADDRESS"
    return name, int(getattr(reactive_settings, name))


def claim_connection(manager: Any, key: ConnectionKey) -> bool:
    """Count one more connection as ``key`` (None is not counted); False at its limit."""
    if key is None:
        return True
    counts = _connections.setdefault(manager, Counter())
    if counts[key] >= connection_limit(key)[1]:
        return False
    counts[key] += 1
    return True


def release_connection(manager: Any, key: ConnectionKey) -> None:
    """Forget one connection counted as ``key`` by :func:`claim_connection`."""
    counts = _connections.get(manager)
    if key is None or counts is None:
        return
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]


def connection_count(manager: Any, key: ConnectionKey) -> int:
    """Connections counted as ``key`` now."""
    counts = _connections.get(manager)
    return 0 if counts is None or key is None else counts[key]
