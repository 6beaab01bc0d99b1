"""Running functions: argument validation, permissions, transactions, and the outcome to send.

The subscription manager calls :func:`execute_query` inside its read snapshot; the
consumer and the HTTP views call :func:`execute_mutation` and :func:`execute_action`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from asgiref.sync import async_to_sync
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from ..capture import writes
from ..capture.tracking import tracked
from ..commitlog import commits
from ..commitlog.snapshot import read_snapshot
from ..conf import reactive_settings
from ..errors import (
    Forbidden,
    IdentityMismatch,
    InvalidResult,
    ReactiveError,
    Unauthorized,
    client_error,
)
from ..metrics import MUTATIONS
from ..readsets import ReadSet
from ..security.limits import check_result
from ..threads import run_sync
from ..values import EncodingError, dumps, encode, to_json_value
from .calls import validate_args
from .context import ActionCtx, AsyncActionCtx, BaseCtx, MutationCtx, QueryCtx
from .identity import identity_key
from .pagination import run_with_journal
from .registry import FunctionSpec, Kind, resolve

logger = logging.getLogger("reactive")


@dataclass(frozen=True)
class Outcome:
    """What a client is told about one call: a JSON value (already encoded text) or an error."""

    success: bool
    value_json: str = "null"
    error_message: str = ""
    error_data_json: str | None = None  # present only for errors carrying data
    ts: int | None = None
    error_code: str = ""  # the ReactiveError's code (errorCode on the wire)

    @classmethod
    def failure(cls, exc: BaseException) -> Outcome:
        error = client_error(exc)
        data_json = None
        if error.has_data:
            try:
                data_json = dumps(encode(to_json_value(error.data, "data"), "data"))
                data_json.encode()  # lone surrogates could not be sent
            except Exception as problem:  # whatever the data holds, the failure still reaches the client
                logger.error("reactive: the data of %r cannot be sent (%s); sending the message only", exc, problem)
        return cls(False, error_message=error.message, error_data_json=data_json, error_code=error.code)

    def to_wire(self) -> dict[str, Any]:
        """The HTTP API body (PROTOCOL.md, plus ``errorCode``: docs/protocol.md)."""
        if self.success:
            return {"status": "success", "value": json.loads(self.value_json), "logLines": []}
        body: dict[str, Any] = {
            "status": "error",
            "errorMessage": self.error_message,
            "errorCode": self.error_code,
            "logLines": [],
        }
        if self.error_data_json is not None:
            body["errorData"] = json.loads(self.error_data_json)
        return body


# Django 6.1 renamed transaction.savepoint() to savepoint_create() (the old name warns).
_savepoint_create = getattr(transaction, "savepoint_create", transaction.savepoint)


@dataclass
class QueryRun:
    """A query's outcome with what it read."""

    outcome: Outcome
    readset: ReadSet
    identity_read: bool
    journal: str | None = None
    # The encoded value (what ``outcome.value_json`` holds, as Python), for building a diff.
    value: Any = None
    # (the outcome it is a diff from, the diff or None): see reactive.live.batches.
    diff: tuple[Outcome, str | None] | None = None


def check_permission(spec: FunctionSpec, ctx: BaseCtx, args: dict[str, Any]) -> None:
    """Run the function's ``permission=`` check: a callable ``(ctx, args) -> bool`` or DRF classes.

    A denial raises :class:`Unauthorized` (anonymous caller) or :class:`Forbidden`, whose fixed
    messages say nothing about the data. DRF classes see a query as a ``GET`` (a safe method, so
    ``IsAuthenticatedOrReadOnly`` lets anyone read) and mutations and actions as a ``POST``.
    """
    permission = spec.permission
    if permission is None:
        return
    user = ctx.user  # reading it marks the result as per-user: a denial must not be shared
    if isinstance(permission, tuple):
        method = "GET" if spec.kind is Kind.QUERY else "POST"
        request = SimpleNamespace(user=user, method=method, auth=None)
        allowed = all(cls().has_permission(request, None) for cls in permission)
    else:
        allowed = bool(permission(ctx, args))
    if not allowed:
        raise Unauthorized() if not getattr(user, "is_authenticated", False) else Forbidden()


def _call(spec: FunctionSpec, ctx: BaseCtx, args: dict[str, Any]) -> Any:
    check_permission(spec, ctx, args)
    return spec.func(ctx, **args)


def _encode_result(value: Any) -> str:
    """A result's JSON text; raises LimitExceeded beyond ``MAX_RESULT_BYTES`` (failing that call only)."""
    return _encode_result_value(value)[0]


def _encode_result_value(value: Any) -> tuple[str, Any]:
    """:func:`_encode_result`, with the encoded value it dumped."""
    with _invalid_result():
        encoded = encode(to_json_value(value))
    return check_result(dumps(encoded)), encoded


