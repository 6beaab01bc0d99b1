"""Re-run batches, on a thread of their own.

A batch opens one read snapshot at commit number S, matches every commit after the last
batch's up to S against the read-set index, re-runs the affected instances and the new
ones, and re-indexes what they read, all on the batch thread; the results then go to the
event loop, which moves the sessions (:meth:`SubscriptionManager._apply`).

Why a thread that is woken directly: a commit in this process happens on a worker thread,
which wakes the batch thread itself, without a round trip through the event loop (the
loop is busy with sockets, and each hop there waits for its turn). Batches run one at a
time, and their results reach the loop in the order they ran, so sessions move forward
only. A batch may start before the loop has applied the previous one: it starts from
that batch's snapshot and index, which the thread itself keeps.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections, connections

from ..commitlog import commits
from ..commitlog.snapshot import read_snapshot
from ..conf import reactive_settings
from ..functions.execution import Outcome, QueryRun, execute_query
from ..readsets import TableWrite
from . import diffs
from .instances import QueryInstance
from .readset_index import ReadSetIndex

logger = logging.getLogger("reactive")


@dataclass
class BatchResult:
    """One batch: its snapshot's commit number, the runs it made, how many instances commits invalidated."""

    ts: int
    runs: dict[QueryInstance, QueryRun]
    invalidated: int
    number: int = 0  # batches are numbered as they start (BatchThread.started)
    # Instances due to run that waited for the next batch (their connections' budget was spent): not valid at ts;
    # and those of them that were not waiting already (the loop marks these).
    deferred: list[QueryInstance] = field(default_factory=list)
    newly_deferred: list[QueryInstance] = field(default_factory=list)
    # Seconds until the next batch may run a deferred instance (0: at once).
    retry_after: float = 0.0


@dataclass
class BatchWork:
    """The new instances a batch runs, and the write-sets of this process's commits it may match from memory."""

    initial: list[QueryInstance]
    known_writes: Mapping[int, list[TableWrite]]
    # Instances the previous batch deferred: they run in this one (or are deferred again).
    deferred: list[QueryInstance] = field(default_factory=list)
    # Instances nobody holds any more: they leave the index before this batch matches its commits.
    dropped: list[QueryInstance] = field(default_factory=list)


class RunRates:
    """Each connection's share of the batch thread over time: a bucket of seconds of running its queries.

    It refills at ``MAX_RUN_SECONDS_PER_SECOND`` up to ``MAX_RUN_SECONDS_BURST``. A connection whose bucket is
    empty gets no runs until it refills (its queries wait, and so do its Transitions): one connection holding a
    thousand queries that every write affects takes that share of one thread, not all of it, so the thread
    (and the GIL) stays free for the others. Kept by the batch thread across batches.
    """

    def __init__(self) -> None:
        self._levels: weakref.WeakKeyDictionary[Any, tuple[float, float]] = weakref.WeakKeyDictionary()
        self.rate = self.burst = 0.0

    def begin(self) -> None:
        """Read the settings, once per batch."""
        self.rate = float(reactive_settings.MAX_RUN_SECONDS_PER_SECOND)
        self.burst = float(reactive_settings.MAX_RUN_SECONDS_BURST)

    def available(self, session: Any, now: float) -> float:
        level, updated = self._levels.get(session, (self.burst, now))
        return min(self.burst, level + (now - updated) * self.rate)

    def spend(self, session: Any, seconds: float, now: float) -> None:
        self._levels[session] = (self.available(session, now) - seconds, now)

    def refill_delay(self, session: Any, now: float) -> float:
        """Seconds until ``session``'s bucket holds a useful share again (a tenth of the burst, at most 50 ms of
        running): waking for every trickle would run a batch, and check every waiting query, per run."""
        quantum = min(self.burst / 10, 0.05)
        missing = quantum - self.available(session, now)
        return 0.0 if missing <= 0 else missing / self.rate


