"""Misbehaving sockets against a real Daphne server: no Connect, half-open, never reading.

Each test asserts what the server did to the socket (closed it, kept it), never how fast; the
socket timeouts are hang guards.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import time
import urllib.request

import pytest
from asgiref.sync import sync_to_async

from demo_project.chat.models import Channel, Message

from ..live_servers import LiveServer, LiveServerFactory
from ..raw_ws import OP_CLOSE, OP_PING, OP_TEXT, open_websocket, read_frame, send_text
from ..ws_client import SyncClient

pytestmark = pytest.mark.django_db(transaction=True)

CONNECT = {"type": "Connect", "sessionId": "raw", "connectionCount": 0, "lastCloseReason": "InitialConnect"}
GUARD = 30.0  # seconds: far longer than any of the bounds these tests configure


def frames_until_closed(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Read (without ever answering a ping) until the server closes or drops the connection."""
    frames = []
    deadline = time.monotonic() + GUARD
    while (frame := read_frame(sock)) is not None:
        assert time.monotonic() < deadline, "the server keeps the connection open"
        frames.append(frame)
        if frame[0] == OP_CLOSE:
            assert read_frame(sock) is None  # nothing follows a close frame
            break
    return frames


def open_connections(server: LiveServer) -> float:
    match = re.search(r"^reactive_connections (\S+)$", server.metrics_text(), re.MULTILINE)
    assert match is not None
    return float(match.group(1))


def wait_for_connections(server: LiveServer, count: int) -> None:
    """Until the server counts ``count`` open connections (it releases one just after closing it)."""
    deadline = time.monotonic() + GUARD
    while open_connections(server) != count:
        assert time.monotonic() < deadline, f"the server does not count {count} connection(s)"
        time.sleep(0.1)


def test_a_socket_that_never_sends_connect_is_closed(live_server_factory: LiveServerFactory) -> None:
    server = live_server_factory({"REACTIVE_CONNECT_TIMEOUT": "1"})
    sock = open_websocket(server.port)
    frames = frames_until_closed(sock)
    assert [opcode for opcode, _ in frames if opcode != OP_PING] == [OP_TEXT, OP_CLOSE]
    assert json.loads(frames[0][1]) == {"type": "FatalError", "error": "No Connect within CONNECT_TIMEOUT=1 s"}
    close = frames[-1][1]
    assert int.from_bytes(close[:2], "big") == 4008  # 1008 (policy violation), in Daphne's private range
    assert close[2:] == b""  # Daphne sends no reason: the FatalError before it says why
    wait_for_connections(server, 0)
    # A socket that does send Connect in time stays open.
    sock = open_websocket(server.port)
    send_text(sock, json.dumps(CONNECT))
    sock.settimeout(3)
    with pytest.raises(TimeoutError):
        read_frame(sock)
    assert open_connections(server) == 1
    sock.close()


async def test_a_half_open_socket_is_dropped_and_a_healthy_idle_one_is_kept(
    live_server_factory: LiveServerFactory,
) -> None:
    env = {"REACTIVE_PING_INTERVAL": "0.5", "REACTIVE_IDLE_TIMEOUT": "2"}
    server = await sync_to_async(live_server_factory)(env)
    healthy = SyncClient(server.url)  # the websockets library answers pings, as browsers do
    await healthy.connect()
    sock = await asyncio.to_thread(open_websocket, server.port)
    send_text(sock, json.dumps(CONNECT))
    # It reads everything but answers no ping: as a peer that is gone looks from the server.
    frames = await asyncio.to_thread(frames_until_closed, sock)
    assert OP_PING in [opcode for opcode, _ in frames]
    await asyncio.to_thread(wait_for_connections, server, 1)  # the healthy one, idle as long, is kept
    assert healthy.connected and healthy.closed_by_server == 0
    query_id = await healthy.subscribe("channels:list", {})
    assert healthy.values[query_id] == []
    await healthy.close()


def send_message(server: LiveServer, channel_id: int) -> None:
    args = {"channelId": channel_id, "body": secrets.token_hex(1000), "author": "a"}
    body = {"path": "messages:send", "args": [args]}
    request = urllib.request.Request(
        f"{server.url}/api/mutation", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_a_client_that_never_reads_is_cut_at_max_unsent_bytes(live_server_factory: LiveServerFactory) -> None:
    limit = 256 * 1024
    server = live_server_factory({"REACTIVE_MAX_UNSENT_BYTES": str(limit)})
    channel = Channel.objects.create(name="big")
    # Random bodies (the raw client offers no compression anyway): the channel's 50 newest are about 200 KB.
    Message.objects.bulk_create(Message(channel=channel, body=secrets.token_hex(2000)) for _ in range(50))
    sock = open_websocket(server.port, receive_buffer=4096)
    send_text(sock, json.dumps(CONNECT))
    add = {"type": "Add", "queryId": 0, "udfPath": "messages:list", "args": [{"channelId": channel.pk}]}
    send_text(sock, json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [add]}))
    # Each message sent is a Transition of about 200 KB for a client that never reads: 400 are about 80 MB.
    for _ in range(400):
        send_message(server, channel.pk)
        if open_connections(server) == 0:
            break
    wait_for_connections(server, 0)  # the server cut the client that does not read
    assert f"the client does not read its socket (MAX_UNSENT_BYTES={limit})" in server.output()
    sock.close()


async def test_a_message_larger_than_daphnes_frame_limit_reaches_the_client(
    live_server_factory: LiveServerFactory,
) -> None:
    """autobahn refuses to send a message over its payload limit (Daphne's 1 MiB, meant for what clients send);
    what the server sends is bounded by MAX_RESULT_BYTES, so a 2 MB result must go out, not hang the socket."""
    server = live_server_factory()
    client = SyncClient(server.url)
    await client.connect()
    query = await client.subscribe("recall:noise", {"size": 2_000_000})
    assert len(await client.wait_value(query, timeout=GUARD)) == 2_000_000
    await client.close()
