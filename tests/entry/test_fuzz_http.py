"""Hypothesis posts random and malformed bodies to the HTTP API: 200, 400 or 560, never a server error."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..sync.test_fuzz import deep, json_scalars, json_values, udf_paths

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINTS = ["/api/query", "/api/mutation", "/api/action", "/api/function"]

call_bodies = st.fixed_dictionaries(
    {},
    optional={
        "path": udf_paths | json_scalars,
        "args": st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=3), max_size=2) | json_values,
        "format": st.sampled_from(["convex_encoded_json", "json", "xml"]) | json_scalars,
        "componentPath": st.none() | st.text(max_size=4),
    },
)
bodies = st.one_of(
    call_bodies.map(json.dumps),
    json_values.map(json.dumps),
    deep,
    deep.map(lambda nesting: '{"path":"testing:echo","args":[{"value":%s}]}' % nesting),
    st.text(max_size=40),
    st.sampled_from(
        [
            '{"path":"testing:echo","args":[{"value":"\\ud800"}]}',
            '{"path":"testing:echo","args":{"value":1e999}}',
            '{"path":"channels:create","args":[{"name":"\\u0000"}]}',
            '{"path":"testing:echo","args":[{"value":' + "9" * 5000 + "}]}",
            "",
        ]
    ),
)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
def test_random_bodies_get_200_400_or_560(endpoint: str, body: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="django.request")
    caplog.clear()
    response = Client().post(endpoint, body, content_type="application/json")  # raises if the view does
    assert response.status_code in (200, 400, 560), response.content[:200]
    if response.status_code == 400:
        assert response["Content-Type"].startswith("text/plain") and response.content
    else:
        reply: dict[str, Any] = response.json()
        assert reply["status"] == ("success" if response.status_code == 200 else "error")
    assert [r.getMessage() for r in caplog.records] == []  # django.request logs every 5xx
