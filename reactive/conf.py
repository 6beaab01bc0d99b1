"""The ``REACTIVE`` settings dict, read in this one place.

Every setting has a documented default in :data:`DEFAULTS`; an unknown key is an
error, so a typo never silently falls back to a default. The cached settings are
reloaded when Django's ``setting_changed`` signal fires (tests use
``override_settings``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # Database alias whose writes are captured and that holds the commit clock and outbox.
    "DATABASE": "default",
    # Modules searched for decorated functions in every installed app (first match wins).
    "FUNCTION_MODULES": ["reactive_functions", "functions"],
    # Tables whose writes are never published (Django's own bookkeeping).
    "IGNORED_TABLES": ["django_migrations", "django_session", "django_admin_log"],
    # Seconds between cheap checks of the outbox head, picking up commits whose notification was lost.
    "POLL_INTERVAL": 1.0,
    # Seconds an outbox row is kept. A process that falls further behind re-runs every query it holds.
    "OUTBOX_RETENTION": 3600.0,
    # Seconds a mutation's outcome is kept for exactly-once replay after a client reconnects.
    "MUTATION_RETENTION": 86400.0,
    # Seconds between prunes of the outbox and the mutation records (by each server process).
    "PRUNE_INTERVAL": 60.0,
    # Seconds of silence on a WebSocket after which the server sends a Ping (and, under Daphne, a WebSocket ping).
    "PING_INTERVAL": 15.0,
    # Seconds a WebSocket may stay open without sending Connect.
    "CONNECT_TIMEOUT": 30.0,
    # Under Daphne: seconds a WebSocket may stay silent (no frame, not even a pong to a ping) before it is dropped.
    "IDLE_TIMEOUT": 60.0,
    # Under Daphne: most bytes waiting unsent in one WebSocket's transport; a client that lets more pile up is cut.
    "MAX_UNSENT_BYTES": 16 * 1024 * 1024,
    # Largest client message accepted, in bytes: a WebSocket frame or an HTTP request body.
    "MAX_MESSAGE_BYTES": 1_048_576,
    # Largest arguments of one call or query, in bytes of compact JSON.
    "MAX_ARGS_BYTES": 262_144,
    # Deepest nesting of arrays and objects in the arguments of one call or query.
    "MAX_ARGS_DEPTH": 64,
    # Largest result of one query, mutation or action, in bytes of JSON; a larger one fails that call.
    "MAX_RESULT_BYTES": 8_388_608,
    # Most rows one query run may read through the ORM before it is stopped with an error.
    "MAX_ROWS_READ": 100_000,
    # Largest page reactive.paginate() returns when asked (paginationOpts.numItems); a larger one fails the query.
    "MAX_PAGE_SIZE": 1000,
    # Most live queries one connection may hold.
    "MAX_QUERIES_PER_CONNECTION": 1000,
    # Most query runs one batch makes for one connection's queries (a query shared with a connection within its
    # budget always runs). The rest wait for the next batch, which starts at once: a connection holding many
    # queries that every write affects delays the others by at most one batch.
    "MAX_BATCH_RUNS_PER_CONNECTION": 100,
    # ... and the most seconds of running them (at least one run per connection and batch).
    "MAX_BATCH_SECONDS_PER_CONNECTION": 0.02,
    # Over time: seconds of running one connection's queries per second on average, and at most at once. Past it,
    # that connection's queries wait (and its Transitions with them) until its share refills.
    "MAX_RUN_SECONDS_PER_SECOND": 0.5,
    "MAX_RUN_SECONDS_BURST": 2.0,
    # Most mutations and actions one connection may have waiting or running.
    "MAX_PENDING_MUTATIONS": 100,
    # Mutations and actions one connection may start per second on average (a token bucket) ...
    "MUTATION_RATE": 50.0,
    # ... and at once: the size of that bucket.
    "MUTATION_BURST": 100,
    # Most WebSocket connections one authenticated user may hold in one server process ...
    "MAX_CONNECTIONS_PER_USER": 100,
    # ... and connections without a signed-in user from one client address (scope["client"]: behind a reverse
    # proxy, run Daphne with --proxy-headers, or every client has the proxy's address).
    "MAX_CONNECTIONS_PER_ADDRESS": 200,
    # Messages one connection may send per second on average, of every type, and at once; past them the server
    # waits before it handles the next one (and reads nothing more from that connection meanwhile).
    "MESSAGE_RATE": 200.0,
    "MESSAGE_BURST": 400,
    # Received and not yet handled, per connection: bytes and messages. Past either, Daphne stops reading that
    # socket until the server has caught up with it (TCP then slows the client down).
    "MAX_INBOUND_BYTES": 4 * 1_048_576,
    "MAX_INBOUND_MESSAGES": 100,
    # Most messages besides Transitions waiting unsent on one socket; beyond it the client is not reading.
    "MAX_UNSENT_MESSAGES": 500,
    # Origins besides the server's own allowed to open a WebSocket or call the HTTP API cross-origin, written as
    # in CSRF_TRUSTED_ORIGINS ("https://app.example.com", "https://*.example.com"); "*" allows any.
    "ALLOWED_ORIGINS": [],
    # Lifetime of tokens from reactive.security.tokens.issue(), in seconds.
    "TOKEN_MAX_AGE": 24 * 3600,
    # The HS256 key of reactive's tokens; None: SECRET_KEY (and SECRET_KEY_FALLBACKS while keys rotate).
    "TOKEN_SIGNING_KEY": None,
    # A secret that lets a scraper read /api/reactive/metrics (Authorization: Bearer <it>); None: staff users only.
    "METRICS_TOKEN": None,
    # Channel-layer group every server process joins to hear about commits.
    "BUS_GROUP": "reactive.commits",
    # Invalidate whole tables instead of matching predicates (for benchmarks and debugging).
    "TABLE_LEVEL_INVALIDATION": False,
    # Offer permessage-deflate on WebSockets served by Daphne (runserver and the daphne command).
    "WEBSOCKET_COMPRESSION": True,
    # Worker threads for mutations, actions and one-shot queries.
    "WORKER_THREADS": 8,
    # Move the objects of start-up out of the garbage collector's full collections (gc.freeze()) when a process
    # starts serving live queries: full collections then take a few milliseconds instead of tens (reactive.live.heap).
    "GC_FREEZE": True,
}


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
