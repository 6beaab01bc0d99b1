from __future__ import annotations

from django.conf import settings
from django.db import models


class Task(models.Model):
    text = models.CharField(max_length=500)
    done = models.BooleanField(default=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.text
