"""A sync-protocol client over a real WebSocket, for tests against live server processes.

    client = SyncClient([server.url, other.url])
    await client.connect()
    query_id = await client.subscribe("messages:list", {"channelId": 5})
    response = await client.mutation("messages:send", {"channelId": 5, "body": "hi", "author": "ann"})
    await client.wait_for(lambda c: len(c.values[query_id]) == 1)

A background task reads the socket and applies every message as the official client would:
each Transition must start exactly at the current version and its ``ts`` may not go backwards
(per connection); every breach is recorded in ``violations`` and re-raised by every wait. A
mutation stays *pending* until its failure arrives, or its success and then a Transition reaching
its ``ts``. With ``auto_reconnect`` (or on :meth:`reconnect`) the client opens a new connection to
one of its URLs, sends ``Connect`` with the same ``sessionId``, one ``ModifyQuerySet`` from version 0
re-adding every query under its original id, then every pending mutation with its original
``requestId``, as the official client does. Waits are bounded: their timeouts are hang guards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from reactive.testing import apply_modifications
from reactive.values import decode_ts, encode_ts

DEFAULT_TIMEOUT = 20.0
SYNC_PATH = "/api/test-client/sync"


class ProtocolViolation(AssertionError):
    """The server broke a rule that the official client enforces (or an invariant of the test)."""


def ws_url(url: str) -> str:
    """``http://host:port`` (or ``ws://…``) -> the sync endpoint's ``ws://`` URL."""
    if url.startswith("http://"):
        url = "ws://" + url[len("http://") :]
    elif url.startswith("https://"):
        url = "wss://" + url[len("https://") :]
    return url.rstrip("/") + SYNC_PATH


@dataclass
class TransitionRecord:
    connection: int  # which connection of this client (0, 1, …) received it
    start_ts: int
    end_ts: int
    query_ids: tuple[int, ...]


