"""What one connection sends is bounded before it costs the others: input waiting, message sizes and rates.

Counts and states, not timings: Daphne stops reading a socket whose input waits unhandled past the limits and
reads it again once the server has caught up; small message types are refused when big; every message type is
rate limited by waiting, never by dropping.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from daphne.ws_protocol import WebSocketProtocol

from reactive import metrics
from reactive.sync.consumer import MAX_CONTAINERS_PER_MESSAGE, SMALL_MESSAGE_BYTES
from reactive.testing import ReactiveCommunicator

from ..security_helpers import close_event, reactive_settings_with

pytestmark = pytest.mark.django_db(transaction=True)


class Transport:
    """Twisted's side of a socket: records whether it is being read."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")


class Server:
    def log_action(self, *args: Any) -> None:
        pass

    def protocol_disconnected(self, protocol: Any) -> None:
        pass


def daphne_protocol() -> tuple[Any, asyncio.Queue[dict[str, Any]], Transport]:
    """Daphne's WebSocketProtocol (with reactive's patches), wired to a queue as Daphne wires the application."""
    protocol: Any = WebSocketProtocol.__new__(WebSocketProtocol)
    transport = Transport()
    protocol.transport, protocol.server, protocol.muted = transport, Server(), False
    protocol.client_addr = ("127.0.0.1", 1)
    protocol.request = type("Request", (), {"path": "/api/1/sync"})()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    protocol.applicationCreateWorked(queue)
    return protocol, queue, transport


async def test_daphne_stops_reading_a_socket_whose_input_waits_and_reads_it_again() -> None:
    before = metrics.INBOUND_BYTES.value()
    with reactive_settings_with(MAX_INBOUND_MESSAGES=4, MAX_INBOUND_BYTES=10_000):
        protocol, queue, transport = daphne_protocol()
        assert (await queue.get())["type"] == "websocket.connect"
        for _ in range(5):
            protocol.onMessage(b'{"type":"Event"}', False)
        assert transport.calls == ["pause"]  # 5 > 4 messages wait
        assert metrics.INBOUND_BYTES.value() == before + 5 * 16
        for _ in range(3):
            assert (await queue.get())["type"] == "websocket.receive"
        assert transport.calls == ["pause", "resume"]  # 2 wait: half the limit
        protocol.onMessage(b"x" * 20_000, False)  # one frame past the byte limit
        assert transport.calls == ["pause", "resume", "pause"]
        protocol.onClose(True, 1000, "")
    assert metrics.INBOUND_BYTES.value() == before  # what a closed connection held is not counted


async def test_small_message_types_are_refused_when_big() -> None:
    client = ReactiveCommunicator()
    await client.connect()
    event = {"type": "Event", "eventType": "x", "event": "e" * SMALL_MESSAGE_BYTES}
    await client.send_raw(json.dumps(event))
    error = (await client.receive())["error"]
    assert error == f"A Event message may be at most {SMALL_MESSAGE_BYTES} characters"
    assert (await close_event(client))["code"] == 1009


@pytest.mark.parametrize("nested", ["wide", "deep"])
async def test_a_frame_of_too_many_arrays_is_refused_before_it_is_parsed(
    nested: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What costs most in parsing one frame is building its containers: past the bound, nothing is parsed."""
    from reactive.sync import consumer

    parsed: list[int] = []
    parse = consumer.protocol.parse
    monkeypatch.setattr(consumer.protocol, "parse", lambda text: parsed.append(len(text)) or parse(text))
    client = ReactiveCommunicator()
    await client.connect()
    count = MAX_CONTAINERS_PER_MESSAGE + 1
    payload = "[" + ",".join(["[]"] * count) + "]" if nested == "wide" else "[" * count + "]" * count
    await client.send_raw('{"type":"Event","eventType":"x","event":' + payload + "}")
    error = (await client.receive())["error"]
    assert error == f"A message may hold at most {MAX_CONTAINERS_PER_MESSAGE} arrays and objects"
    assert (await close_event(client))["code"] == 1009
    assert all(size < 1000 for size in parsed)  # only the Connect was parsed


async def test_every_message_type_is_rate_limited_by_waiting() -> None:
    """Past MESSAGE_BURST, messages wait their turn at MESSAGE_RATE: all of them are handled, in order."""
    with reactive_settings_with(MESSAGE_RATE=50.0, MESSAGE_BURST=2):
        client = ReactiveCommunicator()
        await client.connect()
        for i in range(6):
            await client.call("Action", "testing:public_action", wait=False)
            await client.send_raw(json.dumps({"type": "Event", "eventType": "x", "event": i}))
        await client.receive_until(lambda: len(client.responses) == 6)
        assert sorted(client.responses) == list(range(6))
        await client.close()


async def test_a_big_frame_is_parsed_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop serves every connection: a big frame is parsed on a worker thread, a small one where it is."""
    from reactive.sync import consumer, protocol

    threads: list[tuple[int, bool]] = []
    parse = protocol.parse

    def recording_parse(text: str) -> Any:
        threads.append((len(text), threading.current_thread() is threading.main_thread()))
        return parse(text)

    monkeypatch.setattr(consumer.protocol, "parse", recording_parse)
    client = ReactiveCommunicator()
    await client.connect()
    adds = [
        {"type": "Add", "queryId": i, "udfPath": "testing:echo", "args": [{"value": f"{i}" + "v" * 300}]}
        for i in range(300)
    ]
    await client.send_raw(
        json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": adds})
    )
    await client.receive_until(lambda: len(client.values) == 300)
    await client.close()
    small, big = threads[0], threads[-1]
    assert small[0] < 1000 and small[1] is True  # Connect, on the loop's thread
    assert big[0] > 65_536 and big[1] is False
