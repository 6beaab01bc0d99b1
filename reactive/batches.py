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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import close_old_connections, connections

from . import commits, diffs
from .conf import reactive_settings
from .execution import Outcome, QueryRun, execute_query
from .readset_index import ReadSetIndex
from .readsets import TableWrite
from .snapshot import read_snapshot

if TYPE_CHECKING:
    from .subscriptions import QueryInstance

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


def run_batch(
    index: ReadSetIndex[QueryInstance],
    work: BatchWork,
    after_ts: int | None,
    rates: RunRates | None = None,
) -> BatchResult:
    """One batch in one snapshot (blocking; on the batch thread). ``after_ts``: the previous batch's snapshot."""
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
        runs: dict[QueryInstance, QueryRun] = {}
        deferred: list[QueryInstance] = []
        share = FairShare(
            int(reactive_settings.MAX_BATCH_RUNS_PER_CONNECTION),
            float(reactive_settings.MAX_BATCH_SECONDS_PER_CONNECTION),
            rates if rates is not None else RunRates(),
        )
        # Re-indexed (and remembered) only once every run succeeded: a batch that fails half-way is retried
        # against the read-sets its commits must be matched with, those of the runs before it.
        for instance in dict.fromkeys([*work.initial, *work.deferred, *affected]):
            subscribers = list(instance.subscribers)  # the loop may change it meanwhile: a copy, taken at once
            if not share.allows(subscribers):
                deferred.append(instance)
                continue
            started = time.perf_counter()
            # The last run this thread made, which the loop may not have applied yet: its page end is the one to
            # keep (reactive.pagination), and by the time this run is applied, its value is what clients hold.
            last = instance.last_run
            previous = None if last is None else last.outcome
            journal = instance.journal if last is None else last.journal
            # A failure of the function or of encoding its result or error fails this run only; only a
            # broken connection escapes (and then the whole batch is retried).
            run = execute_query(instance.spec, instance.args, instance.user, journal)
            if previous is not None and previous.success and run.outcome.success and run.outcome != previous:
                run.diff = (previous, _diff(instance, previous, run))
            run.value = None  # only the diff needed it
            runs[instance] = run
            share.charge(subscribers, time.perf_counter() - started)
    for instance, run in runs.items():
        index.put(instance, run.readset)
        instance.last_run = run
    carried = set(work.deferred)
    newly = [instance for instance in deferred if instance not in carried]
    return BatchResult(
        ts, runs, len(affected), deferred=deferred, newly_deferred=newly, retry_after=share.retry_after or 0.0
    )


def _diff(instance: QueryInstance, previous: Outcome, run: QueryRun) -> str | None:
    """The diff from ``previous`` (reactive.diffs), built here once for every session holding it.

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
        self._retry: threading.Timer | None = None
        self._wanted = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._main, name="reactive-batch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Ask for a batch (from any thread); wakes that come while one runs make one more."""
        self._wanted.set()

    def stop(self) -> None:
        """Stop after the batch under way, if any (its result is not delivered)."""
        self._stopped.set()
        if self._retry is not None:
            self._retry.cancel()
        self._wanted.set()

    def _wake_after(self, delay: float) -> None:
        """Run the next batch at once, or (deferred work waiting for a connection's share to refill) later."""
        if delay <= 0:
            self._wanted.set()
            return
        if self._retry is not None:
            self._retry.cancel()
        # At most half a second: a refill, or a change of the settings, is picked up soon whatever the estimate.
        self._retry = threading.Timer(min(delay, 0.5), self.wake)
        self._retry.daemon = True
        self._retry.start()

    def join(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the thread to end, after :meth:`stop`."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _main(self) -> None:
        delay = 0.05
        try:
            while True:
                self._wanted.wait()
                if self._stopped.is_set():
                    return
                self._wanted.clear()
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
        try:
            result = run_batch(self.index, work, self.matched_ts, self._rates)
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
