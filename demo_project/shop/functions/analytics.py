"""Dashboard numbers: ``analytics:stats``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Sum

from demo_project.chat.models import Channel, Message
from demo_project.tasks.models import Task
from reactive import QueryCtx, query

from ..models import Payment


@query(args={})
def stats(ctx: QueryCtx) -> dict[str, int]:
    return {
        "users": get_user_model().objects.count(),
        "channels": Channel.objects.count(),
        "messages": Message.objects.count(),
        "tasks": Task.objects.count(),
        "tasksDone": Task.objects.filter(done=True).count(),
        "payments": Payment.objects.count(),
        "revenueCents": Payment.objects.aggregate(total=Sum("amount_cents"))["total"] or 0,
    }
