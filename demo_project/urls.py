from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path
from django.views.generic import TemplateView


class HomeView(TemplateView):
    """The React demo; the page says how to build the bundle when it is missing."""

    template_name = "demo/index.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "bundle_built": finders.find("demo/app.js") is not None}


class PlainView(TemplateView):
    """No build step: ``reactive/client.js`` imported from the static files. ``?channel=ID`` (default 1)."""

    template_name = "demo/plain.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        raw = self.request.GET.get("channel", "1")
        channel_id = int(raw) if raw.isascii() and raw.isdigit() else 1
        return {**super().get_context_data(**kwargs), "channel_id": channel_id}


urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("reactive.urls")),
    path("plain/", PlainView.as_view(), name="plain"),
    path("", HomeView.as_view(), name="home"),
]

# `runserver` serves static files by itself; a plain `daphne demo_project.asgi:application` (as the
# browser tests run it) does not, so with DEBUG on the URLconf serves them too.
if settings.DEBUG:
    urlpatterns += staticfiles_urlpatterns()
