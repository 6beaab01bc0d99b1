"""Micro-benchmarks of the server's per-invalidation steps, in one process, no sockets.

    python -m bench.micro            # seeds a scratch SQLite database, prints ms per step

Each step is timed as the best of 5 rounds (the least disturbed by other work on the machine):

- ``messages:list`` run in full (``execute_query``: tracking, the ORM, result encoding);
- the result encoding alone (``to_json_value`` + ``encode`` + ``dumps`` of the 50 messages);
- matching one message insert against the read-sets of 100 ``messages:list`` instances;
- the diff of a 50-message list after one append (``diffs.encoded_diff``).

Run it on two commits to compare them (docs/performance.md).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def best_ms(fn: Callable[[], Any], n: int = 300, rounds: int = 5) -> float:
    for _ in range(min(n, 20)):
        fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n * 1000)
    return best


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="reactive-micro-"))
    os.environ["BENCH_DATABASE_URL"] = f"sqlite:///{workdir / 'micro.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    from . import db

    db._django()
    db.setup(channels=100, messages=50, users=20)

    import datetime

    from reactive import values
    from reactive.commitlog.snapshot import read_snapshot
    from reactive.functions.execution import execute_query
    from reactive.functions.registry import Kind, lookup
    from reactive.live import diffs
    from reactive.readsets import EQ, Pred, TableWrite, readset_affected

    spec = lookup("messages:list", Kind.QUERY)
    results: dict[str, float] = {}
    with read_snapshot("default"):
        channel = db_channel_ids()[4]
        results["execute_query(messages:list)"] = best_ms(lambda: execute_query(spec, {"channelId": channel}, None))
        from reactive.functions.context import QueryCtx

        value = spec.func(QueryCtx(None), channelId=channel)
        results["encode result (to_json_value+encode+dumps)"] = best_ms(
            lambda: values.dumps(values.encode(values.to_json_value(value)))
        )
        runs = [execute_query(spec, {"channelId": c}, None) for c in db_channel_ids()]
    write = TableWrite(
        "chat_message",
        None,
        (
            Pred("channel_id", EQ, db_channel_ids()[7]),
            Pred("author_id", EQ, 3),
            Pred("body", EQ, "hello"),
            Pred("created_at", EQ, datetime.datetime.now(datetime.UTC)),
            Pred("id", EQ, 999_999),
        ),
        frozenset({999_999}),
    )
    readsets = [run.readset for run in runs]
    results["match 1 insert x 100 read-sets"] = best_ms(lambda: [readset_affected(r, [write]) for r in readsets])
    old_json = runs[4].outcome.value_json
    items = json.loads(old_json)
    new_json = values.dumps([*items[1:], {**items[0], "_id": 999_999, "body": "a new message"}])
    results["diff after one append (50 items)"] = best_ms(lambda: diffs.encoded_diff(old_json, new_json))
    width = max(map(len, results))
    for name, ms in results.items():
        sys.stdout.write(f"{name:<{width}}  {ms:8.3f} ms\n")


def db_channel_ids() -> list[int]:
    from demo_project.chat.models import Channel

    return list(Channel.objects.order_by("pk").values_list("pk", flat=True))


if __name__ == "__main__":
    main()
