"""ASGI application of the djangochannelsrestframework baseline: the demo plus ``/bench/dcrf``.

Only the baseline's server loads this module: the model observer connects ``post_init`` /
``post_save`` / ``post_delete`` receivers for ``Message`` at import, which must not tax the
``reactive`` runs. Mutations still arrive through the demo's ``/api/mutation`` (DRF).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402 - after Django is set up
from django.urls import re_path  # noqa: E402

import reactive.routing  # noqa: E402
from bench.dcrf import ChatObserverConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": reactive.routing.websocket_application(
            [re_path(r"^bench/dcrf/?$", ChatObserverConsumer.as_asgi())]
        ),
    }
)
