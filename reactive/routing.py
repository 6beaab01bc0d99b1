"""WebSocket routing: ``websocket_urlpatterns`` and a ready-made ASGI application.

In your ``asgi.py``::

    from channels.routing import ProtocolTypeRouter
    from django.core.asgi import get_asgi_application
    django_app = get_asgi_application()
    import reactive.routing
    application = ProtocolTypeRouter({
        "http": django_app,
        "websocket": reactive.routing.websocket_application(),
    })
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.urls import re_path

from .security.origins import OriginValidator
from .sync.consumer import SyncConsumer

websocket_urlpatterns = [
    re_path(r"^api/(?P<version>[^/]+)/sync/?$", SyncConsumer.as_asgi()),
]


def websocket_application(extra_patterns: list[Any] | None = None) -> Any:
    """The sync endpoint behind the Origin check and Django's session authentication."""
    return OriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns + (extra_patterns or []))))
