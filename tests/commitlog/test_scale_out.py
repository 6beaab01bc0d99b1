"""Scale-out: several Daphne processes on one PostgreSQL database and one Redis behave as one server.

Every test here starts real server processes (tests/live_servers.py) and talks to them over real sockets
(tests/ws_client.py). They need PostgreSQL and Redis: the PostgreSQL pass of ``make test`` runs them,
the SQLite pass skips them. Timeouts in these tests only guard against hangs; nothing asserts timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction

from demo_project.chat.models import Channel, Message
from reactive.capture import writes
from reactive.commitlog import commits
from reactive.commitlog.snapshot import read_snapshot
from reactive.models import MutationRecord, OutboxEntry
from reactive.values import decode_ts
from tests.live_servers import (
    LIVE_APP_PREFIX,
    LiveServer,
    LiveServerFactory,
    PrivateRedis,
    live_backends,
    metric,
    run_manage,
    terminate,
)
from tests.ws_client import SyncClient

_DATABASE_URL = os.environ.get("DATABASE_URL", "")
_ON_POSTGRES = _DATABASE_URL.startswith(("postgres://", "postgresql://", "pgsql://"))
_REDIS_URL = os.environ.get("REDIS_URL", "")
# The PostgreSQL pass of `make test` must run these tests, never skip them silently.
assert not (os.environ.get("CI") and _ON_POSTGRES and not _REDIS_URL), (
    "CI runs the PostgreSQL pass without REDIS_URL: the scale-out tests would be skipped"
)

pytestmark = [
    pytest.mark.skipif(
        not (_ON_POSTGRES and _REDIS_URL), reason="needs PostgreSQL + Redis (the PostgreSQL pass of make test runs it)"
    ),
    pytest.mark.django_db(transaction=True),
]

User = get_user_model()
WAIT = 30.0  # hang guard for convergence


# --- fixtures and helpers ----------------------------------------------------------------


# A server that learns of other processes' commits only from notifications: no periodic poll, and Redis
# reads that never time out (a timed-out read also makes a server check the outbox).
DEAF = {"REACTIVE_POLL_INTERVAL": "3600", "REACTIVE_LIVE_REDIS_SOCKET_TIMEOUT": "60"}


# The commit group of this module's servers: other test runs may share the machine's Redis.
_BUS_GROUP = f"reactive.test-{uuid.uuid4().hex[:12]}"


def server_env(**extra: str) -> dict[str, str]:
    """Environment of a live server: this module's commit group, plus ``extra``."""
    return {"REACTIVE_BUS_GROUP": _BUS_GROUP, **extra}


async def start_servers(factory: LiveServerFactory, count: int, **env: str) -> list[LiveServer]:
    """Start ``count`` servers at once, each with its own PostgreSQL application_name."""
    envs = [server_env(PGAPPNAME=f"{LIVE_APP_PREFIX}{uuid.uuid4().hex[:8]}", **env) for _ in range(count)]
    return list(await asyncio.gather(*(asyncio.to_thread(factory, e) for e in envs)))


@pytest.fixture(autouse=True, scope="module")
def _forget_bus_group() -> Iterator[None]:
    """The shared Redis keeps a group for a day: remove this module's when it is done."""
    yield
    with contextlib.suppress(Exception):
        import redis

        redis.Redis.from_url(_REDIS_URL).delete(f"asgi:group:{_BUS_GROUP}")  # channels_redis's key


def send_args(channel_id: int, body: str, author: str) -> dict[str, Any]:
    return {"channelId": channel_id, "body": body, "author": author}


@sync_to_async
def make_channels(*names: str) -> list[int]:
    return [Channel.objects.create(name=name).pk for name in names]


@sync_to_async
def db_state(channel_ids: list[int]) -> dict[str, Any]:
    """What users:list and messages:list return right now (usernames, message ids)."""
    state: dict[str, Any] = {"users": list(User.objects.order_by("username").values_list("username", flat=True))}
    for channel_id in channel_ids:
        newest = Message.objects.filter(channel_id=channel_id).order_by("-created_at", "-id")[:50]
        state[f"messages:{channel_id}"] = [m.pk for m in reversed(newest)]
    return state