class FairShare:
    """How much of one batch each connection's queries may take: ``runs`` runs and ``seconds`` of running,
    and what its :class:`RunRates` bucket holds.

    An instance runs while any of its subscribers (sessions) is within all three, and what it costs counts for
    each of them; one whose every subscriber spent a batch budget waits for the next batch, which starts at once
    (a connection with time left in its bucket gets at least one run per batch); one whose subscribers' buckets
    are empty waits until one refills (:attr:`retry_after`). So a bystander's query (or one it shares) never
    waits behind another connection's for more than that connection's share of one batch.
    """

    def __init__(self, runs: int, seconds: float, rates: RunRates) -> None:
        self.runs, self.seconds, self.rates = runs, seconds, rates
        rates.begin()
        self._spent: dict[object, tuple[int, float]] = {}
        # Sessions whose bucket is empty (nothing refills it during a batch), with the seconds until it does.
        self._empty: dict[object, float] = {}
        self.now = time.monotonic()
        # Seconds until a deferred instance may run: 0 when only a batch budget stopped it (run at once).
        self.retry_after: float | None = None

    def order(self, instances: Iterable[QueryInstance]) -> list[tuple[QueryInstance, list[object]]]:
        """Each instance (once) with its subscribers, those of the connections that ran least lately first.

        The key is the fullest bucket among an instance's subscribers: a bystander's query runs before those of a
        connection that has been taking its share, so it never waits behind them within a batch.
        """
        # The loop may change an instance's subscribers meanwhile: a copy, taken at once.
        pairs: list[tuple[QueryInstance, list[object]]] = [
            (instance, list(instance.subscribers)) for instance in dict.fromkeys(instances)
        ]
        levels: dict[object, float] = {
            session: self.rates.available(session, self.now) for _i, subs in pairs for session in subs
        }
        return sorted(pairs, key=lambda pair: -max((levels[s] for s in pair[1]), default=0.0))

    def allows(self, subscribers: Sequence[object]) -> bool:
        if not subscribers or any(self._within(session) for session in subscribers):
            return True
        # Deferred: to the next batch at once when a batch budget stopped it, or, when every subscriber's
        # bucket is empty, until the first of them refills.
        if all(session in self._empty for session in subscribers):
            delay = min(self._empty[session] for session in subscribers)
        else:
            delay = 0.0
        self.retry_after = delay if self.retry_after is None else min(self.retry_after, delay)
        return False

    def _within(self, session: object) -> bool:
        if session in self._empty:
            return False
        if self.rates.available(session, self.now) <= 0:
            self._empty[session] = self.rates.refill_delay(session, self.now)
            return False
        runs, seconds = self._spent.get(session, (0, 0.0))
        return runs == 0 or (runs < self.runs and seconds < self.seconds)

    def charge(self, subscribers: Sequence[object], seconds: float) -> None:
        for session in subscribers:
            runs, spent = self._spent.get(session, (0, 0.0))
            self._spent[session] = (runs + 1, spent + seconds)
            self.rates.spend(session, seconds, self.now)


# A batch that runs longer than this hands over what it has (a session whose queries all ran moves to its
# snapshot without waiting for the rest: the queries of the connections that ran most lately, which run last,
# FairShare.order), or, when a later commit is already waiting, gives way to the batch that will bring it.
DELIVER_EVERY_SECONDS = 0.005
# What a new query gives way to: newer than any snapshot.
NEWER_THAN_ANY = 2**63


@dataclass
class Pacing:
    """How a long batch shares its time (:data:`DELIVER_EVERY_SECONDS`); the batch thread gives both."""

    deliver: Callable[[BatchResult], None]  # hands over the runs made so far, at the batch's snapshot
    # A commit later than the batch's snapshot (given as its argument), or a new query, waits for a batch.
    newer_work: Callable[[int], bool]


