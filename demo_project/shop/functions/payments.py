"""Payments: ``payments:process`` (an action calling a slow provider) and the internal ``payments:record``."""

from __future__ import annotations

import asyncio
import secrets

from django.conf import settings

from reactive import AsyncActionCtx, MutationCtx, ReactiveError, action, internal_mutation, v

from ..models import Order, Payment


@action(args={"orderId": v.id(Order)})
async def process(ctx: AsyncActionCtx, orderId: int) -> dict[str, object]:
    """Charge an order: wait for the (simulated) provider, then record the payment."""
    await asyncio.sleep(settings.DEMO_PAYMENT_DELAY)  # the external call; no transaction is open
    reference = "pay_" + secrets.token_hex(8)
    payment_id = await ctx.run_mutation(record, orderId=orderId, reference=reference)
    return {"paymentId": payment_id, "reference": reference}


@internal_mutation(args={"orderId": v.id(Order), "reference": v.string(max_length=64)})
def record(ctx: MutationCtx, orderId: int, reference: str) -> int:
    """Record a payment (internal: only server code may call it)."""
    order = Order.objects.select_for_update().filter(pk=orderId).first()
    if order is None:
        raise ReactiveError("No such order", data={"code": "not_found", "orderId": orderId})
    if order.paid:
        raise ReactiveError("This order is already paid", data={"code": "already_paid", "orderId": orderId})
    order.paid = True
    order.save(update_fields=["paid"])
    return Payment.objects.create(order=order, amount_cents=order.amount_cents, provider_reference=reference).pk
