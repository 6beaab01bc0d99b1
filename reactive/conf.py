"""The ``REACTIVE`` settings dict, read in this one place.

Every setting is declared once, in :data:`SETTINGS`: its default, what its value must be
(checked by ``manage.py check``, see :mod:`reactive.checks`) and a comment; README.md
documents each under a ``### `KEY``` heading (``tests/test_conf.py`` keeps the two in step).
:data:`DEFAULTS` is derived from it. An unknown key is an error, so a typo never silently
falls back to a default. The cached settings are reloaded when Django's ``setting_changed``
signal fires (tests use ``override_settings``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver


@dataclass(frozen=True)
class Constraint:
    """What a setting's value must be, and the system check that reports a value that is not."""

    type_name: str  # as README.md's settings section writes the type
    description: str  # "REACTIVE['KEY'] must be <description>."
    check_id: str
    accepts: Callable[[Any], bool]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_strings(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)


POSITIVE_NUMBER = Constraint("float", "a positive number", "reactive.E004", lambda v: _is_number(v) and v > 0)
POSITIVE_INTEGER = Constraint(
    "int", "a positive integer", "reactive.E005", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0
)
BOOLEAN = Constraint("bool", "True or False", "reactive.E008", lambda v: isinstance(v, bool))
STRING = Constraint("str", "a non-empty string", "reactive.E008", lambda v: isinstance(v, str) and v != "")
STRING_OR_NONE = Constraint(
    "str | None", "a string or None", "reactive.E008", lambda v: v is None or isinstance(v, str)
)
STRINGS = Constraint("list[str]", "a list of strings", "reactive.E008", _is_strings)


@dataclass(frozen=True)
class Setting:
    default: Any
    constraint: Constraint


