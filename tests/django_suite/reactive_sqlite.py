"""Settings for Django's test suite with reactive installed, on SQLite (copied next to Django's test_sqlite.py)."""

from test_sqlite import *  # noqa: F403

# Django's tests may read more rows than a live query is allowed to (the tracked pass reads every SELECT).
REACTIVE = {"MAX_ROWS_READ": 10**9}
