"""Real server processes for tests: Daphne serving the demo project on the current test database.

    def test_something(live_server_factory):
        server = live_server_factory()
        requests.get(server.url + "/api/query", ...)

Each server is ``python -m daphne -b 127.0.0.1 -p PORT demo_project.asgi:application`` with
``DJANGO_SETTINGS_MODULE=tests.settings`` and ``REACTIVE_LIVE_DB_NAME`` set to the database of the
running test (pytest-django's test database), which tests/settings.py uses as the normal database
NAME: the child neither creates nor flushes a database. Tests using the factory run with a
transactional database (rows they write are committed, so the child sees them), and every server
is stopped before pytest-django flushes that database.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from asgiref.sync import sync_to_async
from django.db import connection

REPO_ROOT = Path(__file__).resolve().parent.parent
LIVE_DB_ENV = "REACTIVE_LIVE_DB_NAME"  # read by tests/settings.py
METRICS_TOKEN = "metrics-token-of-the-tests"  # tests/settings.py: REACTIVE["METRICS_TOKEN"]
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def current_database_name() -> str:
    """The NAME of the default database of the running test (a file path on SQLite)."""
    from django.db import connection

    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and (name == ":memory:" or "mode=memory" in name):
        raise RuntimeError("a live server cannot share an in-memory SQLite database: give TEST NAME a file path")
    return name


_RUNNING: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Backstop for exits that skip fixture teardown: no server outlives the test process."""
    for process in list(_RUNNING):
        with contextlib.suppress(OSError):
            process.kill()


def _accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


class LiveServer:
    """One Daphne process serving ``demo_project.asgi:application`` on 127.0.0.1."""

    def __init__(
        self, db_name: str, log_path: Path, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_name = db_name
        self.log_path = log_path
        self.env = dict(env or {})  # extra environment of the process (e.g. REDIS_URL, REACTIVE_POLL_INTERVAL)
        self.paused = False
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<LiveServer {self.url} pid={self.pid}>"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the process and return once its port accepts connections."""
        if self.running:
            raise RuntimeError(f"{self!r} is already running")
        if _accepts_connections(self.port):
            raise RuntimeError(f"cannot start {self!r}: another process listens on port {self.port}")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", LIVE_DB_ENV: self.db_name, **self.env}
        env["PYTHONUNBUFFERED"] = "1"
        # -X faulthandler: a process that does not stop on SIGTERM gets SIGABRT and dumps its threads' stacks.
        command = [sys.executable, "-X", "faulthandler", "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        command.append("demo_project.asgi:application")
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log.write(f"==> {' '.join(command)}\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        _RUNNING.add(self._process)
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        assert self._process is not None
        while True:
            code = self._process.poll()
            if code is not None:
                self.stop()
                raise RuntimeError(f"{self!r} exited with code {code} while starting:\n{self.output()}")
            if _accepts_connections(self.port) and self._process.poll() is None:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self!r} did not listen within {START_TIMEOUT:.0f} s:\n{self.output()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the process (a crash: no graceful shutdown) and reap it."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        self.paused = False
        self._reap(STOP_TIMEOUT)

    def pause(self) -> None:
        """SIGSTOP the process: it keeps its sockets and connections but runs nothing until :meth:`resume`."""
        assert self._process is not None and self._process.poll() is None, f"{self!r} is not running"
        self._process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT a paused process."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        """SIGTERM the process; SIGKILL it if it is still alive after a few seconds."""
        if self.paused:
            self.resume()  # a stopped process would not act on SIGTERM
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.send_signal(signal.SIGABRT)  # dumps every thread's stack into the log
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(STOP_TIMEOUT)
                self._process.kill()
        self._reap(STOP_TIMEOUT)

    def restart(self) -> None:
        """Stop the process if it runs, then start a new one on the same port."""
        self.stop()
        self.start()

    def _reap(self, timeout: float) -> None:
        if self._process is not None:
            self._process.wait(timeout)
            _RUNNING.discard(self._process)
        if self._log is not None:
            self._log.close()
            self._log = None

    def metrics_text(self) -> str:
        """The server's ``/api/reactive/metrics`` (Prometheus text)."""
        request = urllib.request.Request(
            f"{self.url}/api/reactive/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.read().decode())

    def output(self) -> str:
        """Everything the process (and its restarts) wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class LiveServerFactory(Protocol):
    def __call__(self, env: dict[str, str] | None = None) -> LiveServer: ...


@contextlib.contextmanager
def live_servers(log_dir: Path) -> Iterator[LiveServerFactory]:
    """A factory of started :class:`LiveServer` s, all stopped (and their output printed) on exit.

    Call it inside a test that has a transactional database: the servers use that database.
    The output goes to stdout at exit, where pytest shows it only when the test failed.
    """
    servers: list[LiveServer] = []
    numbers = itertools.count()  # thread-safe: servers may be started from several threads at once

    def start(env: dict[str, str] | None = None) -> LiveServer:
        """Start one more server; ``env`` adds to (or overrides) the environment it inherits."""
        server = LiveServer(current_database_name(), log_dir / f"live-server-{next(numbers)}.log", env=env)
        servers.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in servers:
            try:
                server.stop()
            except Exception:  # a process that ignores SIGKILL for 5 s: report it, stop the others
                print(f"could not stop {server!r}", file=sys.stderr)
        for server in servers:
            print(f"----- output of {server!r} ({server.log_path}) -----\n{server.output()}")


# --- helpers of the scale-out tests: a private Redis, metrics, manage.py, PostgreSQL backends ----------------

LIVE_APP_PREFIX = "reactive-live-"  # application_name of the live servers' PostgreSQL connections (PGAPPNAME)


class PrivateRedis:
    """A redis-server of this test alone, on a free port, that the test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - closed in stop()
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.directory)]
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start: {self.output()}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(5)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        with contextlib.suppress(OSError):
            return (self.directory / "redis.log").read_text(errors="replace")
        return ""


RUNNING_PRIVATE_REDIS: set[PrivateRedis] = set()


@atexit.register
def _stop_private_redis() -> None:
    """Backstop for exits that skip fixture teardown."""
    for redis in list(RUNNING_PRIVATE_REDIS):
        with contextlib.suppress(Exception):
            redis.stop()


def metric(server: LiveServer, name: str, label: str | None = None) -> float:
    """One sample of the server's Prometheus metrics (0 if absent)."""
    text = server.metrics_text()
    sample = name if label is None else f'{name}{{function="{label}"}}'
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def run_manage(*args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> str:
    """``manage.py ARGS`` in a new process on this test's database (a process serving no WebSocket)."""
    child_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", LIVE_DB_ENV: current_database_name()}
    child_env.update(env or {})
    for name in drop:
        child_env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=child_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@sync_to_async
def live_backends() -> list[dict[str, Any]]:
    """PostgreSQL backends of this test database opened by live servers."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, state, wait_event_type, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE %s",
            [LIVE_APP_PREFIX + "%"],
        )
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@sync_to_async
def terminate(pids: list[int]) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid) t", [pids])
        return int(cursor.fetchone()[0])
