"""ASGI entry point: Django for HTTP, reactive's sync endpoint for WebSockets."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402 - after Django is set up

import reactive.routing  # noqa: E402

application = ProtocolTypeRouter({"http": django_application, "websocket": reactive.routing.websocket_application()})
