"""The per-process subscription manager: shared query instances and batched re-runs.

One :class:`SubscriptionManager` per event loop (per server process). Query instances
are shared by (function, canonical args, identity when the function read it). Every
run happens in a *batch*: one read snapshot at commit number S, in which the batch first
matches every commit up to S against the live read-sets (through a
:class:`~reactive.readset_index.ReadSetIndex`, so the cost follows the instances a write
can touch, not all of them), then re-runs exactly the affected instances (and any new
ones). Commits made in this process are matched from memory, others' from the outbox.
All results are valid at S, so every session then moves to S in one Transition.
Invalidations that arrive while a batch runs are merged into the next one; only one
batch runs at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import commits, diffs, metrics
from .conf import reactive_settings
from .execution import Outcome, QueryRun, execute_query
from .functions import FunctionSpec
from .readset_index import ReadSetIndex
from .readsets import ReadSet, TableWrite
from .snapshot import read_snapshot
from .threads import run_sync

if TYPE_CHECKING:
    from .sync.session import Session

logger = logging.getLogger("reactive")

InstanceKey = tuple[str, str, str | None]
_serials = itertools.count(1)


def identity_key(user: Any) -> str:
    """Who a result is for: ``"user:<pk>"`` or ``"anonymous"``."""
    if user is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return "anonymous"


@dataclass(eq=False)
class QueryInstance:
    """One live query (function + args [+ identity]) shared by every session subscribed to it."""

    key: InstanceKey
    spec: FunctionSpec
    args: dict[str, Any]
    user: Any
    # A paginated query's page end (see reactive.pagination), kept across re-runs.
    journal: str | None = None
    outcome: Outcome | None = None
    # The value of the previous version, and the diff from it (built once, for every session).
    previous_value_json: str | None = None
    _diff: tuple[str | None] | None = None
    readset: ReadSet = field(default_factory=ReadSet)
    version: int = 0
    serial: int = field(default_factory=lambda: next(_serials))
    runs: int = 0
    identity_read: bool = False
    subscribers: dict[Session, set[int]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.outcome is not None

    def apply(self, run: QueryRun) -> bool:
        """Store a run's result; True when what clients see changed."""
        self.runs += 1
        self.readset = run.readset
        self.identity_read = run.identity_read
        changed = self.outcome != run.outcome or self.journal != run.journal
        self.journal = run.journal
        if changed:
            previous = self.outcome
            self.previous_value_json = previous.value_json if previous is not None and previous.success else None
            self._diff = None
            self.outcome = run.outcome
            self.version += 1
        return changed

    def diff_from_previous(self) -> str | None:
        """The current value as a diff from the previous version's (reactive.diffs), if smaller."""
        if self._diff is None:
            diff = None
            if self.previous_value_json is not None and self.outcome is not None and self.outcome.success:
                diff = diffs.encoded_diff(self.previous_value_json, self.outcome.value_json)
            self._diff = (diff,)
        return self._diff[0]


@dataclass
class BatchResult:
    ts: int
    runs: dict[QueryInstance, QueryRun]
    invalidated: int


