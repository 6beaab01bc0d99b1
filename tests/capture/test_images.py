"""Row images hold what the database stores (hypothesis, real round trips); SQL splits as a database splits it."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactive.capture.images import UNKNOWN, stored_value
from reactive.capture.sqltext import is_write_sql, statements
from tests.recall.models import Author, Post

pytestmark = pytest.mark.django_db

_dates = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2999, 12, 31))
# What code may assign to a column: the right type, or something Django converts (strings, floats, datetimes).
_assigned = {
    "rank": st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(-999, 999).map(str), st.floats(-999, 999)),
    "score": st.one_of(
        st.decimals(min_value=-999999, max_value=999999, places=3, allow_nan=False),
        st.floats(-9999, 9999).map(lambda f: round(f, 3)),
        st.decimals(min_value=-9999, max_value=9999, places=2, allow_nan=False).map(str),
        st.integers(-9999, 9999),
    ),
    "day": st.one_of(_dates, _dates.map(lambda d: d.isoformat())),
    "title": st.one_of(st.text(max_size=20).filter(lambda t: "\x00" not in t), st.integers()),
}
_models = {"rank": Post, "score": Author, "day": Post, "title": Post}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_image_value_is_the_value_the_column_stores(data: st.DataObject) -> None:
    """For a value assigned in code, the image value is UNKNOWN or equals the value read back from the database."""
    column = data.draw(st.sampled_from(sorted(_assigned)))
    value: Any = data.draw(_assigned[column])
    model = _models[column]
    field = model._meta.get_field(column)
    author = Author.objects.create(name=f"a{Author.objects.count()}")
    row = Author(pk=author.pk, name=author.name) if model is Author else Post(author=author, title="t")
    setattr(row, column, value)
    try:
        with transaction.atomic():
            row.save()
    except Exception:  # a value the database refuses: never stored, nothing to compare
        return
    stored = getattr(model.objects.get(pk=row.pk), column)
    imaged = stored_value(field, value)
    assert imaged is UNKNOWN or imaged == stored_value(field, stored), (value, imaged, stored)
    if isinstance(imaged, decimal.Decimal):
        assert imaged.is_finite()


_plain = st.sampled_from(["SELECT 1", "UPDATE t SET a = 1", "DELETE FROM t", "SELECT 'a;b'", 'SELECT "x;y"'])
_noise = st.sampled_from(["", " ", "\n", "-- c;d\n", "/* ; */ "])


@given(parts=st.lists(st.tuples(_noise, _plain), min_size=1, max_size=5))
def test_statements_split_at_semicolons_outside_quotes_and_comments(parts: list[tuple[str, str]]) -> None:
    sql = ";".join(noise + statement for noise, statement in parts)
    assert [s.strip() for s in statements(sql)] == [(noise + statement).strip() for noise, statement in parts]
    assert is_write_sql(sql) == any(statement.split()[0] in ("UPDATE", "DELETE") for _noise, statement in parts)
