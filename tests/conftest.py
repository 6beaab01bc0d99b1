from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from channels.layers import channel_layers

from reactive.live.subscriptions import reset_managers
from tests import fixture_functions  # noqa: F401 - registers the testing:* functions
from tests.live_servers import LiveServerFactory, live_servers


@pytest.fixture(autouse=True)
async def _fresh_managers() -> AsyncIterator[None]:
    """Every test starts without query instances and ends with its manager closed."""
    yield
    await reset_managers()
    # Channel layers bind locks and connections to the loop that used them; each test has its own.
    channel_layers.backends.clear()


@pytest.fixture
def live_server_factory(transactional_db: None, tmp_path: Path) -> Iterator[LiveServerFactory]:
    """Start real Daphne servers on this test's database: ``server = live_server_factory()``.

    Each call starts one more process (``server.url``, ``.port``, ``.kill()``, ``.restart()``);
    all are stopped at teardown, before pytest-django flushes the (transactional) database.
    """
    with live_servers(tmp_path) as factory:
        yield factory
