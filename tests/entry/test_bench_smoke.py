"""The benchmark harness on a tiny workload: real Daphne, real sockets, separate client processes.

Counts only (timings are the benchmark's business, never asserted): every client receives every
message of its channel, and each mutation re-runs exactly one query instance (its channel's
``messages:list``), never ``users:list``.
"""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        importlib.util.find_spec("websockets") is None,
        reason="the bench dependencies are not installed (pip install -e '.[bench]')",
    ),
]


def test_chat_workload_counts(tmp_path: pytest.TempPathFactory) -> None:
    from bench.harness import run
    from bench.systems import Options

    options = Options(
        clients=20,
        channels=5,
        messages=5,
        users=3,
        rate=5.0,
        duration=2.0,
        drain=1.0,
        systems=["reactive"],
        client_procs=1,
        out=tmp_path,  # type: ignore[arg-type]
        write_report=False,
        finals=True,
        cycle_channels=True,
    )
    results = run(options, log=lambda line: None)
    (result,) = results["runs"]
    assert result["clients_ready"] == 20
    assert result["violations"] == 0, result["violation_samples"]
    assert result["mutations_failed"] == 0
    mutations = result["mutations_committed"]
    assert mutations == 10
    assert result["missing"] == 0
    assert result["delivered"] == result["expected"] == mutations * 20 // 5
    for client in result["per_client_counts"]:
        assert client["received"] == client["expected"] == mutations // 5, client
    assert result["reruns_per_mutation_messages"] == 1.0
    assert result["reruns_per_mutation_all"] == 1.0  # users:list never re-ran
    assert result["invalidations_per_mutation"] == 1.0


def test_hostile_runs_counts(tmp_path: pytest.TempPathFactory) -> None:
    """The hostile-load runs: the bystander completes round trips and each attacker does what it says."""
    from bench.harness import run
    from bench.systems import Options

    options = Options(
        channels=5,
        messages=5,
        users=3,
        systems=[],
        out=tmp_path,  # type: ignore[arg-type]
        write_report=False,
        hostile=True,
        hostile_seconds=1.0,
        hostile_attacks=["event-flood", "journal-fanout"],
    )
    hostile = run(options, log=lambda line: None)["hostile"]
    quiet, flood, fanout = hostile["quiet"], *hostile["attacks"]
    assert quiet["attacker"] is None
    for result in (quiet, flood, fanout):
        assert result["round_trips"] > 0
        assert result["bystander_violations"] == 0
        assert result["bystander_refused"] == 0
    assert flood["attacker"]["frames"] > 100
    assert fanout["attacker"]["connections"] == 1
    assert fanout["attacker"]["frames"] > 0
    # Journals are server-made: a thousand made-up ones share one instance (plus the bystander's two).
    assert fanout["live_instances_end"] <= 3
