"""Daphne's WebSocket frames reach the socket when they are sent (reactive.sync.transport._write_now)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import tcp
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.selectreactor import SelectReactor
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

from reactive.sync import transport


@pytest.fixture
def connection() -> Iterator[tuple[tcp.Connection, socket.socket]]:
    """A Twisted TCP connection over a real socket pair, on a reactor that never runs."""
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    conn = tcp.Connection(ours, None, reactor=SelectReactor())
    conn.connected = 1
    yield conn, theirs
    ours.close()
    theirs.close()


def test_twisted_alone_keeps_a_write_until_the_reactor_turns(connection: tuple[tcp.Connection, socket.socket]) -> None:
    conn, peer = connection
    conn.write(b"frame")
    with pytest.raises(BlockingIOError):
        peer.recv(100)  # what the patch is for: nothing left before the reactor's next turn


def test_a_buffered_write_is_written_now(connection: tuple[tcp.Connection, socket.socket]) -> None:
    conn, peer = connection
    conn.write(b"frame")
    transport._write_now(conn)
    assert peer.recv(100) == b"frame"
    assert conn.dataBuffer == b"" and not conn._tempDataLen


def test_a_closing_connection_is_left_to_the_reactor(connection: tuple[tcp.Connection, socket.socket]) -> None:
    conn, peer = connection
    conn.write(b"last words")
    conn.disconnecting = True  # what loseConnection() sets: the reactor must see the end of the buffer
    transport._write_now(conn)
    with pytest.raises(BlockingIOError):
        peer.recv(100)


def test_a_wrapped_transport_is_left_to_the_reactor(connection: tuple[tcp.Connection, socket.socket]) -> None:
    """TLS wraps the TCP connection and forwards unknown attributes to it, but not its state: hands off."""
    conn, peer = connection
    wrapper = ProtocolWrapper(WrappingFactory(Factory()), Protocol())
    wrapper.transport = conn
    conn.write(b"frame")
    transport._write_now(wrapper)
    with pytest.raises(BlockingIOError):
        peer.recv(100)


def test_daphne_server_send_is_patched() -> None:
    assert WebSocketProtocol.serverSend.__wrapped__ is transport._patched._originals[(WebSocketProtocol, "serverSend")]


def test_a_listening_port_accepts_a_few_connections_per_turn() -> None:
    """A flood of connections is parsed a few per turn of the reactor (ACCEPTS_PER_TURN), not hundreds at once
    before any other socket is served; the rest wait in the kernel's queue and are taken in the next turns."""
    reactor = SelectReactor()
    accepted: list[object] = []

    class Counting(Factory):
        def buildProtocol(self, addr: object) -> Protocol:
            accepted.append(addr)
            return Protocol()

    port = tcp.Port(0, Counting(), backlog=200, interface="127.0.0.1", reactor=reactor)
    port.startListening()
    transport.accepting_a_few_per_turn(port)
    address = port.getHost()
    clients = [socket.create_connection((address.host, address.port)) for _ in range(60)]
    try:
        turns = []
        while len(accepted) < len(clients):
            before = len(accepted)
            port.doRead()
            turns.append(len(accepted) - before)
        assert max(turns) == transport.ACCEPTS_PER_TURN
        assert sum(turns) == len(clients)
    finally:
        for client in clients:
            client.close()
        port.stopListening()
