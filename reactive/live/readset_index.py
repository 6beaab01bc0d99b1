"""An index from written rows to the live read-sets they may affect.

Testing every commit against every live read-set costs time in proportion to the number of
live query instances, however few a write touches. The index narrows that to *candidates*,
looked up by what the write-set says about its rows:

- ``(table, pk)``: every read entry that received that row;
- ``(table, column, value)``: every read entry whose predicates pin ``column = value`` (one
  such equality per entry is enough: a row with another value there cannot satisfy it);
- per table, the entries that pin no column (scanned for every write with a row image), and
  every reader of the table (for writes whose rows are unknown, and table-level invalidation).

The exact rule, :func:`reactive.readsets.readset_affected`, then decides for each candidate, so
the index only has to be sound: it may offer an instance that turns out unaffected, never miss
an affected one (``tests/live/test_readset_index.py`` checks this with hypothesis).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Container, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..readsets import ALL_TABLES, EQ, Conjunction, ReadSet, TableRead, TableWrite, readset_affected

K = TypeVar("K", bound=Hashable)
_MISSING = object()


@dataclass
class _TableIndex:
    """The postings of one table, by key number (:attr:`ReadSetIndex._numbers`).

    Numbers, not keys: a dict holding only numbers (and pks) is one the garbage collector stops scanning, and
    a server with a thousand live queries holds a hundred thousand such entries.
    """

    readers: dict[int, int] = field(default_factory=dict)  # key -> how many of its entries read this table
    scan: dict[int, int] = field(default_factory=dict)  # entries with predicates but no usable equality
    by_pk: dict[Any, dict[int, int]] = field(default_factory=dict)
    by_value: dict[str, dict[Any, dict[int, int]]] = field(default_factory=dict)  # column -> value -> keys
    by_column: dict[str, dict[int, int]] = field(default_factory=dict)  # column -> every key indexed on it


# A posting: (table, kind, column, value). Kinds: reader, scan, pk, eq.
_Posting = tuple[str, str, str, Any]


def _add(counts: dict[Any, int], key: Any) -> None:
    counts[key] = counts.get(key, 0) + 1


def _remove(counts: dict[Any, int], key: Any) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


def _pinned(preds: Conjunction) -> tuple[str, Any] | None:
    """The first ``column = value`` of a conjunction whose value can be a dict key."""
    for pred in preds:
        if pred.op == EQ:
            try:
                hash(pred.value)
            except TypeError:
                continue
            return pred.column, pred.value
    return None


def _image_value(image: Conjunction, column: str) -> Any:
    """The value a row image pins ``column`` to, or ``_MISSING``."""
    for pred in image:
        if pred.column == column and pred.op == EQ:
            return pred.value
    return _MISSING


class ReadSetIndex(Generic[K]):
    """Read-sets by key (a query instance), looked up by write-set. Safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readsets: dict[K, ReadSet] = {}
        # Each key's number, and back; its postings as a tuple (of atoms: untracked by the garbage collector).
        self._numbers: dict[K, int] = {}
        self._keys: dict[int, K] = {}
        self._next_number = 0
        self._postings: dict[int, tuple[_Posting, ...]] = {}
        self._everything: set[int] = set()
        self._tables: dict[str, _TableIndex] = {}

    def __len__(self) -> int:
        return len(self._readsets)

    def put(self, key: K, readset: ReadSet) -> None:
        """Index ``key`` under ``readset``, replacing what it was indexed under before.

        A re-run mostly reads what it read before (a new message in, the oldest out): only the
        postings that changed are moved.
        """
        postings: list[_Posting] = []
        for table, entries in readset.tables.items():
            if table != ALL_TABLES:
                for entry in entries:
                    postings.extend(self._entry_postings(table, entry))
        with self._lock:
            number = self._numbers.get(key)
            if number is None:
                number = self._numbers[key] = self._next_number
                self._keys[number] = key
                self._next_number += 1
            old = self._postings.get(number)
            if old is None:
                added, removed = postings, []
            else:
                old_counts, new_counts = Counter(old), Counter(postings)
                added = list((new_counts - old_counts).elements())
                removed = list((old_counts - new_counts).elements())
            # A table's "reader" postings are added first and removed last: a table whose last reader
            # posting goes is dropped from the index.
            for posting in sorted(removed, key=lambda p: p[1] == "reader"):
                self._unpost(number, posting)
            for posting in sorted(added, key=lambda p: p[1] != "reader"):
                self._post(number, posting)
            self._readsets[key] = readset
            self._postings[number] = tuple(postings)
            if readset.reads_everything:
                self._everything.add(number)
            else:
                self._everything.discard(number)

    def keys(self) -> list[K]:
        """Every indexed key."""
        with self._lock:
            return list(self._readsets)

    def discard(self, key: K) -> None:
        """Forget ``key`` (no error if it is not indexed)."""
        with self._lock:
            self._discard(key)

    def affected(self, writes: Iterable[TableWrite], *, table_level: bool = False, known: Container[K] = ()) -> list[K]:
        """The keys whose read-sets ``writes`` may affect, by the exact rule of :mod:`reactive.readsets`.

        ``known``: keys that will re-run anyway (deferred by the previous batch): not matched again.
        """
        writes = list(writes)
        if not writes:
            return []
        with self._lock:
            keys = [self._keys[number] for number in self._candidates(writes, table_level)]
            readsets = [(key, self._readsets[key]) for key in keys if key not in known]
        return [key for key, readset in readsets if readset_affected(readset, writes, table_level=table_level)]

    # --- internals (called with the lock held) ------------------------------------------------

    @staticmethod
    def _entry_postings(table: str, entry: TableRead) -> list[_Posting]:
        postings: list[_Posting] = [(table, "reader", "", None)]
        for pk in entry.pks or ():
            postings.append((table, "pk", "", pk))
        if entry.preds is not None:
            pinned = _pinned(entry.preds)
            if pinned is None:
                postings.append((table, "scan", "", None))
            else:
                postings.append((table, "eq", pinned[0], pinned[1]))
        return postings

    def _post(self, key: int, posting: _Posting) -> None:
        table, kind, column, value = posting
        index = self._tables.setdefault(table, _TableIndex())
        if kind == "reader":
            _add(index.readers, key)
        elif kind == "scan":
            _add(index.scan, key)
        elif kind == "pk":
            _add(index.by_pk.setdefault(value, {}), key)
        else:
            _add(index.by_value.setdefault(column, {}).setdefault(value, {}), key)
            _add(index.by_column.setdefault(column, {}), key)

    def _unpost(self, key: int, posting: _Posting) -> None:
        table, kind, column, value = posting
        index = self._tables[table]
        if kind == "reader":
            _remove(index.readers, key)
        elif kind == "scan":
            _remove(index.scan, key)
        elif kind == "pk":
            _remove(index.by_pk[value], key)
            if not index.by_pk[value]:
                del index.by_pk[value]
        else:
            values = index.by_value[column]
            _remove(values[value], key)
            if not values[value]:
                del values[value]
            _remove(index.by_column[column], key)
            if not index.by_column[column]:
                del index.by_column[column]
                del index.by_value[column]
        if not index.readers:
            del self._tables[table]

    def _discard(self, key: K) -> None:
        if self._readsets.pop(key, None) is None:
            return
        number = self._numbers.pop(key)
        del self._keys[number]
        self._everything.discard(number)
        for posting in sorted(self._postings.pop(number), key=lambda p: p[1] == "reader"):  # readers last
            self._unpost(number, posting)

    def _candidates(self, writes: list[TableWrite], table_level: bool) -> set[int]:
        found: set[int] = set(self._everything)
        for write in writes:
            if write.table == ALL_TABLES:
                return set(self._keys)
            index = self._tables.get(write.table)
            if index is None:
                continue
            if table_level or write.pks is None:
                found.update(index.readers)  # rows unknown: any reader of the table may be affected
                continue
            for pk in write.pks:
                found.update(index.by_pk.get(pk, ()))
            images = [image for image in (write.new, write.old) if image is not None]
            if not images:
                continue
            found.update(index.scan)
            for column, by_value in index.by_value.items():
                for image in images:
                    value = _image_value(image, column)
                    if value is _MISSING:
                        found.update(index.by_column[column])
                        break
                    try:
                        found.update(by_value.get(value, ()))
                    except TypeError:  # an unhashable value in the write: every entry pinned on this column
                        found.update(index.by_column[column])
                        break
        return found
