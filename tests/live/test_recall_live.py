"""Randomized differential recall test, end to end: live subscriptions equal a fresh run once quiet.

Clients subscribe over real WebSockets to random specs through ``recall:run`` on live server
processes (tests/live_servers.py). Each round commits random writes (tests/recall/ops.py) through the
``recall:write`` mutation, from the test process and from a separate writer process, waits until
every client has caught up with the clock (each settles a ``recall:sync`` mutation, whose
Transition reaches the clock's ts), then compares every subscription's value with a fresh run
of its spec. One server (any backend), and two servers on PostgreSQL + Redis with the clients
spread over both. ``RECALL_SEED`` replays a run, ``RECALL_ROUNDS`` makes it longer.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections

from reactive.commitlog import commits
from tests.live_servers import LiveServerFactory, current_database_name
from tests.recall import ops
from tests.recall.harness import Problems, dumps, rounds, run_spec, seed
from tests.recall.specs import random_spec, spec_name
from tests.recall.writer import Writer
from tests.ws_client import SyncClient

_ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://", "pgsql://"))
_REDIS_URL = os.environ.get("REDIS_URL", "")
# The PostgreSQL pass of `make test` must run the scale-out recall test, never skip it silently.
assert not (os.environ.get("CI") and _ON_POSTGRES and not _REDIS_URL), (
    "CI runs the PostgreSQL pass without REDIS_URL: the scale-out recall test would be skipped"
)

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

SPECS = 30
CLIENTS = 3
PATHS = ["mutation", "test process", "writer process"]


@pytest.fixture(autouse=True)
async def _close_worker_connections() -> AsyncIterator[None]:
    """sync_to_async runs ORM calls on a worker thread: close its connection, or the test database cannot be dropped."""
    yield
    await sync_to_async(connections.close_all)()


async def _write(op: ops.Op, path: str, client: SyncClient, writer: Writer, problems: Problems) -> None:
    """Commit ``op`` through ``path``; a failure that ``op`` did not ask for (a ``fail`` op) is a crash."""
    error: str | None = None
    if path == "mutation":
        response = await client.mutation("recall:write", {"op": op})
        if not response["success"] and op["op"] != "fail":  # the message does not say why: trust the op
            error = str(response.get("result"))
    elif path == "writer process":
        answer = await asyncio.to_thread(writer.apply, op)
        error = answer if answer.startswith("error") else None
    else:
        try:
            await sync_to_async(ops.apply)(op)
        except ops.IntendedFailure:
            pass
        except Exception as exc:
            error = repr(exc)
    if error is not None:
        problems.add(f"CRASH in write ({path}): {error}"[:140], f"op: {ops.names(op)} {dumps(op)}\n{error}")


async def _live_recall(urls: list[str]) -> None:
    recall_seed = seed()
    rng = random.Random(recall_seed)
    print(f"\nrecall seed {recall_seed}")
    problems = Problems(recall_seed)
    await sync_to_async(ops.seed_data)(rng)
    vendor = connection.vendor
    writer = Writer(await sync_to_async(current_database_name)())
    clients = [SyncClient(urls[i % len(urls)], name=f"client-{i}") for i in range(CLIENTS)]
    try:
        for client in clients:
            await client.connect()
        subscriptions = []
        for i in range(SPECS):
            spec, client = random_spec(rng), clients[i % CLIENTS]
            subscriptions.append((client, await client.subscribe("recall:run", {"spec": spec}), spec))
        checks = 0
        for number in range(rounds(25)):
            done: list[str] = []
            for _ in range(rng.randint(2, 5)):
                op = ops.random_op(rng, vendor)
                path = rng.choice(PATHS[1:] if op["op"] == "executescript" else PATHS)
                await _write(op, path, rng.choice(clients), writer, problems)
                done.append(f"{ops.names(op)} [{path}]: {dumps(op)}")
            target = await sync_to_async(commits.current_ts)()
            for client in clients:
                await client.mutation("recall:sync")
                assert client.version["ts"] >= target, f"seed {recall_seed}: {client} did not reach ts {target}"
            for client, query_id, spec in subscriptions:
                fresh = await sync_to_async(run_spec)(spec)
                live = client.values.get(query_id, client.errors.get(query_id))
                checks += 1
                if fresh.error is not None:
                    problems.add(f"CRASH in query {spec_name(spec)}", f"spec: {dumps(spec)}\n{fresh.error}")
                elif live != fresh.value:
                    problems.add(
                        f"LIVE MISSED WRITE: {spec_name(spec)}",
                        f"round {number}, spec: {dumps(spec)}\n{client} value: {dumps(live)}\n"
                        f"fresh: {dumps(fresh.value)}\nwrites of the round:\n  " + "\n  ".join(done),
                    )
        print(f"recall seed {recall_seed}: {checks} live checks on {len(urls)} server(s)")
    finally:
        for client in clients:
            await client.close()
        await asyncio.to_thread(writer.close)
    assert not problems.counts, problems.report("tests/live/test_recall_live.py")


async def test_recall_live_one_server(live_server_factory: LiveServerFactory) -> None:
    server = await asyncio.to_thread(live_server_factory)
    await _live_recall([server.url])


@pytest.mark.skipif(
    not (_ON_POSTGRES and _REDIS_URL), reason="needs PostgreSQL + Redis (the PostgreSQL pass of make test runs it)"
)
async def test_recall_live_two_servers(live_server_factory: LiveServerFactory) -> None:
    servers = await asyncio.gather(*(asyncio.to_thread(live_server_factory) for _ in range(2)))
    await _live_recall([server.url for server in servers])