def _json_result(value: Any) -> Any:
    """A function's result as JSON-able Python (:func:`to_json_value`); raises InvalidResult."""
    with _invalid_result():
        return to_json_value(value)


@contextmanager
def _invalid_result() -> Iterator[None]:
    """A result that has no Convex encoding fails its call with a clear InvalidResult."""
    try:
        yield
    except EncodingError as exc:
        raise InvalidResult(f"The function returned a value that cannot be sent: {exc}") from exc


def _log_unexpected(spec: FunctionSpec, exc: BaseException) -> None:
    # An invalid result is the function's bug too, though its message is fit for the client.
    if not isinstance(exc, ReactiveError) or not exc.expose or isinstance(exc, InvalidResult):
        logger.error("reactive: %s %s failed", spec.kind.value, spec.name, exc_info=exc)


def execute_query(spec: FunctionSpec, args: dict[str, Any], user: Any, journal: str | None = None) -> QueryRun:
    """Run a query (args already validated), tracking its reads. The caller owns the transaction.

    Inside a transaction the run gets a savepoint, so that a failing SQL statement (which
    aborts a PostgreSQL transaction) fails this query only. If rolling back to the savepoint
    fails, the connection itself is broken: that propagates, and the caller retries.
    """
    ctx = QueryCtx(user, CALLS)
    encoded: Any = None
    savepoint: str | None = _savepoint_create(using=reactive_settings.DATABASE)
    with tracked() as collector:
        try:
            value, journal = run_with_journal(journal, lambda: _call(spec, ctx, args))
            value_json, encoded = _encode_result_value(value)
            outcome = Outcome(True, value_json)
        except Exception as exc:
            if savepoint is not None:
                transaction.savepoint_rollback(savepoint, using=reactive_settings.DATABASE)
                savepoint = None
            _log_unexpected(spec, exc)
            outcome = Outcome.failure(exc)
    if savepoint is not None:
        transaction.savepoint_commit(savepoint, using=reactive_settings.DATABASE)
    return QueryRun(outcome, collector.readset, ctx.identity_read, journal, encoded)


def run_query_once(spec: FunctionSpec, args: dict[str, Any], user: Any) -> Any:
    """Run a query once, untracked by any subscription (HTTP, actions); raises on failure."""
    validated = validate_args(spec, args)
    with read_snapshot(reactive_settings.DATABASE), tracked():
        return _json_result(_call(spec, QueryCtx(user, CALLS), validated))


def execute_query_once(spec: FunctionSpec, raw_args: Any, user: Any) -> Outcome:
    try:
        return Outcome(True, _encode_result(run_query_once(spec, raw_args, user)))
    except Exception as exc:
        _log_unexpected(spec, exc)
        return Outcome.failure(exc)


def run_mutation_once(spec: FunctionSpec, args: dict[str, Any], user: Any) -> Any:
    """Run a mutation in its own transaction; returns its JSON value or raises."""
    validated = validate_args(spec, args)
    with transaction.atomic(using=reactive_settings.DATABASE):
        return _json_result(_call(spec, MutationCtx(user, CALLS), validated))


@dataclass(frozen=True)
class _RequestKey:
    """What makes a mutation exactly-once: its session and request id; and who sends it, who alone gets its record."""

    session_id: str
    request_id: int
    identity: str

    def stored(self) -> Outcome | None:
        """The outcome recorded for the request, if any; IdentityMismatch when another identity recorded it."""
        from ..models import MutationRecord

        record = (
            MutationRecord.objects.using(reactive_settings.DATABASE)
            .filter(session_id=self.session_id, request_id=self.request_id)
            .first()
        )
        if record is None:
            return None
        if record.identity != self.identity:
            return Outcome.failure(IdentityMismatch())
        if record.success:
            return Outcome(True, record.result, ts=record.ts)
        return Outcome(
            False, error_message=record.result, error_data_json=record.error_data, error_code=record.error_code
        )


