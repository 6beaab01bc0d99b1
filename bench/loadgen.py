"""A load-generating process: ``python -m bench.loadgen CONFIG.json``.

Clients (``kind``: ``sync``, ``poll``, ``dcrf``, ``idle``): open every connection (a bounded number of
handshakes at a time), print ``PROGRESS <n>`` while connecting and ``READY <n>`` once every client
holds its initial state; then obey lines on stdin: ``MARK`` starts the measurement window (bytes are
counted from here), ``STOP`` closes everything, writes the results to ``config["out"]`` and prints ``DONE``.

Writer (``kind``: ``writer``): sends the mutations at the configured rate, writes its results, prints ``DONE``.

Hostile-load runs: ``kind`` ``bystander`` is one :class:`~bench.client.Bystander` timing its round trips
(``READY`` once it holds its initial state); ``kind`` ``attack`` runs one attack of :mod:`bench.attacks`
(``READY`` at once), at the CPU priority ``nice`` (0 unless told). Both stop on ``STOP``, write their
results and print ``DONE``.

The processes never import Django; they talk to the servers over sockets only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from typing import Any

from .attacks import ATTACKS, AttackStats
from .client import Bystander, DcrfClient, PollClient, SyncClient, Writer


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _make(kind: str, url: str, channel: int) -> Any:
    if kind in ("sync", "idle"):
        return SyncClient(url, channel, diffs=True)
    if kind == "sync-nodiff":
        return SyncClient(url, channel, diffs=False)
    if kind == "poll":
        return PollClient(url, channel)
    if kind == "dcrf":
        return DcrfClient(url, channel)
    raise ValueError(f"unknown client kind {kind!r}")


async def run_clients(config: dict[str, Any]) -> None:
    kind = config["kind"]
    urls: list[str] = config["urls"]
    clients = [_make(kind, urls[url_index], channel) for channel, url_index in config["clients"]]
    gate = asyncio.Semaphore(int(config.get("connect_concurrency", 32)))
    tasks: list[asyncio.Task[None]] = []
    failures: list[str] = []
    connected = 0

    async def start(client: Any) -> None:
        nonlocal connected
        async with gate:
            try:
                await client.open()
            except Exception as exc:  # report, do not stop the others
                failures.append(repr(exc))
                return
            if not isinstance(client, PollClient):
                tasks.append(asyncio.get_running_loop().create_task(client.run()))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(60):
                        await client.ready.wait()
            connected += 1

    async def progress() -> None:
        while True:
            await asyncio.sleep(1.0)
            _say(f"PROGRESS {connected} {len(failures)}")

    reporter = asyncio.get_running_loop().create_task(progress())
    await asyncio.gather(*(start(c) for c in clients))
    reporter.cancel()
    for client in clients:
        if isinstance(client, PollClient) and client.rec.ready:
            tasks.append(asyncio.get_running_loop().create_task(client.run()))
    ready = sum(1 for c in clients if c.rec.ready)
    _say(f"READY {ready} {len(failures)}")

    loop = asyncio.get_running_loop()
    mark_bytes = 0
    mark_time = time.time()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "MARK":
            mark_bytes = sum(c.bytes_in for c in clients)
            mark_time = time.time()
        elif line in ("STOP", ""):
            break
    stop_bytes = sum(c.bytes_in for c in clients)
    stop_time = time.time()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    violations = [v for c in clients for v in c.rec.violations]
    result = {
        "kind": kind,
        "clients": len(clients),
        "ready": ready,
        "failures": failures[:20],
        "failure_count": len(failures),
        "compressed": sum(1 for c in clients if c.compressed),
        "window": [mark_time, stop_time],
        "bytes": stop_bytes - mark_bytes,
        "updates": sum(c.rec.updates for c in clients),
        "items": sum(c.rec.items for c in clients),
        "item_bytes": sum(c.rec.item_bytes for c in clients),
        "violations": violations[:20],
        "violation_count": len(violations),
        "polls": sum(getattr(c, "polls", 0) for c in clients),
        "poll_errors": sum(getattr(c, "errors", 0) for c in clients),
        "per_client": [
            {
                "channel": c.rec.channel_id,
                "deliveries": c.rec.deliveries,
                "final_ids": [item.get("_id") for item in (c.rec.final or [])] if config.get("finals") else None,
            }
            for c in clients
        ],
    }
    with open(config["out"], "w") as handle:
        json.dump(result, handle)
    _say("DONE")


async def run_writer(config: dict[str, Any]) -> None:
    writer = Writer(
        config["urls"],
        config["channels"],
        config["authors"],
        float(config["rate"]),
        float(config["duration"]),
        connections=int(config.get("connections", 1)),
        mode=str(config.get("mode", "http")),
        cycle=bool(config.get("cycle", False)),
        seed=int(config.get("seed", 1)),
    )
    task = asyncio.get_running_loop().create_task(writer.run())
    while not task.done():
        await asyncio.wait([task], timeout=1.0)
        _say(f"PROGRESS {writer.result.ok} {writer.result.failed}")
    result = task.result()
    with open(config["out"], "w") as handle:
        json.dump(result.__dict__, handle)
    _say("DONE")


async def _until_stop() -> None:
    """Wait for ``STOP`` (or the end of stdin)."""
    loop = asyncio.get_running_loop()
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() not in ("STOP", ""):
        pass


async def run_bystander(config: dict[str, Any]) -> None:
    bystander = Bystander(
        config["urls"][0],
        int(config["channel"]),
        str(config["author"]),
        rate=float(config.get("rate", 10.0)),
        timeout=float(config.get("timeout", 10.0)),
    )
    await bystander.open()
    async with asyncio.timeout(60):
        await bystander.ready.wait()
    _say("READY 1 0")
    task = asyncio.get_running_loop().create_task(bystander.measure())

    async def progress() -> None:
        while True:
            await asyncio.sleep(1.0)
            _say(f"PROGRESS {len(bystander.samples)} {sum(1 for _t, ms in bystander.samples if ms is None)}")

    reporter = asyncio.get_running_loop().create_task(progress())
    await _until_stop()
    for running in (task, reporter):
        running.cancel()
    await asyncio.gather(task, reporter, return_exceptions=True)  # measure()'s finally has run: see close()
    await bystander.close()
    result = {
        "samples": bystander.samples,
        "reconnects": bystander.reconnects,
        "refused": bystander.refused,
        "unfinished": bystander.unfinished,
        "violations": bystander.rec.violations[:20],
        "violation_count": len(bystander.rec.violations),
    }
    with open(config["out"], "w") as handle:
        json.dump(result, handle)
    _say("DONE")


async def run_attack(config: dict[str, Any]) -> None:
    if int(config.get("nice", 0)):
        os.nice(int(config["nice"]))
    _title, attack = ATTACKS[config["attack"]]
    stats = AttackStats()
    task = asyncio.get_running_loop().create_task(attack(config["urls"][0], int(config["channel"]), stats))
    _say("READY 0 0")

    async def progress() -> None:
        while True:
            await asyncio.sleep(1.0)
            _say(f"PROGRESS {stats.connections} {stats.frames}")

    reporter = asyncio.get_running_loop().create_task(progress())
    await _until_stop()
    for running in (task, reporter):
        running.cancel()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            await asyncio.gather(task, reporter, return_exceptions=True)
    error = repr(task.exception()) if task.done() and not task.cancelled() and task.exception() else None
    with open(config["out"], "w") as handle:
        json.dump({**stats.__dict__, "error": error}, handle)
    _say("DONE")
    os._exit(0)  # thousands of aborted sockets and their tasks: nothing left worth a clean shutdown


def main() -> None:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    _raise_fd_limit()
    if config["kind"] == "writer":
        asyncio.run(run_writer(config))
    elif config["kind"] == "bystander":
        asyncio.run(run_bystander(config))
    elif config["kind"] == "attack":
        asyncio.run(run_attack(config))
    else:
        asyncio.run(run_clients(config))


if __name__ == "__main__":
    main()