def client_state(client: SyncClient, users_qid: int, message_qids: dict[int, int]) -> dict[str, Any] | None:
    if users_qid not in client.values or not all(q in client.values for q in message_qids.values()):
        return None
    state: dict[str, Any] = {"users": [u["username"] for u in client.values[users_qid]]}
    for channel_id, query_id in message_qids.items():
        state[f"messages:{channel_id}"] = [int(m["_id"]) for m in client.values[query_id]]
    return state


def authors_are_users(users_qid: int, message_qids: list[int]) -> Callable[[SyncClient], None]:
    """The invariant: a message held by a client never names an author its users list lacks."""

    def check(client: SyncClient) -> None:
        if users_qid not in client.values:
            return
        names = {u["username"] for u in client.values[users_qid]}
        for query_id in message_qids:
            for message in client.values.get(query_id, []):
                assert message["author"] in names, (
                    f"message {message['_id']} by {message['author']!r}, who is missing from the users list"
                )

    return check


class Reader:
    """A client holding users:list and messages:list of some channels, checking the invariant."""

    def __init__(self, client: SyncClient, channel_ids: list[int]) -> None:
        self.client = client
        self.channel_ids = channel_ids
        self.users_qid = 0
        self.message_qids: dict[int, int] = {}

    async def start(self) -> Reader:
        await self.client.connect()
        queries = [("users:list", {})] + [("messages:list", {"channelId": c}) for c in self.channel_ids]
        ids = await self.client.add_queries(queries)
        self.users_qid, self.message_qids = ids[0], dict(zip(self.channel_ids, ids[1:], strict=True))
        self.client.check = authors_are_users(self.users_qid, ids[1:])
        self.client.check(self.client)
        return self

    def state(self) -> dict[str, Any] | None:
        return client_state(self.client, self.users_qid, self.message_qids)

    async def converge(self, expected: dict[str, Any], timeout: float = WAIT) -> None:
        await self.client.wait_for(lambda c: self.state() == expected, timeout)


def assert_healthy(*clients: SyncClient, moved: tuple[SyncClient, ...] = ()) -> None:
    """No client saw a protocol breach or a broken invariant; none but ``moved`` lost its connection."""
    problems = [v for c in clients for v in c.violations]
    problems += [
        f"{c.name}: the server closed its connection {c.closed_by_server} time(s)"
        for c in clients
        if c.closed_by_server and c not in moved
    ]
    assert not problems, "\n".join(problems)


async def send_stream(client: SyncClient, channel_ids: list[int], prefix: str, count: int) -> list[int]:
    """Pipeline ``count`` messages:send with new authors (no waiting in between); returns request ids."""
    request_ids = []
    for n in range(count):
        body = f"{prefix}-{n}"
        sent = await client.mutation(
            "messages:send", send_args(channel_ids[n % len(channel_ids)], body, author=body), wait=False
        )
        request_ids.append(sent["requestId"])
    return request_ids


async def settle_all(client: SyncClient, request_ids: list[int], timeout: float = WAIT) -> list[dict[str, Any]]:
    return [await client.settled(request_id, timeout) for request_id in request_ids]


