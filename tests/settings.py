"""Test settings: the demo project, on SQLite (a file, so threads share it) or on DATABASE_URL."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from demo_project.settings import *  # noqa: F403
from demo_project.settings import database_from_url

_sqlite = Path(tempfile.gettempdir()) / f"reactive-tests-{os.getpid()}.sqlite3"
DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"), _sqlite)}
DATABASES["default"]["TEST"] = (
    {"NAME": str(_sqlite.with_suffix(".test.sqlite3"))}
    if not os.environ.get("DATABASE_URL")
    else {"NAME": f"reactive_test_{os.getpid()}"}
)
DATABASES["default"].pop("CONN_MAX_AGE", None)

# A live server started by tests/live.py runs against the test database of the pytest run that
# started it: that database already exists (created, migrated and flushed by pytest-django), so
# the child uses its name as the normal NAME and never creates or flushes a database itself.
if os.environ.get("REACTIVE_LIVE_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["REACTIVE_LIVE_DB_NAME"]

DEMO_PAYMENT_DELAY = 0.05
REACTIVE = {"POLL_INTERVAL": 0.5}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
