from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("reactive.urls")),
    path("", TemplateView.as_view(template_name="demo/index.html"), name="home"),
]
