"""The fast paths added for performance (docs/performance.md) give exactly what the general code gives."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reactive import readsets, values
from reactive.readsets import EQ, GT, IN, ISNULL, LTE, Pred

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.binary(max_size=3)
)
keys = st.one_of(st.sampled_from(["_id", "body", "$bad", "a b", "é", ""]), st.text(max_size=4), st.integers(0, 3))
json_like = st.recursive(
    scalars | st.datetimes().map(lambda d: d.replace(tzinfo=datetime.UTC)),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.frozensets(st.integers(), max_size=3)
        | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=20,
)


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # the same error, or none, on both paths
        return (type(exc).__name__, str(exc))


@given(json_like)
def test_to_json_value_fast_path_matches_the_general_rules(value: Any) -> None:
    assert _outcome(values.to_json_value, value, "result") == _outcome(values._to_json_value, value, "result")


@given(json_like)
def test_encode_fast_path_matches_the_general_rules(value: Any) -> None:
    try:
        plain = values._to_json_value(value, "result")
    except values.EncodingError:
        return
    assert _outcome(values.encode, plain) == _outcome(values._encode, plain)


preds = st.builds(
    Pred,
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from([EQ, IN, GT, LTE, ISNULL]),
    st.one_of(st.none(), st.integers(0, 3), st.booleans()),
).map(lambda p: Pred(p.column, p.op, frozenset({p.value}) if p.op == IN else p.value))


def _full(first: tuple[Pred, ...], second: tuple[Pred, ...]) -> bool:
    by_column: dict[str, list[Pred]] = {}
    for pred in (*first, *second):
        by_column.setdefault(pred.column, []).append(pred)
    return all(readsets._column_satisfiable(p) for p in by_column.values())


@given(st.tuples(*[preds] * 2) | st.lists(preds, max_size=4).map(tuple), st.lists(preds, max_size=5).map(tuple))
def test_satisfiable_fast_path_matches_the_full_test(first: tuple[Pred, ...], second: tuple[Pred, ...]) -> None:
    assert readsets.satisfiable(first, second) == _full(first, second)


@pytest.mark.parametrize("key", ["$id", "x" * 2000, "tab\t"])
def test_invalid_keys_are_never_cached(key: str) -> None:
    for _ in range(2):
        with pytest.raises(values.EncodingError):
            values.to_json_value({"ok": [{key: 1}]})