def run_batch(
    index: ReadSetIndex[QueryInstance],
    work: BatchWork,
    after_ts: int | None,
    rates: RunRates | None = None,
    pacing: Pacing | None = None,
) -> BatchResult:
    """One batch in one snapshot (blocking; on the batch thread). ``after_ts``: the previous batch's snapshot.

    With ``pacing``, every :data:`DELIVER_EVERY_SECONDS` while instances are still to run: when newer work
    waits, the rest is deferred to the next batch (which starts at once); otherwise the runs made so far are
    delivered (the instances still to run marked deferred in that result). The result returned holds the runs
    made since the last delivery.
    """
    for instance in work.dropped:
        index.discard(instance)
    with read_snapshot(reactive_settings.DATABASE) as connection:
        ts = commits.current_ts(connection)
        affected: list[QueryInstance] = []
        if after_ts is not None and ts != after_ts:
            writes = commits.committed_writes(connection, after_ts, ts, work.known_writes)
            if writes is None:
                affected = index.keys()  # the outbox no longer holds what we missed: re-run everything
            else:
                affected = index.affected(
                    writes, table_level=reactive_settings.TABLE_LEVEL_INVALIDATION, known=set(work.deferred)
                )
        invalidated = len(affected)
        runs: dict[QueryInstance, QueryRun] = {}
        undelivered: dict[QueryInstance, QueryRun] = {}
        deferred: list[QueryInstance] = []
        share = FairShare(
            int(reactive_settings.MAX_BATCH_RUNS_PER_CONNECTION),
            float(reactive_settings.MAX_BATCH_SECONDS_PER_CONNECTION),
            rates if rates is not None else RunRates(),
        )
        due = share.order([*work.initial, *work.deferred, *affected])
        paced_at = time.perf_counter()
        # Re-indexed (and remembered) only once every run succeeded: a batch that fails half-way is retried
        # against the read-sets its commits must be matched with, those of the runs before it.
        for position, (instance, subscribers) in enumerate(due):
            if not subscribers:
                continue  # every subscriber left: the loop drops it
            if not share.allows(subscribers):
                deferred.append(instance)
                continue
            started = time.perf_counter()
            runs[instance] = undelivered[instance] = _run(instance)
            finished = time.perf_counter()
            share.charge(subscribers, finished - started)
            if pacing is None or finished - paced_at < DELIVER_EVERY_SECONDS:
                continue
            rest = [i for i, subs in due[position + 1 :] if subs]
            if not rest:
                continue
            if pacing.newer_work(ts):
                deferred.extend(rest)
                break
            later = [*deferred, *rest]
            pacing.deliver(BatchResult(ts, undelivered, invalidated, deferred=later, newly_deferred=later))
            undelivered, invalidated, paced_at = {}, 0, time.perf_counter()
    for instance, run in runs.items():
        index.put(instance, run.readset)
        instance.last_run = run
    carried = set(work.deferred)
    newly = [instance for instance in deferred if instance not in carried]
    return BatchResult(
        ts, undelivered, invalidated, deferred=deferred, newly_deferred=newly, retry_after=share.retry_after or 0.0
    )


def _run(instance: QueryInstance) -> QueryRun:
    """Run one instance (in the batch's snapshot), with the diff from the value its clients hold."""
    # The last run this thread made, which the loop may not have applied yet: its page end is the one to
    # keep (reactive.functions.pagination), and by the time this run is applied, its value is what clients hold.
    last = instance.last_run
    previous = None if last is None else last.outcome
    journal = instance.journal if last is None else last.journal
    # A failure of the function or of encoding its result or error fails this run only; only a
    # broken connection escapes (and then the whole batch is retried).
    run = execute_query(instance.spec, instance.args, instance.user, journal)
    if previous is not None and previous.success and run.outcome.success and run.outcome != previous:
        run.diff = (previous, _diff(instance, previous, run))
    run.value = None  # only the diff needed it
    return run


def _diff(instance: QueryInstance, previous: Outcome, run: QueryRun) -> str | None:
    """The diff from ``previous`` (reactive.live.diffs), built here once for every session holding it.

    A diff only saves bytes: should building it fail, the full value goes out instead.
    """
    try:
        return diffs.encoded_diff(previous.value_json, run.outcome.value_json, run.value)
    except Exception:
        logger.exception("reactive: building the diff of %s failed; sending its whole value", instance.spec.name)
        return None


