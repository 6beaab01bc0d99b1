"""Settings for Django's test suite with reactive installed, on PostgreSQL (copied next to Django's test_sqlite.py).

``DJANGO_SUITE_PG_HOST`` / ``_PORT`` / ``_USER`` select the server (127.0.0.1:5432, postgres, trust auth by default).
Django's runner creates (and drops) the test databases ``test_<NAME>``.
"""

import os

from test_sqlite import *  # noqa: F403

_server = {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": os.environ.get("DJANGO_SUITE_PG_HOST", "127.0.0.1"),
    "PORT": os.environ.get("DJANGO_SUITE_PG_PORT", "5432"),
    "USER": os.environ.get("DJANGO_SUITE_PG_USER", "postgres"),
}
# One name per run (the parallel workers are forked from this process): runs at the same time never share a database.
_name = f"reactive_django_suite_{os.getpid()}"
DATABASES = {
    "default": {**_server, "NAME": _name},
    "other": {**_server, "NAME": f"{_name}_other"},
}
REACTIVE = {"MAX_ROWS_READ": 10**9}
