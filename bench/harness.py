"""The benchmark harness: starts the servers and load-generating processes, runs the scenarios (chat, idle,
hostile) and gathers what they measured (:mod:`bench.sampling` reads /proc, :mod:`bench.statistics` makes the
numbers).

Chat workload: ``clients`` clients over ``channels`` channels (client ``i`` on channel ``i % channels``),
each subscribed to its channel's ``messages:list`` and to ``users:list``; a writer process sends
``messages:send`` (existing authors) at ``rate``/s to random channels for ``duration`` s. The clients
live in ``client_procs`` processes of their own, the writer in another, the servers in others again.

For each run the harness reports commit-to-client latency (client receive time minus the commit time
of the message, read from the outbox: see :mod:`bench.db`), sustained mutations/s, query re-runs and
invalidations per mutation (the server's ``/api/reactive/metrics``), bytes per delivered update (bytes
the clients read from their sockets, and the server's uncompressed ``reactive_bytes_sent_total``),
server CPU seconds per 1,000 delivered updates and RSS per connection (/proc of the server pids).
A *delivered update* is one new message reaching one subscribed client.

Hostile load (``hostile``): a quiet run, then one run per attack of :mod:`bench.attacks`, each on a fresh
``reactive`` server (SQLite, in-memory layer, one process) and database, so that no attack inherits another's
memory. In each, one :class:`~bench.client.Bystander` times its write round trips (``bystander_rate``/s)
from ``HOSTILE_WARMUP`` s after it is ready, for ``hostile_seconds`` s, while the attacker (in a process of its
own) attacks; the harness samples the server's RSS every 0.25 s.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from reactive.conf import DEFAULTS

from . import sampling
from .attacks import ATTACKS
from .sampling import Sampler
from .servers import REPO_ROOT, Database, Server, child_setup, cpu_plan, run_db_tool
from .statistics import delta, latency_stats, ratios, rss_slope_mb_per_min, summarise_chat
from .systems import IDLE, SYSTEMS, Options, System

HOSTILE_WARMUP = 2.0  # seconds of round trips on the quiet server before the window opens
BYSTANDER_TIMEOUT = 10.0  # a round trip longer than this is lost (and the bystander reconnects)

Log = Callable[[str], None]


def _default_log(line: str) -> None:
    print(line, flush=True)


# --- child processes ------------------------------------------------------------------------


class LoadProcess:
    """A ``python -m bench.loadgen`` child; its stdout lines are read by a thread."""

    def __init__(self, config: dict[str, Any], workdir: Path, name: str, cpus: frozenset[int] | None = None) -> None:
        self.name = name
        self.config_path = workdir / f"{name}.json"
        self.out_path = workdir / f"{name}.out.json"
        config = {**config, "out": str(self.out_path)}
        self.config_path.write_text(json.dumps(config))
        self.stderr: IO[bytes] = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", str(self.config_path)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
            preexec_fn=child_setup(cpus),
        )
        self.progress: tuple[int, int] = (0, 0)
        self.ready: tuple[int, int] | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            word, *rest = line.split()
            if word == "PROGRESS":
                self.progress = (int(rest[0]), int(rest[1]))
            elif word == "READY":
                self.ready = (int(rest[0]), int(rest[1]))
            elif word == "DONE":
                self.done.set()
        self.done.set()

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()

    def result(self, timeout: float = 120.0) -> dict[str, Any]:
        self.done.wait(timeout)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.stderr.close()
        if not self.out_path.exists():
            log = (self.config_path.parent / f"{self.name}.log").read_text(errors="replace")
            raise RuntimeError(f"load process {self.name} produced no result:\n{log[-3000:]}")
        return dict(json.loads(self.out_path.read_text()))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(Exception):
            self.stderr.close()


def _sum_metrics(servers: list[Server]) -> dict[str, float]:
    total: dict[str, float] = {}
    for server in servers:
        try:
            for name, value in server.metrics().items():
                total[name] = total.get(name, 0.0) + value
        except OSError:
            pass
    return total


def _children_cpu(loads: list[LoadProcess]) -> float:
    return sum(sampling.cpu_seconds(load.process.pid) for load in loads)


def _py_spy() -> str | None:
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


# --- scenarios ------------------------------------------------------------------------------


class Bench:
    def __init__(self, options: Options, log: Log = _default_log) -> None:
        self.o = options
        self.log = log
        self.workdir = Path(tempfile.mkdtemp(prefix="reactive-bench-"))
        self.databases: dict[str, Database] = {}
        self.dcrf_missing: str | None = None

    def close(self) -> None:
        for database in self.databases.values():
            database.drop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def database(self, kind: str) -> Database:
        if kind not in self.databases:
            self.log(f"==> seeding a {kind} template: {self.o.channels} channels x {self.o.messages} messages")
            database = Database(kind, self.workdir / kind, self.o.postgres_url)
            self.databases[kind] = database
            database.create(self.o.channels, self.o.messages, self.o.users)
        return self.databases[kind]

    def unavailable(self, system: System) -> str | None:
        """Why ``system`` cannot run here, or None."""
        if system.name == "dcrf":
            import importlib.util

            if importlib.util.find_spec("djangochannelsrestframework") is None:
                return "djangochannelsrestframework is not installed (pip install -e '.[bench]'): baseline skipped"
        if system.database == "postgres" or system.processes > 1:
            for url, what in ((self.o.postgres_url, "PostgreSQL"), (self.o.redis_url, "Redis")):
                host = url.split("@")[-1].split("/")[2 if "://" in url.split("@")[-1] else 0].split(":")
                try:
                    socket.create_connection((host[0], int(host[1])), timeout=2).close()
                except (OSError, ValueError, IndexError):
                    return f"{what} is not reachable at {url}: run skipped"
        return None

    def _servers(self, system: System, database_url: str, extra_env: dict[str, str] | None = None) -> list[Server]:
        env = {
            "BENCH_REACTIVE": json.dumps(system.reactive),
            "BENCH_CHANNEL_PREFIX": f"reactive-bench-{os.getpid()}",
            "BENCH_CONN_MAX_AGE": str(system.conn_max_age),
        }
        if system.processes > 1 or system.database == "postgres":
            env["BENCH_REDIS_URL"] = self.o.redis_url
        env.update(extra_env or {})
        cpus = cpu_plan(system.processes, self.o.pin)[0]
        servers = [
            Server(system.app, database_url, self.workdir / f"{system.name}-server-{i}.log", env, cpus[i])
            for i in range(system.processes)
        ]
        for server in servers:
            server.start()
        return servers

    def _wait_ready(self, name: str, loads: list[LoadProcess], total: int, sampler: Sampler) -> tuple[int, int]:
        last = 0.0
        while any(load.ready is None for load in loads):
            if any(load.process.poll() is not None and load.ready is None for load in loads):
                raise RuntimeError(f"[{name}] a client process died while connecting (logs in {self.workdir})")
            if time.time() - last > 2:
                ready = sum(load.progress[0] for load in loads)
                failed = sum(load.progress[1] for load in loads)
                rss = sampler.rss() / 2**20
                self.log(f"[{name}] connecting: {ready}/{total} ready, {failed} failed, server RSS {rss:.0f} MB")
                last = time.time()
            time.sleep(0.2)
        ready = sum(load.ready[0] for load in loads if load.ready)
        failed = sum(load.ready[1] for load in loads if load.ready)
        self.log(f"[{name}] {ready}/{total} clients ready ({failed} failed to connect)")
        return ready, failed

    def run_chat(self, system: System) -> dict[str, Any]:
        o = self.o
        database = self.database(system.database)
        seed = database.seed
        database_url = database.fresh()
        self.log(f"==> [{system.name}] {system.title}: {o.clients} clients, {o.rate:g} mutations/s, {o.duration:g} s")
        servers = self._servers(system, database_url)
        load_cpus = cpu_plan(system.processes, o.pin)[1]
        loads: list[LoadProcess] = []
        profilers: list[subprocess.Popen[bytes]] = []
        try:
            sampler = Sampler([s.pid for s in servers])
            time.sleep(0.5)
            rss_before = sampler.rss()
            sampler.start()
            channels = seed["channels"]
            assignments = [[channels[i % len(channels)], i % len(servers)] for i in range(o.clients)]
            procs = max(1, min(o.client_procs, o.clients))
            for p in range(procs):
                config = {
                    "kind": system.client_kind,
                    "urls": [s.url for s in servers],
                    "clients": assignments[p::procs],
                    "connect_concurrency": 32,
                    "finals": o.finals,
                }
                loads.append(LoadProcess(config, self.workdir, f"{system.name}-clients-{p}", load_cpus))
            ready, _ = self._wait_ready(system.name, loads, o.clients, sampler)
            time.sleep(1.0)
            rss_connected = sampler.rss()
            metrics_before = _sum_metrics(servers) if system.reactive_metrics else {}
            cpu_before = sampler.cpu()
            machine_before = sampling.machine_cpu()
            load_before = _children_cpu(loads)
            for load in loads:
                load.send("MARK")
            if o.profile and system.name in ("reactive", "reactive-pg2"):
                profilers = self._profile(servers[0].pid, system.name)
            writer_config = {
                "kind": "writer",
                "urls": [s.url for s in servers],
                "channels": channels,
                "authors": seed["authors"],
                "rate": o.rate,
                "duration": o.duration,
                "connections": o.writer_connections
                or (max(2, math.ceil(o.rate / 25)) if system.writer == "ws" else 16),
                "mode": system.writer,
                "cycle": o.cycle_channels,
            }
            writer = LoadProcess(writer_config, self.workdir, f"{system.name}-writer", load_cpus)
            loads.append(writer)
            started = time.time()
            last = 0.0
            while not writer.done.is_set():
                if time.time() - last >= 5:
                    ok, bad = writer.progress
                    cpu = sampler.cpu() - cpu_before
                    self.log(
                        f"[{system.name}] writing: {time.time() - started:4.0f}/{o.duration:g} s, {ok} mutations ok, "
                        f"{bad} failed, server CPU {cpu / max(time.time() - started, 1e-9):.2f} cores"
                    )
                    last = time.time()
                writer.done.wait(0.2)
            writes = writer.result()
            self.log(f"[{system.name}] writer finished; draining {o.drain:g} s")
            time.sleep(o.drain)
            cpu_after = sampler.cpu()
            machine_after = sampling.machine_cpu()
            load_cpu = _children_cpu(loads) - load_before
            metrics_after = _sum_metrics(servers) if system.reactive_metrics else {}
            for load in loads[:-1]:
                load.send("STOP")
            client_results = [load.result() for load in loads[:-1]]
            sampler.stop()
        finally:
            for profiler in profilers:
                with contextlib.suppress(Exception):
                    profiler.wait(30)
            for load in loads:
                load.kill()
            for server in servers:
                server.stop()
        commits_path = self.workdir / f"{system.name}-commits.json"
        run_db_tool(database_url, "commits", "--out", str(commits_path))
        commits = json.loads(commits_path.read_text())["messages"]
        result = summarise_chat(
            system,
            o,
            client_results,
            writes,
            commits,
            metrics_before,
            metrics_after,
            cpu_after - cpu_before,
            rss_before,
            rss_connected,
            sampler.peak_rss,
            ready,
        )
        busy = machine_after[0] - machine_before[0]
        result["machine_busy_pct"] = 100 * busy / max(machine_after[1] - machine_before[1], 1e-9)
        window = writes["finished"] - writes["started"] + self.o.drain
        result["load_generator_cpu_cores"] = load_cpu / window
        # CPU used by anything else on the machine (other jobs skew the numbers: reported, not hidden).
        result["other_cpu_cores"] = max(0.0, busy / window - result["cpu_cores"] - result["load_generator_cpu_cores"])
        self.log(
            f"[{system.name}] machine {result['machine_busy_pct']:.0f}% busy: server {result['cpu_cores']:.2f} cores, "
            f"load generators {result['load_generator_cpu_cores']:.2f}, other processes {result['other_cpu_cores']:.2f}"
        )
        self.log(
            f"[{system.name}] p50 {result['latency_ms']['p50']:.1f} ms, p99 {result['latency_ms']['p99']:.1f} ms, "
            f"{result['delivered']}/{result['expected']} delivered, {result['mutations_per_s']:.1f} mutations/s"
        )
        return result

    def _profile(self, pid: int, name: str) -> list[subprocess.Popen[bytes]]:
        spy = _py_spy()
        if spy is None:
            self.log("py-spy is not installed (pip install -e '.[bench]'): no profile")
            return []
        self.o.out.mkdir(parents=True, exist_ok=True)
        seconds = str(max(1, int(self.o.duration)))
        profilers = []
        for fmt, suffix in (("flamegraph", "svg"), ("raw", "txt")):
            path = self.o.out / f"profile-{name}{self.o.label}.{suffix}"
            command = [spy, "record", "--pid", str(pid), "--duration", seconds, "--rate", "100"]
            # --gil: sample only the thread holding the GIL, i.e. where the interpreter's time goes.
            command += ["--format", fmt, "--output", str(path), "--nonblocking", "--threads", "--gil"]
            with open(self.workdir / f"py-spy-{fmt}.log", "wb") as log:
                profilers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log))
        self.log(f"[{name}] profiling the server with py-spy for {seconds} s -> {self.o.out}/profile-{name}*")
        return profilers

    def run_idle(self) -> dict[str, Any]:
        """``idle_clients`` subscribed connections on 2 processes (PostgreSQL + Redis), memory over time."""
        o = self.o
        system = IDLE
        database = self.database("postgres")
        database_url = database.fresh()
        self.log(f"==> [idle] {o.idle_clients} idle subscribed connections on 2 processes for {o.idle_duration:g} s")
        servers = self._servers(system, database_url)
        loads: list[LoadProcess] = []
        try:
            sampler = Sampler([s.pid for s in servers], interval=2.0)
            time.sleep(0.5)
            rss_before = sampler.rss()
            per_process_before = [sampling.rss_bytes(pid) for pid in sampler.pids]
            sampler.start()
            channels = database.seed["channels"]
            assignments = [[channels[i % len(channels)], i % len(servers)] for i in range(o.idle_clients)]
            procs = max(1, o.idle_procs)
            for p in range(procs):
                config: dict[str, Any] = {
                    "kind": "idle",
                    "urls": [s.url for s in servers],
                    "clients": assignments[p::procs],
                    "connect_concurrency": 64,
                }
                loads.append(LoadProcess(config, self.workdir, f"idle-clients-{p}"))
            connect_started = time.time()
            ready, failed = self._wait_ready("idle", loads, o.idle_clients, sampler)
            connect_seconds = time.time() - connect_started
            time.sleep(2.0)
            cpu_before = sampler.cpu()
            rss_start = sampler.rss()
            hold_started = time.time()
            last = 0.0
            while time.time() - hold_started < o.idle_duration:
                if time.time() - last >= 10:
                    self.log(
                        f"[idle] holding: {time.time() - hold_started:3.0f}/{o.idle_duration:g} s, "
                        f"server RSS {sampler.rss() / 2**20:.0f} MB"
                    )
                    last = time.time()
                time.sleep(0.5)
            rss_end = sampler.rss()
            cpu_seconds = sampler.cpu() - cpu_before
            hold_series = [(t - hold_started, r) for t, r in sampler.series if t >= hold_started]
            per_process_end = [sampling.rss_bytes(pid) for pid in sampler.pids]
            metrics = _sum_metrics(servers)
            for load in loads:
                load.send("STOP")
            client_results = [load.result(timeout=300) for load in loads]
            sampler.stop()
        finally:
            for load in loads:
                load.kill()
            for server in servers:
                server.stop()
        result = {
            "system": "idle",
            "clients": o.idle_clients,
            "clients_ready": ready,
            "connect_failures": failed,
            "connect_seconds": connect_seconds,
            "hold_seconds": o.idle_duration,
            "rss_before_mb": rss_before / 2**20,
            "rss_before_per_process_mb": [r / 2**20 for r in per_process_before],
            "rss_start_mb": rss_start / 2**20,
            "rss_end_mb": rss_end / 2**20,
            "rss_end_per_process_mb": [r / 2**20 for r in per_process_end],
            "rss_peak_mb": sampler.peak_rss / 2**20,
            "rss_growth_during_hold_pct": (rss_end - rss_start) / rss_start * 100 if rss_start else math.nan,
            "rss_slope_mb_per_min": rss_slope_mb_per_min(hold_series),
            "rss_per_connection_kb": (rss_end - rss_before) / 1024 / max(ready, 1),
            "cpu_cores_idle": cpu_seconds / o.idle_duration,
            "live_instances": metrics.get("reactive_live_query_instances", math.nan),
            "connections_metric": metrics.get("reactive_connections", math.nan),
            "violations": sum(r["violation_count"] for r in client_results),
            "rss_series_mb": [(round(t, 1), r / 2**20) for t, r in hold_series],
        }
        self.log(
            f"[idle] {ready} connected in {connect_seconds:.0f} s; RSS {result['rss_start_mb']:.0f} -> "
            f"{result['rss_end_mb']:.0f} MB over {o.idle_duration:g} s ({result['rss_per_connection_kb']:.1f} KB/conn)"
        )
        return result

    def run_hostile(self) -> dict[str, Any]:
        o = self.o
        self.log(
            f"==> [hostile] a quiet run and {len(o.hostile_attacks)} attacks, {o.hostile_seconds:g} s each, "
            f"bystander at {o.bystander_rate:g} round trips/s"
        )
        quiet = self._hostile_phase(None)
        attacks = [self._hostile_phase(name) for name in o.hostile_attacks]
        for result in attacks:  # each attack against the quiet run
            result.update(ratios(result, quiet))
        return {
            "seconds": o.hostile_seconds,
            "bystander_rate": o.bystander_rate,
            "timeout_s": BYSTANDER_TIMEOUT,
            "quiet": quiet,
            "attacks": attacks,
        }

    def _hostile_phase(self, attack: str | None) -> dict[str, Any]:
        """One fresh server: the bystander alone for the warm-up, then ``hostile_seconds`` s under ``attack``."""
        o = self.o
        name = attack or "quiet"
        title = ATTACKS[attack][0] if attack else "no attack, the bystander alone"
        system = SYSTEMS["reactive"]
        database = self.database("sqlite")
        database_url = database.fresh()
        self.log(f"==> [{name}] {title}")
        # Every client of these runs comes from 127.0.0.1, as an attacker's sockets would from one address.
        limits = {"MAX_CONNECTIONS_PER_ADDRESS": DEFAULTS["MAX_CONNECTIONS_PER_ADDRESS"]}
        servers = self._servers(system, database_url, {"BENCH_REACTIVE": json.dumps({**system.reactive, **limits})})
        load_cpus = cpu_plan(1, o.pin)[1]
        channel = database.seed["channels"][0]
        loads: list[LoadProcess] = []
        try:
            sampler = Sampler([servers[0].pid], interval=0.25)
            sampler.start()
            bystander_config = {
                "kind": "bystander",
                "urls": [servers[0].url],
                "channel": channel,
                "author": database.seed["authors"][0],
                "rate": o.bystander_rate,
                "timeout": BYSTANDER_TIMEOUT,
            }
            bystander = LoadProcess(bystander_config, self.workdir, f"hostile-{name}-bystander", load_cpus)
            loads.append(bystander)
            self._wait_ready(name, [bystander], 1, sampler)
            time.sleep(HOSTILE_WARMUP)
            rss_before = sampler.rss()
            cpu_before = sampler.cpu()
            metrics_before = _sum_metrics(servers)
            machine_before = sampling.machine_cpu()
            load_before = _children_cpu(loads)
            started = time.time()
            attacker: LoadProcess | None = None
            if attack:
                attack_config = {
                    "kind": "attack",
                    "attack": attack,
                    "urls": [servers[0].url],
                    "channel": channel,
                    "nice": o.attacker_nice,
                }
                attacker = LoadProcess(attack_config, self.workdir, f"hostile-{name}-attacker", load_cpus)
                loads.append(attacker)
            last = started
            while (now := time.time()) - started < o.hostile_seconds:
                if now - last >= 5:
                    done, lost = bystander.progress
                    line = f"[{name}] {now - started:3.0f}/{o.hostile_seconds:g} s: server RSS "
                    line += f"{sampler.rss() / 2**20:.0f} MB, bystander {done} round trips ({lost} lost)"
                    if attacker:
                        line += f"; attacker: {attacker.progress[0]} sockets, {attacker.progress[1]} frames"
                    self.log(line)
                    last = now
                time.sleep(0.2)
            ended = time.time()
            rss_end = sampler.rss()
            cpu_seconds = sampler.cpu() - cpu_before
            machine_after = sampling.machine_cpu()
            load_cpu = _children_cpu(loads) - load_before
            metrics_after = _sum_metrics(servers)
            sampler.stop()
            for load in loads:
                load.send("STOP")
            attacker_result = attacker.result(timeout=60) if attacker else None
            bystander_result = bystander.result(timeout=60)
        finally:
            for load in loads:
                load.kill()
            for server in servers:
                server.stop()
        window = [(t, ms) for t, ms in bystander_result["samples"] if started <= t < ended]
        lost = sum(1 for _t, ms in window if ms is None)
        # A lost round trip took at least the timeout: counted at that, so percentiles err on the fast side.
        round_trips = [BYSTANDER_TIMEOUT * 1000.0 if ms is None else ms for _t, ms in window]
        peak = max((rss for t, rss in sampler.series if started <= t <= ended), default=rss_end)
        result = {
            "attack": name,
            "title": title,
            "round_trips": len(window),
            "round_trips_expected": int(o.hostile_seconds * o.bystander_rate),
            "lost": lost,
            "bystander_reconnects": bystander_result["reconnects"],
            "bystander_refused": bystander_result["refused"],
            "unfinished": bystander_result["unfinished"],
            "bystander_violations": bystander_result["violation_count"],
            "round_trip_ms": latency_stats(round_trips),
            # (seconds into the window when sent, round trip ms or None: lost), in the order sent
            "round_trip_series": [(round(t - started, 3), ms) for t, ms in window],
            "rss_before_mb": rss_before / 2**20,
            "rss_peak_mb": max(peak, rss_end) / 2**20,
            "rss_end_mb": rss_end / 2**20,
            "cpu_cores": cpu_seconds / (ended - started),
            "client_cpu_cores": load_cpu / (ended - started),  # the bystander and the attacker
            # CPU used by anything else on the machine (other jobs skew the numbers: reported, not hidden).
            "other_cpu_cores": max(0.0, (machine_after[0] - machine_before[0] - cpu_seconds - load_cpu))
            / (ended - started),
            "query_runs": sum(
                delta(metrics_after, metrics_before, key)
                for key in metrics_after
                if key.startswith("reactive_query_runs_total")
            ),
            "inbound_pauses": delta(metrics_after, metrics_before, "reactive_inbound_pauses_total"),
            "connections_end": metrics_after.get("reactive_connections", math.nan),
            "live_instances_end": metrics_after.get("reactive_live_query_instances", math.nan),
            "metrics_answered": bool(metrics_after),
            "attacker": attacker_result,
        }
        lat = result["round_trip_ms"]
        self.log(
            f"[{name}] bystander p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms over "
            f"{len(window)} round trips ({lost} lost); server RSS {result['rss_before_mb']:.0f} -> peak "
            f"{result['rss_peak_mb']:.0f}, end {result['rss_end_mb']:.0f} MB"
        )
        return result


def run(options: Options, log: Log = _default_log) -> dict[str, Any]:
    """Run every requested scenario; returns (and, unless told not to, writes) the report data."""
    bench = Bench(options, log)
    started = time.time()
    results: dict[str, Any] = {
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in options.__dict__.items()},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform},
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "runs": [],
        "skipped": {},
    }
    with contextlib.suppress(Exception):
        results["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
    try:
        for name in options.systems:
            system = SYSTEMS[name]
            why = bench.unavailable(system)
            if why:
                log(f"==> [{name}] skipped: {why}")
                results["skipped"][name] = why
                continue
            results["runs"].append(bench.run_chat(system))
        if options.hostile:
            results["hostile"] = bench.run_hostile()
        if options.idle:
            why = bench.unavailable(IDLE)
            if why:
                log(f"==> [idle] skipped: {why}")
                results["skipped"]["idle"] = why
            else:
                results["idle"] = bench.run_idle()
    finally:
        bench.close()
    results["elapsed_seconds"] = time.time() - started
    if options.write_report:
        from .report import write

        paths = write(results, options.out, options.label)
        for path in paths:
            log(f"==> wrote {path}")
    return results
