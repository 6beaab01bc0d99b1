"""The per-process subscription manager: shared query instances and batched re-runs.

One :class:`SubscriptionManager` per event loop (per server process). Query instances
are shared by (function, canonical args, identity when the function read it). Every
run happens in a *batch*: one read snapshot at commit number S, in which the batch first
matches every commit up to S against the live read-sets (through a
:class:`~reactive.live.readset_index.ReadSetIndex`, so the cost follows the instances a write
can touch, not all of them), then re-runs exactly the affected instances (and any new
ones). Commits made in this process are matched from memory, others' from the outbox.
All results are valid at S, so every session then moves to S in one Transition.
Invalidations that arrive while a batch runs are merged into the next one; only one
batch runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from typing import Any

from .. import metrics
from ..commitlog import bus, commits
from ..conf import reactive_settings
from ..functions.identity import identity_key
from ..functions.registry import FunctionSpec
from ..readsets import TableWrite
from ..threads import run_sync
from . import heap
from .batches import NEWER_THAN_ANY, BatchResult, BatchThread, BatchWork
from .instances import InstanceKey, QueryInstance, Subscriber
from .readset_index import ReadSetIndex

logger = logging.getLogger("reactive")

# Dropped instances wait in memory for the next batch; this many start one (without any, one soon comes: polls).
DROPPED_BEFORE_A_BATCH = 1_000


class SubscriptionManager:
    """Owns every query instance of this process; its :class:`~reactive.live.batches.BatchThread` runs the batches.

    Instances, sessions and ``applied_ts`` belong to the event loop. Shared with the batch
    thread, under a lock: the new instances waiting for their first run and this process's
    write-sets not yet matched; the read-set index locks itself.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.instances: dict[InstanceKey, QueryInstance] = {}
        # The snapshot of the last batch applied: every session can be moved to it.
        self.applied_ts: int | None = None
        self.sessions: set[Subscriber] = set()
        # The read-sets of every instance that has a result, for matching commits (kept by the batch thread).
        self.index: ReadSetIndex[QueryInstance] = ReadSetIndex()
        self._lock = threading.Lock()
        # Write-sets of this process's own commits not yet matched, by commit number (filled from any thread).
        self._local_writes: dict[int, list[TableWrite]] = {}
        self._initial: set[QueryInstance] = set()
        # Instances nobody holds any more, to leave the index on the batch thread: forgetting the read-set of a
        # query that read a thousand rows is a thousand postings, and a session may close with a thousand queries.
        self._dropped: set[QueryInstance] = set()
        self._waiting: set[Subscriber] = set()
        self.batches = BatchThread(self.index, self._take_work, self._give_back, self._deliver)
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        # The number of the last batch applied (BatchThread.started counts them as they start).
        self.applied_batch = 0

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        heap.freeze_start_up()  # before any session holds a query
        self.batches.start()
        bus.add_listener(self)
        self._tasks = [
            self.loop.create_task(self._poll_loop(), name="reactive-poll"),
            self.loop.create_task(bus.listen(self), name="reactive-bus"),
        ]

    def stop(self) -> None:
        """Stop the batch thread (from any thread); :meth:`close` also stops the tasks."""
        self._closed = True
        bus.remove_listener(self)
        self.batches.stop()

    async def close(self) -> None:
        self.stop()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A channel layer may take a moment to unwind a blocking receive; never hang on it.
            await asyncio.wait(self._tasks, timeout=2.0)
        # Let a batch under way finish with the database (bounded: a stuck query must not hang a shutdown).
        await asyncio.to_thread(self.batches.join, 2.0)

    # --- notifications (from any thread) --------------------------------------------------

    def notify(self, ts: int) -> None:
        """A commit numbered ``ts`` happened (any process): run a batch if it is new to us."""
        matched = self.batches.matched_ts
        if matched is None or ts > matched:
            # A batch under way whose snapshot already holds ts (this commit's echo over the layer) goes on.
            self.batches.wake(give_way_to=ts)

    def notify_threadsafe(self, ts: int, writes: Mapping[int, list[TableWrite]] | None = None) -> None:
        """:meth:`notify` for a commit of this process; ``writes``: its write-sets, matched without the outbox."""
        if self._closed:
            return
        if writes:
            with self._lock:
                self._local_writes.update(writes)
        self.notify(ts)

    def wake(self) -> None:
        self.batches.wake()

    # --- the batch thread's side ----------------------------------------------------------

    def _take_work(self) -> BatchWork:
        with self._lock:
            # Every new instance is taken: one whose subscribers all left has nobody to run for.
            initial = [i for i in self._initial if i.subscribers]
            self._initial.clear()
            dropped = list(self._dropped)
            self._dropped.clear()
            return BatchWork(initial, dict(self._local_writes), dropped=dropped)

    def _give_back(self, work: BatchWork) -> None:
        with self._lock:
            self._initial.update(work.initial)  # run them in the retried batch
            self._dropped.update(work.dropped)

    def _deliver(self, result: BatchResult) -> None:
        with self._lock:
            for number in [n for n in self._local_writes if n <= result.ts]:
                del self._local_writes[number]
        try:
            self.loop.call_soon_threadsafe(self._apply, result)
        except RuntimeError:
            pass  # the loop is closed: nobody is listening any more

    # --- instances ------------------------------------------------------------------------

    def attach(
        self,
        session: Subscriber,
        query_id: int,
        spec: FunctionSpec,
        args: dict[str, Any],
        cargs: str,
        journal: str | None = None,
    ) -> QueryInstance:
        """Subscribe ``session``'s ``query_id``, sharing an existing instance when possible.

        ``journal``: one this server issued for this query (reactive.functions.journals), never the client's own.
        """
        # A page pinned elsewhere is another instance.
        keyed = cargs if journal is None else f"{cargs}#journal={journal}"
        user_key = (spec.name, keyed, identity_key(session.user))
        shared_key = (spec.name, keyed, None)
        instance = self.instances.get(user_key) or self.instances.get(shared_key)
        created = instance is None
        if instance is None:
            instance = QueryInstance(shared_key, spec, args, session.user, cargs=cargs, journal=journal)
            self.instances[shared_key] = instance
            metrics.LIVE_INSTANCES.set(len(self.instances))
        # Subscribed before the batch thread can see it: a new instance without subscribers is not run.
        instance.subscribers.setdefault(session, set()).add(query_id)
        if created:
            with self._lock:
                self._initial.add(instance)
            self.batches.wake(give_way_to=NEWER_THAN_ANY)
        return instance

    def detach(self, session: Subscriber, query_id: int, instance: QueryInstance) -> None:
        ids = instance.subscribers.get(session)
        if ids is None:
            return
        ids.discard(query_id)
        if not ids:
            del instance.subscribers[session]
        if not instance.subscribers and self.instances.get(instance.key) is instance:
            del self.instances[instance.key]
            self._drop(instance)
            metrics.LIVE_INSTANCES.set(len(self.instances))

    def _drop(self, instance: QueryInstance) -> None:
        """Forget an instance nobody holds: it leaves the index in the next batch, before that batch matches."""
        with self._lock:
            self._initial.discard(instance)
            self._dropped.add(instance)
        if len(self._dropped) >= DROPPED_BEFORE_A_BATCH:
            self.batches.wake()

    def forget_session(self, session: Subscriber) -> None:
        self.sessions.discard(session)
        self._waiting.discard(session)

    def wait_for_batch(self, session: Subscriber, *, wake: bool) -> None:
        """``session`` needs a Transition that only a later batch can give."""
        self._waiting.add(session)
        if wake:
            self.batches.wake()

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
            # Replaced at its key: its own detach would no longer find it there, so forget it here.
            self._drop(existing)
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
            if self.instances or self._dropped:
                self.batches.wake()
            if loop.time() >= next_prune:
                next_prune = loop.time() + reactive_settings.PRUNE_INTERVAL
                try:
                    await run_sync(commits.prune)
                except Exception:
                    logger.warning("reactive: pruning the outbox failed; will retry", exc_info=True)

    def _apply(self, result: BatchResult) -> None:
        """Take a batch's results (on the loop, in batch order) and move the sessions to its snapshot.

        A failure (a bug) is logged and contained to the instance or session it happened in, so that the
        others, and later batches, are still applied.
        """
        if self._closed:
            return
        self.applied_batch = result.number
        changed: list[QueryInstance] = []
        for instance, run in result.runs.items():
            if self.instances.get(instance.key) is not instance:
                self._drop(instance)  # every subscriber left while it ran (and the run indexed it again)
                continue
            try:
                metrics.QUERY_RUNS.labels(instance.spec.name).inc()
                if instance.apply(run):
                    changed.append(instance)
                if instance.key[2] is None and run.identity_read:
                    self._split_by_identity(instance)
            except Exception:
                logger.exception("reactive: applying the result of %s failed", instance.spec.name)
        for instance in result.newly_deferred:
            instance.deferred = True  # its sessions wait for the batch that runs it
        metrics.INVALIDATIONS.inc(result.invalidated)
        self.applied_ts = result.ts
        sessions = set(self._waiting)
        self._waiting.clear()
        for instance in changed:
            sessions.update(instance.subscribers)
        for session in sessions:
            try:
                session.flush()
            except Exception:
                logger.exception("reactive: sending a Transition failed")


_managers: dict[asyncio.AbstractEventLoop, SubscriptionManager] = {}


def instance_for(name: str, args: dict[str, Any], user: Any = None) -> QueryInstance | None:
    """The live instance of ``name(args)`` in this loop's manager (for tests and introspection)."""
    from ..values import canonical_args

    manager = get_manager()
    cargs = canonical_args(args)
    return manager.instances.get((name, cargs, None)) or manager.instances.get((name, cargs, identity_key(user)))


def get_manager() -> SubscriptionManager:
    """The manager of the running event loop, started on first use."""
    loop = asyncio.get_running_loop()
    manager = _managers.get(loop)
    if manager is None:
        for old_loop in [lp for lp in _managers if lp.is_closed()]:
            _managers.pop(old_loop).stop()
        manager = SubscriptionManager(loop)
        _managers[loop] = manager
        manager.start()
    return manager


async def reset_managers() -> None:
    """Close every manager (tests, shutdown)."""
    for loop, manager in list(_managers.items()):
        if loop is asyncio.get_running_loop():
            await manager.close()
        else:
            manager.stop()
        del _managers[loop]
