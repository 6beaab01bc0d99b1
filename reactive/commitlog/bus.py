"""Commit notifications between server processes, over the channel layer.

The bus carries only ``{"ts": n}``: the outbox is the source of truth. Each process's
manager joins one group with one channel, so a commit costs one message per process,
not per subscriber. In the committing process the manager is told directly, without a
round trip through the layer. A lost notification is harmless: the next batch (at the
latest the periodic poll) reads the clock and the outbox.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from channels.layers import InMemoryChannelLayer, get_channel_layer

from ..conf import reactive_settings
from ..readsets import TableWrite

logger = logging.getLogger("reactive")
MESSAGE_TYPE = "reactive.commit"
# Redis forgets group members after a day by default; re-join well before that.
_REJOIN_SECONDS = 3600.0


class CommitListener(Protocol):
    """What hears of commits: each process's subscription manager (one per event loop)."""

    loop: asyncio.AbstractEventLoop

    def notify(self, ts: int) -> None:
        """A commit numbered ``ts`` happened, in another process (called on :attr:`loop`)."""

    def notify_threadsafe(self, ts: int, writes: Mapping[int, list[TableWrite]] | None) -> None:
        """A commit of this process, with its write-sets (called from any thread)."""

    def wake(self) -> None:
        """Catch up from the outbox (notifications may have been missed)."""


_listeners: list[CommitListener] = []
_listeners_lock = threading.Lock()


def add_listener(listener: CommitListener) -> None:
    """Tell ``listener`` of this process's commits from now on (:func:`listen` brings other processes')."""
    with _listeners_lock:
        _listeners.append(listener)


def remove_listener(listener: CommitListener) -> None:
    with _listeners_lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _shared_layer() -> Any | None:
    """The channel layer, if it can reach other processes (the in-memory one cannot)."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer


def _group() -> str:
    return str(reactive_settings.BUS_GROUP)


def publish(ts: int, writes: Mapping[int, list[TableWrite]] | None = None) -> None:
    """Announce commit ``ts`` (called right after the commit, from any thread). Never raises.

    ``writes``: the write-sets of the commits announced, by number, as stored in the outbox; this
    process's managers match them without reading the outbox. Other processes read it.
    """
    with _listeners_lock:  # committed from worker threads while a loop may add or remove its listener
        managers = [listener for listener in _listeners if not listener.loop.is_closed()]
    for manager in managers:
        manager.notify_threadsafe(ts, writes)
    layer = _shared_layer()
    if layer is None:
        return
    # Send from a loop that lives on: the manager's, or else (shell, management command, worker)
    # the publisher thread's. A layer keeps a connection pool per event loop.
    loop = managers[0].loop if managers else _publisher_loop()
    try:
        future = asyncio.run_coroutine_threadsafe(layer.group_send(_group(), {"type": MESSAGE_TYPE, "ts": ts}), loop)
    except RuntimeError:
        return  # the loop is closing; other processes will poll for this commit
    future.add_done_callback(_log_failure)
    if not managers:
        # A short-lived process may exit right after committing: give the send a moment.
        with contextlib.suppress(Exception):
            future.result(timeout=_PUBLISH_WAIT)


_publisher: asyncio.AbstractEventLoop | None = None
_publisher_lock = threading.Lock()
_PUBLISH_WAIT = 2.0


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """An event loop on a daemon thread, for publishing from processes that serve no WebSocket."""
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="reactive-publisher", daemon=True).start()
            _publisher = loop
        return _publisher


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning(
            "reactive: could not publish a commit; other processes will poll for it", exc_info=future.exception()
        )


def _read_timeout(exc: BaseException) -> bool:
    """A blocking read that timed out: redis-py's socket_timeout (5 s by default) vs channels_redis's 5 s BZPOPMIN."""
    return isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError"


async def listen(manager: CommitListener) -> None:
    """Feed commit notifications from other processes to ``manager`` until cancelled.

    One channel for the life of the manager: a new channel per failure would leave a dead member in the
    group, which every later ``group_send`` pays for until Redis expires it (``group_expiry``, a day by
    default). After any failure the group is joined again (a restarted Redis has forgotten it) and the
    manager catches up from the outbox meanwhile.
    """
    layer = _shared_layer()
    if layer is None:
        return
    loop = asyncio.get_running_loop()
    channel = await layer.new_channel()
    joined: float | None = None
    delay = 0.1
    while True:
        try:
            if joined is None or loop.time() - joined > _REJOIN_SECONDS:
                await layer.group_add(_group(), channel)
                joined = loop.time()
            message = await layer.receive(channel)
            delay = 0.1
            if message.get("type") == MESSAGE_TYPE and isinstance(message.get("ts"), int):
                manager.notify(message["ts"])
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):  # leave the group, best effort
                await asyncio.wait_for(layer.group_discard(_group(), channel), 1.0)
            raise
        except Exception as exc:
            joined = None
            manager.wake()  # catch up from the outbox meanwhile
            if _read_timeout(exc):
                logger.debug("reactive: a channel-layer read timed out; receiving again", exc_info=True)
                continue
            logger.warning("reactive: the channel layer failed; reconnecting in %.1fs", delay, exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
