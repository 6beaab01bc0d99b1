"""Shared helpers for the test-suite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.test import Client

from demo_project.chat.models import Channel
from reactive.live.subscriptions import instance_for
from reactive.models import OutboxEntry


async def make_channels(*names: str) -> list[Channel]:
    return [await sync_to_async(Channel.objects.create)(name=name) for name in names]


def runs_of(name: str, args: dict[str, Any]) -> int:
    """How many times the live instance of ``name(args)`` has run in this process."""
    instance = instance_for(name, args)
    assert instance is not None, f"no live instance of {name}({args})"
    return instance.runs


@sync_to_async
def outbox_count() -> int:
    return OutboxEntry.objects.count()


async def eventually(condition: Callable[[], bool], attempts: int = 200) -> None:
    """Wait (bounded) for server-side state that sends the client nothing, e.g. a re-run with no change."""
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never became true")


def post(client: Client, url: str, body: object, **headers: str) -> tuple[int, Any]:
    """POST JSON; the status and the decoded JSON reply (or the text of a non-JSON one)."""
    response = client.post(url, body, content_type="application/json", headers=headers)
    if response["Content-Type"].startswith("application/json"):
        return response.status_code, response.json()
    return response.status_code, response.content.decode()
