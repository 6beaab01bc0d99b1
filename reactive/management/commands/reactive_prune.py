"""``manage.py reactive_prune``: delete outbox rows and mutation records past their retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from reactive.commitlog.commits import prune
from reactive.conf import reactive_settings


class Command(BaseCommand):
    help = (
        "Delete outbox rows older than REACTIVE['OUTBOX_RETENTION'] seconds and mutation records older "
        "than REACTIVE['MUTATION_RETENTION'] seconds. Server processes also do this every PRUNE_INTERVAL."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        outbox, mutations = prune()
        self.stdout.write(
            f"pruned {outbox} outbox rows (older than {reactive_settings.OUTBOX_RETENTION:g}s) and "
            f"{mutations} mutation records (older than {reactive_settings.MUTATION_RETENTION:g}s)"
        )
