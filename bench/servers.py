"""The benchmark's servers: Daphne processes, and the databases they serve.

A :class:`Database` is seeded once into a template (a SQLite file, or a PostgreSQL template database)
and copied for every run, so every system starts from the same rows. :class:`Server` is one Daphne
process with ``DJANGO_SETTINGS_MODULE=bench.settings``.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def child_setup(cpus: frozenset[int] | None) -> Callable[[], None]:
    """What a child process runs before ``exec``: more file descriptors, and its CPUs (None: any)."""

    def setup() -> None:
        _raise_fd_limit()
        if cpus:
            os.sched_setaffinity(0, cpus)  # inherited by every thread the process starts

    return setup


def cpu_plan(servers: int, pin: bool) -> tuple[list[frozenset[int] | None], frozenset[int] | None]:
    """CPUs for each server process and for the load generators.

    Pinned, each server process keeps one core (the last ones) and the load generators get the rest,
    when any is left; unpinned (or on one CPU), every process may run anywhere. A Daphne process runs
    Python on one core at a time anyway (the GIL); pinned, its threads share that core's caches
    instead of being moved between cores by the scheduler (docs/performance.md measures the effect).
    """
    available = sorted(os.sched_getaffinity(0))
    if not pin or len(available) < 2:
        return [None] * servers, None
    pinned = [frozenset({available[-1 - i % len(available)]}) for i in range(servers)]
    rest = frozenset(available) - frozenset().union(*pinned)
    plan: list[frozenset[int] | None] = list(pinned)
    return plan, rest or None


def django_env(database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "BENCH_DATABASE_URL": database_url}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_db_tool(database_url: str, *args: str) -> str:
    """Run ``python -m bench.db ARGS`` against ``database_url``; returns its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.db", *args],
        cwd=REPO_ROOT,
        env=django_env(database_url),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.db {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class Database:
    """A seeded template and per-run copies; ``kind`` is ``sqlite`` or ``postgres``."""

    def __init__(self, kind: str, workdir: Path, postgres_url: str = "postgres://postgres@127.0.0.1:5432/postgres"):
        self.kind = kind
        self.workdir = workdir
        self.postgres_url = postgres_url
        self.seed: dict[str, Any] = {}
        self._runs = 0
        self.template_name = "reactive_bench_template"
        self.run_name = "reactive_bench"

    # --- PostgreSQL ---------------------------------------------------------------------------

    def _pg_url(self, name: str) -> str:
        parts = urlsplit(self.postgres_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))

    def _pg_admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self._pg_url("postgres"), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]

    # --- both ---------------------------------------------------------------------------------

    def create(self, channels: int, messages: int, users: int) -> dict[str, Any]:
        """Migrate and seed the template; returns ``{"channels": [ids], "authors": [names]}``."""
        args = ["setup", "--channels", str(channels), "--messages", str(messages), "--users", str(users)]
        if self.kind == "sqlite":
            self.workdir.mkdir(parents=True, exist_ok=True)
            template = self.workdir / "template.sqlite3"
            for path in self.workdir.glob("*.sqlite3*"):
                path.unlink()
            out = run_db_tool(f"sqlite:///{template}", *args)
        else:
            self._pg_admin(
                f"DROP DATABASE IF EXISTS {self.run_name} WITH (FORCE)",
                f"DROP DATABASE IF EXISTS {self.template_name} WITH (FORCE)",
                f"CREATE DATABASE {self.template_name}",
            )
            out = run_db_tool(self._pg_url(self.template_name), *args)
        self.seed = json.loads(out)
        return self.seed

    def fresh(self) -> str:
        """A copy of the template for one run; returns its URL."""
        self._runs += 1
        if self.kind == "sqlite":
            path = self.workdir / f"run-{self._runs}.sqlite3"
            shutil.copyfile(self.workdir / "template.sqlite3", path)
            return f"sqlite:///{path}"
        self._pg_admin(
            f"DROP DATABASE IF EXISTS {self.run_name} WITH (FORCE)",
            f"CREATE DATABASE {self.run_name} TEMPLATE {self.template_name}",
        )
        return self._pg_url(self.run_name)

    def drop(self) -> None:
        if self.kind == "sqlite":
            shutil.rmtree(self.workdir, ignore_errors=True)
            return
        with contextlib.suppress(Exception):
            self._pg_admin(
                f"DROP DATABASE IF EXISTS {self.run_name} WITH (FORCE)",
                f"DROP DATABASE IF EXISTS {self.template_name} WITH (FORCE)",
            )


class Server:
    """One Daphne process serving ``app`` on 127.0.0.1."""

    def __init__(
        self,
        app: str,
        database_url: str,
        log_path: Path,
        env: dict[str, str] | None = None,
        cpus: frozenset[int] | None = None,
    ) -> None:
        self.app = app
        self.cpus = cpus
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.log_path = log_path
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        command = [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(self.port), self.app]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=django_env(self.database_url, self.env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=child_setup(self.cpus),
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server {self.app} exited while starting; see {self.log_path}")
            with contextlib.suppress(OSError):
                self.metrics()
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server {self.app} did not answer within {timeout:.0f} s; see {self.log_path}")
            time.sleep(0.1)

    def metrics(self) -> dict[str, float]:
        """``/api/reactive/metrics`` parsed into ``{sample name: value}``."""
        # The token is bench/settings.py's METRICS_TOKEN.
        request = urllib.request.Request(
            self.url + "/api/reactive/metrics", headers={"Authorization": "Bearer bench-metrics"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
