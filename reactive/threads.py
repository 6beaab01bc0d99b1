"""Running blocking Django code off the event loop, with connection hygiene."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import close_old_connections

from .conf import reactive_settings

T = TypeVar("T")
_workers: ThreadPoolExecutor | None = None


def workers() -> ThreadPoolExecutor:
    """The shared pool for mutations, actions and one-shot queries."""
    global _workers
    if _workers is None:
        _workers = ThreadPoolExecutor(
            max_workers=reactive_settings.WORKER_THREADS, thread_name_prefix="reactive-worker"
        )
    return _workers


def _with_fresh_connections(fn: Callable[..., T], *args: Any) -> T:
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


async def run_sync(fn: Callable[..., T], *args: Any, executor: ThreadPoolExecutor | None = None) -> T:
    """Run ``fn(*args)`` in ``executor`` (default: the worker pool), with our context variables."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    call = functools.partial(context.run, _with_fresh_connections, fn, *args)
    return await loop.run_in_executor(executor or workers(), call)
