"""The Channels consumer for ``/api/<version>/sync``: bytes in, session calls, bytes out.

Ordering rules live here: mutations of one connection run one at a time in arrival
order; each mutation and action runs as the identity in effect when it arrived; a
mutation's response is sent before any Transition that contains its writes; actions
run concurrently. Limits are enforced before any work is done, and every
Mutation and Action gets exactly one response, whatever goes wrong.

Identity: the handshake's Django session user, until an ``Authenticate``. A valid token
switches to its user until the token expires; an invalid one gets ``AuthError`` and the
connection continues as anonymous; ``tokenType: "None"`` returns to the handshake user.
Each switch re-runs the queries that depend on who asks (see :meth:`Session.authenticate`
for what happens to the identity version).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import AnonymousUser

from .. import metrics
from ..conf import reactive_settings
from ..errors import ProtocolError, ReactiveError
from ..functions.calls import prepare_call
from ..functions.execution import Outcome, execute_action, execute_mutation
from ..functions.registry import Kind
from ..live.subscriptions import get_manager
from ..security import auth
from ..security.limits import (
    ConnectionKey,
    TokenBucket,
    claim_connection,
    connection_key,
    connection_limit,
    release_connection,
)
from ..threads import run_sync
from . import protocol
from .session import Session

logger = logging.getLogger("reactive")

# Connect, Authenticate and Event are small in every real client: a bigger one (in characters) is refused.
SMALL_MESSAGE_BYTES = 65_536
_SMALL_MESSAGES = (protocol.Connect, protocol.Authenticate, protocol.Event)
# Frames larger than this are parsed on a worker thread: the event loop serves other connections meanwhile.
_PARSE_ON_LOOP_BYTES = 65_536
# Arrays and objects one message may hold, counted before parsing (a count of brackets, in C): what makes
# parsing one frame cost most is building its containers, and no real message holds this many
# (MAX_ARGS_BYTES leaves room for about 20,000 small objects).
MAX_CONTAINERS_PER_MESSAGE = 20_000

CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
# Before closing, queued messages (a FatalError above all) get this long to reach a client that reads.
_CLOSE_FLUSH_SECONDS = 5.0
# A connection over MAX_CONNECTIONS_PER_USER / MAX_CONNECTIONS_PER_ADDRESS waits this long on average before it is
# told so (from half to one and a half times it, at random: refusals of a flood do not come back in waves).
REFUSAL_DELAY_SECONDS = 2.0


class SyncConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """One client connection speaking the sync protocol."""

    # A connection never receives channel-layer messages (the bus has one channel per process), so it
    # takes no channel of its own: with Redis, it would die whenever a read of that channel failed
    # (Redis down or restarting, or redis-py's 5 s socket timeout on an idle channel). No CHANNEL_LAYERS
    # entry has this alias, so Channels' get_channel_layer() returns None.
    channel_layer_alias = "reactive.no-channel-layer"

    async def connect(self) -> None:
        self.handshake_user = self.scope.get("user") or AnonymousUser()
        self.manager = get_manager()
        self._closing = False
        client = self.scope.get("client")
        self._address: str | None = client[0] if client else None
        self._counted: ConnectionKey = None  # what this connection is counted as (connections per user / address)
        if not self._count_as(self.handshake_user):
            await self._refuse(connection_key(self.handshake_user, self._address))
            return
        self.session = Session(
            self.manager, self._enqueue_transition, self.handshake_user, reactive_settings.MAX_QUERIES_PER_CONNECTION
        )
        loop = asyncio.get_running_loop()
        # (text, is a Transition); None ends the writer.
        self._outgoing: asyncio.Queue[tuple[str | None, bool]] = asyncio.Queue()
        self._unsent_messages = 0  # queued messages that are not Transitions (the session counts those)
        self._mutation_lock = asyncio.Lock()
        # Back-pressure on calls: a connection past MUTATION_RATE/MUTATION_BURST or MAX_PENDING_MUTATIONS waits,
        # and reads nothing more from its socket meanwhile (Channels hands a consumer one message at a time).
        self._call_slots = asyncio.Semaphore(reactive_settings.MAX_PENDING_MUTATIONS)
        self._calls = TokenBucket(reactive_settings.MUTATION_RATE, reactive_settings.MUTATION_BURST, loop.time())
        self._messages = TokenBucket(reactive_settings.MESSAGE_RATE, reactive_settings.MESSAGE_BURST, loop.time())
        self._tasks: set[asyncio.Task[Any]] = set()
        self._token_expiry: asyncio.TimerHandle | None = None
        # A socket that never sends Connect would hold a session forever.
        self._connect_deadline: asyncio.TimerHandle | None = loop.call_later(
            float(reactive_settings.CONNECT_TIMEOUT), self._connect_timed_out
        )
        self._last_sent = loop.time()
        await self.accept()
        metrics.CONNECTIONS.inc()
        self._writer: asyncio.Task[None] | None = loop.create_task(self._write_loop())
        self._pinger: asyncio.Task[None] | None = loop.create_task(self._ping_loop())

    async def _refuse(self, key: ConnectionKey) -> None:
        """Turn away a connection over its limit, slowly: a client that reconnects at once (or a flood of them)
        costs a handshake per :data:`REFUSAL_DELAY_SECONDS` or so per socket it has open, not one per round trip."""
        self._closing = True  # frames that arrive meanwhile are dropped
        await asyncio.sleep(REFUSAL_DELAY_SECONDS * random.uniform(0.5, 1.5))
        await self.accept()
        await self._send_close(CLOSE_TRY_AGAIN_LATER, self._too_many_connections(key))

    async def disconnect(self, code: int) -> None:
        self._release()

    def _release(self) -> None:
        """Leave every query and stop every task (once; the server or the client may close)."""
        if not hasattr(self, "session") or self.session.closed:
            return
        metrics.CONNECTIONS.dec()
        self._cancel_token_expiry()
        self._cancel_connect_deadline()
        release_connection(self.manager, self._counted)
        self.session.close()
        # Cancelled, and forgotten: a task that ends keeps its frames (and so this consumer) in its traceback, and a
        # consumer that still held it would be a reference cycle, freed only by a full garbage collection.
        tasks = [task for task in (self._writer, self._pinger, *self._tasks) if task is not None]
        self._writer = self._pinger = None
        self._tasks.clear()
        for task in tasks:
            task.cancel()

    async def _close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self._outgoing.put_nowait((None, False))
        # Deliver what is queued to a client that reads; never wait long on one that does not.
        if self._writer is not None:
            await asyncio.wait([self._writer], timeout=_CLOSE_FLUSH_SECONDS)
        try:
            await self._send_close(code, reason)
        finally:
            self._release()

    async def _send_close(self, code: int, reason: str) -> None:
        reason = reason.encode()[:123].decode(errors="ignore")
        try:
            await self.close(code=code, reason=reason)
        except Exception:
            # Daphne (autobahn) lets an application close only with 1000 or 3000-4999 and raises on the
            # standard codes: send the private-range equivalent (1008 -> 4008, 1013 -> 4013, ...).
            await self.close(code=4000 + code % 1000, reason=reason)

    # --- outgoing -------------------------------------------------------------------------

    def _enqueue(self, text: str) -> None:
        """Queue a message that is not a Transition; a client that lets too many pile up is cut off."""
        if self._closing:
            return
        limit = reactive_settings.MAX_UNSENT_MESSAGES
        if self._unsent_messages >= limit:
            reason = f"TooManyConcurrentRequests: the client does not read its socket (MAX_UNSENT_MESSAGES={limit})"
            self._start(self._close(CLOSE_TRY_AGAIN_LATER, reason))
            return
        self._unsent_messages += 1
        self._outgoing.put_nowait((text, False))

    def _enqueue_transition(self, text: str) -> None:
        """The session's outlet: it sends at most MAX_UNSENT_TRANSITIONS before hearing they were written."""
        self._outgoing.put_nowait((text, True))

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            text, transition = await self._outgoing.get()
            if text is None:
                return
            # With an ASGI server that applies back-pressure, this waits while the client does not read.
            try:
                await self.send(text_data=text)
            except Exception:
                # Nothing more can be sent in order: close (on a task of its own: closing waits for this one).
                logger.exception("reactive: sending a message failed; closing the connection")
                self._start(self._close(CLOSE_INTERNAL_ERROR, "InternalServerError: a message could not be sent"))
                return
            self._last_sent = loop.time()
            metrics.MESSAGES_SENT.inc()
            metrics.BYTES_SENT.inc(len(text.encode(errors="surrogatepass")))
            if transition:
                self.session.transition_sent()
            else:
                self._unsent_messages -= 1

    async def _ping_loop(self) -> None:
        interval = float(reactive_settings.PING_INTERVAL)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(interval - (loop.time() - self._last_sent), 0.05))
            if loop.time() - self._last_sent >= interval and self._outgoing.empty():
                self._enqueue(protocol.PING)

    def _connect_timed_out(self) -> None:
        self._connect_deadline = None
        timeout = reactive_settings.CONNECT_TIMEOUT
        self._start(self._fail(f"No Connect within CONNECT_TIMEOUT={timeout} s", CLOSE_POLICY_VIOLATION))

    def _cancel_connect_deadline(self) -> None:
        if self._connect_deadline is not None:
            self._connect_deadline.cancel()
            self._connect_deadline = None

    async def _fail(self, error: str, close_code: int | None = None) -> None:
        """Tell the client what was wrong; close only when the session state cannot continue."""
        self._enqueue(protocol.fatal_error(error))
        if close_code is not None:
            await self._close(close_code, error)

    # --- incoming -------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self._closing or self.session.closed:
            return  # frames that were already on their way when we closed
        if text_data is None:
            await self._fail("Binary frames are not supported: send JSON text frames")
            return
        loop = asyncio.get_running_loop()
        while (delay := self._messages.take(loop.time())) > 0:
            await asyncio.sleep(delay)  # MESSAGE_RATE: this connection waits, and is not read meanwhile
        limit = reactive_settings.MAX_MESSAGE_BYTES
        # Characters are at most 4 bytes each: encode only messages that might be too big.
        if len(text_data) * 4 > limit and (size := len(text_data.encode(errors="surrogatepass"))) > limit:
            await self._fail(f"Message of {size} bytes exceeds MAX_MESSAGE_BYTES={limit}", CLOSE_TOO_BIG)
            return
        containers = text_data.count("[") + text_data.count("{")  # over-counts brackets in strings: fine
        if containers > MAX_CONTAINERS_PER_MESSAGE:
            error = f"A message may hold at most {MAX_CONTAINERS_PER_MESSAGE} arrays and objects"
            await self._fail(error, CLOSE_TOO_BIG)
            return
        try:
            if len(text_data) > _PARSE_ON_LOOP_BYTES:
                message = await asyncio.to_thread(protocol.parse, text_data)
            else:
                message = protocol.parse(text_data)
        except ProtocolError as exc:
            await self._fail(str(exc))
            return
        if isinstance(message, _SMALL_MESSAGES) and len(text_data) > SMALL_MESSAGE_BYTES:
            kind = type(message).__name__
            await self._fail(f"A {kind} message may be at most {SMALL_MESSAGE_BYTES} characters", CLOSE_TOO_BIG)
            return
        try:
            await self._dispatch(message)
        except ProtocolError as exc:
            await self._fail(str(exc), CLOSE_POLICY_VIOLATION)
        except Exception:
            logger.exception("reactive: error handling a client message")
            await self._fail("InternalServerError: the server failed to handle a message", CLOSE_INTERNAL_ERROR)

    async def _dispatch(self, message: protocol.ClientMessage) -> None:
        if isinstance(message, protocol.Connect):
            self.session.connect(message)
            self._cancel_connect_deadline()
            return
        if isinstance(message, protocol.Event):
            return
        if self.session.session_id is None:
            raise ProtocolError("The first message must be Connect")
        if isinstance(message, protocol.ModifyQuerySet):
            self.session.modify_query_set(message)
        elif isinstance(message, protocol.Call):
            await self._call(message)
        elif isinstance(message, protocol.Authenticate):
            await self._authenticate(message)

    def _start(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("reactive: a request failed unexpectedly", exc_info=task.exception())

    # --- mutations and actions --------------------------------------------------------------

    async def _call(self, message: protocol.Call) -> None:
        """Start a Mutation or Action once the connection's limits allow it.

        Past ``MUTATION_RATE``/``MUTATION_BURST`` or ``MAX_PENDING_MUTATIONS``, the call waits, and so does
        everything the client sends after it: an honest client's work is delayed, never refused, while the
        limits still bound the CPU and memory one connection takes.
        """
        loop = asyncio.get_running_loop()
        while (delay := self._calls.take(loop.time())) > 0:
            await asyncio.sleep(delay)
        await self._call_slots.acquire()
        if self._closing or self.session.closed:
            self._call_slots.release()
            return
        # The identity in effect when the message arrived (the server handles this connection's messages one
        # at a time, so none changed it while the call waited): a later Authenticate must not change who runs it.
        user = self.session.user
        self._start(self._mutation(message, user) if message.kind == "Mutation" else self._action(message, user))

    async def _mutation(self, message: protocol.Call, user: Any) -> None:
        try:
            async with self._mutation_lock:  # FIFO: mutations run in arrival order
                self.session.mutation_running = True
                try:
                    outcome = await self._run(message, Kind.MUTATION, user)
                    self._respond(message, outcome)
                    if outcome.success and outcome.ts is not None:
                        self.session.confirm_mutation(outcome.ts)
                finally:
                    self.session.mutation_finished()
        finally:
            self._call_slots.release()

    async def _action(self, message: protocol.Call, user: Any) -> None:
        try:
            self._respond(message, await self._run(message, Kind.ACTION, user))
        finally:
            self._call_slots.release()

    async def _run(self, message: protocol.Call, kind: Kind, user: Any) -> Outcome:
        """Run a call as ``user``; never raises, so that every request gets its one response."""
        try:
            call = prepare_call(message.udf_path, kind, message.args, message.component_path)
            if kind is Kind.ACTION:
                return await execute_action(call.spec, call.args, user)
            run = functools.partial(
                execute_mutation,
                call.spec,
                call.args,
                user,
                session_id=self.session.session_id,
                request_id=message.request_id,
                may_be_resent=self.session.resumed,
            )
            return await run_sync(run)
        except Exception as exc:  # a typed error, or a bug or a lost database: the client still gets an answer
            if not (isinstance(exc, ReactiveError) and exc.expose):
                logger.exception("reactive: %s %r failed outside the function", kind.value, message.udf_path[:100])
            return Outcome.failure(exc)

    def _respond(self, message: protocol.Call, outcome: Outcome) -> None:
        self._enqueue(
            protocol.call_response(
                message.kind,
                message.request_id,
                outcome.success,
                outcome.value_json,
                outcome.error_message,
                outcome.error_data_json,
                outcome.ts,
                outcome.error_code,
            )
        )

    # --- identity -------------------------------------------------------------------------

    async def _authenticate(self, message: protocol.Authenticate) -> None:
        self._cancel_token_expiry()
        if message.token_type == "None":
            await self._switch_identity(self.handshake_user, message.base_version, accepted=True)
            return
        identity = None
        if message.token_type == "User" and message.value:
            identity = await run_sync(auth.authenticate_token, message.value)
        if identity is None:
            error = (
                "Admin tokens are not accepted"
                if message.token_type == "Admin"
                else "The token is invalid or has expired"
            )
            self._enqueue(protocol.auth_error(error, message.base_version))
            await self._switch_identity(AnonymousUser(), message.base_version, accepted=False)
            return
        switched = await self._switch_identity(identity.user, message.base_version, accepted=True)
        if switched and identity.expires_at is not None:
            delay = max(identity.expires_at - time.time(), 0.0)
            self._token_expiry = asyncio.get_running_loop().call_later(delay, self._token_expired)

    async def _switch_identity(self, user: Any, base_version: int, *, accepted: bool) -> bool:
        if not self._count_as(user):
            await self._close(CLOSE_TRY_AGAIN_LATER, self._too_many_connections(connection_key(user, self._address)))
            return False
        self.session.authenticate(user, base_version, accepted=accepted)
        return True

    def _token_expired(self) -> None:
        """The token in use expired: tell the client (it fetches a new one), and continue as anonymous.

        ``authUpdateAttempted: false`` marks an AuthError that answers no Authenticate; the
        identity version does not move, as for any identity the client did not ask for.
        """
        self._token_expiry = None
        if self._closing or self.session.closed:
            return
        base_version = self.session.identity_version - 1  # that of the Authenticate that set the token
        self._enqueue(protocol.auth_error("The token has expired", base_version, attempted=False))
        anonymous = AnonymousUser()
        self._count_as(anonymous)
        self.session.set_user(anonymous)

    def _cancel_token_expiry(self) -> None:
        if self._token_expiry is not None:
            self._token_expiry.cancel()
            self._token_expiry = None

    def _count_as(self, user: Any) -> bool:
        """Count this connection for ``user`` (or, anonymous, its address) instead; False (and no change) when
        that one has too many."""
        key = connection_key(user, self._address)
        if key == self._counted:
            return True
        release_connection(self.manager, self._counted)
        if claim_connection(self.manager, key):
            self._counted = key
            return True
        claim_connection(self.manager, self._counted)  # the slot it just gave back
        return False

    @staticmethod
    def _too_many_connections(key: ConnectionKey) -> str:
        assert key is not None  # an uncounted connection is never refused
        name, limit = connection_limit(key)
        who = "this user" if key[0] == "user" else "this address without a signed-in user"
        return f"TooManyConcurrentRequests: too many connections for {who} ({name}={limit})"
