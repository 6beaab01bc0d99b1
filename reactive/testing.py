"""Test helpers for projects using reactive: a protocol-speaking WebSocket communicator.

    async def test_live_list():
        client = ReactiveCommunicator()
        await client.connect()
        query_id = await client.subscribe("messages:list", {"channelId": 5})
        await client.mutation("messages:send", {"channelId": 5, "body": "hi", "author": "ann"})
        value = await client.wait_for(query_id, lambda messages: len(messages) == 1)

It checks every Transition as the official client does (``startVersion`` must equal the
last ``endVersion``; ``ts`` never decreases) and keeps the latest value of every query.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

from channels.testing import WebsocketCommunicator

from .live import diffs
from .values import decode_ts

DEFAULT_TIMEOUT = 10.0


def apply_modifications(values: dict[int, Any], errors: dict[int, Any], modifications: list[dict[str, Any]]) -> str:
    """Apply a Transition's modifications to a client's ``values``/``errors``; returns an unknown type, if any."""
    for mod in modifications:
        query_id = mod["queryId"]
        if mod["type"] == "QueryUpdated":
            values[query_id] = diffs.apply(values[query_id], mod["diff"]) if "diff" in mod else mod["value"]
            errors.pop(query_id, None)
        elif mod["type"] == "QueryFailed":
            errors[query_id] = mod
            values.pop(query_id, None)
        elif mod["type"] == "QueryRemoved":
            values.pop(query_id, None)
            errors.pop(query_id, None)
        else:
            return str(mod["type"])
    return ""


class ProtocolViolation(AssertionError):
    """The server broke a rule the official client enforces."""


class ReactiveCommunicator:
    """A sync-protocol client over Channels' :class:`WebsocketCommunicator`."""

    def __init__(
        self,
        application: Any = None,
        path: str = "/api/test/sync",
        *,
        user: Any = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        session_id: str | None = None,
    ) -> None:
        if application is None:
            from .routing import websocket_application

            application = websocket_application()
        self.communicator = WebsocketCommunicator(application, path, headers=headers or [])
        if user is not None:
            self.communicator.scope["user"] = user
        self.session_id = session_id or str(uuid.uuid4())
        self.version = {"querySet": 0, "identity": 0, "ts": 0}
        self.values: dict[int, Any] = {}
        self.errors: dict[int, dict[str, Any]] = {}
        self.transitions: list[dict[str, Any]] = []
        self.responses: dict[int, dict[str, Any]] = {}
        self.others: list[dict[str, Any]] = []
        self._next_query_id = 0
        self._next_request_id = 0

    # --- connection -----------------------------------------------------------------------

    async def connect(self, *, send_connect: bool = True, **connect_fields: Any) -> None:
        connected, code = await self.communicator.connect()
        if not connected:
            raise AssertionError(f"the WebSocket was refused (close code {code})")
        if send_connect:
            await self.send(
                {
                    "type": "Connect",
                    "sessionId": self.session_id,
                    "connectionCount": 0,
                    "lastCloseReason": "InitialConnect",
                    "clientTs": 0,
                    **connect_fields,
                }
            )

    async def close(self) -> None:
        await self.communicator.disconnect()

    async def send(self, message: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def send_raw(self, text: str | None = None, data: bytes | None = None) -> None:
        await self.communicator.send_to(text_data=text, bytes_data=data)

    # --- receiving ------------------------------------------------------------------------

    async def receive(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The next server message (Pings included), applied to this client's state."""
        # The outer asyncio.timeout bounds the wait: Channels' own timeout would kill the app.
        async with asyncio.timeout(timeout):
            output = await self.communicator.receive_output(timeout=3600)
        if output["type"] == "websocket.close":
            raise ConnectionError(f"the server closed the connection with code {output.get('code')}")
        message = json.loads(output["text"])
        self._apply(message)
        return message

    def _apply(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "Transition":
            start = message["startVersion"]
            current = {**self.version, "ts": self._encoded_ts()}
            if start != current:
                raise ProtocolViolation(f"Transition starts at {start}, client is at {current}")
            end = dict(message["endVersion"])
            end_ts = decode_ts(end["ts"])
            if end_ts < self.version["ts"]:
                raise ProtocolViolation(f"ts went backwards: {end_ts} < {self.version['ts']}")
            unknown = apply_modifications(self.values, self.errors, message["modifications"])
            if unknown:
                raise ProtocolViolation(f"unknown modification {unknown!r}")
            self.version = {"querySet": end["querySet"], "identity": end["identity"], "ts": end_ts}
            self.transitions.append(message)
        elif kind in ("MutationResponse", "ActionResponse"):
            self.responses[message["requestId"]] = message
        elif kind != "Ping":
            self.others.append(message)

    def _encoded_ts(self) -> str:
        from .values import encode_ts

        return encode_ts(self.version["ts"])

    async def receive_until(self, condition: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT) -> None:
        """Receive messages until ``condition()`` holds."""
        async with asyncio.timeout(timeout):
            while not condition():
                await self.receive(timeout)

    async def next_transition(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        count = len(self.transitions)
        await self.receive_until(lambda: len(self.transitions) > count, timeout)
        return self.transitions[count]

    async def wait_for(
        self, query_id: int, predicate: Callable[[Any], bool] = lambda value: True, timeout: float = DEFAULT_TIMEOUT
    ) -> Any:
        """Wait until query ``query_id`` holds a value satisfying ``predicate``; return it."""
        await self.receive_until(lambda: query_id in self.values and predicate(self.values[query_id]), timeout)
        return self.values[query_id]

    async def wait_for_error(self, query_id: int, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        await self.receive_until(lambda: query_id in self.errors, timeout)
        return self.errors[query_id]

    # --- requests -------------------------------------------------------------------------

    async def modify(self, modifications: list[dict[str, Any]]) -> None:
        base = self._pending_query_set
        await self.send(
            {"type": "ModifyQuerySet", "baseVersion": base, "newVersion": base + 1, "modifications": modifications}
        )
        self._pending_query_set = base + 1

    _pending_query_set = 0

    async def subscribe(self, udf_path: str, args: dict[str, Any] | None = None, *, wait: bool = True) -> int:
        """Add a query; with ``wait``, return once its first result (or error) arrived."""
        query_id = self._next_query_id
        self._next_query_id += 1
        await self.modify([{"type": "Add", "queryId": query_id, "udfPath": udf_path, "args": [args or {}]}])
        if wait:
            await self.receive_until(lambda: query_id in self.values or query_id in self.errors)
        return query_id

    async def unsubscribe(self, query_id: int) -> None:
        await self.modify([{"type": "Remove", "queryId": query_id}])

    async def call(
        self,
        kind: str,
        udf_path: str,
        args: dict[str, Any] | None = None,
        *,
        request_id: int | None = None,
        wait: bool = True,
    ) -> dict[str, Any]:
        if request_id is None:
            request_id = self._next_request_id
            self._next_request_id += 1
        self.responses.pop(request_id, None)
        await self.send({"type": kind, "requestId": request_id, "udfPath": udf_path, "args": [args or {}]})
        if not wait:
            return {"requestId": request_id}
        await self.receive_until(lambda: request_id in self.responses)
        return self.responses[request_id]

    async def mutation(
        self, udf_path: str, args: dict[str, Any] | None = None, *, request_id: int | None = None
    ) -> dict[str, Any]:
        """Run a mutation; returns once its response and a Transition reaching its ts arrived."""
        response = await self.call("Mutation", udf_path, args, request_id=request_id)
        if response["success"]:
            ts = decode_ts(response["ts"])
            await self.receive_until(lambda: self.version["ts"] >= ts)
        return response

    async def action(self, udf_path: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.call("Action", udf_path, args)
