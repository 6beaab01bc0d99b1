"""What is benchmarked: the systems compared (:class:`System`, ``SYSTEMS``, ``DEFAULT_SYSTEMS``) and the
:class:`Options` of a run (workload size, which systems, the idle and hostile runs, where results go)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .attacks import ATTACKS
from .servers import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "bench" / "results"


@dataclass(frozen=True)
class System:
    """One way of keeping the chat live, served by ``processes`` Daphne processes."""

    name: str
    title: str
    client_kind: str
    app: str = "demo_project.asgi:application"
    reactive: dict[str, Any] = field(default_factory=dict)
    database: str = "sqlite"
    processes: int = 1
    reactive_metrics: bool = True
    writer: str = "ws"  # how its clients write: sync-protocol Mutation ("ws") or DRF POST /api/mutation ("http")
    # Persistent database connections (seconds). Django serves each ASGI HTTP request on a thread of its own,
    # so HTTP-heavy servers use 0 (a persistent connection per short-lived thread would leak).
    conn_max_age: int = 60


SYSTEMS: dict[str, System] = {
    s.name: s
    for s in [
        System("reactive", "reactive (SQLite, in-memory layer, 1 process)", "sync"),
        System(
            "table-level",
            "reactive, table-level invalidation",
            "sync",
            reactive={"TABLE_LEVEL_INVALIDATION": True},
        ),
        System(
            "polling",
            "polling DRF /api/query every 1 s",
            "poll",
            reactive_metrics=False,
            writer="http",
            conn_max_age=0,
        ),
        System(
            "dcrf",
            "djangochannelsrestframework model observer",
            "dcrf",
            app="bench.asgi:application",
            reactive_metrics=False,
            writer="http",
            conn_max_age=0,
        ),
        System("reactive-pg2", "reactive (PostgreSQL + Redis, 2 processes)", "sync", database="postgres", processes=2),
    ]
}
DEFAULT_SYSTEMS = ["reactive", "table-level", "polling", "dcrf", "reactive-pg2"]

# The idle run's servers (``python -m bench --idle``): PostgreSQL + Redis, 2 processes, idle clients.
IDLE = System("idle", "idle subscribed connections", "idle", database="postgres", processes=2)


@dataclass
class Options:
    """What one ``python -m bench`` run does (its command-line options, see bench/__main__.py)."""

    clients: int = 1000
    rate: float = 100.0
    duration: float = 30.0
    channels: int = 100
    messages: int = 50
    users: int = 20
    systems: list[str] = field(default_factory=lambda: list(DEFAULT_SYSTEMS))
    client_procs: int = 2
    # Writer connections; 0: enough sync sessions to stay under MUTATION_RATE (25/s each), or 2 HTTP connections.
    writer_connections: int = 0
    drain: float = 3.0
    idle: bool = False
    idle_clients: int = 10_000
    idle_duration: float = 60.0
    idle_procs: int = 4
    profile: bool = False
    pin: bool = True  # each server process on a core of its own, the load generators on the others (servers.cpu_plan)
    postgres_url: str = "postgres://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/1"
    out: Path = RESULTS_DIR
    label: str = ""
    write_report: bool = True
    finals: bool = False  # clients report their final message lists and per-client counts (the smoke test)
    cycle_channels: bool = False  # the writer takes channels in turn instead of at random
    hostile: bool = False  # the hostile-load runs (a quiet run, then one per attack)
    hostile_seconds: float = 15.0  # seconds each attack (and the quiet run) lasts
    hostile_attacks: list[str] = field(default_factory=lambda: list(ATTACKS))
    bystander_rate: float = 10.0  # the bystander's round trips per second
    attacker_nice: int = 0  # the attacker process's nice value (0: it competes for the CPU like any client)
