"""System checks (``manage.py check``) for reactive's configuration."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.db import connections

from .conf import DEFAULTS, SETTINGS, reactive_settings


@register(deploy=True)
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A deployment concern (``check --deploy``): one process needs no channel layer, several do."""
    layers = getattr(settings, "CHANNEL_LAYERS", {}) or {}
    if "default" in layers:
        return []
    return [
        Warning(
            "No CHANNEL_LAYERS['default']: commits reach other processes only through the outbox poll.",
            hint="Use channels_redis.core.RedisChannelLayer when running more than one process.",
            id="reactive.W002",
        )
    ]


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    user = getattr(settings, "REACTIVE", {}) or {}
    if not isinstance(user, dict):
        return [Error("settings.REACTIVE must be a dict.", id="reactive.E001")]
    for key in sorted(set(user) - set(DEFAULTS)):
        problems.append(
            Error(
                f"Unknown REACTIVE setting {key!r}.", hint=f"Known: {', '.join(sorted(DEFAULTS))}", id="reactive.E002"
            )
        )
    if problems:
        return problems
    mistyped = {
        name for name, setting in SETTINGS.items() if not setting.constraint.accepts(getattr(reactive_settings, name))
    }
    for name in sorted(mistyped):
        constraint = SETTINGS[name].constraint
        problems.append(Error(f"REACTIVE[{name!r}] must be {constraint.description}.", id=constraint.check_id))
    # The checks below read only values of the right type.
    if "DATABASE" not in mistyped:
        problems.extend(_check_database())
    if (
        not {"IDLE_TIMEOUT", "PING_INTERVAL"} & mistyped
        and reactive_settings.IDLE_TIMEOUT <= reactive_settings.PING_INTERVAL
    ):
        problems.append(
            Error(
                "REACTIVE['IDLE_TIMEOUT'] must be longer than REACTIVE['PING_INTERVAL'].",
                hint="A healthy client answers a ping sent after PING_INTERVAL; give it time to (e.g. 4x).",
                id="reactive.E007",
            )
        )
    if "ALLOWED_ORIGINS" not in mistyped:
        problems.extend(_check_origins())
    return problems


def _check_database() -> list[Any]:
    alias = reactive_settings.DATABASE
    if alias not in settings.DATABASES:
        return [Error(f"REACTIVE['DATABASE'] is {alias!r}, which is not in DATABASES.", id="reactive.E003")]
    if connections[alias].vendor not in ("postgresql", "sqlite"):
        return [
            Warning(
                f"Database {alias!r} uses {connections[alias].vendor}; reactive is tested on PostgreSQL and SQLite.",
                id="reactive.W001",
            )
        ]
    return []


def _check_origins() -> list[Any]:
    """``ALLOWED_ORIGINS`` entries are full origins (as in ``CSRF_TRUSTED_ORIGINS``), or ``"*"``."""
    problems: list[Any] = []
    for entry in reactive_settings.ALLOWED_ORIGINS:
        if entry == "*":
            continue
        try:
            parts = urlsplit(entry)
        except ValueError:
            parts = None
        if parts is None or not parts.scheme or not parts.netloc or parts.path or parts.query or parts.fragment:
            problems.append(
                Error(
                    f"REACTIVE['ALLOWED_ORIGINS'] entry {entry!r} is not an origin.",
                    hint="Write scheme, host and port if not the default: 'https://app.example.com', "
                    "'http://localhost:5173', 'https://*.example.com', or '*'.",
                    id="reactive.E006",
                )
            )
    return problems
