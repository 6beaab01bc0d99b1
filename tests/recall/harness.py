"""Shared parts of the recall tests: the seed, running a spec as the server does, and problem reports."""

from __future__ import annotations

import json
import os
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser

from reactive.capture.tracking import tracked
from reactive.commitlog.snapshot import read_snapshot
from reactive.conf import reactive_settings
from reactive.functions.execution import execute_query
from reactive.functions.registry import Kind, resolve
from reactive.readsets import ReadSet

from .specs import Spec, evaluate


def seed() -> int:
    """``RECALL_SEED`` if set, else a fresh random seed (printed by every report)."""
    return int(os.environ.get("RECALL_SEED") or random.SystemRandom().randrange(2**32))


def rounds(default: int) -> int:
    """``RECALL_ROUNDS`` if set (``make recall-long``), else ``default``."""
    return int(os.environ.get("RECALL_ROUNDS") or default)


@dataclass
class Run:
    """One run of a spec: its value as a client gets it (or the error), and its read-set."""

    value: Any
    readset: ReadSet
    error: str | None = None


def run_spec(spec: Spec) -> Run:
    """Run ``spec`` through ``recall:run`` as a batch does: ``execute_query`` in a read snapshot."""
    function = resolve("recall:run", Kind.QUERY)
    with read_snapshot(reactive_settings.DATABASE):
        run = execute_query(function, {"spec": spec}, AnonymousUser())
    if run.outcome.success:
        return Run(json.loads(run.outcome.value_json), run.readset)
    return Run(None, run.readset, _error_of(lambda: evaluate(spec)) or run.outcome.error_message)


def _error_of(call: Callable[[], Any]) -> str | None:
    """The last lines of the traceback of ``call()`` under tracking, or None if it succeeds."""
    try:
        with tracked():
            call()
    except Exception:
        return "".join(traceback.format_exc().splitlines(keepends=True)[-6:])
    return None


@dataclass
class Problems:
    """Problems found by one test run, grouped by class; the first of each class is kept in full."""

    seed: int
    first: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, detail: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
        self.first.setdefault(key, detail)

    def report(self, test: str) -> str:
        lines = [f"{test}: {sum(self.counts.values())} problems in {len(self.counts)} classes. Replay with:"]
        lines.append(f"    RECALL_SEED={self.seed} .venv/bin/pytest -q {test}")
        for key, detail in self.first.items():
            lines.append(f"\n=== {key} (x{self.counts[key]})\n{detail}")
        return "\n".join(lines)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)
