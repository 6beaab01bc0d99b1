"""Baseline (b): djangochannelsrestframework's model observer pushing ``Message`` events.

A client sends ``{"action": "subscribe_channel", "request_id": 1, "channel_id": 5}`` and gets the
channel's newest 50 messages and the users list once (the same data ``messages:list`` and
``users:list`` give), then one ``{"action": "create", "message": {...}}`` event per message created
in that channel: the client keeps its list up to date itself. Events are serialized once per
write (the observer's ``serializer`` hook) and fanned out through the channel layer's groups.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from djangochannelsrestframework.consumers import AsyncAPIConsumer
from djangochannelsrestframework.decorators import action
from djangochannelsrestframework.observer import model_observer

from demo_project.chat.functions.messages import PAGE, message_json
from demo_project.chat.functions.users import user_json
from demo_project.chat.models import Message
from reactive.values import to_json_value


def _initial(channel_id: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    newest = Message.objects.filter(channel_id=channel_id).select_related("author").order_by("-created_at", "-id")
    messages = [message_json(m) for m in reversed(newest[:PAGE])]
    users = [user_json(u) for u in get_user_model().objects.order_by("username")]
    return to_json_value({"messages": messages, "users": users})


class ChatObserverConsumer(AsyncAPIConsumer):  # type: ignore[misc]
    @model_observer(Message)
    async def message_activity(self, message: dict[str, Any], observer: Any = None, **kwargs: Any) -> None:
        await self.send_json(message)

    @message_activity.groups_for_signal
    def message_activity(self, instance: Message, **kwargs: Any) -> Any:
        yield f"bench-chat-{instance.channel_id}"

    @message_activity.groups_for_consumer
    def message_activity(self, channel_id: int | None = None, **kwargs: Any) -> Any:
        if channel_id is not None:
            yield f"bench-chat-{channel_id}"

    @message_activity.serializer
    def message_activity(self, instance: Message, action: Any, **kwargs: Any) -> dict[str, Any]:
        return {"action": action.value, "message": to_json_value(message_json(instance))}

    @action()
    async def subscribe_channel(self, channel_id: int, request_id: Any, **kwargs: Any) -> tuple[dict[str, Any], int]:
        await self.message_activity.subscribe(channel_id=channel_id, request_id=request_id)
        return await database_sync_to_async(_initial)(channel_id), 200
