"""App configuration: install the ORM hooks and discover function modules at start-up."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate, pre_migrate
from django.utils.module_loading import module_has_submodule


class ReactiveConfig(AppConfig):
    name = "reactive"
    verbose_name = "Reactive queries"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers system checks
        from .capture import patches
        from .sync import transport

        patches.install()
        transport.install()
        pre_migrate.connect(_migration_started, dispatch_uid="reactive.pre_migrate")
        post_migrate.connect(_migration_finished, dispatch_uid="reactive.post_migrate")
        autodiscover()


def _migration_started(**kwargs: Any) -> None:
    from .capture.writes import set_migrating

    set_migrating(True)


def _migration_finished(**kwargs: Any) -> None:
    from .capture.writes import set_migrating

    set_migrating(False)


def autodiscover() -> None:
    """Import every installed app's function modules (and, for packages, their submodules)."""
    from .conf import reactive_settings

    for config in apps.get_app_configs():
        for module_name in reactive_settings.FUNCTION_MODULES:
            if not module_has_submodule(config.module, module_name):
                continue
            module = importlib.import_module(f"{config.name}.{module_name}")
            if hasattr(module, "__path__"):
                for info in pkgutil.iter_modules(module.__path__):
                    importlib.import_module(f"{module.__name__}.{info.name}")
            break
