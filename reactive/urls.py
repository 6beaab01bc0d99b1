"""HTTP routes. Include at the site root: ``path("", include("reactive.urls"))``."""

from __future__ import annotations

from django.urls import path

from . import http

app_name = "reactive"

urlpatterns = [
    path("api/query", http.QueryView.as_view(), name="query"),
    path("api/mutation", http.MutationView.as_view(), name="mutation"),
    path("api/action", http.ActionView.as_view(), name="action"),
    path("api/function", http.AnyFunctionView.as_view(), name="function"),
    path("api/reactive/token", http.TokenView.as_view(), name="token"),
    path("api/reactive/metrics", http.metrics_view, name="metrics"),
]
