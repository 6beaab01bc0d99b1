"""Fixtures of the commit-log tests: clients of live servers, a private Redis, worker connections closed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from tests.live_servers import RUNNING_PRIVATE_REDIS, PrivateRedis
from tests.ws_client import SyncClient


@pytest.fixture(autouse=True)
async def _close_worker_connections() -> AsyncIterator[None]:
    """sync_to_async runs ORM calls on a worker thread: close its connection, or the test database cannot be dropped."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., SyncClient]]:
    """``clients(urls, **options)`` makes a :class:`SyncClient`; all are closed at teardown."""
    made: list[SyncClient] = []

    def make(urls: str | list[str], **options: Any) -> SyncClient:
        client = SyncClient(urls, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    RUNNING_PRIVATE_REDIS.add(redis)
    try:
        redis.start()
        yield redis
    finally:
        redis.stop()
        RUNNING_PRIVATE_REDIS.discard(redis)