class SubscriptionManager:
    """Owns every query instance of this process and runs the batches."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.instances: dict[InstanceKey, QueryInstance] = {}
        self.applied_ts: int | None = None
        self.sessions: set[Session] = set()
        # The read-sets of every instance that has a result, for matching commits (read by the batch thread).
        self.index: ReadSetIndex[QueryInstance] = ReadSetIndex()
        # Write-sets of this process's own commits not yet applied, by commit number (filled from any thread).
        self._local_writes: dict[int, list[TableWrite]] = {}
        self._local_writes_lock = threading.Lock()
        self._initial: set[QueryInstance] = set()
        self._waiting: set[Session] = set()
        self._wake = asyncio.Event()
        self._batch_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reactive-batch")
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.batches_run = 0

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        from .bus import listen

        self._tasks = [
            self.loop.create_task(self._batch_loop(), name="reactive-batches"),
            self.loop.create_task(self._poll_loop(), name="reactive-poll"),
            self.loop.create_task(listen(self), name="reactive-bus"),
        ]

    async def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A channel layer may take a moment to unwind a blocking receive; never hang on it.
            await asyncio.wait(self._tasks, timeout=2.0)
        self._batch_executor.shutdown(wait=False)

    # --- notifications --------------------------------------------------------------------

    def notify(self, ts: int) -> None:
        """A commit numbered ``ts`` happened (any process): schedule a batch if it is new to us."""
        if self.applied_ts is None or ts > self.applied_ts:
            self._wake.set()

    def notify_threadsafe(self, ts: int, writes: Mapping[int, list[TableWrite]] | None = None) -> None:
        """:meth:`notify` from any thread; ``writes``: the commits' write-sets, if this process made them."""
        if self._closed:
            return
        if writes:
            with self._local_writes_lock:
                self._local_writes.update(writes)
        try:
            self.loop.call_soon_threadsafe(self.notify, ts)
        except RuntimeError:
            pass  # the loop is closed: nobody is listening any more

    def known_writes(self) -> dict[int, list[TableWrite]]:
        """The write-sets of this process's commits that batches have not applied yet (a copy)."""
        with self._local_writes_lock:
            return dict(self._local_writes)

    def _forget_writes_upto(self, ts: int) -> None:
        with self._local_writes_lock:
            for number in [n for n in self._local_writes if n <= ts]:
                del self._local_writes[number]

    def wake(self) -> None:
        self._wake.set()

    # --- instances ------------------------------------------------------------------------

    def attach(
        self,
        session: Session,
        query_id: int,
        spec: FunctionSpec,
        args: dict[str, Any],
        cargs: str,
        journal: str | None = None,
    ) -> QueryInstance:
        """Subscribe ``session``'s ``query_id``, sharing an existing instance when possible."""
        if journal is not None:
            cargs = f"{cargs}#journal={journal}"  # a page pinned elsewhere is another instance
        user_key = (spec.name, cargs, identity_key(session.user))
        shared_key = (spec.name, cargs, None)
        instance = self.instances.get(user_key) or self.instances.get(shared_key)
        if instance is None:
            instance = QueryInstance(shared_key, spec, args, session.user, journal=journal)
            self.instances[shared_key] = instance
            self._initial.add(instance)
            metrics.LIVE_INSTANCES.set(len(self.instances))
            self._wake.set()
        instance.subscribers.setdefault(session, set()).add(query_id)
        return instance

    def detach(self, session: Session, query_id: int, instance: QueryInstance) -> None:
        ids = instance.subscribers.get(session)
        if ids is None:
            return
        ids.discard(query_id)
        if not ids:
            del instance.subscribers[session]
        if not instance.subscribers and self.instances.get(instance.key) is instance:
            del self.instances[instance.key]
            self.index.discard(instance)
            self._initial.discard(instance)
            metrics.LIVE_INSTANCES.set(len(self.instances))

    def forget_session(self, session: Session) -> None:
        self.sessions.discard(session)
        self._waiting.discard(session)

    def wait_for_batch(self, session: Session, *, wake: bool) -> None:
        """``session`` needs a Transition that only a later batch can give."""
        self._waiting.add(session)
        if wake:
            self._wake.set()

    def _split_by_identity(self, instance: QueryInstance) -> None:
        """A shared instance turned out to read the identity: key it by its run's user, move the others."""
        del self.instances[instance.key]
        instance.key = (instance.key[0], instance.key[1], identity_key(instance.user))
        existing = self.instances.get(instance.key)
        self.instances[instance.key] = instance
        owner = identity_key(instance.user)
        moved = [(s, ids) for s, ids in instance.subscribers.items() if identity_key(s.user) != owner]
        for session, ids in moved:
            for query_id in list(ids):
                session.reattach(query_id)
        if existing is not None and existing is not instance:
            for session, ids in list(existing.subscribers.items()):
                for query_id in list(ids):
                    session.reattach(query_id)

    # --- batches --------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        """A cheap periodic check of the clock catches commits whose notification was lost."""
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + reactive_settings.PRUNE_INTERVAL
        while not self._closed:
            await asyncio.sleep(reactive_settings.POLL_INTERVAL)
            if self.instances:
                self._wake.set()
            if loop.time() >= next_prune:
                next_prune = loop.time() + reactive_settings.PRUNE_INTERVAL
                try:
                    await run_sync(commits.prune)
                except Exception:
                    logger.warning("reactive: pruning the outbox failed; will retry", exc_info=True)

    async def _batch_loop(self) -> None:
        delay = 0.05
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._run_batch()
                delay = 0.05
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reactive: a re-run batch failed; retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                self._wake.set()

    async def _run_batch(self) -> None:
        initial = [i for i in self._initial if i.subscribers]
        self._initial.difference_update(initial)
        try:
            known = self.known_writes()
            result = await run_sync(
                _batch_in_thread, self.index, initial, self.applied_ts, known, executor=self._batch_executor
            )
        except BaseException:
            self._initial.update(initial)  # run them in the retried batch
            raise
        self._apply(result)

    def _apply(self, result: BatchResult) -> None:
        self.batches_run += 1
        changed: list[QueryInstance] = []
        for instance, run in result.runs.items():
            if self.instances.get(instance.key) is not instance:
                continue  # every subscriber left while it ran
            metrics.QUERY_RUNS.labels(instance.spec.name).inc()
            if instance.apply(run):
                changed.append(instance)
            self.index.put(instance, instance.readset)
            if instance.key[2] is None and run.identity_read:
                self._split_by_identity(instance)
        metrics.INVALIDATIONS.inc(result.invalidated)
        self.applied_ts = result.ts
        self._forget_writes_upto(result.ts)
        sessions = set(self._waiting)
        self._waiting.clear()
        for instance in changed:
            sessions.update(instance.subscribers)
        for session in sessions:
            session.flush()


