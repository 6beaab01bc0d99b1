"""Seed the demo with a few channels, users, messages, tasks and orders (idempotent)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from demo_project.chat.models import Channel, Message
from demo_project.shop.models import Order
from demo_project.tasks.models import Task


class Command(BaseCommand):
    help = "Create demo data unless it is already there."

    def handle(self, *args: Any, **options: Any) -> None:
        if Channel.objects.exists():
            self.stdout.write("demo data already present")
            return
        with transaction.atomic():
            User = get_user_model()
            ada, _ = User.objects.get_or_create(username="ada")
            linus, _ = User.objects.get_or_create(username="linus")
            general = Channel.objects.create(name="general")
            Channel.objects.create(name="random")
            for index in range(1, 121):
                author = ada if index % 2 else linus
                Message.objects.create(channel=general, author=author, body=f"Message number {index}")
            Task.objects.create(text="Try the live chat in two windows", owner=ada)
            Task.objects.create(text="Toggle a task", owner=linus)
            Order.objects.create(description="Demo T-shirt", amount_cents=2500)
        self.stdout.write(self.style.SUCCESS("demo data created: 2 channels, 2 users, 120 messages"))
