"""One client's state: its query set, identity, versions, and the Transitions it is sent.

Versions follow the client's rules (PROTOCOL.md): each Transition starts exactly where
the previous one ended; the query-set and identity versions advance only in the
Transition that answers the client's change; ``ts`` never goes backwards. A Transition
is built only when every query of the session has a result valid at the manager's
snapshot, so a client never holds results from two different snapshots.

A slow client is sent at most :data:`MAX_UNSENT_TRANSITIONS` Transitions that its socket
has not taken yet; meanwhile changes only mark the session as owed one, and the next
Transition goes from the last version sent to the newest, with each query's latest value.
Memory per session is then bounded by its queries, however far behind the client falls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import metrics
from ..errors import LimitExceeded, ProtocolError, ReactiveError
from ..functions import journals
from ..functions.calls import prepare_call
from ..functions.execution import Outcome
from ..functions.registry import FunctionSpec, Kind
from ..live import diffs
from ..live.instances import QueryInstance
from ..live.subscriptions import SubscriptionManager
from ..values import canonical_args
from . import protocol

logger = logging.getLogger("reactive")

# PROTOCOL.md: at most two Transitions may wait unsent on one socket.
MAX_UNSENT_TRANSITIONS = 2
# Query ids one session may hold on one query (same function, args and page). The official client subscribes to a
# query once however many components use it; each copy costs a modification in every Transition.
MAX_COPIES_OF_A_QUERY = 8


@dataclass
class SessionQuery:
    """One of the client's queries: a shared instance, or a fixed failure (bad function/args)."""

    instance: QueryInstance | None
    fixed: Outcome | None = None
    sent: tuple[int, int] | None = None  # (instance serial, version) last sent
    spec: FunctionSpec | None = None
    args: dict[str, Any] | None = None
    cargs: str = ""

    @property
    def ready(self) -> bool:
        return self.instance is None or self.instance.ready

    def token(self) -> tuple[int, int]:
        if self.instance is None:
            return (0, 0)
        return (self.instance.serial, self.instance.version)

    def journal(self) -> str | None:
        """The journal to send the client (signed: reactive.functions.journals)."""
        return None if self.instance is None else self.instance.client_journal()

    def outcome(self) -> Outcome:
        if self.instance is None:
            assert self.fixed is not None
            return self.fixed
        assert self.instance.outcome is not None
        return self.instance.outcome


