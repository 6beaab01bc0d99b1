"""``python -m bench``: the benchmark of reactive against its alternatives, from a checkout of the repository.

It starts its own servers and load generators and writes bench/results/ (Markdown, JSON, PNG): see
docs/performance.md, and docs/security.md for ``--hostile``. ``make bench`` and ``make bench-hostile`` run it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmark reactive against polling, djangochannelsrestframework and table-level invalidation on the "
            "chat workload; starts its own servers and load generators and writes bench/results/ "
            "(Markdown, JSON, PNG). See docs/performance.md."
        ),
    )
    parser.add_argument("--clients", type=int, default=None, help="connected clients (default 1000)")
    parser.add_argument("--rate", type=float, default=None, help="mutations per second (default 100)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of writing (default 30)")
    parser.add_argument("--channels", type=int, default=100, help="channels the clients spread over")
    parser.add_argument(
        "--systems",
        default=None,
        help="comma-separated subset of: reactive, table-level, polling, dcrf, reactive-pg2 (default: all)",
    )
    parser.add_argument("--client-procs", type=int, default=2, help="load-generating client processes")
    parser.add_argument("--quick", action="store_true", help="a small run that finishes in under two minutes")
    parser.add_argument(
        "--idle", action="store_true", help="also hold 10,000 idle subscribed connections on 2 processes"
    )
    parser.add_argument("--idle-clients", type=int, default=10_000, help="connections of --idle")
    parser.add_argument("--idle-duration", type=float, default=60.0, help="seconds --idle holds them")
    parser.add_argument(
        "--hostile",
        action="store_true",
        help="hostile load: a bystander's write round trips and the server's RSS, quiet and under each attack "
        "(docs/security.md); runs only that unless --systems or --idle asks for more",
    )
    parser.add_argument(
        "--hostile-seconds", type=float, default=15.0, help="seconds of each --hostile attack (default 15)"
    )
    parser.add_argument(
        "--hostile-attacks",
        default=None,
        help="comma-separated subset of: big-frames, nested, event-flood, journal-fanout, paginated-fanout, "
        "slow-readers, connection-flood (default: all)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the reactive server during its run (the first of the 2-process run's too)",
    )
    parser.add_argument(
        "--postgres-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server for the 2-process run (a scratch database reactive_bench is created/dropped)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let the scheduler move server processes between CPUs (default: one core each, load elsewhere)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/1", help="Redis for the 2-process run")
    parser.add_argument(
        "--attacker-nice", type=int, default=0, help="nice value of the --hostile attacker process (default 0)"
    )
    parser.add_argument("--out", default=None, help="output directory (default bench/results)")
    parser.add_argument("--label", default="", help="suffix of the output file names")
    return parser


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    import django

    django.setup()
    from .attacks import ATTACKS
    from .harness import run
    from .systems import DEFAULT_SYSTEMS, RESULTS_DIR, SYSTEMS, Options

    cli = argument_parser()
    options = vars(cli.parse_args(argv))
    quick = options["quick"]
    hostile = options["hostile"]
    default_systems = [] if hostile else list(DEFAULT_SYSTEMS)
    systems = options["systems"].split(",") if options["systems"] else default_systems
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        cli.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}")
    attacks = options["hostile_attacks"].split(",") if options["hostile_attacks"] else list(ATTACKS)
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        cli.error(f"unknown attack(s) {', '.join(unknown)}; choose from {', '.join(ATTACKS)}")
    bench_options = Options(
        clients=options["clients"] or (200 if quick else 1000),
        rate=options["rate"] or (50.0 if quick else 100.0),
        duration=options["duration"] or (6.0 if quick else 30.0),
        channels=options["channels"],
        systems=systems,
        client_procs=options["client_procs"],
        drain=2.0 if quick else 3.0,
        idle=options["idle"],
        idle_clients=options["idle_clients"],
        idle_duration=options["idle_duration"],
        profile=options["profile"],
        pin=not options["no_pin"],
        postgres_url=options["postgres_url"],
        redis_url=options["redis_url"],
        out=Path(options["out"]) if options["out"] else RESULTS_DIR,
        label=options["label"] or ("-hostile" if hostile else "-quick" if quick else ""),
        hostile=hostile,
        hostile_seconds=options["hostile_seconds"],
        hostile_attacks=attacks,
        attacker_nice=options["attacker_nice"],
    )

    def log(line: str) -> None:
        print(line, flush=True)

    run(bench_options, log=log)


if __name__ == "__main__":
    main(sys.argv[1:])
