"""permessage-deflate: Daphne offers it when reactive is installed (REACTIVE["WEBSOCKET_COMPRESSION"])."""

from __future__ import annotations

import base64
import os
import socket

import pytest

from ..live_servers import LiveServerFactory


def handshake(port: int, extensions: str | None) -> str:
    """Open a WebSocket handshake by hand and return the server's response headers."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /api/test/sync HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
    return response.decode("latin1").lower()


@pytest.mark.django_db(transaction=True)
def test_daphne_negotiates_permessage_deflate(live_server_factory: LiveServerFactory) -> None:
    server = live_server_factory()
    offered = handshake(server.port, "permessage-deflate; client_max_window_bits")
    assert offered.startswith("http/1.1 101")
    assert "sec-websocket-extensions: permessage-deflate" in offered
    plain = handshake(server.port, None)
    assert plain.startswith("http/1.1 101") and "permessage-deflate" not in plain
