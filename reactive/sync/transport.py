"""The WebSocket transport under Daphne: its patches, with :func:`install` and :func:`uninstall`.

- ``WebSocketFactory.__init__``: permessage-deflate (``WEBSOCKET_COMPRESSION``).
- ``WebSocketProtocol.serverSend``: a frame is written to the socket when it is sent, not on the reactor's next
  turn; a client that lets more than ``MAX_UNSENT_BYTES`` pile up is cut.
- ``onConnect`` / ``check_timeouts``: WebSocket pings every ``PING_INTERVAL``; a socket silent for
  ``IDLE_TIMEOUT`` is dropped.
- ``applicationCreateWorked`` / ``onMessage`` / ``onClose``: input received and not yet handled is bounded: past
  ``MAX_INBOUND_BYTES`` or ``MAX_INBOUND_MESSAGES`` the socket is not read.
- ``Server.listen_success``: each listening port accepts at most :data:`ACCEPTS_PER_TURN` connections per turn of
  the reactor.

Under another ASGI server nothing is patched: it negotiates compression and keeps its sockets itself.
"""

from __future__ import annotations

import collections
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from .. import metrics
from ..patching import Patched

logger = logging.getLogger("reactive")


# --- Daphne: permessage-deflate -------------------------------------------------------------


# zlib memLevel of each connection's compressor (1-9; zlib's default 8). It is not negotiated: it sizes the
# compressor's hash table and output buffer, about 2**(memLevel + 9) bytes; at 8 that was most of the memory
# an idle connection costs, while sync messages (small, repetitive) compress almost as well at 4.
DEFLATE_MEM_LEVEL = 4


def _accept_deflate(offers: list[Any]) -> Any:
    """Accept the client's first permessage-deflate offer (browsers and most clients make one)."""
    from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept

    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer, mem_level=DEFLATE_MEM_LEVEL)
    return None


