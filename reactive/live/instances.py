"""A live query instance: one function with its arguments (and identity, when it reads it), shared by every
session subscribed to it.

The batch thread runs instances (:mod:`reactive.live.batches`) and the manager applies their results
(:mod:`reactive.live.subscriptions`); a subscriber is whatever holds one of its query ids: a sync session,
seen here only as a :class:`Subscriber`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..functions import journals
from ..functions.execution import Outcome, QueryRun
from ..functions.registry import FunctionSpec
from . import diffs

InstanceKey = tuple[str, str, str | None]
_serials = itertools.count(1)


class Subscriber(Protocol):
    """What holds query ids of instances: a sync session (:class:`reactive.sync.session.Session`)."""

    @property
    def user(self) -> Any:
        """Who it asks as now (an instance keyed by identity is shared only by subscribers of that identity)."""

    def flush(self) -> None:
        """Send what changed, if it can (every instance it holds is ready at the manager's snapshot)."""

    def reattach(self, query_id: int) -> None:
        """Subscribe ``query_id`` again, to the instance its function and args now have for this subscriber."""


@dataclass(eq=False)
class QueryInstance:
    """One live query (function + args [+ identity]) shared by every session subscribed to it."""

    key: InstanceKey
    spec: FunctionSpec
    args: dict[str, Any]
    user: Any
    cargs: str = ""  # the canonical args
    # A paginated query's page end (see reactive.functions.pagination), kept across re-runs.
    journal: str | None = None
    # The journal as clients get it, signed (reactive.functions.journals), for the journal it was signed from.
    _issued_journal: tuple[str | None, str | None] = (None, None)
    outcome: Outcome | None = None
    # The value of the previous version, and the diff from it (built once, for every session).
    previous_value_json: str | None = None
    _diff: tuple[str | None] | None = None
    version: int = 0
    serial: int = field(default_factory=lambda: next(_serials))
    runs: int = 0
    subscribers: dict[Subscriber, set[int]] = field(default_factory=dict)
    # Owned by the batch thread: the last run it made, applied on the loop later (reactive.live.batches).
    last_run: QueryRun | None = None
    # A batch deferred its run (reactive.live.batches.FairShare): its outcome is older than the manager's snapshot.
    deferred: bool = False

    @property
    def ready(self) -> bool:
        return self.outcome is not None and not self.deferred

    def apply(self, run: QueryRun) -> bool:
        """Store a run's result; True when what clients see changed."""
        self.runs += 1
        self.deferred = False
        changed = self.outcome != run.outcome or self.journal != run.journal
        self.journal = run.journal
        if changed:
            previous = self.outcome
            self.previous_value_json = previous.value_json if previous is not None and previous.success else None
            # The batch built the diff from the last value it had computed, which batches applied in order make
            # the previous one; should they differ (an apply failed), the diff is built again when needed.
            self._diff = (run.diff[1],) if run.diff is not None and run.diff[0] == previous else None
            self.outcome = run.outcome
            self.version += 1
        return changed

    def client_journal(self) -> str | None:
        """The journal to send clients: signed for this query, once per journal."""
        if self._issued_journal[0] != self.journal:
            self._issued_journal = (self.journal, journals.issue(self.spec.name, self.cargs, self.journal))
        return self._issued_journal[1]

    def diff_from_previous(self) -> str | None:
        """The current value as a diff from the previous version's (reactive.live.diffs), if smaller."""
        if self._diff is None:
            diff = None
            if self.previous_value_json is not None and self.outcome is not None and self.outcome.success:
                diff = diffs.encoded_diff(self.previous_value_json, self.outcome.value_json)
            self._diff = (diff,)
        return self._diff[0]
