"""Test settings: the demo project, on SQLite (a file, so threads share it) or on DATABASE_URL."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from demo_project.settings import *  # noqa: F403
from demo_project.settings import CHANNEL_LAYERS, database_from_url

_sqlite = Path(tempfile.gettempdir()) / f"reactive-tests-{os.getpid()}.sqlite3"
DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"), _sqlite)}
DATABASES["default"]["TEST"] = (
    {"NAME": str(_sqlite.with_suffix(".test.sqlite3"))}
    if not os.environ.get("DATABASE_URL")
    else {"NAME": f"reactive_test_{os.getpid()}"}
)
DATABASES["default"].pop("CONN_MAX_AGE", None)

# A live server started by tests/live_servers.py runs against the test database of the pytest run that
# started it: that database already exists (created, migrated and flushed by pytest-django), so
# the child uses its name as the normal NAME and never creates or flushes a database itself.
if os.environ.get("REACTIVE_LIVE_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["REACTIVE_LIVE_DB_NAME"]

DEMO_PAYMENT_DELAY = 0.05
# METRICS_TOKEN: the tests read the metrics of live servers with it (tests/live_servers.py: METRICS_TOKEN).
REACTIVE: dict[str, Any] = {"POLL_INTERVAL": 0.5, "METRICS_TOKEN": "metrics-token-of-the-tests"}

# Each pytest run has its own commit group on the shared Redis (its live servers inherit it), so runs
# never notify each other and stale members of an old run cost nothing.
os.environ.setdefault("REACTIVE_BUS_GROUP", f"reactive.test-{os.getpid()}")

# Live servers of the scale-out tests take overrides from their environment: REACTIVE_<KEY>=<JSON value>
# for these REACTIVE keys, and REACTIVE_LIVE_CONN_MAX_AGE for persistent connections (as in production).
_LIVE_KEYS = ("POLL_INTERVAL", "OUTBOX_RETENTION", "MUTATION_RETENTION", "PRUNE_INTERVAL", "BUS_GROUP")
_LIVE_KEYS += ("PING_INTERVAL", "CONNECT_TIMEOUT", "IDLE_TIMEOUT", "MAX_UNSENT_BYTES")
for _key in _LIVE_KEYS:
    if f"REACTIVE_{_key}" in os.environ:
        _raw = os.environ[f"REACTIVE_{_key}"]
        REACTIVE[_key] = _raw if _key == "BUS_GROUP" else json.loads(_raw)
if os.environ.get("REACTIVE_LIVE_CONN_MAX_AGE"):
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ["REACTIVE_LIVE_CONN_MAX_AGE"])
# Redis reads that may block longer than redis-py's default socket_timeout (5 s, the same as channels_redis's
# BZPOPMIN timeout, so idle reads time out). A server with this setting and no poll learns of commits only
# from notifications.
if os.environ.get("REACTIVE_LIVE_REDIS_SOCKET_TIMEOUT") and os.environ.get("REDIS_URL"):
    _timeout = float(os.environ["REACTIVE_LIVE_REDIS_SOCKET_TIMEOUT"])
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [{"address": os.environ["REDIS_URL"], "socket_timeout": _timeout}]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}

# DRF's token keys authenticate through the project's TokenAuthentication (tests/security/test_auth.py).
INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework.authtoken", "tests.recall"]  # noqa: F405
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
}
