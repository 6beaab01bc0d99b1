"""A writer process that is not a server: applies ops read from stdin, one JSON line each.

    DJANGO_SETTINGS_MODULE=tests.settings REACTIVE_LIVE_DB_NAME=<test db> python -m tests.recall.writer

For every line it performs the op as its own transaction and answers one line: ``ok``, ``failed``
(an intended failure, rolled back) or ``error <exception>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import django

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def main() -> None:
    django.setup()
    from tests.recall.ops import IntendedFailure, apply

    for line in sys.stdin:
        try:
            apply(json.loads(line))
            answer = "ok"
        except IntendedFailure:
            answer = "failed"
        except Exception as exc:
            answer = f"error {exc!r}"
        print(answer.replace("\n", " "), flush=True)


class Writer:
    """The test's handle on a writer process on database ``db_name`` (tests/live_servers.py: REACTIVE_LIVE_DB_NAME)."""

    def __init__(self, db_name: str) -> None:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "REACTIVE_LIVE_DB_NAME": db_name}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.recall.writer"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def apply(self, op: dict[str, Any]) -> str:
        """Send ``op`` and wait for the process to have committed (or rolled back) it; returns its answer."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(op) + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline().strip()
        if not answer:
            raise RuntimeError(f"the writer process exited with code {self._process.wait()}")
        return answer

    def close(self) -> None:
        """End the process (closing stdin ends its loop) and wait for it."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(10)


if __name__ == "__main__":
    main()