@sync_to_async
def count_bodies(prefix: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for body in Message.objects.filter(body__startswith=prefix + "-").values_list("body", flat=True):
        counts[body] = counts.get(body, 0) + 1
    return counts


# --- 1. one mutation, two processes ------------------------------------------------------


async def test_a_mutation_served_by_one_process_reaches_subscribers_of_the_other(
    live_server_factory: LiveServerFactory, clients: Callable[..., SyncClient]
) -> None:
    # Only the commit notification through Redis can bring the write across.
    (channel_id,) = await make_channels("general")
    one, two = await start_servers(live_server_factory, 2, **DEAF)
    reader = clients(one.url, name="reader")
    await reader.connect()
    query_id = await reader.subscribe("messages:list", {"channelId": channel_id})
    assert reader.values[query_id] == []
    writer = clients(two.url, name="writer")
    await writer.connect()

    response = await writer.mutation("messages:send", send_args(channel_id, "hello", "ann"))

    assert response["success"] is True, response
    value = await reader.wait_value(query_id, lambda v: [m["body"] for m in v] == ["hello"])
    assert value[0]["author"] == "ann" and int(value[0]["_id"]) == response["result"]
    assert reader.version["ts"] >= decode_ts(response["ts"])
    assert_healthy(reader, writer)


# --- 2. consistency under concurrency ----------------------------------------------------


async def test_readers_on_both_processes_never_see_a_message_without_its_author(
    live_server_factory: LiveServerFactory, clients: Callable[..., SyncClient]
) -> None:
    channel_ids = await make_channels("one", "two")
    servers = await start_servers(live_server_factory, 2)
    readers = [await Reader(clients(servers[i % 2].url, name=f"reader{i}"), channel_ids).start() for i in range(4)]
    writers = [clients(servers[i % 2].url, name=f"writer{i}") for i in range(4)]
    for writer in writers:
        await writer.connect()

    # Four connections (two per process) each pipeline 10 sends, every one by a new author.
    streams = await asyncio.gather(*(send_stream(w, channel_ids, f"w{i}", 10) for i, w in enumerate(writers)))
    results = await asyncio.gather(*(settle_all(w, ids) for w, ids in zip(writers, streams, strict=True)))

    assert all(r["success"] for rs in results for r in rs), results
    expected = await db_state(channel_ids)
    assert len(expected["users"]) == 40
    assert sum(len(expected[f"messages:{c}"]) for c in channel_ids) == 40
    for reader in readers:
        await reader.converge(expected)
    for reader in readers:
        # The writes were pushed to them (Transitions after the first), all on their first connection.
        assert len(reader.client.transitions) > 1
        assert {t.connection for t in reader.client.transitions} == {0}
    assert_healthy(*(r.client for r in readers), *writers)


# --- 3. commit order ---------------------------------------------------------------------


def _outbox_ts_of_channel(channel_pk: int) -> int:
    """The commit number whose outbox write-set inserted channel ``channel_pk``."""
    found = []
    for entry in OutboxEntry.objects.order_by("ts"):
        for write in commits.decode_writes(entry.writes):
            if write.table == "chat_channel" and write.pks and channel_pk in write.pks:
                found.append(entry.ts)
    assert len(found) == 1, f"channel {channel_pk} is in outbox rows {found}"
    return found[0]


def _run_threads(*targets: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def run(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(t.is_alive() for t in threads), "a transaction thread hung"
    if errors:
        raise errors[0]


def test_overlapping_transactions_get_numbers_in_commit_order_not_start_order() -> None:
    """T1 begins and writes; T2 begins, writes and commits; then T1 commits: T2's number is lower."""
    first_wrote, second_committed, may_commit = threading.Event(), threading.Event(), threading.Event()
    pks: dict[str, int] = {}
    snapshot: dict[str, Any] = {}

    def first() -> None:
        with transaction.atomic():
            pks["first"] = Channel.objects.create(name="started first").pk
            first_wrote.set()
            assert may_commit.wait(20)

    def second() -> None:
        assert first_wrote.wait(20)
        with transaction.atomic():
            pks["second"] = Channel.objects.create(name="started second").pk
        second_committed.set()

    def observer() -> None:
        # Between the two commits, a snapshot shows the clock at T2's number and T2's row only.
        assert second_committed.wait(20)
        with read_snapshot("default") as conn:
            snapshot["clock"] = commits.current_ts(conn)
            snapshot["names"] = set(Channel.objects.values_list("name", flat=True))
        may_commit.set()

    start = commits.current_ts()
    _run_threads(first, second, observer)

    ts_first, ts_second = _outbox_ts_of_channel(pks["first"]), _outbox_ts_of_channel(pks["second"])
    assert (ts_second, ts_first) == (start + 1, start + 2)
    assert commits.current_ts() == ts_first
    assert snapshot == {"clock": ts_second, "names": {"started second"}}


def test_a_transaction_holding_its_number_makes_later_committers_wait() -> None:
    """A mutation takes its number before committing (to answer with it): a concurrent commit queues behind."""
    first_numbered, may_commit = threading.Event(), threading.Event()
    pks: dict[str, int] = {}
    backend: dict[str, int] = {}

    def first() -> None:
        with transaction.atomic():
            pks["first"] = Channel.objects.create(name="numbered first").pk
            writes.flush(connection)  # what execute_mutation does before writing its MutationRecord
            first_numbered.set()
            assert may_commit.wait(20)

    def second() -> None:
        assert first_numbered.wait(20)
        with transaction.atomic():
            pks["second"] = Channel.objects.create(name="committed second").pk
            backend["pid"] = connection.connection.info.backend_pid
        # Leaving atomic() committed: the commit hook had to wait for the clock row.

    def observer() -> None:
        # The second transaction's commit blocks on the clock row lock until the first commits.
        assert first_numbered.wait(20)
        deadline = time.monotonic() + 20
        with connection.cursor() as cursor:
            while True:
                pid = backend.get("pid")
                if pid is not None:
                    cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                    row = cursor.fetchone()
                    if row and row[0] == "Lock":
                        break
                assert time.monotonic() < deadline, "the second commit never waited for the clock"
                time.sleep(0.02)
        may_commit.set()

    start = commits.current_ts()
    _run_threads(first, second, observer)

    assert (_outbox_ts_of_channel(pks["first"]), _outbox_ts_of_channel(pks["second"])) == (start + 1, start + 2)
    assert commits.current_ts() == start + 2


# --- 4. faults ---------------------------------------------------------------------------


async def test_kill_9_of_a_process_clients_move_and_converge_mutations_run_once(
    live_server_factory: LiveServerFactory, clients: Callable[..., SyncClient]
) -> None:
    channel_ids = await make_channels("one", "two")
    doomed, survivor = await start_servers(live_server_factory, 2)
    urls = [doomed.url, survivor.url]
    readers = [
        await Reader(clients(urls, name=f"reader{i}", auto_reconnect=True), channel_ids).start() for i in range(3)
    ]
    control = await Reader(clients(survivor.url, name="control"), channel_ids).start()
    writer = clients(urls, name="writer", auto_reconnect=True)
    await writer.connect()
    other_writer = clients(survivor.url, name="other-writer")
    await other_writer.connect()

    # Mutations in flight on the doomed process when it dies: some committed, some answered, some neither.
    in_flight = await send_stream(writer, channel_ids, "kill", 10)
    await writer.wait_for(lambda c: len(c.responses) >= 1)
    await asyncio.to_thread(doomed.kill)

    for reader in readers:
        await reader.client.wait_for(lambda c: c.connection_count >= 2 and c.connected)
        assert reader.client.url == survivor.url
    after = await send_stream(writer, channel_ids, "after", 5)
    others = await send_stream(other_writer, channel_ids, "other", 5)
    results = await settle_all(writer, in_flight + after) + await settle_all(other_writer, others)
    assert all(r["success"] for r in results), results
    for prefix, count in (("kill", 10), ("after", 5), ("other", 5)):
        assert await count_bodies(prefix) == {f"{prefix}-{n}": 1 for n in range(count)}, prefix

    # The process comes back; one reader moves back to it.
    await asyncio.to_thread(doomed.start)
    await readers[0].client.reconnect(doomed.url)
    late = await send_stream(other_writer, channel_ids, "late", 4)
    assert all(r["success"] for r in await settle_all(other_writer, late))
    expected = await db_state(channel_ids)
    for reader in [*readers, control]:
        await reader.converge(expected)

    # A mutation answered by one process and re-sent (same session, same request id) to the other runs once.
    once = clients(survivor.url, name="once")
    await once.connect()
    first = await once.mutation("messages:send", send_args(channel_ids[0], "exactly once", "ann"), request_id=7)
    await once.reconnect(doomed.url)
    again = await once.mutation("messages:send", send_args(channel_ids[0], "exactly once", "ann"), request_id=7)
    assert first["success"] and (again["result"], again["ts"]) == (first["result"], first["ts"])
    assert await sync_to_async(Message.objects.filter(body="exactly once").count)() == 1
    # Sent, then the connection dropped before any answer; re-sent on a new connection to the other process
    # (while the first may still be running): it runs once.
    await once.mutation("messages:send", send_args(channel_ids[0], "sent twice", "ann"), request_id=8, wait=False)
    await once.reconnect(survivor.url)  # re-sends request 8, unconfirmed
    assert (await once.settled(8))["success"]
    assert await sync_to_async(Message.objects.filter(body="sent twice").count)() == 1
    moved = (*(r.client for r in readers), writer, once)
    assert_healthy(*(r.client for r in readers), control.client, writer, other_writer, once, moved=moved)


async def test_a_client_moving_to_a_lagging_process_is_never_shown_older_results(
    live_server_factory: LiveServerFactory, clients: Callable[..., SyncClient]
) -> None:
    (channel_id,) = await make_channels("general")
    # "lagging" hears no notifications (it listens to another commit group) and never polls: it stays behind.
    [current], [lagging] = await asyncio.gather(
        start_servers(live_server_factory, 1),
        start_servers(live_server_factory, 1, **DEAF, REACTIVE_BUS_GROUP=f"{_BUS_GROUP}-elsewhere"),
    )
    bystander = clients(lagging.url, name="bystander")
    await bystander.connect()
    await bystander.subscribe("messages:list", {"channelId": channel_id})  # "lagging" holds the query, ready
    mover = clients(current.url, name="mover")
    await mover.connect()
    query_id = await mover.subscribe("messages:list", {"channelId": channel_id})
    assert (await mover.mutation("messages:send", send_args(channel_id, "seen", "ann")))["success"]
    assert [m["body"] for m in mover.values[query_id]] == ["seen"]
    seen_ts = mover.max_observed_ts

    # Its Connect carries maxObservedTimestamp: the lagging process must catch up before answering.
    await mover.reconnect(lagging.url)
    await mover.wait_for(lambda c: any(t.connection == 1 and query_id in t.query_ids for t in c.transitions))
    assert next(t.end_ts for t in mover.transitions if t.connection == 1) >= seen_ts
    assert mover.reconnect_regressions == []
    assert [m["body"] for m in mover.values[query_id]] == ["seen"]
    assert_healthy(mover, bystander)


async def test_redis_restart_during_a_stream_of_mutations(
    live_server_factory: LiveServerFactory, clients: Callable[..., SyncClient], private_redis: PrivateRedis
) -> None:
    # Both processes on a Redis of this test alone, and no periodic poll: what the processes miss while
    # Redis is down can only come back through the outbox, found when they hear of a later commit.
    channel_ids = await make_channels("one", "two")
    servers = await start_servers(live_server_factory, 2, REDIS_URL=private_redis.url, REACTIVE_POLL_INTERVAL="3600")
    # WebSocket connections do not depend on Redis: they stay open throughout (assert_healthy checks it).
    readers = [await Reader(clients(s.url, name=f"reader{i}"), channel_ids).start() for i, s in enumerate(servers * 2)]
    writers = [clients(s.url, name=f"writer{i}") for i, s in enumerate(servers)]
    for writer in writers:
        await writer.connect()

    async def stream(prefix: str) -> None:
        ids = await asyncio.gather(*(send_stream(w, channel_ids, f"{prefix}{i}", 4) for i, w in enumerate(writers)))
        done = await asyncio.gather(*(settle_all(w, r) for w, r in zip(writers, ids, strict=True)))
        assert all(r["success"] for rs in done for r in rs), done

    await stream("before")
    await asyncio.to_thread(private_redis.stop)
    await stream("down")
    await asyncio.to_thread(private_redis.start)
    await stream("after")

    expected = await db_state(channel_ids)
    assert len(expected["users"]) == 24
    for reader in readers:
        await reader.converge(expected)
    assert_healthy(*(r.client for r in readers), *writers)


async def test_a_process_behind_a_pruned_outbox_reruns_everything_and_stays_correct(
    live_server_factory: LiveServerFactory, clients: Callable[..., SyncClient]
) -> None:
    channel_ids = await make_channels("one", "idle")
    active, sleeper = await start_servers(live_server_factory, 2)
    reader = await Reader(clients(sleeper.url, name="reader"), channel_ids).start()
    channels_qid = await reader.client.subscribe("channels:list")
    writer = clients(active.url, name="writer")
    await writer.connect()
    await writer.mutation("messages:send", send_args(channel_ids[0], "warm-up", "ann"))
    await reader.converge(await db_state(channel_ids))
    channel_runs = await asyncio.to_thread(metric, sleeper, "reactive_query_runs_total", "channels:list")
    behind = reader.client.version["ts"]

    await asyncio.to_thread(sleeper.pause)
    try:
        results = await settle_all(writer, await send_stream(writer, channel_ids[:1], "asleep", 5))
        assert all(r["success"] for r in results)
        out = await asyncio.to_thread(run_manage, "reactive_prune", env={"REACTIVE_OUTBOX_RETENTION": "0.001"})
        assert "pruned" in out
        remaining = await sync_to_async(lambda: list(OutboxEntry.objects.values_list("ts", flat=True)))()
        assert len(remaining) == 1 and remaining[0] > behind + 1, (remaining, behind)  # the gap is gone
    finally:
        await asyncio.to_thread(sleeper.resume)

    expected = await db_state(channel_ids)
    await reader.converge(expected)
    # Everything it held re-ran, even channels:list, which none of those commits touched.
    runs = await asyncio.to_thread(metric, sleeper, "reactive_query_runs_total", "channels:list")
    assert runs > channel_runs
    assert [c["name"] for c in reader.client.values[channels_qid]] == ["idle", "one"]
    # And it keeps working.
    local = clients(sleeper.url, name="local-writer")
    await local.connect()
    assert (await local.mutation("messages:send", send_args(channel_ids[1], "awake", "bob")))["success"]
    await reader.converge(await db_state(channel_ids))
    assert_healthy(reader.client, writer, local)


async def test_postgres_connections_dropped_mid_batch_and_while_mutations_stream(
    live_server_factory: LiveServerFactory, clients: Callable[..., SyncClient]
) -> None:
    # Persistent connections (CONN_MAX_AGE) as in production, so a killed one would stay broken if nobody noticed.
    channel_ids = await make_channels("one", "two")
    victim, other = await start_servers(live_server_factory, 2, REACTIVE_LIVE_CONN_MAX_AGE="60")
    victim_app = victim.env["PGAPPNAME"]
    readers = [
        await Reader(clients([s.url], name=f"reader{i}"), channel_ids).start()
        for i, s in enumerate([victim, other] * 2)
    ]
    writers = [clients(s.url, name=f"writer{i}") for i, s in enumerate([victim, other])]
    for writer in writers:
        await writer.connect()

    # (1) Deterministic: the victim's re-run batch blocks reading the outbox (we hold a lock on it);
    # its connection is terminated right there.
    await asyncio.to_thread(victim.pause)
    try:
        assert (await writers[1].mutation("messages:send", send_args(channel_ids[0], "mid-batch", "carol")))["success"]
        lock_ready, release = threading.Event(), threading.Event()

        def hold_outbox_lock() -> None:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("LOCK TABLE reactive_outbox IN ACCESS EXCLUSIVE MODE")
                    lock_ready.set()
                    assert release.wait(30)
            finally:
                connection.close()

        holder = threading.Thread(target=hold_outbox_lock)
        holder.start()
        try:
            assert await asyncio.to_thread(lock_ready.wait, 10)
        finally:
            await asyncio.to_thread(victim.resume)
        try:
            blocked: list[dict[str, Any]] = []
            async with asyncio.timeout(WAIT):
                while not blocked:
                    blocked = [
                        b
                        for b in await live_backends()
                        if b["application_name"] == victim_app
                        and b["wait_event_type"] == "Lock"
                        and "reactive_outbox" in b["query"]
                    ]
                    await asyncio.sleep(0.02)
            assert await terminate([b["pid"] for b in blocked]) == len(blocked)
        finally:
            release.set()
            await asyncio.to_thread(holder.join, 30)
    finally:
        await asyncio.to_thread(victim.resume)
    expected = await db_state(channel_ids)
    for reader in readers:
        await reader.converge(expected)

    # (2) A storm: every connection of both servers is terminated again and again while mutations stream.
    storm = asyncio.Event()

    async def terminator() -> int:
        killed = 0
        while not storm.is_set():
            killed += await terminate([b["pid"] for b in await live_backends()])
            await asyncio.sleep(0.03)
        return killed

    killer = asyncio.get_running_loop().create_task(terminator())
    try:
        streams = await asyncio.gather(*(send_stream(w, channel_ids, f"storm{i}", 15) for i, w in enumerate(writers)))
        await asyncio.gather(*(settle_all(w, ids) for w, ids in zip(writers, streams, strict=True)))
    finally:
        storm.set()
        killed = await killer
    assert killed > 0
    # Mutations hit by a drop failed cleanly (nothing half-done); every one is there at most once.
    for i in range(2):
        assert all(n == 1 for n in (await count_bodies(f"storm{i}")).values())
    # The servers keep working: new mutations succeed on both, and every reader converges.
    for i, writer in enumerate(writers):
        response = await writer.mutation("messages:send", send_args(channel_ids[1], f"after-storm-{i}", "dave"))
        assert response["success"], response
    expected = await db_state(channel_ids)
    for reader in readers:
        await reader.converge(expected)
    assert_healthy(*(r.client for r in readers), *writers)


# --- 5. writes from processes without WebSockets; lost notifications -----------------------


async def test_writes_from_a_process_without_websockets_and_lost_notifications(
    live_server_factory: LiveServerFactory, clients: Callable[..., SyncClient]
) -> None:
    (channel_id,) = await make_channels("general")
    # "deaf" hears of commits only through notifications; "polling" also checks the outbox head often.
    [deaf], [polling] = await asyncio.gather(
        start_servers(live_server_factory, 1, **DEAF),
        start_servers(live_server_factory, 1, REACTIVE_POLL_INTERVAL="0.3"),
    )
    connected_at = asyncio.get_running_loop().time()
    readers = {}
    for name, server in (("deaf", deaf), ("polling", polling)):
        readers[name] = clients(server.url, name=name)
        await readers[name].connect()
    qids = {name: await r.subscribe("messages:list", {"channelId": channel_id}) for name, r in readers.items()}

    def bodies(name: str) -> list[str]:
        return [m["body"] for m in readers[name].values[qids[name]]]

    def shell_write(body: str, **options: Any) -> None:
        code = "from demo_project.chat.models import Message; "
        code += f"Message.objects.create(channel_id={channel_id}, body={body!r})"
        run_manage("shell", "-c", code, env=server_env(), **options)

    # A management shell commits and publishes: both servers' subscribers see it, "deaf" through Redis.
    await asyncio.to_thread(shell_write, "from the shell")
    for name in readers:
        await readers[name].wait_for(lambda c, n=name: bodies(n) == ["from the shell"])

    # Connections live past redis-py's default read timeout (5 s): they must not depend on Redis reads.
    await asyncio.sleep(max(0.0, 6 - (asyncio.get_running_loop().time() - connected_at)))
    # A commit whose notification is lost (this shell has no Redis): the poll finds it.
    await asyncio.to_thread(shell_write, "notification lost", drop=("REDIS_URL",))
    await readers["polling"].wait_for(lambda c: bodies("polling") == ["from the shell", "notification lost"])
    assert bodies("deaf") == ["from the shell"]  # nothing told it, and it does not poll
    # The next notified commit reveals the lost one to "deaf" too (the outbox has it).
    await asyncio.to_thread(shell_write, "revealing")
    for name in readers:
        await readers[name].wait_for(
            lambda c, n=name: bodies(n) == ["from the shell", "notification lost", "revealing"]
        )
    assert_healthy(*readers.values())


# --- 6. pruning on schedule --------------------------------------------------------------


async def test_a_live_server_prunes_outbox_and_mutation_records_on_its_schedule(
    live_server_factory: LiveServerFactory, clients: Callable[..., SyncClient]
) -> None:
    channel_ids = await make_channels("one")
    [pruner], [keeper] = await asyncio.gather(
        start_servers(
            live_server_factory,
            1,
            REACTIVE_PRUNE_INTERVAL="0.2",
            REACTIVE_OUTBOX_RETENTION="0.001",
            REACTIVE_MUTATION_RETENTION="0.001",
        ),
        start_servers(live_server_factory, 1),
    )
    reader = await Reader(clients(keeper.url, name="reader"), channel_ids).start()
    own_reader = await Reader(clients(pruner.url, name="own-reader"), channel_ids).start()
    writer = clients(pruner.url, name="writer")
    await writer.connect()

    results = await settle_all(writer, await send_stream(writer, channel_ids, "pruned", 6))
    assert all(r["success"] for r in results)

    @sync_to_async
    def counts() -> tuple[int, int]:
        return OutboxEntry.objects.count(), MutationRecord.objects.count()

    deadline = time.monotonic() + WAIT
    while await counts() != (1, 0):
        assert time.monotonic() < deadline, f"never pruned: (outbox rows, mutation records) = {await counts()}"
        await asyncio.sleep(0.1)
    newest = await sync_to_async(lambda: OutboxEntry.objects.get().ts)()
    assert newest == await sync_to_async(commits.current_ts)()  # the newest row is always kept
    expected = await db_state(channel_ids)
    for r in (reader, own_reader):
        await r.converge(expected)
    assert_healthy(reader.client, own_reader.client, writer)
