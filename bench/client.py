"""Lean load-generating clients, one asyncio task each, many per process.

- :class:`SyncClient` speaks the sync protocol (shared/PROTOCOL.md) over a real WebSocket, announces
  the ``diffs`` extension and rebuilds diffed values with :func:`reactive.live.diffs.apply`; it checks
  that every Transition starts where the previous one ended, as the official client does.
- :class:`PollClient` polls ``POST /api/query`` once a second over a keep-alive HTTP/1.1 connection.
- :class:`DcrfClient` subscribes to the djangochannelsrestframework observer of :mod:`bench.dcrf`.
- :class:`Writer` sends ``messages:send`` at a fixed rate, as sync-protocol ``Mutation`` messages or
  through ``POST /api/mutation``.
- :class:`Bystander` is a :class:`SyncClient` that also sends ``messages:send`` to its own channel, one at
  a time, and times each round trip (Mutation sent -> Transition carrying the new message read): the
  honest client of the hostile-load runs (:mod:`bench.attacks`).

Every client records, for each message it sees for the first time after its initial state, the
wall-clock time (``time.time()``) at which the frame carrying it was read from the socket (WebSocket
clients: in ``data_received``; polling: when the HTTP reply was read), and counts the bytes it
received on the socket (after permessage-deflate: what travels on the wire, frame headers included).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect

from reactive.live.diffs import EXTENSION as DIFFS
from reactive.live.diffs import apply as apply_diff

MESSAGES_QUERY = 0
USERS_QUERY = 1
CONNECT_TIMEOUT = 120.0
SYNC_PATH = "/api/bench/sync"


class CountingConnection(ClientConnection):
    """A websockets connection that counts the bytes read from its socket, and when it last read any."""

    bytes_in = 0
    # When the bytes completing the newest frame were read from the socket. Taken here, not when the
    # client task gets the message: a load generator runs hundreds of clients in one interpreter, and
    # the time a message waits for its client's turn there is the load generator's, not the server's.
    # A message that waited while later bytes arrived gets their (later) time: that errs on the slow side.
    last_read = 0.0

    def data_received(self, data: bytes) -> None:
        self.last_read = time.time()
        self.bytes_in += len(data)
        super().data_received(data)


@dataclass
class Recorder:
    """What one client saw: first-seen times of new message ids, bytes, protocol breaches."""

    channel_id: int
    deliveries: list[tuple[int, float]] = field(default_factory=list)  # (message id, receive time)
    updates: int = 0  # messages carrying at least one new message
    item_bytes: int = 0  # compact JSON size of the new messages received (for the bandwidth target)
    items: int = 0
    violations: list[str] = field(default_factory=list)
    ready: bool = False
    known: set[int] = field(default_factory=set)
    final: list[Any] | None = None

    def see(self, items: list[dict[str, Any]], now: float) -> None:
        """Record the items of a channel's message list that this client had not seen before."""
        fresh = False
        for item in items:
            key = item.get("_id")
            if key in self.known or not isinstance(key, int):
                continue
            self.known.add(key)
            if self.ready:
                fresh = True
                self.deliveries.append((key, now))
                self.items += 1
                self.item_bytes += len(json.dumps(item, separators=(",", ":"), ensure_ascii=False))
        if fresh:
            self.updates += 1


async def open_counting(
    url: str,
    *,
    compression: str | None = "deflate",
    open_timeout: float = CONNECT_TIMEOUT,
    local_address: str | None = None,
) -> CountingConnection:
    """A WebSocket to ``url`` that counts the bytes it receives.

    ``compression="deflate"`` offers permessage-deflate as browsers do; ``None`` offers nothing, so every
    frame travels (and reaches the server) at its full size. ``local_address``: the address to connect from
    (another loopback address looks like another machine to the server's limits per address).
    """
    # Passed on to loop.create_connection.
    local: dict[str, Any] = {"local_addr": (local_address, 0)} if local_address else {}
    ws = await connect(
        url,
        ping_interval=None,
        max_size=None,
        max_queue=None,
        open_timeout=open_timeout,
        compression=compression,
        create_connection=CountingConnection,
        **local,
    )
    assert isinstance(ws, CountingConnection)
    return ws


