"""Commit notifications between server processes, over the channel layer.

The bus carries only ``{"ts": n}``: the outbox is the source of truth. Each process's
manager joins one group with one channel, so a commit costs one message per process,
not per subscriber. In the committing process the manager is told directly, without a
round trip through the layer. A lost notification is harmless: the next batch (at the
latest the periodic poll) reads the clock and the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from .conf import reactive_settings

if TYPE_CHECKING:
    from .subscriptions import SubscriptionManager

logger = logging.getLogger("reactive")
MESSAGE_TYPE = "reactive.commit"
# Redis forgets group members after a day by default; re-join well before that.
_REJOIN_SECONDS = 3600.0


def _shared_layer() -> Any | None:
    """The channel layer, if it can reach other processes (the in-memory one cannot)."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer


def _group() -> str:
    return str(reactive_settings.BUS_GROUP)


def publish(ts: int) -> None:
    """Announce commit ``ts`` (called right after the commit, from any thread). Never raises."""
    from .subscriptions import running_managers

    managers = running_managers()
    for manager in managers:
        manager.notify_threadsafe(ts)
    layer = _shared_layer()
    if layer is None:
        return
    message = {"type": MESSAGE_TYPE, "ts": ts}
    if managers:
        manager = managers[0]

        def send() -> None:
            task = manager.loop.create_task(layer.group_send(_group(), message))
            task.add_done_callback(_log_failure)

        try:
            manager.loop.call_soon_threadsafe(send)
        except RuntimeError:
            pass
        return
    try:
        async_to_sync(layer.group_send)(_group(), message)
    except Exception:
        logger.warning("reactive: could not publish commit %s; other processes will poll for it", ts, exc_info=True)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning(
            "reactive: could not publish a commit; other processes will poll for it", exc_info=task.exception()
        )


async def listen(manager: SubscriptionManager) -> None:
    """Feed commit notifications from other processes to ``manager`` until cancelled."""
    layer = _shared_layer()
    if layer is None:
        return
    delay = 0.1
    while True:
        try:
            channel = await layer.new_channel()
            await layer.group_add(_group(), channel)
            joined = asyncio.get_running_loop().time()
            while True:
                message = await layer.receive(channel)
                delay = 0.1
                if message.get("type") == MESSAGE_TYPE and isinstance(message.get("ts"), int):
                    manager.notify(message["ts"])
                if asyncio.get_running_loop().time() - joined > _REJOIN_SECONDS:
                    await layer.group_add(_group(), channel)
                    joined = asyncio.get_running_loop().time()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("reactive: the channel layer failed; reconnecting in %.1fs", delay, exc_info=True)
            manager.wake()  # catch up from the outbox meanwhile
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
