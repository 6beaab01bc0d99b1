"""Randomized differential recall test, in process: a live query never misses a committed write.

Each round draws random query specs (tests/recall/specs.py) and runs each one as a batch does,
keeping its value and read-set. Then, a few times, it commits a random batch of writes through
every write path (tests/recall/ops.py; some from a separate writer process), reads their write-sets
back from the outbox, and runs every spec again. A spec whose value changed although its read-set
is not affected by those write-sets is a MISSED WRITE. Re-runs that changed nothing are counted
(precision) and printed. ``RECALL_SEED`` replays a run, ``RECALL_ROUNDS`` makes it longer.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from django.db import connection

from reactive.commitlog import commits
from reactive.readsets import TableWrite, readset_affected
from tests.live_servers import current_database_name
from tests.recall import ops
from tests.recall.harness import Problems, Run, dumps, rounds, run_spec, seed
from tests.recall.specs import Spec, random_spec, spec_name
from tests.recall.writer import Writer

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

SPECS_PER_ROUND = 10
BATCHES_PER_ROUND = 3
FROM_OTHER_PROCESS = 0.1  # share of ops committed by the writer process


@pytest.fixture
def writer(transactional_db: None) -> Iterator[Writer]:
    process = Writer(current_database_name())
    yield process
    process.close()


def _commit(op: ops.Op, writer: Writer, rng: random.Random, problems: Problems) -> str:
    """Commit ``op`` here or in the writer process; returns where, and records crashes and leaks."""
    name = ops.names(op)
    before = commits.current_ts(connection)
    where = "writer process" if rng.random() < FROM_OTHER_PROCESS else "test process"
    failed = False
    if where == "writer process":
        answer = writer.apply(op)
        failed = answer == "failed"
        if answer.startswith("error"):
            problems.add(f"CRASH in write (writer process): {answer}"[:140], f"op: {name} {dumps(op)}\n{answer}")
    else:
        try:
            ops.apply(op)
        except ops.IntendedFailure:
            failed = True
        except Exception as exc:
            problems.add(f"CRASH in write: {exc!r}"[:140], f"op: {name} {dumps(op)}\n{exc!r}")
    if failed and commits.current_ts(connection) != before:
        problems.add(f"PUBLISHED a rolled-back write: {name}", f"op: {dumps(op)}")
    return f"{name} [{where}]"


def _check(
    spec: Spec,
    old: Run,
    new: Run,
    writes: list[TableWrite],
    batch: list[tuple[str, ops.Op]],
    problems: Problems,
    stats: dict[str, int],
) -> None:
    if new.error is not None:
        problems.add(f"CRASH in query {spec_name(spec)}", f"spec: {dumps(spec)}\n{new.error}")
        return
    if old.error is not None:
        return
    affected = readset_affected(old.readset, writes)
    changed = new.value != old.value
    stats["checks"] += 1
    stats["changed"] += changed
    stats["reran"] += affected
    stats["reran_unchanged"] += affected and not changed
    if changed and not affected:
        stats["missed"] += 1
        key = f"MISSED WRITE: {spec_name(spec)} <- {' + '.join(name for name, _ in batch)}"
        problems.add(
            key,
            f"spec: {dumps(spec)}\nwrites:\n  "
            + "\n  ".join(f"{name}: {dumps(op)}" for name, op in batch)
            + f"\nold: {dumps(old.value)}\n"
            f"new: {dumps(new.value)}\nread-set: {old.readset.tables}\nwrite-sets: {writes}",
        )


def test_recall_in_process(writer: Writer) -> None:
    recall_seed = seed()
    rng = random.Random(recall_seed)
    print(f"\nrecall seed {recall_seed}")
    problems = Problems(recall_seed)
    stats = dict.fromkeys(["checks", "changed", "reran", "reran_unchanged", "missed"], 0)
    ops.seed_data(rng)
    for _round in range(rounds(150)):
        specs = [random_spec(rng) for _ in range(SPECS_PER_ROUND)]
        runs = [run_spec(spec) for spec in specs]
        for _batch in range(BATCHES_PER_ROUND):
            start = commits.current_ts(connection)
            batch: list[tuple[str, ops.Op]] = []
            for _ in range(rng.randint(1, 3)):
                op = ops.random_op(rng, connection.vendor)
                batch.append((_commit(op, writer, rng, problems), op))
            writes = commits.committed_writes(connection, start, commits.current_ts(connection))
            assert writes is not None, f"seed {recall_seed}: the outbox lost commits"
            fresh = [run_spec(spec) for spec in specs]
            for spec, old, new in zip(specs, runs, fresh, strict=True):
                _check(spec, old, new, writes, batch, problems, stats)
            runs = fresh
    precision = 1 - stats["reran_unchanged"] / max(stats["reran"], 1)
    print(
        f"recall seed {recall_seed}: {stats['checks']} checks, {stats['changed']} changed, {stats['reran']} re-ran "
        f"({stats['reran_unchanged']} unchanged: precision {precision:.0%}), {stats['missed']} MISSED"
    )
    assert not problems.counts, problems.report("tests/live/test_recall.py")
