from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from reactive.subscriptions import reset_managers


@pytest.fixture(autouse=True)
async def _fresh_managers() -> AsyncIterator[None]:
    """Every test starts without query instances and ends with its manager closed."""
    yield
    await reset_managers()
