from __future__ import annotations

from django.db import models


class Order(models.Model):
    description = models.CharField(max_length=200)
    amount_cents = models.PositiveIntegerField()
    paid = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)


class Payment(models.Model):
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="payment")
    amount_cents = models.PositiveIntegerField()
    provider_reference = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
