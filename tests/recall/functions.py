"""The recall test's functions: ``recall:run`` (a query running any spec) and ``recall:write`` (one op)."""

from __future__ import annotations

import random
import string
from typing import Any

from reactive import mutation, query, v
from reactive.functions.context import MutationCtx, QueryCtx

from . import ops, specs


@query(args={"spec": v.any()})
def run(ctx: QueryCtx, spec: dict[str, Any]) -> Any:
    """The value of ``spec`` (tests/recall/specs.py)."""
    return specs.evaluate(spec)


@mutation(args={"op": v.any()})
def write(ctx: MutationCtx, op: dict[str, Any]) -> None:
    """Perform ``op`` (tests/recall/ops.py) in the mutation's transaction; ``fail`` ops make it fail."""
    ops.perform(op)


@query(args={"size": v.int(min=0, max=8_000_000)})
def noise(ctx: QueryCtx, size: int) -> str:
    """``size`` characters that compress badly (for transport tests: a message past Daphne's 1 MiB)."""
    return "".join(random.Random(size).choices(string.ascii_letters + string.digits, k=size))


@mutation(args={})
def sync(ctx: MutationCtx) -> None:
    """Write nothing: its response carries the current clock, so a client that settles it has caught up."""
