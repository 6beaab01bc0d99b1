"""Settings of the benchmark's server processes: the demo project, tuned like a production deployment.

Environment (set by :mod:`bench.servers`):

- ``BENCH_DATABASE_URL``: ``sqlite:////abs/path.sqlite3`` or ``postgres://user@host:port/name``;
- ``BENCH_REDIS_URL``: a Redis URL for the channel layer (unset: the in-memory layer);
- ``BENCH_REACTIVE``: JSON merged into ``REACTIVE`` (e.g. ``{"TABLE_LEVEL_INVALIDATION": true}``);
- ``BENCH_CHANNEL_PREFIX``: a channel-layer prefix of its own, so concurrent test runs on the same Redis
  never reach the bench's servers.
"""

from __future__ import annotations

import json
import os
from typing import Any

from demo_project.settings import *  # noqa: F403
from demo_project.settings import database_from_url

DEBUG = False  # DEBUG keeps every SQL statement in memory: never benchmark with it
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

DATABASES = {"default": database_from_url(os.environ.get("BENCH_DATABASE_URL"), BASE_DIR / "bench.sqlite3")}  # noqa: F405

_redis = os.environ.get("BENCH_REDIS_URL")
if _redis:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [_redis], "prefix": os.environ.get("BENCH_CHANNEL_PREFIX", "reactive-bench")},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}

# METRICS_TOKEN: the harness reads /api/reactive/metrics with it (bench/servers.py). The load generator's thousands
# of anonymous clients all come from 127.0.0.1: no limit per address (the hostile runs put back the default).
REACTIVE: dict[str, Any] = {
    "BUS_GROUP": os.environ.get("BENCH_CHANNEL_PREFIX", "reactive-bench") + ".commits",
    "METRICS_TOKEN": "bench-metrics",
    "MAX_CONNECTIONS_PER_ADDRESS": 1_000_000,
}
REACTIVE.update(json.loads(os.environ.get("BENCH_REACTIVE", "{}")))

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"reactive": {"handlers": ["console"], "level": "WARNING"}},
}

# Persistent database connections, as in production (SQLite's default of 0 would reconnect on every batch).
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("BENCH_CONN_MAX_AGE", "60"))
