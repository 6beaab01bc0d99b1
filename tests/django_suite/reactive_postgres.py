"""Settings for Django's test suite with reactive installed, on PostgreSQL (copied next to Django's test_sqlite.py).

``DJANGO_SUITE_PG_HOST`` / ``_PORT`` / ``_USER`` select the server (127.0.0.1:5432, postgres, trust auth by default).
"""

import os

from test_sqlite import *  # noqa: F403

_server = {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": os.environ.get("DJANGO_SUITE_PG_HOST", "127.0.0.1"),
    "PORT": os.environ.get("DJANGO_SUITE_PG_PORT", "5432"),
    "USER": os.environ.get("DJANGO_SUITE_PG_USER", "postgres"),
}
DATABASES = {
    "default": {**_server, "NAME": "reactive_django_suite"},
    "other": {**_server, "NAME": "reactive_django_suite_other"},
}
REACTIVE = {"MAX_ROWS_READ": 10**9}