class BatchThread:
    """The thread that runs batches whenever :meth:`wake` was called since the last one started.

    ``take_work`` is called on the thread at the start of each batch; ``deliver`` gets each
    result, on the thread, in order. A failed batch is retried with backoff (its work given
    back through ``give_back``); the database being away never stops the thread.
    """

    def __init__(
        self,
        index: ReadSetIndex[QueryInstance],
        take_work: Callable[[], BatchWork],
        give_back: Callable[[BatchWork], None],
        deliver: Callable[[BatchResult], None],
    ) -> None:
        self.index = index
        self._take_work = take_work
        self._give_back = give_back
        self._deliver = deliver
        # The snapshot of the last batch: commits up to it are matched (tests may set it back).
        self.matched_ts: int | None = None
        # Batches started so far: a batch numbered above a value read at some moment took its snapshot after it.
        self.started = 0
        self._deferred: list[QueryInstance] = []  # what the last batch deferred, for the next
        self._rates = RunRates()
        self._retry_at: float | None = None  # time.monotonic() of a batch the thread owes itself (deferred work)
        self._wanted = threading.Event()
        # The newest commit a wake brought that a batch under way should give way to (NEWER_THAN_ANY: a new query).
        self._give_way_to = -1
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._main, name="reactive-batch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self, *, give_way_to: int | None = None) -> None:
        """Ask for a batch (from any thread); wakes that come while one runs make one more.

        ``give_way_to``: the commit it brings (or :data:`NEWER_THAN_ANY`: a new query): a batch under way whose
        snapshot is older gives way
        to it (:class:`Pacing`) once it has run for :data:`DELIVER_EVERY_SECONDS`.
        """
        if give_way_to is not None:
            self._give_way_to = max(self._give_way_to, give_way_to)
        self._wanted.set()

    def _newer_than(self, ts: int) -> bool:
        """Whether a wake since this batch started brought work that its snapshot at ``ts`` does not hold."""
        return self._give_way_to > ts

    def stop(self) -> None:
        """Stop after the batch under way, if any (its result is not delivered)."""
        self._stopped.set()
        self._wanted.set()

    def _wake_after(self, delay: float) -> None:
        """Run the next batch at once, or (deferred work waiting for a connection's share to refill) later."""
        if delay <= 0:
            self._wanted.set()
            return
        # At most half a second: a refill, or a change of the settings, is picked up soon whatever the estimate.
        self._retry_at = time.monotonic() + min(delay, 0.5)

    def _wait_for_work(self) -> None:
        """Until a batch is wanted, or the one the thread owes itself is due."""
        if self._retry_at is None:
            self._wanted.wait()
        elif not self._wanted.wait(max(0.0, self._retry_at - time.monotonic())):
            self._wanted.set()
        self._retry_at = None

    def join(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the thread to end, after :meth:`stop`."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _main(self) -> None:
        delay = 0.05
        try:
            while True:
                self._wait_for_work()
                if self._stopped.is_set():
                    return
                self._wanted.clear()
                self._give_way_to = -1
                try:
                    self._batch()
                    delay = 0.05
                except Exception:  # the database, or a bug: the thread must live on
                    logger.exception("reactive: a re-run batch failed; retrying")
                    self._stopped.wait(delay)
                    delay = min(delay * 2, 2.0)
                    self._wanted.set()
        finally:
            connections.close_all()  # this thread's own connections

    def _batch(self) -> None:
        self.started += 1
        number = self.started
        work = self._take_work()
        work.deferred = self._deferred
        close_old_connections()

        def deliver_early(result: BatchResult) -> None:
            result.number = number
            if not self._stopped.is_set():
                self._deliver(result)

        try:
            result = run_batch(self.index, work, self.matched_ts, self._rates, Pacing(deliver_early, self._newer_than))
        except BaseException:
            self._give_back(work)
            raise
        finally:
            close_old_connections()
        result.number = number
        self.matched_ts = result.ts
        self._deferred = result.deferred
        if self._deferred:
            self._wake_after(result.retry_after)
        if not self._stopped.is_set():
            self._deliver(result)