SETTINGS: dict[str, Setting] = {
    # Database alias whose writes are captured and that holds the commit clock and outbox.
    "DATABASE": Setting("default", STRING),
    # Modules searched for decorated functions in every installed app (first match wins).
    "FUNCTION_MODULES": Setting(["reactive_functions", "functions"], STRINGS),
    # Tables whose writes are never published (Django's own bookkeeping).
    "IGNORED_TABLES": Setting(["django_migrations", "django_session", "django_admin_log"], STRINGS),
    # Seconds between cheap checks of the outbox head, picking up commits whose notification was lost.
    "POLL_INTERVAL": Setting(1.0, POSITIVE_NUMBER),
    # Seconds an outbox row is kept. A process that falls further behind re-runs every query it holds.
    "OUTBOX_RETENTION": Setting(3600.0, POSITIVE_NUMBER),
    # Seconds a mutation's outcome is kept for exactly-once replay after a client reconnects.
    "MUTATION_RETENTION": Setting(86400.0, POSITIVE_NUMBER),
    # Seconds between prunes of the outbox and the mutation records (by each server process).
    "PRUNE_INTERVAL": Setting(60.0, POSITIVE_NUMBER),
    # Seconds of silence on a WebSocket after which the server sends a Ping (and, under Daphne, a WebSocket ping).
    "PING_INTERVAL": Setting(15.0, POSITIVE_NUMBER),
    # Seconds a WebSocket may stay open without sending Connect.
    "CONNECT_TIMEOUT": Setting(30.0, POSITIVE_NUMBER),
    # Under Daphne: seconds a WebSocket may stay silent (no frame, not even a pong to a ping) before it is dropped.
    "IDLE_TIMEOUT": Setting(60.0, POSITIVE_NUMBER),
    # Under Daphne: most bytes waiting unsent in one WebSocket's transport; a client that lets more pile up is cut.
    "MAX_UNSENT_BYTES": Setting(16 * 1024 * 1024, POSITIVE_INTEGER),
    # Largest client message accepted, in bytes: a WebSocket frame or an HTTP request body.
    "MAX_MESSAGE_BYTES": Setting(1_048_576, POSITIVE_INTEGER),
    # Largest arguments of one call or query, in bytes of compact JSON.
    "MAX_ARGS_BYTES": Setting(262_144, POSITIVE_INTEGER),
    # Deepest nesting of arrays and objects in the arguments of one call or query.
    "MAX_ARGS_DEPTH": Setting(64, POSITIVE_INTEGER),
    # Largest result of one query, mutation or action, in bytes of JSON; a larger one fails that call.
    "MAX_RESULT_BYTES": Setting(8_388_608, POSITIVE_INTEGER),
    # Most rows one query run may read through the ORM before it is stopped with an error.
    "MAX_ROWS_READ": Setting(100_000, POSITIVE_INTEGER),
    # Largest page reactive.paginate() returns when asked (paginationOpts.numItems); a larger one fails the query.
    "MAX_PAGE_SIZE": Setting(1000, POSITIVE_INTEGER),
    # Most live queries one connection may hold.
    "MAX_QUERIES_PER_CONNECTION": Setting(1000, POSITIVE_INTEGER),
    # Most query runs one batch makes for one connection's queries (a query shared with a connection within its
    # budget always runs). The rest wait for the next batch, which starts at once: a connection holding many
    # queries that every write affects delays the others by at most one batch.
    "MAX_BATCH_RUNS_PER_CONNECTION": Setting(100, POSITIVE_INTEGER),
    # ... and the most seconds of running them (at least one run per connection and batch).
    "MAX_BATCH_SECONDS_PER_CONNECTION": Setting(0.02, POSITIVE_NUMBER),
    # Over time: seconds of running one connection's queries per second on average, and at most at once. Past it,
    # that connection's queries wait (and its Transitions with them) until its share refills.
    "MAX_RUN_SECONDS_PER_SECOND": Setting(0.5, POSITIVE_NUMBER),
    "MAX_RUN_SECONDS_BURST": Setting(2.0, POSITIVE_NUMBER),
    # Most mutations and actions one connection may have waiting or running.
    "MAX_PENDING_MUTATIONS": Setting(100, POSITIVE_INTEGER),
    # Mutations and actions one connection may start per second on average (a token bucket) ...
    "MUTATION_RATE": Setting(50.0, POSITIVE_NUMBER),
    # ... and at once: the size of that bucket.
    "MUTATION_BURST": Setting(100, POSITIVE_INTEGER),
    # Most WebSocket connections one authenticated user may hold in one server process ...
    "MAX_CONNECTIONS_PER_USER": Setting(100, POSITIVE_INTEGER),
    # ... and connections without a signed-in user from one client address (scope["client"]: behind a reverse
    # proxy, run Daphne with --proxy-headers, or every client has the proxy's address).
    "MAX_CONNECTIONS_PER_ADDRESS": Setting(200, POSITIVE_INTEGER),
    # Messages one connection may send per second on average, of every type, and at once; past them the server
    # waits before it handles the next one (and reads nothing more from that connection meanwhile).
    "MESSAGE_RATE": Setting(200.0, POSITIVE_NUMBER),
    "MESSAGE_BURST": Setting(400, POSITIVE_INTEGER),
    # Received and not yet handled, per connection: bytes and messages. Past either, Daphne stops reading that
    # socket until the server has caught up with it (TCP then slows the client down).
    "MAX_INBOUND_BYTES": Setting(4 * 1_048_576, POSITIVE_INTEGER),
    "MAX_INBOUND_MESSAGES": Setting(100, POSITIVE_INTEGER),
    # Most messages besides Transitions waiting unsent on one socket; beyond it the client is not reading.
    "MAX_UNSENT_MESSAGES": Setting(500, POSITIVE_INTEGER),
    # Origins besides the server's own allowed to open a WebSocket or call the HTTP API cross-origin, written as
    # in CSRF_TRUSTED_ORIGINS ("https://app.example.com", "https://*.example.com"); "*" allows any.
    "ALLOWED_ORIGINS": Setting([], STRINGS),
    # Lifetime of tokens from reactive.security.tokens.issue(), in seconds.
    "TOKEN_MAX_AGE": Setting(24 * 3600, POSITIVE_INTEGER),
    # The HS256 key of reactive's tokens; None: SECRET_KEY (and SECRET_KEY_FALLBACKS while keys rotate).
    "TOKEN_SIGNING_KEY": Setting(None, STRING_OR_NONE),
    # A secret that lets a scraper read /api/reactive/metrics (Authorization: Bearer <it>); None: staff users only.
    "METRICS_TOKEN": Setting(None, STRING_OR_NONE),
    # Channel-layer group every server process joins to hear about commits.
    "BUS_GROUP": Setting("reactive.commits", STRING),
    # Invalidate whole tables instead of matching predicates (for benchmarks and debugging).
    "TABLE_LEVEL_INVALIDATION": Setting(False, BOOLEAN),
    # Offer permessage-deflate on WebSockets served by Daphne (runserver and the daphne command).
    "WEBSOCKET_COMPRESSION": Setting(True, BOOLEAN),
    # Worker threads for mutations, actions and one-shot queries.
    "WORKER_THREADS": Setting(8, POSITIVE_INTEGER),
    # Move the objects of start-up out of the garbage collector's full collections (gc.freeze()) when a process
    # starts serving live queries: full collections then take a few milliseconds instead of tens (reactive.live.heap).
    "GC_FREEZE": Setting(True, BOOLEAN),
}

DEFAULTS: dict[str, Any] = {name: setting.default for name, setting in SETTINGS.items()}


class ReactiveSettings:
    """Attribute access to the merged ``REACTIVE`` settings."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        user = getattr(django_settings, "REACTIVE", {}) or {}
        if not isinstance(user, dict):
            raise ImproperlyConfigured("settings.REACTIVE must be a dict.")
        unknown = sorted(set(user) - set(DEFAULTS))
        if unknown:
            raise ImproperlyConfigured(
                f"Unknown key(s) in settings.REACTIVE: {', '.join(unknown)}. Known keys: {', '.join(sorted(DEFAULTS))}."
            )
        return {**DEFAULTS, **user}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._cache is None:
            self._cache = self._load()
        try:
            return self._cache[name]
        except KeyError:
            raise AttributeError(f"No REACTIVE setting named {name!r}.") from None

    def reload(self) -> None:
        self._cache = None


reactive_settings = ReactiveSettings()


@receiver(setting_changed)
def _reload_on_change(setting: str, **kwargs: Any) -> None:
    if setting == "REACTIVE":
        reactive_settings.reload()