class SyncClient:
    """One client session, possibly spanning several connections (reconnects)."""

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        name: str = "client",
        session_id: str | None = None,
        auto_reconnect: bool = False,
        reconnect_deadline: float = 30.0,
        check: Callable[[SyncClient], None] | None = None,
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.name = name
        self.session_id = session_id or str(uuid.uuid4())
        self.auto_reconnect = auto_reconnect
        self.reconnect_deadline = reconnect_deadline
        self.check = check  # an invariant, called after every Transition; raise AssertionError to flag it
        # The client's own query set (survives reconnects) and what the server last told it.
        self.queries: dict[int, tuple[str, dict[str, Any]]] = {}
        self.values: dict[int, Any] = {}
        self.errors: dict[int, dict[str, Any]] = {}
        # Version of the current connection (the server's session starts from zero on each).
        self.version: dict[str, int] = {"querySet": 0, "identity": 0, "ts": 0}
        self.max_observed_ts = 0
        self.transitions: list[TransitionRecord] = []
        self.responses: dict[int, dict[str, Any]] = {}
        self.pending: dict[int, tuple[str, dict[str, Any]]] = {}  # mutations not yet confirmed
        self._awaiting_ts: dict[int, int] = {}  # request id -> ts its Transition must reach
        self.confirmed: dict[int, dict[str, Any]] = {}  # request id -> the response that settled it
        self.others: list[dict[str, Any]] = []  # FatalError, AuthError, …
        self.violations: list[str] = []
        # Transitions whose ts was below what an earlier connection had already shown (not a protocol
        # breach: the official client starts each connection at ts 0; reported for information).
        self.reconnect_regressions: list[tuple[int, int]] = []
        self.url: str | None = None
        self.connection_count = 0
        self.connected = False
        self.closed_by_server = 0  # connections that ended without us closing them
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False
        self._query_set_version = 0
        self._next_query_id = 0
        self._next_request_id = 0
        self._changed = asyncio.Event()
        self._floor_ts = 0  # max observed ts when the current connection opened

    def __repr__(self) -> str:
        return f"<SyncClient {self.name} {self.url} ts={self.version['ts']}>"

    # --- connections ----------------------------------------------------------------------

    async def connect(self, url: str | None = None, *, timeout: float = 10.0) -> None:
        """Open a connection (to ``url`` or the first URL) and bring the server up to date."""
        url = url or self.urls[0]
        ws = await connect(ws_url(url), open_timeout=timeout, ping_interval=None, max_size=None, max_queue=None)
        await self._adopt(ws, url)

    async def _adopt(self, ws: ClientConnection, url: str) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
        self._ws, self.url, self.connected = ws, url, True
        self.version = {"querySet": 0, "identity": 0, "ts": 0}
        self._floor_ts = self.max_observed_ts
        connect_message: dict[str, Any] = {
            "type": "Connect",
            "sessionId": self.session_id,
            "connectionCount": self.connection_count,
            "lastCloseReason": "InitialConnect" if self.connection_count == 0 else "Reconnect",
            "clientTs": int(time.time() * 1000),
        }
        if self.max_observed_ts:
            connect_message["maxObservedTimestamp"] = encode_ts(self.max_observed_ts)
        connection = self.connection_count
        self.connection_count += 1
        self._reader = asyncio.get_running_loop().create_task(self._read(ws, connection), name=f"{self.name}-reader")
        messages = [connect_message]
        self._query_set_version = 0
        if self.queries:
            adds = [
                {"type": "Add", "queryId": qid, "udfPath": udf, "args": [args]}
                for qid, (udf, args) in sorted(self.queries.items())
            ]
            messages.append({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": adds})
            self._query_set_version = 1
        for request_id, (udf, args) in sorted(self.pending.items()):
            messages.append({"type": "Mutation", "requestId": request_id, "udfPath": udf, "args": [args]})
        for message in messages:
            await self._send(message)

    async def reconnect(self, url: str | None = None, *, timeout: float = 10.0) -> None:
        """Drop the current connection (if any) and connect again, re-sending queries and mutations."""
        await self._drop()
        await self.connect(url, timeout=timeout)

    async def _drop(self) -> None:
        ws, self._ws, self.connected = self._ws, None, False
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
            self._reader = None
        if ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await ws.close()

    async def close(self) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(BaseException):
                await self._reconnecting
        await self._drop()

    async def _send(self, message: dict[str, Any]) -> bool:
        """Send if connected; False when the socket is gone (the message is re-sent on reconnect if needed)."""
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(message))
        except ConnectionClosed:
            return False
        return True

    async def _read(self, ws: ClientConnection, connection: int) -> None:
        try:
            async for text in ws:
                self._apply(json.loads(text), connection)
                self._notify()
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in this client: make it visible to every waiter
            self.violations.append(f"{self.name}: reader failed: {exc!r}")
        if self._ws is ws:
            self.connected = False
            self._ws = None
            if not self._closing:
                self.closed_by_server += 1
                if self.auto_reconnect:
                    self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect_loop())
        self._notify()

    async def _reconnect_loop(self) -> None:
        """Try the URLs in turn (the one we were on first) with backoff until one accepts us."""
        deadline = asyncio.get_running_loop().time() + self.reconnect_deadline
        order = self.urls[:]
        if self.url in order:
            start = order.index(self.url)
            order = order[start:] + order[:start]
        delay = 0.05
        attempt = 0
        while not self._closing:
            url = order[attempt % len(order)]
            attempt += 1
            try:
                ws = await connect(ws_url(url), open_timeout=3, ping_interval=None, max_size=None, max_queue=None)
            except (OSError, InvalidHandshake, TimeoutError):
                if asyncio.get_running_loop().time() > deadline:
                    self.violations.append(f"{self.name}: could not reconnect to any of {self.urls}")
                    self._notify()
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            await self._adopt(ws, url)
            self._notify()
            return

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # --- applying server messages ---------------------------------------------------------

    def _violation(self, text: str) -> None:
        self.violations.append(f"{self.name} (connection {self.connection_count - 1}): {text}")

    def _apply(self, message: dict[str, Any], connection: int) -> None:
        kind = message.get("type")
        if kind == "Transition":
            self._apply_transition(message, connection)
        elif kind == "MutationResponse":
            request_id = message["requestId"]
            self.responses[request_id] = message
            if request_id not in self.pending:
                return  # a late answer to a request already settled
            if message["success"]:
                self._awaiting_ts[request_id] = decode_ts(message["ts"])
                self._confirm_reached()
            else:
                self._settle(request_id)
        elif kind == "ActionResponse":
            self.responses[message["requestId"]] = message
        elif kind != "Ping":
            self.others.append(message)

    def _apply_transition(self, message: dict[str, Any], connection: int) -> None:
        start, end = message["startVersion"], message["endVersion"]
        start_ts, end_ts = decode_ts(start["ts"]), decode_ts(end["ts"])
        current = self.version
        if [start["querySet"], start["identity"], start_ts] != list(current.values()):
            self._violation(f"Transition starts at {start} (ts {start_ts}), the client is at {current}")
        if end_ts < current["ts"]:
            self._violation(f"ts went backwards on one connection: {end_ts} < {current['ts']}")
        if end["querySet"] > self._query_set_version:
            self._violation(f"Transition ends at query set {end['querySet']}, beyond {self._query_set_version}")
        ids = [mod["queryId"] for mod in message["modifications"]]
        unknown = apply_modifications(self.values, self.errors, message["modifications"])
        if unknown:
            self._violation(f"unknown modification {unknown!r}")
        self.version = {"querySet": end["querySet"], "identity": end["identity"], "ts": end_ts}
        if end_ts < self._floor_ts:
            self.reconnect_regressions.append((self._floor_ts, end_ts))
        self.max_observed_ts = max(self.max_observed_ts, end_ts)
        self.transitions.append(TransitionRecord(connection, start_ts, end_ts, tuple(ids)))
        self._confirm_reached()
        if self.check is not None:
            try:
                self.check(self)
            except AssertionError as exc:
                self._violation(f"invariant broken at ts {end_ts}: {exc}")

    def _confirm_reached(self) -> None:
        for request_id, ts in list(self._awaiting_ts.items()):
            if self.version["ts"] >= ts:
                self._settle(request_id)

    def _settle(self, request_id: int) -> None:
        self._awaiting_ts.pop(request_id, None)
        self.pending.pop(request_id, None)
        self.confirmed[request_id] = self.responses[request_id]

    # --- waiting --------------------------------------------------------------------------

    def _raise_violations(self) -> None:
        if self.violations:
            raise ProtocolViolation("; ".join(self.violations))

    async def wait_for(self, condition: Callable[[SyncClient], bool], timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until ``condition(self)`` holds (the timeout only guards against a hang)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._raise_violations()
                    if condition(self):
                        return
                    await self._changed.wait()
        except TimeoutError:
            self._raise_violations()
            raise AssertionError(
                f"{self.name}: condition not met within {timeout:.0f}s; connected={self.connected} url={self.url} "
                f"version={self.version} pending={sorted(self.pending)} others={self.others[-3:]}"
            ) from None

    async def wait_value(
        self, query_id: int, predicate: Callable[[Any], bool] = lambda value: True, timeout: float = DEFAULT_TIMEOUT
    ) -> Any:
        await self.wait_for(lambda c: query_id in c.values and predicate(c.values[query_id]), timeout)
        return self.values[query_id]

    async def wait_disconnected(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        await self.wait_for(lambda c: not c.connected, timeout)

    # --- requests -------------------------------------------------------------------------

    async def add_queries(self, queries: Sequence[tuple[str, dict[str, Any]]], *, wait: bool = True) -> list[int]:
        """Add several queries in one ModifyQuerySet; with ``wait``, until all have a result."""
        ids = []
        modifications = []
        for udf_path, args in queries:
            query_id = self._next_query_id
            self._next_query_id += 1
            self.queries[query_id] = (udf_path, args)
            ids.append(query_id)
            modifications.append({"type": "Add", "queryId": query_id, "udfPath": udf_path, "args": [args]})
        base = self._query_set_version
        self._query_set_version = base + 1
        await self._send(
            {"type": "ModifyQuerySet", "baseVersion": base, "newVersion": base + 1, "modifications": modifications}
        )
        if wait:
            await self.wait_for(lambda c: all(q in c.values or q in c.errors for q in ids))
        return ids

    async def subscribe(self, udf_path: str, args: dict[str, Any] | None = None, *, wait: bool = True) -> int:
        (query_id,) = await self.add_queries([(udf_path, args or {})], wait=wait)
        return query_id

    async def mutation(
        self,
        udf_path: str,
        args: dict[str, Any] | None = None,
        *,
        request_id: int | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        """Send a mutation; with ``wait``, return its settling response (success: once a Transition reached its ts)."""
        if request_id is None:
            request_id = self._next_request_id
        self._next_request_id = max(self._next_request_id, request_id + 1)
        args = args or {}
        self.pending[request_id] = (udf_path, args)
        self.confirmed.pop(request_id, None)
        await self._send({"type": "Mutation", "requestId": request_id, "udfPath": udf_path, "args": [args]})
        if not wait:
            return {"requestId": request_id}
        return await self.settled(request_id, timeout)

    async def settled(self, request_id: int, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        await self.wait_for(lambda c: request_id in c.confirmed, timeout)
        return self.confirmed[request_id]

    async def send_raw(self, message: dict[str, Any]) -> bool:
        """Send any message as is (e.g. a Mutation re-sent by hand); False if not connected."""
        return await self._send(message)
