"""The Channels consumer for ``/api/<version>/sync``: bytes in, session calls, bytes out.

Ordering rules live here: mutations of one connection run one at a time in arrival
order; a mutation's response is sent before any Transition that contains its writes;
actions run concurrently. Limits are enforced before any work is done.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import AnonymousUser

from .. import metrics, tokens
from ..conf import reactive_settings
from ..errors import LimitExceeded, ProtocolError, ReactiveError
from ..execution import Outcome, execute_action, execute_mutation
from ..functions import Kind, lookup
from ..subscriptions import get_manager
from ..threads import run_sync
from ..values import EncodingError, decode
from . import protocol
from .session import Session

logger = logging.getLogger("reactive")

CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011


class SyncConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """One client connection speaking the sync protocol."""

    async def connect(self) -> None:
        self.handshake_user = self.scope.get("user") or AnonymousUser()
        self.manager = get_manager()
        self.session = Session(
            self.manager, self._enqueue, self.handshake_user, reactive_settings.MAX_QUERIES_PER_CONNECTION
        )
        self._outgoing: asyncio.Queue[str | None] = asyncio.Queue()
        self._mutation_lock = asyncio.Lock()
        self._pending_mutations = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        loop = asyncio.get_running_loop()
        self._last_sent = loop.time()
        await self.accept()
        metrics.CONNECTIONS.inc()
        self._writer = loop.create_task(self._write_loop())
        self._pinger = loop.create_task(self._ping_loop())

    async def disconnect(self, code: int) -> None:
        self._release()

    def _release(self) -> None:
        """Leave every query and stop every task (once; the server or the client may close)."""
        if not hasattr(self, "session") or self.session.closed:
            return
        metrics.CONNECTIONS.dec()
        self.session.close()
        for task in (self._writer, self._pinger, *self._tasks):
            task.cancel()

    # --- outgoing -------------------------------------------------------------------------

    def _enqueue(self, text: str) -> None:
        self._outgoing.put_nowait(text)

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            text = await self._outgoing.get()
            if text is None:
                return
            await self.send(text_data=text)
            self._last_sent = loop.time()
            metrics.MESSAGES_SENT.inc()
            metrics.BYTES_SENT.inc(len(text.encode()))

    async def _ping_loop(self) -> None:
        interval = float(reactive_settings.PING_INTERVAL)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(interval - (loop.time() - self._last_sent), 0.05))
            if loop.time() - self._last_sent >= interval and self._outgoing.empty():
                self._enqueue(protocol.PING)

    async def _fail(self, error: str, close_code: int | None = None) -> None:
        """Tell the client what was wrong; close only when the session state cannot continue."""
        self._enqueue(protocol.fatal_error(error))
        if close_code is not None:
            self._outgoing.put_nowait(None)
            await self._writer
            await self.close(code=close_code, reason=error[:120])
            self._release()

    # --- incoming -------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._fail("Binary frames are not supported: send JSON text frames")
            return
        limit = reactive_settings.MAX_MESSAGE_BYTES
        # Characters are at most 4 bytes each: encode only messages that might be too big.
        if len(text_data) * 4 > limit and (size := len(text_data.encode())) > limit:
            await self._fail(f"Message of {size} bytes exceeds MAX_MESSAGE_BYTES={limit}", CLOSE_TOO_BIG)
            return
        try:
            message = protocol.parse(text_data)
        except ProtocolError as exc:
            await self._fail(str(exc))
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
            return
        if isinstance(message, protocol.Event):
            return
        if self.session.session_id is None:
            raise ProtocolError("The first message must be Connect")
        if isinstance(message, protocol.ModifyQuerySet):
            self.session.modify_query_set(message)
        elif isinstance(message, protocol.Call):
            self._start(self._mutation(message) if message.kind == "Mutation" else self._action(message))
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

    async def _mutation(self, message: protocol.Call) -> None:
        if self._pending_mutations >= reactive_settings.MAX_PENDING_MUTATIONS:
            limit = LimitExceeded(
                f"Too many pending mutations (MAX_PENDING_MUTATIONS={reactive_settings.MAX_PENDING_MUTATIONS})"
            )
            self._respond(message, Outcome.failure(limit))
            return
        self._pending_mutations += 1
        try:
            async with self._mutation_lock:  # FIFO: mutations run in arrival order
                self.session.mutation_running = True
                try:
                    outcome = await self._run_mutation(message)
                    self._respond(message, outcome)
                    if outcome.success and outcome.ts is not None:
                        self.session.await_ts(outcome.ts)
                finally:
                    self.session.mutation_finished()
        finally:
            self._pending_mutations -= 1

    async def _run_mutation(self, message: protocol.Call) -> Outcome:
        try:
            spec = lookup(message.udf_path, Kind.MUTATION)
            args = decode(message.args)
        except (ReactiveError, EncodingError) as exc:
            return Outcome.failure(exc if isinstance(exc, ReactiveError) else ReactiveError(str(exc)))
        run = functools.partial(
            execute_mutation,
            spec,
            args,
            self.session.user,
            session_id=self.session.session_id,
            request_id=message.request_id,
        )
        outcome = await run_sync(run)
        metrics.MUTATIONS.labels(spec.name).inc()
        return outcome

    async def _action(self, message: protocol.Call) -> None:
        try:
            spec = lookup(message.udf_path, Kind.ACTION)
            args = decode(message.args)
        except (ReactiveError, EncodingError) as exc:
            self._respond(message, Outcome.failure(exc if isinstance(exc, ReactiveError) else ReactiveError(str(exc))))
            return
        self._respond(message, await execute_action(spec, args, self.session.user))

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
            )
        )

    async def _authenticate(self, message: protocol.Authenticate) -> None:
        if message.token_type == "None":
            self.session.authenticate(self.handshake_user, message.base_version)
            return
        user = None
        if message.token_type == "User" and message.value:
            user = await run_sync(tokens.user_for_token, message.value)
        if user is None:
            error = (
                "Admin tokens are not accepted"
                if message.token_type == "Admin"
                else ("The token is invalid or has expired")
            )
            self._enqueue(protocol.auth_error(error, message.base_version))
            return
        self.session.authenticate(user, message.base_version)