def _websocket_factory_init(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        from ..conf import reactive_settings

        original(self, *args, **kwargs)
        if reactive_settings.WEBSOCKET_COMPRESSION:
            self.setProtocolOptions(perMessageCompressionAccept=_accept_deflate)

    return __init__


# --- Daphne: frames written when sent ---------------------------------------------------------


def _write_now(transport: Any) -> None:
    """Write what a Twisted TCP transport buffered now, not on the reactor's next turn.

    Twisted buffers every write until the reactor next polls the socket, which is after every
    callback of the current turn: a Transition fanned out to many sessions in one turn reached
    the first client only after the last one was framed. Only a plain, open TCP transport is
    written (TLS wrappers and closing connections are left to the reactor); whatever the socket
    does not take, or an error, stays with the reactor, which still watches it for writing.
    """
    from twisted.internet import tcp

    # Exactly a TCP connection: a wrapper (TLS) forwards unknown attributes to the connection under it,
    # whose state it does not share.
    if not isinstance(transport, tcp.Connection) or not transport.connected:
        return
    if transport.disconnecting or transport._writeDisconnecting or not transport._tempDataLen:
        return
    if transport.doWrite() is not None:
        transport.startWriting()  # an error: the reactor finds it on its next turn and closes the connection


def _tcp_connection(transport: Any) -> Any:
    """The TCP connection under a transport (TLS wraps it), or None."""
    from twisted.internet import tcp

    for _ in range(3):
        if isinstance(transport, tcp.Connection):
            return transport
        transport = getattr(transport, "transport", None)
    return None


def _unsent_bytes(transport: Any) -> int:
    """Bytes a Twisted transport holds that the socket has not taken yet (0 if it is not over TCP)."""
    connection = _tcp_connection(transport)
    if connection is None:
        return 0
    return len(connection.dataBuffer) - connection.offset + connection._tempDataLen


# The close code of a connection cut by _client_not_reading (Daphne allows only 1000 and 3000-4999): 1013.
CLOSE_CLIENT_NOT_READING = 4013


def _client_not_reading(protocol: Any) -> bool:
    """Cut a connection whose client let more than MAX_UNSENT_BYTES pile up: it does not read its socket.

    Daphne accepts every message at once, so the back-pressure the consumer relies on never comes
    and the bytes would grow without bound in the transport. A close frame would wait behind them,
    so the connection is dropped; the application hears of it as any disconnect.
    """
    from ..conf import reactive_settings

    limit = reactive_settings.MAX_UNSENT_BYTES
    if _unsent_bytes(protocol.transport) <= limit:
        return False
    reason = f"TooManyConcurrentRequests: the client does not read its socket (MAX_UNSENT_BYTES={limit})"
    logger.warning("reactive: dropping WebSocket %s: %s", getattr(protocol, "client_addr", None), reason)
    protocol._fail_connection(CLOSE_CLIENT_NOT_READING, reason)
    return True


def _websocket_server_send(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def serverSend(self: Any, content: Any, binary: bool = False) -> None:
        # Checked before the frame is added: one large message always goes out whole.
        if _client_not_reading(self):
            return
        # autobahn applies its payload limit (Daphne's websocket_max_message_size, 1 MiB, meant for what
        # clients send) to what it sends too, and raises: a result over it would never reach the client.
        # What the server sends is bounded by MAX_RESULT_BYTES instead.
        limit, self.maxMessagePayloadSize = self.maxMessagePayloadSize, 0
        try:
            original(self, content, binary)
        finally:
            self.maxMessagePayloadSize = limit
        _write_now(self.transport)

    return serverSend


# --- Daphne: input not yet handled is bounded ---------------------------------------------------


class _Inbound:
    """What one connection received and the application has not taken yet; reading stops past the limits.

    Daphne reads every frame a client sends into an unbounded queue. Here each frame is counted when it is
    queued and when the application takes it (the queue's ``get_nowait``, which its ``get`` calls), and the
    socket is paused (``pauseProducing``: TCP's window then slows the client) while more than
    ``MAX_INBOUND_BYTES`` or ``MAX_INBOUND_MESSAGES`` wait, and resumed at half of both.
    """

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.sizes: collections.deque[int] = collections.deque()
        self.bytes = 0
        self.paused = False

    def queued(self, size: int) -> None:
        from ..conf import reactive_settings

        self.sizes.append(size)
        self.bytes += size
        metrics.INBOUND_BYTES.inc(size)
        if not self.paused and (
            self.bytes > reactive_settings.MAX_INBOUND_BYTES or len(self.sizes) > reactive_settings.MAX_INBOUND_MESSAGES
        ):
            self.paused = True
            metrics.INBOUND_PAUSES.inc()
            self.protocol.transport.pauseProducing()

    def taken(self) -> None:
        from ..conf import reactive_settings

        if not self.sizes:
            return
        size = self.sizes.popleft()
        self.bytes -= size
        metrics.INBOUND_BYTES.dec(size)
        if (
            self.paused
            and self.bytes <= reactive_settings.MAX_INBOUND_BYTES // 2
            and len(self.sizes) <= reactive_settings.MAX_INBOUND_MESSAGES // 2
        ):
            self.paused = False
            if self.protocol.transport is not None:
                self.protocol.transport.resumeProducing()

    def forget(self) -> None:
        """The connection closed: what it still held is not waiting any more."""
        metrics.INBOUND_BYTES.dec(self.bytes)
        self.sizes.clear()
        self.bytes = 0


def _application_create_worked(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def applicationCreateWorked(self: Any, application_queue: Any) -> Any:
        inbound = self._reactive_inbound = _Inbound(self)
        get_nowait = application_queue.get_nowait

        def counted_get_nowait() -> Any:
            message = get_nowait()
            if message.get("type") == "websocket.receive":
                inbound.taken()
            return message

        application_queue.get_nowait = counted_get_nowait  # asyncio.Queue.get() calls it for every item
        return original(self, application_queue)

    return applicationCreateWorked


def _websocket_on_message(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def onMessage(self: Any, payload: bytes, isBinary: bool) -> None:
        queued = not self.muted and hasattr(self, "_reactive_inbound")
        original(self, payload, isBinary)
        if queued:
            self._reactive_inbound.queued(len(payload))

    return onMessage


def _websocket_on_close(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def onClose(self: Any, *args: Any, **kwargs: Any) -> Any:
        inbound = getattr(self, "_reactive_inbound", None)
        if inbound is not None:
            inbound.forget()
        return original(self, *args, **kwargs)

    return onClose


# --- Daphne: keep-alive tied to PING_INTERVAL and IDLE_TIMEOUT -------------------------------------


def _websocket_on_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def onConnect(self: Any, request: Any) -> Any:
        """autobahn's own keep-alive: a WebSocket ping every PING_INTERVAL, the connection dropped when
        nothing (a pong or any frame) arrives within IDLE_TIMEOUT - PING_INTERVAL of a ping: a half-open
        socket is gone within IDLE_TIMEOUT of its last sign of life. Browsers and WebSocket libraries
        answer pings themselves; the official client sends nothing while idle, so only pings can tell."""
        from ..conf import reactive_settings

        self.autoPingInterval = float(reactive_settings.PING_INTERVAL)
        self.autoPingTimeout = float(reactive_settings.IDLE_TIMEOUT) - self.autoPingInterval
        return original(self, request)

    return onConnect


def _websocket_check_timeouts(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def check_timeouts(self: Any) -> None:
        # Daphne's own pings (--ping-interval) would replace the pending ping of autobahn's keep-alive,
        # whose timeout would then fire although the client answered: they are left to autobahn.
        self.last_ping = time.time()
        original(self)

    return check_timeouts


# --- Daphne: new connections accepted a few per turn of the reactor -------------------------------------

# Twisted accepts up to 100 new connections per turn of the reactor, and 20 more each turn that took them all:
# under a flood of connections one turn then parses hundreds of handshakes (half a millisecond each) before any
# other socket is served. A few per turn keeps every turn short; the rest wait in the kernel's accept queue.
ACCEPTS_PER_TURN = 8


def accepting_a_few_per_turn(port: Any) -> None:
    """Bound the connections Twisted's listening ``port`` accepts per turn to :data:`ACCEPTS_PER_TURN`."""
    read = port.doRead

    def doRead() -> Any:
        port.numberAccepts = min(port.numberAccepts, ACCEPTS_PER_TURN)
        try:
            return read()
        finally:
            port.numberAccepts = min(port.numberAccepts, ACCEPTS_PER_TURN)

    port.doRead = doRead


def _listen_success(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def listen_success(self: Any, port: Any) -> Any:
        if hasattr(port, "numberAccepts"):  # a TCP or UNIX listening port
            accepting_a_few_per_turn(port)
        return original(self, port)

    return listen_success


def _daphne_patches() -> list[tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    try:
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
    except ImportError:  # served by another ASGI server: it negotiates compression itself
        return []
    return [
        (Server, "listen_success", _listen_success),
        (WebSocketFactory, "__init__", _websocket_factory_init),
        (WebSocketProtocol, "serverSend", _websocket_server_send),
        (WebSocketProtocol, "applicationCreateWorked", _application_create_worked),
        (WebSocketProtocol, "onMessage", _websocket_on_message),
        (WebSocketProtocol, "onClose", _websocket_on_close),
        (WebSocketProtocol, "onConnect", _websocket_on_connect),
        (WebSocketProtocol, "check_timeouts", _websocket_check_timeouts),
    ]


_patched = Patched(_daphne_patches)
install = _patched.install
uninstall = _patched.uninstall
