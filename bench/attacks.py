"""Hostile clients for the hostile-load runs (``python -m bench --hostile``; docs/security.md, "Hostile load").

Each attack is one coroutine that attacks the server at ``base_url`` until it is cancelled, counting what it
did in an :class:`AttackStats`. The attackers use the same sockets as every benchmark client
(:func:`bench.client.open_counting`), read (and drop) whatever the server sends unless not reading is the
attack, and open a new connection whenever the server closes theirs. ``channel`` is the bystander's channel:
the fan-out and slow-reader attacks subscribe to the queries its writes change.

- ``big-frames``: one socket without compression sending ``ModifyQuerySet`` frames of :data:`FRAME_BYTES`
  (an ``Add`` of ``messages:list`` whose args carry a 1 MiB string, then its ``Remove``), as fast as the
  socket takes them.
- ``nested``: Event frames of :data:`FRAME_BYTES` whose payload is nested lists, alternately deep
  (``[[[[...]]]]``) and wide (``[[],[],...]``).
- ``event-flood``: small ``Event`` messages on one socket, as fast as the socket takes them.
- ``journal-fanout``: one socket subscribing to the bystander's ``messages:list`` 1,000 times, each ``Add``
  with a different ``journal``, in one ``ModifyQuerySet``; then holding them.
- ``paginated-fanout``: one socket subscribing to ``messages:paginated`` of the bystander's channel 1,000 times,
  each with a different ``paginationOpts`` (``id`` and ``numItems``); then holding them.
- ``slow-readers``: 50 sockets (no compression) subscribed to the bystander's channel's queries
  (``messages:list``, ``messages:paginated`` with 10,000 items, ``messages:recent``, ``users:list``), which
  never read their sockets after the handshake.
- ``connection-flood``: as many sockets as this process can open, as fast as it can (256 handshakes at a
  time, each followed by a ``Connect``), kept open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from .client import CountingConnection, connect_message, open_counting, ws_url

# Just under MAX_MESSAGE_BYTES and Daphne's own frame limit (both 1 MiB): the largest frame the server reads.
FRAME_BYTES = 1_048_576 - 1_024
FANOUT = 1_000  # subscriptions of the fan-out attacks (MAX_QUERIES_PER_CONNECTION)
SLOW_READERS = 50
FLOOD_CONCURRENCY = 256  # handshakes in flight during the connection flood
OPEN_TIMEOUT = 30.0


@dataclass
class AttackStats:
    """What an attacker did: ``frames`` and ``bytes`` sent, sockets opened, and how the server answered."""

    frames: int = 0
    bytes: int = 0
    connections: int = 0  # sockets opened (handshake done)
    open_now: int = 0  # sockets open at the end
    failed_connects: int = 0
    received_bytes: int = 0  # bytes read from the server (sockets that read)
    closes: dict[str, int] = field(default_factory=dict)  # the server's close codes, counted

    def closed(self, exc: BaseException) -> None:
        code = exc.rcvd.code if isinstance(exc, ConnectionClosed) and exc.rcvd is not None else None
        key = str(code) if code is not None else type(exc).__name__
        self.closes[key] = self.closes.get(key, 0) + 1


Attack = Callable[[str, int, AttackStats], Coroutine[Any, Any, None]]


async def _send(ws: CountingConnection, text: str, stats: AttackStats) -> None:
    await ws.send(text)
    stats.frames += 1
    stats.bytes += len(text)


async def _drain(ws: CountingConnection) -> None:
    """Read and drop everything the server sends until the socket closes."""
    with contextlib.suppress(Exception):
        async for _message in ws:
            pass


async def _session(base_url: str, stats: AttackStats, *, compression: str | None = "deflate") -> CountingConnection:
    """A new socket that has sent its ``Connect`` (and is counted in ``stats``)."""
    ws = await open_counting(ws_url(base_url, "/api/bench/sync"), compression=compression, open_timeout=OPEN_TIMEOUT)
    stats.connections += 1
    await _send(ws, connect_message(), stats)
    return ws


async def _reconnecting(
    base_url: str,
    stats: AttackStats,
    body: Callable[[CountingConnection], Awaitable[None]],
    *,
    compression: str | None = "deflate",
) -> None:
    """Run ``body`` on a fresh session, reading what the server sends; again on a new one whenever it closes."""
    while True:
        try:
            ws = await _session(base_url, stats, compression=compression)
        except (OSError, TimeoutError, ConnectionClosed):
            stats.failed_connects += 1
            await asyncio.sleep(0.05)
            continue
        reader = asyncio.get_running_loop().create_task(_drain(ws))
        try:
            await body(ws)
            await reader  # the body holds what it set up until the server closes the socket
        except ConnectionClosed as exc:
            stats.closed(exc)
        except OSError as exc:
            stats.closed(exc)
        finally:
            stats.received_bytes += ws.bytes_in
            reader.cancel()
            ws.transport.abort()


def _modify(version: int, modifications: list[dict[str, Any]]) -> str:
    return json.dumps(
        {"type": "ModifyQuerySet", "baseVersion": version, "newVersion": version + 1, "modifications": modifications}
    )


async def big_frames(base_url: str, channel: int, stats: AttackStats) -> None:
    prefix = _modify(0, [{"type": "Add", "queryId": 0, "udfPath": "messages:list", "args": [{"pad": ""}]}])
    pad = "x" * (FRAME_BYTES - len(prefix) - 16)

    async def body(ws: CountingConnection) -> None:
        version = 0
        while True:
            args = [{"channelId": channel, "pad": pad}]
            add = {"type": "Add", "queryId": version, "udfPath": "messages:list", "args": args}
            await _send(ws, _modify(version, [add]), stats)
            await _send(ws, _modify(version + 1, [{"type": "Remove", "queryId": version}]), stats)
            version += 2

    await _reconnecting(base_url, stats, body, compression=None)


def _event(payload: str) -> str:
    return '{"type":"Event","eventType":"hostile","event":' + payload + "}"


async def nested(base_url: str, channel: int, stats: AttackStats) -> None:
    room = FRAME_BYTES - len(_event(""))
    deep = _event("[" * (room // 2) + "]" * (room // 2))
    wide = _event("[" + ",".join(["[]"] * ((room - 2) // 3)) + "]")

    async def body(ws: CountingConnection) -> None:
        while True:
            await _send(ws, deep, stats)
            await _send(ws, wide, stats)

    await _reconnecting(base_url, stats, body, compression=None)


async def event_flood(base_url: str, channel: int, stats: AttackStats) -> None:
    event = _event('{"n":1}')

    async def body(ws: CountingConnection) -> None:
        while True:
            for _ in range(100):
                await _send(ws, event, stats)
            await asyncio.sleep(0)  # let the reader and the progress reports run

    await _reconnecting(base_url, stats, body)


async def journal_fanout(base_url: str, channel: int, stats: AttackStats) -> None:
    adds = [
        {"type": "Add", "queryId": i, "udfPath": "messages:list", "args": [{"channelId": channel}], "journal": f"j{i}"}
        for i in range(FANOUT)
    ]

    async def body(ws: CountingConnection) -> None:
        await _send(ws, _modify(0, adds), stats)

    await _reconnecting(base_url, stats, body)


async def paginated_fanout(base_url: str, channel: int, stats: AttackStats) -> None:
    adds = [
        {
            "type": "Add",
            "queryId": i,
            "udfPath": "messages:paginated",
            "args": [{"channelId": channel, "paginationOpts": {"numItems": 1 + i, "cursor": None, "id": i}}],
        }
        for i in range(FANOUT)
    ]

    async def body(ws: CountingConnection) -> None:
        await _send(ws, _modify(0, adds), stats)

    await _reconnecting(base_url, stats, body)


async def slow_readers(base_url: str, channel: int, stats: AttackStats) -> None:
    queries = [
        ("messages:list", {"channelId": channel}),
        ("messages:paginated", {"channelId": channel, "paginationOpts": {"numItems": 10_000, "cursor": None}}),
        ("messages:recent", {}),
        ("users:list", {}),
    ]
    adds = [{"type": "Add", "queryId": i, "udfPath": path, "args": [args]} for i, (path, args) in enumerate(queries)]
    sockets: list[CountingConnection] = []

    async def one() -> None:
        ws = await _session(base_url, stats, compression=None)
        # Never read again: a small receive buffer, and the transport stops reading (the kernel's fills up).
        raw = ws.transport.get_extra_info("socket")
        if raw is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ws.transport.pause_reading()
        await _send(ws, _modify(0, adds), stats)
        sockets.append(ws)

    results = await asyncio.gather(*(one() for _ in range(SLOW_READERS)), return_exceptions=True)
    stats.failed_connects += sum(1 for r in results if isinstance(r, BaseException))
    try:
        await asyncio.Event().wait()  # hold them until cancelled
    finally:
        stats.open_now = sum(1 for ws in sockets if not ws.transport.is_closing())
        for ws in sockets:
            ws.transport.abort()


async def connection_flood(base_url: str, channel: int, stats: AttackStats) -> None:
    # As many as the process may open (its file descriptor limit, raised to the hard limit), less a margin.
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 100
    sockets: list[CountingConnection] = []
    gate = asyncio.Semaphore(FLOOD_CONCURRENCY)

    async def one() -> None:
        try:
            sockets.append(await _session(base_url, stats))
        except (OSError, TimeoutError, ConnectionClosed):
            stats.failed_connects += 1
            await asyncio.sleep(0.1)
        finally:
            gate.release()

    tasks: set[asyncio.Task[None]] = set()
    try:
        while True:
            await gate.acquire()
            if len(sockets) + len(tasks) >= limit:
                gate.release()
                await asyncio.sleep(0.5)
                continue
            task = asyncio.get_running_loop().create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in tasks:
            task.cancel()
        stats.open_now = sum(1 for ws in sockets if not ws.transport.is_closing())
        for ws in sockets:
            ws.transport.abort()


ATTACKS: dict[str, tuple[str, Attack]] = {
    "big-frames": ("1 MiB ModifyQuerySet frames, as fast as possible", big_frames),
    "nested": ("1 MiB Event frames of nested lists (deep, wide)", nested),
    "event-flood": ("small Event messages, as fast as possible", event_flood),
    "journal-fanout": ("messages:list x 1,000 journals on one socket", journal_fanout),
    "paginated-fanout": ("messages:paginated x 1,000 paginationOpts on one socket", paginated_fanout),
    "slow-readers": ("50 subscribed sockets that never read", slow_readers),
    "connection-flood": ("as many sockets as possible, kept open", connection_flood),
}