def execute_mutation(
    spec: FunctionSpec,
    raw_args: Any,
    user: Any,
    *,
    session_id: str | None = None,
    request_id: int | None = None,
    may_be_resent: bool = True,
) -> Outcome:
    """Run a mutation exactly once per ``(session_id, request_id)``; never raises.

    The outcome record is written in the mutation's own transaction, so a request is
    either committed with its record or not at all; a re-sent request gets the record.
    ``may_be_resent=False`` (a session on its first connection, which has nothing to re-send)
    skips looking the record up first: should the request have run after all, inserting
    its record fails on the unique ``(session_id, request_id)``, the second run rolls back,
    and the stored outcome is returned, so exactly-once never rests on the client's word.
    A record belongs to the identity that ran it (:func:`reactive.functions.identity.identity_key` of
    ``user``): a request of anyone else with the same ids gets :class:`IdentityMismatch`.
    """
    from ..models import MutationRecord

    MUTATIONS.labels(spec.name).inc()  # counted here, where every mutation runs, whoever sent it
    alias = reactive_settings.DATABASE
    key: _RequestKey | None = None
    if session_id is not None and request_id is not None:
        key = _RequestKey(session_id, request_id, identity_key(user))
    if key is not None and may_be_resent and (stored := key.stored()) is not None:
        return stored
    try:
        args = validate_args(spec, raw_args)
        with transaction.atomic(using=alias):
            value_json = _encode_result(_call(spec, MutationCtx(user, CALLS), args))
            connection = connections[alias]
            ts = writes.flush(connection)
            if ts is None:
                ts = commits.current_ts(connection)
            if key is not None:
                MutationRecord.objects.using(alias).create(
                    session_id=key.session_id,
                    request_id=key.request_id,
                    identity=key.identity,
                    success=True,
                    result=value_json,
                    ts=ts,
                    created_at=timezone.now(),
                )
        return Outcome(True, value_json, ts=ts)
    except IntegrityError as exc:
        if key is not None and (stored := key.stored()) is not None:
            return stored  # the same request committed concurrently elsewhere
        outcome = Outcome.failure(exc)
        _log_unexpected(spec, exc)
    except Exception as exc:
        _log_unexpected(spec, exc)
        outcome = Outcome.failure(exc)
    if key is not None:
        # A request that already has an outcome keeps it: this run failed because it ran again.
        return _record_failure(key, outcome)
    return outcome


def _record_failure(key: _RequestKey, outcome: Outcome) -> Outcome:
    """Record ``outcome`` as the request's failure, unless it has an outcome already; returns the one that stands."""
    from ..models import MutationRecord

    try:
        _record, created = MutationRecord.objects.using(reactive_settings.DATABASE).get_or_create(
            session_id=key.session_id,
            request_id=key.request_id,
            defaults={
                "identity": key.identity,
                "success": False,
                "result": outcome.error_message,
                "error_data": outcome.error_data_json,
                "error_code": outcome.error_code,
                "created_at": timezone.now(),
            },
        )
    except Exception:
        logger.exception("reactive: could not record the failure of mutation %s/%s", key.session_id, key.request_id)
        return outcome
    if created:
        return outcome
    return key.stored() or outcome


def run_action_sync(spec: FunctionSpec, args: dict[str, Any], user: Any) -> Any:
    validated = validate_args(spec, args)
    if spec.is_async:
        return async_to_sync(_call_async)(spec, AsyncActionCtx(user, CALLS), validated)
    return _json_result(_call(spec, ActionCtx(user, CALLS), validated))


def _load_and_check(spec: FunctionSpec, ctx: BaseCtx, args: dict[str, Any]) -> None:
    ctx.load_user()
    check_permission(spec, ctx, args)


async def _call_async(spec: FunctionSpec, ctx: AsyncActionCtx, args: dict[str, Any]) -> Any:
    # The action's code runs on the event loop, where the ORM may not: the user is loaded on a thread first.
    await run_sync(_load_and_check, spec, ctx, args)
    return _json_result(await spec.func(ctx, **args))


async def run_action_async(spec: FunctionSpec, args: dict[str, Any], user: Any) -> Any:
    if spec.is_async:
        validated = validate_args(spec, args)
        return await _call_async(spec, AsyncActionCtx(user, CALLS), validated)
    return await run_sync(run_action_sync, spec, args, user)


async def execute_action(spec: FunctionSpec, raw_args: Any, user: Any) -> Outcome:
    """Run an action from async code; never raises."""
    try:
        value = await run_action_async(spec, raw_args, user)
        return Outcome(True, _encode_result(value))
    except Exception as exc:
        _log_unexpected(spec, exc)
        return Outcome.failure(exc)


class _Calls:
    """What a ctx calls other functions through (:class:`reactive.functions.context.Calls`)."""

    def nested(self, ctx: QueryCtx, ref: Any, kind: Kind, args: dict[str, Any]) -> Any:
        spec = resolve(ref, kind)
        return _call(spec, ctx, validate_args(spec, args))

    def once(self, ref: Any, kind: Kind, args: dict[str, Any], user: Any) -> Any:
        spec = resolve(ref, kind)
        if kind is Kind.QUERY:
            return run_query_once(spec, args, user)
        if kind is Kind.MUTATION:
            return run_mutation_once(spec, args, user)
        return run_action_sync(spec, args, user)

    async def action_async(self, ref: Any, args: dict[str, Any], user: Any) -> Any:
        return await run_action_async(resolve(ref, Kind.ACTION), args, user)


CALLS = _Calls()