def _affected(index: ReadSetIndex[QueryInstance], writes: list[TableWrite] | None) -> list[QueryInstance]:
    if writes is None:
        return index.keys()  # the outbox no longer holds what we missed: re-run everything
    return index.affected(writes, table_level=reactive_settings.TABLE_LEVEL_INVALIDATION)


def _batch_in_thread(
    index: ReadSetIndex[QueryInstance],
    initial: list[QueryInstance],
    applied_ts: int | None,
    known_writes: Mapping[int, list[TableWrite]],
) -> BatchResult:
    with read_snapshot(reactive_settings.DATABASE) as connection:
        ts = commits.current_ts(connection)
        if applied_ts is None or ts == applied_ts:
            affected: list[QueryInstance] = []
        else:
            affected = _affected(index, commits.committed_writes(connection, applied_ts, ts, known_writes))
        runs: dict[QueryInstance, QueryRun] = {}
        for instance in [*affected, *initial]:
            if instance in runs:
                continue
            run = execute_query(instance.spec, instance.args, instance.user, instance.journal)
            runs[instance] = run
    return BatchResult(ts, runs, len(affected))


_managers: dict[asyncio.AbstractEventLoop, SubscriptionManager] = {}


def instance_for(name: str, args: dict[str, Any], user: Any = None) -> QueryInstance | None:
    """The live instance of ``name(args)`` in this loop's manager (for tests and introspection)."""
    from .values import canonical_args

    manager = get_manager()
    cargs = canonical_args(args)
    return manager.instances.get((name, cargs, None)) or manager.instances.get((name, cargs, identity_key(user)))


def get_manager() -> SubscriptionManager:
    """The manager of the running event loop, started on first use."""
    loop = asyncio.get_running_loop()
    manager = _managers.get(loop)
    if manager is None:
        for old_loop in [lp for lp in _managers if lp.is_closed()]:
            del _managers[old_loop]
        manager = SubscriptionManager(loop)
        _managers[loop] = manager
        manager.start()
    return manager


def running_managers() -> list[SubscriptionManager]:
    # Called from worker threads while the loop may add a manager: iterate over a copy.
    return [m for loop, m in list(_managers.items()) if not loop.is_closed() and not m._closed]


async def reset_managers() -> None:
    """Close every manager (tests, shutdown)."""
    for loop, manager in list(_managers.items()):
        if loop is asyncio.get_running_loop():
            await manager.close()
        del _managers[loop]
