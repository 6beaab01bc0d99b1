"""Tasks: ``tasks:list``, ``tasks:create``, ``tasks:toggle``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from reactive import MutationCtx, QueryCtx, ReactiveError, mutation, query, v

from ..models import Task


def task_json(task: Task) -> dict[str, Any]:
    return {
        "_id": task.pk,
        "text": task.text,
        "done": task.done,
        "ownerId": task.owner_id,
        "createdAt": task.created_at,
    }


@query(args={"userId": v.optional(v.id(get_user_model()))})
def list_(ctx: QueryCtx, userId: int | None = None) -> list[dict[str, Any]]:
    """All tasks, or one user's, oldest first."""
    tasks = Task.objects.order_by("created_at", "id")
    if userId is not None:
        tasks = tasks.filter(owner_id=userId)
    return [task_json(t) for t in tasks]


@mutation(args={"text": v.string(min_length=1, max_length=500)})
def create(ctx: MutationCtx, text: str) -> int:
    owner_id = ctx.user.pk if ctx.user.is_authenticated else None
    return Task.objects.create(text=text, owner_id=owner_id).pk


@mutation(args={"taskId": v.id(Task)})
def toggle(ctx: MutationCtx, taskId: int) -> bool:
    """Flip a task's ``done``; returns the new value."""
    task = Task.objects.filter(pk=taskId).first()
    if task is None:
        raise ReactiveError("No such task", data={"code": "not_found", "taskId": taskId})
    task.done = not task.done
    task.save(update_fields=["done"])
    return task.done
