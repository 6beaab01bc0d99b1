"""The official ``convex`` npm client against a real server: subscribe, mutate, see the update."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from demo_project.chat.models import Channel, Message
from tests.live_servers import LiveServerFactory

INTEROP_DIR = Path(__file__).resolve().parents[1] / "interop"
SCRIPT = "convex_client_check.mjs"
BODY = "hello from convex"  # what the script sends


def _require_node() -> str:
    """The node executable; skips (fails under CI) when node or the convex package is missing."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not (INTEROP_DIR / "node_modules" / "convex" / "package.json").is_file():
        problem = "the convex npm package is not installed (run `make interop-deps`)"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"interop test cannot run in CI: {problem}")
        pytest.skip(problem)
    assert node is not None
    return node


def _run_script(node: str, script: str, url: str, channel_id: int, **env: str) -> tuple[dict[str, Any], str]:
    """Run an interop script against ``url``; its one JSON line (which must say ok) and a failure text."""
    result = subprocess.run(
        [node, script],
        cwd=INTEROP_DIR,
        env={**os.environ, "REACTIVE_URL": url, "CHANNEL_ID": str(channel_id), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    details = f"exit code {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, details
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, details
    report = json.loads(lines[0])
    assert report["ok"] is True, details
    return report, details


@pytest.mark.django_db(transaction=True)
def test_official_client_subscribes_and_mutates(live_server_factory: LiveServerFactory) -> None:
    node = _require_node()
    channel = Channel.objects.create(name="interop")
    server = live_server_factory()

    report, details = _run_script(node, SCRIPT, server.url, channel.pk)
    assert report["finalCount"] == report["initialCount"] + 1, details
    messages = Message.objects.filter(channel=channel, body=BODY)
    assert messages.count() == 1
    assert report["mutationResult"] == messages.get().pk, details


PAGINATED_SCRIPT = "convex_paginated_check.mjs"


@pytest.mark.django_db(transaction=True)
def test_official_use_paginated_query(live_server_factory: LiveServerFactory) -> None:
    """``usePaginatedQuery`` from ``convex/react``: load pages, see a new message on top, exhaust."""
    node = _require_node()
    if not (INTEROP_DIR / "node_modules" / "react-test-renderer" / "package.json").is_file():
        problem = "react-test-renderer is not installed (run `make interop-deps`)"
        if os.environ.get("CI"):
            pytest.fail(f"interop test cannot run in CI: {problem}")
        pytest.skip(problem)
    channel = Channel.objects.create(name="interop-paginated")
    for number in range(1, 13):
        Message.objects.create(channel=channel, body=f"m{number}")
    server = live_server_factory()

    report, details = _run_script(node, PAGINATED_SCRIPT, server.url, channel.pk)
    steps = {step["name"]: step for step in report["steps"]}
    assert [step["name"] for step in report["steps"]] == ["firstPage", "loadMore", "afterSend", "exhausted"], details
    assert (steps["firstPage"]["count"], steps["firstPage"]["status"]) == (5, "CanLoadMore"), details
    assert steps["firstPage"]["bodies"] == [f"m{n}" for n in range(12, 7, -1)], details
    assert (steps["loadMore"]["count"], steps["loadMore"]["status"]) == (10, "CanLoadMore"), details
    assert (steps["afterSend"]["count"], steps["afterSend"]["status"]) == (11, "CanLoadMore"), details
    assert steps["afterSend"]["bodies"][0] == "m13", details
    assert (steps["exhausted"]["count"], steps["exhausted"]["status"]) == (13, "Exhausted"), details
    assert steps["exhausted"]["bodies"] == [f"m{n}" for n in range(13, 0, -1)], details
    new = Message.objects.get(channel=channel, body="m13")
    assert report["mutationResult"] == new.pk, details


EDGES_SCRIPT = "convex_edges_check.mjs"


@pytest.mark.django_db(transaction=True)
def test_official_client_a_mutation_that_writes_nothing_resolves(live_server_factory: LiveServerFactory) -> None:
    node = _require_node()
    channel = Channel.objects.create(name="noop")
    report, details = _run_script(node, EDGES_SCRIPT, live_server_factory().url, channel.pk, SCENARIO="noop")
    assert report["resolved"] == 2, details


@pytest.mark.django_db(transaction=True)
def test_official_client_a_resent_mutation_whose_response_was_lost_resolves(
    live_server_factory: LiveServerFactory,
) -> None:
    """The response is lost with the socket; the re-send gets the stored outcome, and the row exists once."""
    node = _require_node()
    channel = Channel.objects.create(name="resend")
    report, details = _run_script(node, EDGES_SCRIPT, live_server_factory().url, channel.pk, SCENARIO="resend")
    assert report["dropped"] == 1, details
    message = Message.objects.get(channel=channel, body="re-sent")  # exactly one
    assert report["mutationResult"] == message.pk, details


@pytest.mark.django_db(transaction=True)
def test_official_client_a_burst_of_mutations_all_run_once_in_order(live_server_factory: LiveServerFactory) -> None:
    """150 mutations at once, the socket cut after 20 responses: back-pressure delays them, none fails."""
    node = _require_node()
    channel = Channel.objects.create(name="burst")
    report, details = _run_script(node, EDGES_SCRIPT, live_server_factory().url, channel.pk, SCENARIO="burst")
    assert (report["resolved"], report["cuts"]) == (150, 1), details
    rows = list(Message.objects.filter(channel=channel).order_by("pk").values_list("pk", "body"))
    assert [body for _pk, body in rows] == [f"b{n:03}" for n in range(150)], details
    assert report["ids"] == [pk for pk, _body in rows], details
