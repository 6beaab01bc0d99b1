"""A WebSocket client on a plain socket, for tests of clients that misbehave: it never answers pings
on its own, reads only when told to, and offers no compression.

    sock = open_websocket(server.port, receive_buffer=4096)
    send_text(sock, json.dumps({"type": "Connect", ...}))
    opcode, payload = read_frame(sock)
"""

from __future__ import annotations

import base64
import os
import socket
import struct

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


def open_websocket(port: int, path: str = "/api/raw/sync", *, receive_buffer: int | None = None) -> socket.socket:
    """A socket on 127.0.0.1:``port`` past the WebSocket handshake (asserted to succeed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # before connecting, so the TCP window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(20)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)
        assert chunk, f"the server closed during the handshake: {response!r}"
        response += chunk
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def send_text(sock: socket.socket, text: str) -> None:
    """One masked text frame, as a client must send it."""
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x80 | OP_TEXT])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    elif len(payload) < 1 << 16:
        header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
    else:
        header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    sock.sendall(header + mask + masked)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[int, bytes] | None:
    """The next frame's ``(opcode, payload)``; None once the server has closed or reset the connection."""
    try:
        head = _read_exactly(sock, 2)
        if head is None:
            return None
        size = head[1] & 0x7F
        if size == 126:
            extended = _read_exactly(sock, 2)
            size = struct.unpack(">H", extended)[0] if extended else 0
        elif size == 127:
            extended = _read_exactly(sock, 8)
            size = struct.unpack(">Q", extended)[0] if extended else 0
        payload = _read_exactly(sock, size) if size else b""
    except ConnectionResetError:
        return None
    return None if payload is None else (head[0] & 0x0F, payload)
