"""The read-set index offers exactly the read-sets that the matching rule says a write-set affects."""

from __future__ import annotations

import gc
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reactive.live.readset_index import ReadSetIndex
from reactive.readsets import (
    ALL_TABLES,
    EQ,
    GT,
    IN,
    ISNULL,
    LTE,
    Pred,
    ReadSet,
    TableRead,
    TableWrite,
    readset_affected,
)

TABLES = ["msg", "user"]
values = st.one_of(st.none(), st.integers(0, 4), st.booleans(), st.just(1.0), st.just("2"))
preds = st.builds(
    Pred, st.sampled_from(["id", "channel_id", "author_id"]), st.sampled_from([EQ, EQ, IN, GT, LTE, ISNULL]), values
).map(lambda p: Pred(p.column, p.op, frozenset({p.value, 3}) if p.op == IN else p.value))
conjunctions = st.lists(preds, max_size=3).map(tuple)
pks = st.frozensets(st.integers(0, 6), max_size=4)

reads = st.builds(
    TableRead,
    st.sampled_from([*TABLES, ALL_TABLES]),
    st.one_of(st.none(), conjunctions),
    st.one_of(st.none(), pks),
)
writes = st.builds(
    TableWrite,
    st.sampled_from([*TABLES, "other", ALL_TABLES]),
    st.one_of(st.none(), conjunctions),
    st.one_of(st.none(), conjunctions),
    st.one_of(st.none(), pks),
)


def readset(entries: list[TableRead]) -> ReadSet:
    result = ReadSet()
    for entry in entries:
        result.add(entry)
    return result


def brute_force(readsets: dict[int, ReadSet], batch: list[TableWrite], table_level: bool) -> set[int]:
    return {key for key, rs in readsets.items() if readset_affected(rs, batch, table_level=table_level)}


@settings(max_examples=400)
@given(
    st.dictionaries(st.integers(0, 9), st.lists(reads, max_size=4).map(readset), max_size=8),
    st.lists(writes, max_size=3),
    st.booleans(),
)
def test_index_finds_exactly_the_affected_readsets(
    readsets: dict[int, ReadSet], batch: list[TableWrite], table_level: bool
) -> None:
    index: ReadSetIndex[int] = ReadSetIndex()
    for key, rs in readsets.items():
        index.put(key, rs)
    assert set(index.affected(batch, table_level=table_level)) == brute_force(readsets, batch, table_level)


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.one_of(st.none(), st.lists(reads, max_size=3).map(readset))), max_size=20),
    st.lists(writes, max_size=3),
)
def test_replacing_and_forgetting_readsets_leaves_no_stale_postings(
    operations: list[tuple[int, ReadSet | None]], batch: list[TableWrite]
) -> None:
    index: ReadSetIndex[int] = ReadSetIndex()
    live: dict[int, ReadSet] = {}
    for key, rs in operations:
        if rs is None:
            index.discard(key)
            live.pop(key, None)
        else:
            index.put(key, rs)
            live[key] = rs
    assert len(index) == len(live)
    assert set(index.affected(batch)) == brute_force(live, batch, False)
    for key in list(live):
        index.discard(key)
    assert len(index) == 0 and index._tables == {} and index._everything == set()


def test_an_insert_is_looked_up_not_scanned() -> None:
    """1,000 channel queries: an insert into channel 7 yields one candidate, not a thousand."""
    index: ReadSetIndex[int] = ReadSetIndex()
    for channel in range(1000):
        index.put(channel, readset([TableRead("msg", (Pred("channel_id", EQ, channel),), frozenset({channel * 10}))]))
    insert = TableWrite("msg", None, (Pred("id", EQ, 99_999), Pred("channel_id", EQ, 7)), frozenset({99_999}))
    with index._lock:
        candidates: set[Any] = index._candidates([insert], table_level=False)
    assert candidates == {7}
    assert index.affected([insert]) == [7]
    moved = TableWrite("msg", (Pred("id", EQ, 30),), (Pred("id", EQ, 30), Pred("channel_id", EQ, 5)), frozenset({30}))
    assert set(index.affected([moved])) == {3, 5}  # it left channel 3 (by pk) and entered channel 5


class _Key:
    """A key as the manager's are: an object hashed by identity, which the collector tracks."""


def _edges() -> int:
    """References the garbage collector follows in a full collection (its cost)."""
    gc.collect()
    return sum(len(gc.get_referents(obj)) for obj in gc.get_objects())


def test_postings_cost_the_garbage_collector_nothing_per_row() -> None:
    """A thousand live queries reading a hundred rows each are a hundred thousand postings: held in objects the
    collector scans, each full collection would follow every one of them (tens of milliseconds, every process)."""
    queries, rows = 50, 200
    keys = [_Key() for _ in range(queries)]
    readsets = [ReadSet({"msg": [TableRead("msg", (Pred("channel_id", EQ, 1),), frozenset(range(rows)))]})]
    index: ReadSetIndex[_Key] = ReadSetIndex()
    before = _edges()
    for key in keys:
        index.put(key, readsets[0])
    added = _edges() - before
    assert added < queries * 40  # a few per query, none per row (before: about 3 per row)
    assert index.affected([TableWrite("msg", None, None, frozenset({7}))]) != []  # and they still match
