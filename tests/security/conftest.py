"""Fixtures of the security tests."""

from __future__ import annotations

import pytest

from reactive.sync import consumer


@pytest.fixture
def quick_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusals after a hundredth of a second instead of REFUSAL_DELAY_SECONDS."""
    monkeypatch.setattr(consumer, "REFUSAL_DELAY_SECONDS", 0.01)