class Session:
    """State of one WebSocket connection's sync session."""

    def __init__(self, manager: SubscriptionManager, send: Callable[[str], None], user: Any, max_queries: int) -> None:
        """``send`` queues a Transition for the socket; the owner calls :meth:`transition_sent` once it is written."""
        self.manager = manager
        self._send = send
        self.user = user
        self.max_queries = max_queries
        self.session_id: str | None = None
        # A session continued from an earlier connection: its requests may be re-sends of ones already run.
        self.resumed = False
        self.extensions: tuple[str, ...] = ()
        self.query_set_version = 0
        self.identity_version = 0
        self._next_auth_base = 0
        self.sent: protocol.Version = (0, 0, 0)
        self.unsent_transitions = 0
        self.queries: dict[int, SessionQuery] = {}
        self._removed: list[int] = []
        self._awaited_ts = 0
        # A mutation's response went out: the client completes it only on a Transition sent after it that
        # reaches its ts, so one is owed even when nothing changed (a mutation that wrote nothing, or one
        # answered from its stored outcome after the client already holds a later ts).
        self._confirm = False
        # A reconnecting client's maxObservedTimestamp: no Transition goes below it (see flush), for at
        # most until a batch started after the Connect has been applied (a bogus value must not keep the
        # session waiting): batches are numbered as they start, and this is how many had started then.
        self._floor_ts = 0
        self._floor_after_batch = 0
        self.mutation_running = False
        self._deferred = False
        self.closed = False
        manager.sessions.add(self)

    # --- client messages ------------------------------------------------------------------

    def connect(self, message: protocol.Connect) -> None:
        if self.session_id is not None:
            raise ProtocolError("Connect was already received on this connection")
        self.session_id = message.session_id
        self.resumed = message.connection_count > 0 or bool(message.max_observed_ts)
        self.extensions = message.extensions
        if message.max_observed_ts:
            # The client saw results at this ts, perhaps from another process: never show it older ones.
            # The clock is already past it, so the first batch that starts from now on reaches it (results of
            # batches that started before may still be on their way to the loop).
            self._floor_ts = message.max_observed_ts
            self._floor_after_batch = self.manager.batches.started
            self.await_ts(message.max_observed_ts)

    def modify_query_set(self, message: protocol.ModifyQuerySet) -> None:
        if message.base_version != self.query_set_version or message.new_version != message.base_version + 1:
            raise ProtocolError(
                f"ModifyQuerySet from version {message.base_version} to {message.new_version}, "
                f"but the query set is at version {self.query_set_version}"
            )
        for mod in message.modifications:
            if isinstance(mod, protocol.Remove):
                self._remove(mod.query_id)
            else:
                self._add(mod)
        self.query_set_version = message.new_version
        self.flush()

    def _add(self, mod: protocol.Add) -> None:
        if mod.query_id in self.queries:
            raise ProtocolError(f"Query {mod.query_id} is already in the query set")
        if len(self.queries) >= self.max_queries:
            if len(self.queries) >= 2 * self.max_queries:
                # Failed queries are kept too (until removed): past twice the limit, the client is broken.
                raise ProtocolError(f"Far too many queries (MAX_QUERIES_PER_CONNECTION={self.max_queries})")
            limit = LimitExceeded(f"Too many queries on one connection (MAX_QUERIES_PER_CONNECTION={self.max_queries})")
            self.queries[mod.query_id] = SessionQuery(None, Outcome.failure(limit))
            return
        try:
            call = prepare_call(mod.udf_path, Kind.QUERY, mod.args, mod.component_path, validate=True)
            spec, args = call.spec, call.args
            cargs = canonical_args(args)
            journal = journals.accept(spec.name, cargs, mod.journal)
        except Exception as exc:
            if not (isinstance(exc, ReactiveError) and exc.expose):
                # A bug (say, in a serializer): this query fails ("Server Error"), the connection goes on.
                logger.exception("reactive: adding query %r failed", mod.udf_path[:100])
            self.queries[mod.query_id] = SessionQuery(None, Outcome.failure(exc))
            return
        instance = self.manager.attach(self, mod.query_id, spec, args, cargs, journal)
        if len(instance.subscribers.get(self, ())) > MAX_COPIES_OF_A_QUERY:
            # Every copy costs a modification in each Transition; clients subscribe to one query once.
            self.manager.detach(self, mod.query_id, instance)
            error = LimitExceeded(f"The same query is subscribed more than {MAX_COPIES_OF_A_QUERY} times")
            self.queries[mod.query_id] = SessionQuery(None, Outcome.failure(error))
            return
        self.queries[mod.query_id] = SessionQuery(instance, spec=spec, args=args, cargs=cargs)

    def _remove(self, query_id: int) -> None:
        query = self.queries.pop(query_id, None)
        if query is None:
            raise ProtocolError(f"Query {query_id} is not in the query set")
        if query.instance is not None:
            self.manager.detach(self, query_id, query.instance)
        self._removed.append(query_id)

    def authenticate(self, user: Any, base_version: int, *, accepted: bool = True) -> None:
        """Answer an Authenticate: switch to ``user`` (anonymous when the token was ``accepted=False``).

        Each Authenticate moves the client's own identity version to ``baseVersion + 1``. An
        accepted one reaches the client in the next Transition, which bumps the identity
        version even if the user did not change. A rejected one must not: the official client
        takes any identity bump as confirmation of its token. So after a rejection the version
        sent stays, and the client's next Authenticate may start further on than the version
        it was last sent; only an older ``baseVersion`` than a previous one is a protocol error.
        """
        if base_version < self._next_auth_base:
            raise ProtocolError(
                f"Authenticate from identity version {base_version}, but it is at {self._next_auth_base}"
            )
        self._next_auth_base = base_version + 1
        if accepted:
            self.identity_version = base_version + 1
        self.set_user(user)

    def set_user(self, user: Any) -> None:
        """Switch identity (no version change by itself): queries that depend on who asks re-run as ``user``."""
        self.user = user
        for query_id, query in list(self.queries.items()):
            if query.instance is not None and query.instance.key[2] is not None:
                self.reattach(query_id)
        self.flush()

    def reattach(self, query_id: int) -> None:
        """Re-subscribe ``query_id`` under this session's current identity."""
        query = self.queries[query_id]
        assert query.instance is not None and query.spec is not None and query.args is not None
        journal = query.instance.journal
        self.manager.detach(self, query_id, query.instance)
        query.instance = self.manager.attach(self, query_id, query.spec, query.args, query.cargs, journal)

    def await_ts(self, ts: int) -> None:
        """The client must get a Transition reaching at least ``ts`` (a reconnecting client's timestamp)."""
        self._awaited_ts = max(self._awaited_ts, ts)
        self.flush()

    def confirm_mutation(self, ts: int) -> None:
        """A successful mutation's response was queued: a Transition reaching ``ts`` follows it, always."""
        self._confirm = True
        self.await_ts(ts)

    # --- transitions ----------------------------------------------------------------------

    def flush(self) -> None:
        """Send a Transition to the manager's snapshot if anything is owed and possible."""
        if self.closed:
            return
        if self.mutation_running or self.unsent_transitions >= MAX_UNSENT_TRANSITIONS:
            # A running mutation's response must go out first; a full socket takes the newest state later.
            self._deferred = True
            return
        ts = self.manager.applied_ts
        if ts is None or not all(q.ready for q in self.queries.values()):
            self.manager.wait_for_batch(self, wake=True)
            return
        ts = max(ts, self.sent[2])
        if ts < self._floor_ts:
            if self.manager.applied_batch <= self._floor_after_batch:
                self.manager.wait_for_batch(self, wake=True)
                return
            self._floor_ts = 0  # batches ran and none got there: the client's timestamp was not a real one
        modifications = [protocol.query_removed(qid) for qid in self._removed]
        self._removed.clear()
        for query_id, query in self.queries.items():
            token = query.token()
            if query.sent == token:
                continue
            diff = self._diff_for(query)
            query.sent = token
            outcome = query.outcome()
            if diff is not None:
                modifications.append(protocol.query_diffed(query_id, diff, query.journal()))
            elif outcome.success:
                modifications.append(protocol.query_updated(query_id, outcome.value_json, query.journal()))
            else:
                modifications.append(
                    protocol.query_failed(
                        query_id,
                        outcome.error_message,
                        outcome.error_data_json,
                        query.journal(),
                        code=outcome.error_code,
                    )
                )
        end = (self.query_set_version, self.identity_version, ts)
        confirm = self._confirm and ts >= self._awaited_ts
        if modifications or end != self.sent or confirm:
            self._confirm = False
            start, self.sent = self.sent, end
            metrics.TRANSITIONS.inc()
            self.unsent_transitions += 1
            self._send(protocol.transition(start, end, modifications))
        if self._awaited_ts > ts:
            # Still owed a later ts: the commit's own notification wakes the batch that reaches it.
            self.manager.wait_for_batch(self, wake=False)

    def _diff_for(self, query: SessionQuery) -> str | None:
        """The diff from the value this client holds, if it asked for diffs and holds the previous one."""
        instance = query.instance
        if instance is None or diffs.EXTENSION not in self.extensions:
            return None
        if query.sent != (instance.serial, instance.version - 1):
            return None
        return instance.diff_from_previous()

    def mutation_finished(self) -> None:
        self.mutation_running = False
        self._resume()

    def transition_sent(self) -> None:
        """The socket took one of our Transitions: room for the one we may owe."""
        self.unsent_transitions -= 1
        self._resume()

    def _resume(self) -> None:
        if self._deferred:
            self._deferred = False
            self.flush()

    def close(self) -> None:
        self.closed = True
        self._send = _nothing  # the consumer's method: holding it would keep a reference cycle after the close
        for query_id, query in self.queries.items():
            if query.instance is not None:
                self.manager.detach(self, query_id, query.instance)
        self.queries.clear()
        self.manager.forget_session(self)


def _nothing(text: str) -> None:
    """Where a closed session's Transitions go."""
