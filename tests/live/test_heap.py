"""reactive.live.heap: a process serving live queries takes its start-up heap out of full collections, once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, json, sys
    import django
    django.setup()
    from django.test import override_settings
    from reactive.live import heap
    from reactive.live.subscriptions import get_manager

    before = len(gc.get_objects())
    with override_settings(REACTIVE={"GC_FREEZE": sys.argv[1] == "on"}):
        async def serve():
            manager = get_manager()  # what the first live connection of a process does
            heap.freeze_start_up()  # a second call changes nothing
            await manager.close()
        asyncio.run(serve())
    print(json.dumps({"before": before, "after": len(gc.get_objects()), "frozen": gc.get_freeze_count()}))
    """
)


def _run(mode: str) -> dict[str, int]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, env=env, capture_output=True, check=True)
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def test_the_first_manager_of_a_process_freezes_the_start_up_heap() -> None:
    counts = _run("on")
    assert counts["frozen"] > 20_000  # Django's start-up, out of every full collection
    assert counts["after"] < counts["before"] // 10


def test_gc_freeze_false_leaves_the_collector_alone() -> None:
    counts = _run("off")
    assert counts["frozen"] == 0
