"""The matching rule between read-sets and write-sets (pure functions)."""

from __future__ import annotations

from reactive.readsets import (
    EQ,
    GT,
    IN,
    ISNULL,
    LT,
    Pred,
    ReadSet,
    TableRead,
    TableWrite,
    read_affected,
    readset_affected,
)

CH5 = (Pred("channel_id", EQ, 5),)


def insert(**values: object) -> TableWrite:
    return TableWrite("msg", None, tuple(Pred(k, EQ, v) for k, v in values.items()), frozenset([values["id"]]))


def test_insert_matches_only_reads_whose_predicates_it_satisfies() -> None:
    read = TableRead("msg", CH5, frozenset({1, 2}))
    assert read_affected(read, insert(id=3, channel_id=5))
    assert not read_affected(read, insert(id=3, channel_id=6))


def test_update_with_unknown_old_row_matches_by_returned_pk() -> None:
    moved = TableWrite("msg", (Pred("id", EQ, 2),), (Pred("id", EQ, 2), Pred("channel_id", EQ, 6)), frozenset([2]))
    assert read_affected(TableRead("msg", CH5, frozenset({1, 2})), moved)  # it left channel 5
    assert not read_affected(TableRead("msg", CH5, frozenset({1})), moved)  # not in the result, not entering
    assert read_affected(TableRead("msg", CH5, None), moved)  # a count: the old row might have counted


def test_ranges_in_and_null() -> None:
    read = TableRead("msg", (Pred("score", GT, 10), Pred("score", LT, 20)))
    assert read_affected(read, TableWrite("msg", None, (Pred("score", EQ, 15),)))
    assert not read_affected(read, TableWrite("msg", None, (Pred("score", EQ, 25),)))
    assert not read_affected(
        TableRead("msg", (Pred("tag", IN, frozenset({"a", "b"})),)), TableWrite("msg", None, (Pred("tag", EQ, "c"),))
    )
    assert not read_affected(
        TableRead("msg", (Pred("deleted_at", ISNULL, True),)),
        TableWrite("msg", None, (Pred("deleted_at", EQ, "2020-01-01"),)),
    )


def test_incomparable_values_are_assumed_to_overlap() -> None:
    read = TableRead("msg", (Pred("created", GT, 5),))
    assert read_affected(read, TableWrite("msg", None, (Pred("created", EQ, "a string"),)))


def test_rows_reached_by_foreign_key_match_only_by_pk() -> None:
    author = TableRead("user", None, frozenset({7}))
    assert not read_affected(author, TableWrite("user", None, (Pred("id", EQ, 8),), frozenset([8])))
    assert read_affected(author, TableWrite("user", (Pred("id", EQ, 7),), (), frozenset([7])))
    assert read_affected(author, TableWrite.whole_table("user"))


def test_whole_table_and_everything() -> None:
    readset = ReadSet()
    readset.add(TableRead("msg", CH5, frozenset()))
    assert readset_affected(readset, [TableWrite.whole_table("msg")])
    assert readset_affected(readset, [TableWrite.whole_table("*")])
    assert not readset_affected(readset, [TableWrite.whole_table("other")])
    assert readset_affected(readset, [insert(id=1, channel_id=6)], table_level=True)