def connect_message(*, diffs: bool = False) -> str:
    """The ``Connect`` a fresh session sends first (a new ``sessionId``; the ``diffs`` extension if asked)."""
    message: dict[str, Any] = {
        "type": "Connect",
        "sessionId": str(uuid.uuid4()),
        "connectionCount": 0,
        "lastCloseReason": "InitialConnect",
        "clientTs": int(time.time() * 1000),
    }
    if diffs:
        message["reactiveExtensions"] = [DIFFS]
    return json.dumps(message)


def ws_url(base: str, path: str) -> str:
    parts = urlsplit(base)
    return f"ws://{parts.netloc}{path}"


class SyncClient:
    """One sync-protocol session subscribed to ``messages:list {channelId}`` and ``users:list``."""

    def __init__(self, base_url: str, channel_id: int, *, diffs: bool = True) -> None:
        self.url = ws_url(base_url, SYNC_PATH)
        self.rec = Recorder(channel_id)
        self.diffs = diffs
        self.ws: CountingConnection | None = None
        self.values: dict[int, Any] = {}
        self.version: dict[str, Any] = {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}
        self.ready = asyncio.Event()
        self.compressed = False
        self.local_address: str | None = None  # connect from this address (open_counting)

    @property
    def bytes_in(self) -> int:
        return self.ws.bytes_in if self.ws is not None else 0

    async def open(self) -> None:
        ws = self.ws = await open_counting(self.url, local_address=self.local_address)
        self.compressed = bool(ws.protocol.extensions)
        adds = [
            {
                "type": "Add",
                "queryId": MESSAGES_QUERY,
                "udfPath": "messages:list",
                "args": [{"channelId": self.rec.channel_id}],
            },
            {"type": "Add", "queryId": USERS_QUERY, "udfPath": "users:list", "args": [{}]},
        ]
        await ws.send(connect_message(diffs=self.diffs))
        await ws.send(json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": adds}))

    async def run(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            async for text in self.ws:
                now = self.ws.last_read
                self._handle(json.loads(text), now)

    def _handle(self, message: dict[str, Any], now: float) -> None:
        kind = message.get("type")
        if kind == "Transition":
            if message["startVersion"] != self.version:
                self.rec.violations.append(f"Transition from {message['startVersion']} while at {self.version}")
            self.version = message["endVersion"]
            for mod in message["modifications"]:
                if mod.get("type") != "QueryUpdated":
                    if mod.get("type") == "QueryFailed":
                        self.rec.violations.append(f"query {mod['queryId']} failed: {mod.get('errorMessage')}")
                    continue
                qid = mod["queryId"]
                value = apply_diff(self.values[qid], mod["diff"]) if "diff" in mod else mod["value"]
                self.values[qid] = value
                if qid == MESSAGES_QUERY:
                    self.rec.see(value, now)
            if not self.rec.ready and MESSAGES_QUERY in self.values and USERS_QUERY in self.values:
                self.rec.ready = True
                self.ready.set()
        elif kind == "FatalError":
            self.rec.violations.append(f"FatalError: {message.get('error')}")

    async def close(self) -> None:
        self.rec.final = self.values.get(MESSAGES_QUERY)
        if self.ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.ws.close()


class DcrfClient:
    """A djangochannelsrestframework client: initial list by action, then one event per new message."""

    def __init__(self, base_url: str, channel_id: int) -> None:
        self.url = ws_url(base_url, "/bench/dcrf")
        self.rec = Recorder(channel_id)
        self.ws: CountingConnection | None = None
        self.messages: list[Any] = []
        self.ready = asyncio.Event()
        self.compressed = False

    @property
    def bytes_in(self) -> int:
        return self.ws.bytes_in if self.ws is not None else 0

    async def open(self) -> None:
        ws = self.ws = await open_counting(self.url)
        self.compressed = bool(ws.protocol.extensions)
        await ws.send(json.dumps({"action": "subscribe_channel", "request_id": 1, "channel_id": self.rec.channel_id}))

    async def run(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            async for text in self.ws:
                now = self.ws.last_read
                message = json.loads(text)
                if message.get("action") == "subscribe_channel":
                    if message.get("response_status") != 200:
                        self.rec.violations.append(f"subscribe failed: {message.get('errors')}")
                        continue
                    self.messages = message["data"]["messages"]
                    self.rec.see(self.messages, now)
                    self.rec.ready = True
                    self.ready.set()
                elif message.get("action") == "create":
                    item = message["message"]
                    self.messages = [*self.messages, item][-50:]
                    self.rec.see([item], now)

    async def close(self) -> None:
        self.rec.final = self.messages
        if self.ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.ws.close()


class HttpConnection:
    """A minimal keep-alive HTTP/1.1 client connection (POST JSON, read the reply)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.bytes_in = 0

    async def _ensure(self) -> None:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        for attempt in range(2):
            try:
                return await self._post(path, body)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        await self._ensure()
        assert self.reader is not None and self.writer is not None
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        header_bytes = await self.reader.readuntil(b"\r\n\r\n")
        self.bytes_in += len(header_bytes)
        lines = header_bytes.decode("latin1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
            self.bytes_in += len(data)
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size_line = await self.reader.readuntil(b"\r\n")
                size = int(size_line.strip().split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                self.bytes_in += len(size_line) + len(chunk)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            data = b"".join(chunks)
        else:
            data = await self.reader.read()
            self.bytes_in += len(data)
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, json.loads(data) if data else None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class PollClient:
    """Polls ``messages:list`` of its channel over HTTP every ``interval`` seconds (random phase)."""

    def __init__(self, base_url: str, channel_id: int, interval: float = 1.0) -> None:
        self.http = HttpConnection(base_url)
        self.rec = Recorder(channel_id)
        self.interval = interval
        self.ready = asyncio.Event()
        self.compressed = False
        self.polls = 0
        self.errors = 0
        self.final: list[Any] | None = None

    @property
    def bytes_in(self) -> int:
        return self.http.bytes_in

    async def open(self) -> None:
        await self._poll()
        self.rec.ready = True
        self.ready.set()

    async def _poll(self) -> None:
        body = {"path": "messages:list", "args": [{"channelId": self.rec.channel_id}], "format": "convex_encoded_json"}
        status, reply = await self.http.post("/api/query", body)
        now = time.time()
        self.polls += 1
        if status != 200 or not isinstance(reply, dict) or reply.get("status") != "success":
            self.errors += 1
            return
        self.rec.final = reply["value"]
        self.rec.see(reply["value"], now)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time() + random.random() * self.interval
        tick = 0
        while True:
            tick += 1
            delay = start + tick * self.interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                tick += int(-delay // self.interval)  # a poll that overran: skip the missed ticks
            try:
                await self._poll()
            except (OSError, asyncio.IncompleteReadError, ValueError):
                self.errors += 1
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        self.http.close()


@dataclass
class WriterResult:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)  # request -> response, seconds
    started: float = 0.0
    finished: float = 0.0
    late: int = 0  # requests that left later than scheduled because every connection was busy
    unsent: int = 0  # requests never sent: the run's deadline (duration + grace) came first
    abandoned: int = 0  # requests sent but unanswered at the deadline


class WsMutator:
    """A sync-protocol session used only to send mutations (pipelined: the server runs them in order)."""

    def __init__(self, base_url: str) -> None:
        self.url = ws_url(base_url, SYNC_PATH)
        self.ws: ClientConnection | None = None
        self.waiting: dict[int, asyncio.Future[tuple[bool, Any]]] = {}
        self.next_id = 0
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.ws = await connect(self.url, ping_interval=None, max_size=None, max_queue=None, open_timeout=60)
        await self.ws.send(connect_message())
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            async for text in self.ws:
                message = json.loads(text)
                if message.get("type") == "MutationResponse":
                    future = self.waiting.pop(message["requestId"], None)
                    if future is not None and not future.done():
                        future.set_result((bool(message["success"]), message.get("result")))
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the writer's connection closed"))

    async def mutation(self, udf_path: str, args: dict[str, Any]) -> tuple[bool, Any]:
        assert self.ws is not None
        request_id = self.next_id
        self.next_id += 1
        future: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        await self.ws.send(
            json.dumps({"type": "Mutation", "requestId": request_id, "udfPath": udf_path, "args": [args]})
        )
        return await future

    def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            self.ws.transport.close()


class Writer:
    """``messages:send`` at ``rate``/s to random channels for ``duration`` s.

    ``mode`` ``ws``: over ``connections`` sync-protocol sessions, round robin, pipelined (how a
    ``reactive`` client writes). ``http``: ``POST /api/mutation`` (DRF) over ``connections`` keep-alive
    connections, one request at a time each (how a REST client writes).
    """

    def __init__(
        self,
        base_urls: list[str],
        channels: list[int],
        authors: list[str],
        rate: float,
        duration: float,
        connections: int = 1,
        mode: str = "http",
        seed: int = 1,
        cycle: bool = False,
    ) -> None:
        self.mode = mode
        self.base_urls = base_urls
        self.connections = connections
        self.pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
        self.mutators: list[WsMutator] = []
        self.channels, self.authors = channels, authors
        self.rate, self.duration = rate, duration
        self.random = random.Random(seed)
        self.cycle = cycle  # channels in turn instead of at random (consecutive writes never share a channel)
        self.result = WriterResult()
        self.grace = 10.0

    async def run(self) -> WriterResult:
        loop = asyncio.get_running_loop()
        if self.mode == "ws":
            self.mutators = [WsMutator(self.base_urls[i % len(self.base_urls)]) for i in range(self.connections)]
            await asyncio.gather(*(m.open() for m in self.mutators))
        else:
            for i in range(self.connections):
                self.pool.put_nowait(HttpConnection(self.base_urls[i % len(self.base_urls)]))
        total = int(self.rate * self.duration)
        start = loop.time()
        # A server that cannot keep up does not make the run last forever: what is not sent by then is not sent.
        deadline = start + self.duration + self.grace
        self.result.started = time.time()
        tasks = []
        for i in range(total):
            due = start + i / self.rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if loop.time() > deadline:
                self.result.unsent = total - i
                break
            channel = self.channels[i % len(self.channels)] if self.cycle else self.random.choice(self.channels)
            author = self.random.choice(self.authors)
            body = f"Bench message {i} to channel {channel}: the quick brown fox jumps over the lazy dog"
            args = {"channelId": channel, "body": body, "author": author}
            if self.mode == "ws":
                tasks.append(loop.create_task(self._send_ws(self.mutators[i % len(self.mutators)], args)))
            else:
                try:
                    connection = await asyncio.wait_for(self.pool.get(), max(deadline - loop.time(), 0.001))
                except TimeoutError:
                    self.result.unsent = total - i
                    break
                if loop.time() - due > 0.05:
                    self.result.late += 1
                tasks.append(loop.create_task(self._send_http(connection, args)))
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=max(deadline - loop.time(), 1.0))
            for task in pending:
                task.cancel()
            self.result.abandoned = len(pending)
            await asyncio.gather(*pending, return_exceptions=True)
        self.result.finished = time.time()
        while not self.pool.empty():
            self.pool.get_nowait().close()
        for mutator in self.mutators:
            mutator.close()
        return self.result

    async def _send_ws(self, mutator: WsMutator, args: dict[str, Any]) -> None:
        self.result.sent += 1
        begin = time.time()
        try:
            success, _value = await mutator.mutation("messages:send", args)
        except (OSError, ConnectionError):
            success = False
        if success:
            self.result.ok += 1
            self.result.latencies.append(time.time() - begin)
        else:
            self.result.failed += 1

    async def _send_http(self, connection: HttpConnection, args: dict[str, Any]) -> None:
        self.result.sent += 1
        begin = time.time()
        try:
            status, reply = await connection.post(
                "/api/mutation", {"path": "messages:send", "args": [args], "format": "convex_encoded_json"}
            )
            if status == 200 and isinstance(reply, dict) and reply.get("status") == "success":
                self.result.ok += 1
                self.result.latencies.append(time.time() - begin)
            else:
                self.result.failed += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.result.failed += 1
        except asyncio.CancelledError:
            connection.close()  # a reply may still be on its way: never reuse this connection
            raise
        finally:
            self.pool.put_nowait(connection)


BYSTANDER_ADDRESS = "127.0.0.2"


class Bystander(SyncClient):
    """An honest session timing its own writes while others attack the server.

    Subscribed like every :class:`SyncClient` (its channel's ``messages:list`` and ``users:list``), it sends
    ``messages:send`` to its own channel at ``rate``/s, one at a time as a user would (a round trip that
    overruns its slot delays the next one: the schedule is closed-loop). A round trip runs from sending the
    ``Mutation`` to reading both its ``MutationResponse`` and the Transition whose ``messages:list`` holds the
    new message (socket read times, as for every client here). One that takes longer than ``timeout`` seconds,
    or whose connection closes, is recorded as lost and the session reconnects.
    """

    def __init__(self, base_url: str, channel_id: int, author: str, rate: float = 10.0, timeout: float = 10.0) -> None:
        super().__init__(base_url, channel_id, diffs=True)
        self.local_address = BYSTANDER_ADDRESS  # not the attacker's (127.0.0.1): as another machine would
        self.author = author
        self.rate = rate
        self.timeout = timeout
        self.samples: list[tuple[float, float | None]] = []  # (send time, round trip ms or None: lost)
        self.reconnects = 0
        self.refused = 0  # mutations answered with success: false (not timed)
        self.unfinished = 0  # a round trip still running when the bystander stopped (recorded at its time so far)
        self._in_flight: float | None = None  # send time of the round trip running now
        self._next_request = 0
        self._response: tuple[int, asyncio.Future[Any]] | None = None  # (requestId, (read time, success, result))
        self._seen_at: dict[int, float] = {}  # message id -> read time of the first Transition holding it
        self._awaited: tuple[int, asyncio.Future[Any]] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await super().open()
        self._reader = asyncio.get_running_loop().create_task(self.run())

    def _handle(self, message: dict[str, Any], now: float) -> None:
        if message.get("type") == "MutationResponse":
            if self._response is not None and message.get("requestId") == self._response[0]:
                future = self._response[1]
                if not future.done():
                    future.set_result((now, bool(message.get("success")), message.get("result")))
            return
        known = len(self.rec.known)
        super()._handle(message, now)
        if len(self.rec.known) != known:
            for key in self.rec.known.difference(self._seen_at):
                self._seen_at[key] = now
            if self._awaited is not None and self._awaited[0] in self._seen_at and not self._awaited[1].done():
                self._awaited[1].set_result(self._seen_at[self._awaited[0]])

    async def measure(self) -> None:
        """Round trips at ``rate``/s until cancelled."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            due = max(due + 1.0 / self.rate, loop.time())
            if self._reader is None or self._reader.done():
                await self._reconnect()
                continue
            sent = self._in_flight = time.time()
            try:
                async with asyncio.timeout(self.timeout):
                    ms = await self._round_trip()
            except (TimeoutError, OSError, ConnectionError):
                self._in_flight = None
                self.samples.append((sent, None))
                if self._reader is not None:
                    self._reader.cancel()  # start again on a new connection
                continue
            self._in_flight = None  # (cancelled, it stays set: close() records the round trip)
            if ms is not None:
                self.samples.append((sent, ms))

    async def _round_trip(self) -> float | None:
        """One write; its round trip in ms, or None if the server refused it (not a timing)."""
        assert self.ws is not None and self._reader is not None
        loop = asyncio.get_running_loop()
        request_id = self._next_request
        self._next_request += 1
        response: asyncio.Future[Any] = loop.create_future()
        self._response = (request_id, response)
        args = {"channelId": self.rec.channel_id, "body": f"bystander {request_id}", "author": self.author}
        sent = time.time()
        await self.ws.send(
            json.dumps({"type": "Mutation", "requestId": request_id, "udfPath": "messages:send", "args": [args]})
        )
        closed: asyncio.Future[Any] = self._reader
        done, _pending = await asyncio.wait([response, closed], return_when=asyncio.FIRST_COMPLETED)
        if response not in done:
            raise ConnectionError("the bystander's connection closed")
        responded, success, result = response.result()
        if not success or not isinstance(result, int):
            self.refused += 1
            return None
        seen: asyncio.Future[Any] = loop.create_future()
        if result in self._seen_at:
            seen.set_result(self._seen_at[result])
        self._awaited = (result, seen)
        done, _pending = await asyncio.wait([seen, closed], return_when=asyncio.FIRST_COMPLETED)
        if seen not in done:
            raise ConnectionError("the bystander's connection closed")
        self._seen_at.pop(result, None)
        return float(max(responded, seen.result()) - sent) * 1000.0

    async def _reconnect(self) -> None:
        self.reconnects += 1
        if self.ws is not None:
            self.ws.transport.abort()
        self.values = {}
        self.version = {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}
        self.ready = asyncio.Event()
        self.rec.ready = False
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.timeout):
                await self.open()
                await self.ready.wait()

    async def close(self) -> None:
        """Stop (after :meth:`measure` is cancelled); a round trip still running is recorded at its time so far."""
        if self._in_flight is not None:
            self.samples.append((self._in_flight, (time.time() - self._in_flight) * 1000.0))
            self.unfinished += 1
        if self._reader is not None:
            self._reader.cancel()
        await super().close()
