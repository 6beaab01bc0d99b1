"""The demo in a real browser: Debian's Chromium driven by Playwright against a live Daphne.

Each test seeds the (transactional) test database through the ORM, starts a server on it with
``live_server_factory`` and opens the React demo (``/``, bundled by ``make frontend``) or the
no-build page (``/plain/``). Nothing asserts timings: ``expect`` waits for what the page must come
to show, its timeout only guards against a hang.

Chromium comes from Debian (``apt-get install chromium``; Playwright's own browser downloads are
never used). Without ``/usr/bin/chromium`` the tests are skipped, or fail when ``CI`` is set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from demo_project.chat.models import Channel, Message
from demo_project.shop.models import Order, Payment
from demo_project.tasks.models import Task
from tests.live_servers import REPO_ROOT, LiveServer, LiveServerFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
BUNDLE = REPO_ROOT / "demo_project" / "static" / "demo" / "app.js"
ARTIFACTS = REPO_ROOT / "artifacts"
HISTORY_MESSAGES = 25  # seeded in "general"; the history panel loads 10 per page
T = TypeVar("T")
WAIT_MS = 30_000  # expect()'s hang guard
RECONNECT_WAIT_MS = 60_000  # after a restart the client may first wait out a reconnect backoff of up to 16 s


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required when CI is set)")
    pytest.skip(reason)


try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.timeout(180)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Path:
    if sync_playwright is None:
        _unavailable("the playwright Python package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    return CHROMIUM


@pytest.fixture(scope="session")
def demo_bundle() -> Path:
    """The demo's front end, built (or brought up to date) by ``make frontend``."""
    if shutil.which("make") and shutil.which("npm") and shutil.which("node"):
        result = subprocess.run(
            ["make", "--no-print-directory", "frontend"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            pytest.fail(f"make frontend failed:\n{result.stdout}\n{result.stderr}")
    if not BUNDLE.exists():
        _unavailable(f"{BUNDLE.relative_to(REPO_ROOT)} is not built and Node/npm/make are missing: run `make frontend`")
    return BUNDLE


@dataclass
class Demo:
    general: Channel
    random: Channel
    ada: Any
    linus: Any
    tasks: list[Task]
    order: Order


@pytest.fixture
def demo(transactional_db: None) -> Demo:
    """The demo's data, smaller: two users, two channels, 25 messages in "general", two tasks, one order."""
    User = get_user_model()
    ada = User.objects.create(username="ada")
    linus = User.objects.create(username="linus")
    general = Channel.objects.create(name="general")
    random = Channel.objects.create(name="random")
    for index in range(1, HISTORY_MESSAGES + 1):
        Message.objects.create(channel=general, author=ada if index % 2 else linus, body=f"History {index}")
    tasks = [
        Task.objects.create(text="Write the browser tests", owner=ada),
        Task.objects.create(text="Ship it", owner=linus),
    ]
    order = Order.objects.create(description="Demo T-shirt", amount_cents=2500)
    return Demo(general, random, ada, linus, tasks, order)


@pytest.fixture
def server(chromium: Path, demo_bundle: Path, live_server_factory: LiveServerFactory, demo: Demo) -> LiveServer:
    """A Daphne serving the demo on this test's database (requested after the checks that may skip the test)."""
    return live_server_factory()


@dataclass
class Pages:
    """Opens pages of the demo, each in its own browser context (its own storage: a separate user)."""

    browser: Browser
    base_url: str
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def open(self, path: str = "/") -> Page:
        """Open ``path`` in a new context and wait until its badge says "connected"."""
        context = self.browser.new_context(viewport={"width": 1400, "height": 1100})
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{path}: {error}"))
        page.on("console", lambda message: self.console.append(f"{path} [{message.type}] {message.text}"))
        page.goto(self.base_url + path)
        expect(page.get_by_test_id("connection-status")).to_have_text("connected")
        return page


@pytest.fixture
def pages(server: LiveServer, chromium: Path) -> Iterator[Pages]:
    """Pages on ``server``; the test fails if any page raised an uncaught error."""
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        opened = Pages(browser, server.url)
        try:
            yield opened
        finally:
            for context in opened.contexts:
                context.close()
            browser.close()
            # Shown by pytest only when the test failed.
            print("----- browser console -----", *opened.console, sep="\n")
    assert opened.errors == [], "uncaught errors in the pages"


# --- helpers ----------------------------------------------------------------------------------


def orm(fn: Callable[[], T]) -> T:
    """Run ORM code while the browser is open: in a thread of its own, whose connection it closes.

    Playwright's sync API runs an event loop under the test (Django would refuse the query with
    SynchronousOnlyOperation), and a connection opened there outlives the test (PostgreSQL then
    cannot drop the test database).
    """

    def run() -> T:
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def send_message(page: Page, body: str, author: str | None = None) -> None:
    if author is not None:
        page.get_by_test_id("author-input").fill(author)
    page.get_by_test_id("message-input").fill(body)
    page.get_by_test_id("send-button").click()


def history_ids(page: Page) -> list[str]:
    return page.get_by_test_id("history-item").evaluate_all("items => items.map((item) => item.dataset.id)")


def history_bodies(page: Page) -> list[str]:
    return page.get_by_test_id("history-item").get_by_test_id("message-body").all_inner_texts()


def task_row(page: Page, task: Task) -> Any:
    return page.locator(f'[data-testid="task"][data-id="{task.pk}"]')


# --- tests ------------------------------------------------------------------------------------


def test_a_message_sent_in_one_page_appears_in_the_others(pages: Pages, demo: Demo) -> None:
    first = pages.open("/")
    second = pages.open("/")
    plain = pages.open(f"/plain/?channel={demo.general.pk}")  # the no-build page, on the same channel

    send_message(first, "Hello from the first page", author="grace")
    for page in (second, plain):
        expect(page.get_by_test_id("message-list")).to_contain_text("Hello from the first page")
    expect(second.get_by_test_id("message-list")).to_contain_text("grace")

    send_message(plain, "Hello from the page without a build step", author="plain-user")
    for page in (first, second):
        expect(page.get_by_test_id("message-list")).to_contain_text("Hello from the page without a build step")
    assert orm(Message.objects.filter(author__username="plain-user", channel=demo.general).count) == 1

    # Another channel's messages stay out of this one; a new channel shows up everywhere.
    second.get_by_test_id("channel-random").click()
    send_message(second, "Only in random")
    first.get_by_test_id("new-channel-name").fill("browsers")
    first.get_by_test_id("create-channel").click()
    expect(second.get_by_test_id("channel-browsers")).to_be_visible()
    expect(first.get_by_test_id("channel-browsers")).to_have_attribute("aria-pressed", "true")
    expect(plain.get_by_test_id("message-list")).to_contain_text("Hello from the first page")
    expect(plain.get_by_test_id("message-list")).not_to_contain_text("Only in random")
    expect(second.get_by_test_id("message-list")).to_contain_text("Only in random")


def test_a_task_toggle_shows_at_once_and_survives_the_round_trip(pages: Pages, server: LiveServer, demo: Demo) -> None:
    page = pages.open("/")
    other = pages.open("/")
    task = demo.tasks[0]
    row, checkbox = task_row(page, task), task_row(page, task).get_by_test_id("task-toggle")
    expect(checkbox).not_to_be_checked()
    # Both pages hold the server's result before it is frozen (on a busy machine the second may still be loading).
    expect(task_row(other, task).get_by_test_id("task-toggle")).not_to_be_checked()

    # With the server frozen, only the optimistic update can tick the box.
    server.pause()
    try:
        checkbox.click()
        expect(checkbox).to_be_checked()
        expect(row).to_have_attribute("data-pending", "true")
        expect(page.get_by_test_id("task-summary")).to_have_text("1 of 2 done")
        expect(task_row(other, task).get_by_test_id("task-toggle")).not_to_be_checked()  # a guess is local
        assert orm(lambda: Task.objects.get(pk=task.pk).done) is False
    finally:
        server.resume()

    # The server runs it; the confirmed result replaces the guess, and the box stays ticked.
    expect(row).to_have_attribute("data-pending", "false")
    expect(checkbox).to_be_checked()
    expect(task_row(other, task).get_by_test_id("task-toggle")).to_be_checked()
    assert orm(lambda: Task.objects.get(pk=task.pk).done) is True
    page.reload()
    expect(task_row(page, task).get_by_test_id("task-toggle")).to_be_checked()

    # And back, without freezing anything.
    task_row(page, task).get_by_test_id("task-toggle").click()
    expect(task_row(page, task).get_by_test_id("task-toggle")).not_to_be_checked()
    expect(task_row(other, task).get_by_test_id("task-toggle")).not_to_be_checked()
    expect(task_row(page, task)).to_have_attribute("data-pending", "false")
    assert orm(lambda: Task.objects.get(pk=task.pk).done) is False


def test_load_more_loads_older_messages_and_loaded_pages_stay_live(pages: Pages, demo: Demo) -> None:
    page = pages.open("/")
    newest_first = [f"History {index}" for index in range(HISTORY_MESSAGES, 0, -1)]
    items = page.get_by_test_id("history-item")
    status = page.get_by_test_id("history-status")

    expect(items).to_have_count(10)
    expect(status).to_have_text("CanLoadMore")
    assert history_bodies(page) == newest_first[:10]

    page.get_by_test_id("load-more").click()
    expect(items).to_have_count(20)
    expect(status).to_have_text("CanLoadMore")
    assert history_bodies(page) == newest_first[:20]  # the second page: the next 10 older messages

    # A new message lands on the loaded pages: once, at the top, nothing shifted or repeated.
    send_message(page, "Newer than all the history")
    expect(items).to_have_count(21)
    expect(items.first).to_contain_text("Newer than all the history")
    assert history_bodies(page) == ["Newer than all the history", *newest_first[:20]]
    ids = history_ids(page)
    assert len(set(ids)) == len(ids)

    page.get_by_test_id("load-more").click()
    expect(status).to_have_text("Exhausted")
    expect(items).to_have_count(HISTORY_MESSAGES + 1)
    assert history_bodies(page) == ["Newer than all the history", *newest_first]
    ids = history_ids(page)
    assert len(set(ids)) == len(ids)
    expect(page.get_by_test_id("load-more")).to_be_disabled()


def test_the_badge_follows_the_connection_and_the_lists_catch_up(pages: Pages, server: LiveServer, demo: Demo) -> None:
    page = pages.open("/")
    plain = pages.open(f"/plain/?channel={demo.general.pk}")
    badges = [page.get_by_test_id("connection-status"), plain.get_by_test_id("connection-status")]
    expect(page.get_by_test_id("message-list")).to_contain_text(f"History {HISTORY_MESSAGES}")

    server.kill()
    for badge in badges:
        expect(badge).to_have_text("disconnected")
    expect(page.get_by_test_id("message-list")).to_contain_text(f"History {HISTORY_MESSAGES}")  # still shown
    # Written while no server runs: the pages learn of it only after they reconnect.
    down = "Written while the server was down"
    orm(lambda: Message.objects.create(channel=demo.general, author=demo.linus, body=down))
    orm(lambda: Task.objects.filter(pk=demo.tasks[1].pk).update(done=True))
    # Sent while disconnected: the client holds the mutation and sends it on the new connection.
    send_message(page, "Queued while offline", author="offline-user")
    expect(page.get_by_test_id("message-list")).not_to_contain_text(down)

    server.restart()
    for badge in badges:
        expect(badge).to_have_text("connected", timeout=RECONNECT_WAIT_MS)
    for list_ in (page.get_by_test_id("message-list"), plain.get_by_test_id("message-list")):
        expect(list_).to_contain_text(down)
        expect(list_).to_contain_text("Queued while offline")
    expect(page.get_by_test_id("history-item").first).to_contain_text("Queued while offline")
    expect(page.get_by_test_id("history-item").nth(1)).to_contain_text(down)
    expect(task_row(page, demo.tasks[1]).get_by_test_id("task-toggle")).to_be_checked()
    expect(page.get_by_test_id("stat-messages")).to_have_text(str(HISTORY_MESSAGES + 2))
    assert orm(Message.objects.filter(body="Queued while offline").count) == 1

    # The new connection is live, not just a snapshot.
    send_message(plain, "Sent after the restart", author="plain-user")
    expect(page.get_by_test_id("message-list")).to_contain_text("Sent after the restart")


def test_the_browser_negotiates_permessage_deflate(pages: Pages) -> None:
    context = pages.browser.new_context()
    pages.contexts.append(context)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    handshakes: list[dict[str, Any]] = []
    cdp.on("Network.webSocketHandshakeResponseReceived", lambda event: handshakes.append(event))
    cdp.send("Network.enable")
    page.goto(pages.base_url + "/")
    expect(page.get_by_test_id("connection-status")).to_have_text("connected")
    for _ in range(100):  # the CDP event may trail the page's own view by a moment
        if handshakes:
            break
        page.wait_for_timeout(100)
    assert handshakes, "Chromium reported no WebSocket handshake"
    response = handshakes[0]["response"]
    assert response["status"] == 101
    headers = {name.lower(): value for name, value in response["headers"].items()}
    assert "permessage-deflate" in headers.get("sec-websocket-extensions", ""), headers


def test_every_panel_of_the_demo_works(pages: Pages, demo: Demo) -> None:
    page = pages.open("/")

    # Dashboard: four live queries.
    expect(page.get_by_test_id("stat-users")).to_have_text("2")
    expect(page.get_by_test_id("stat-messages")).to_have_text(str(HISTORY_MESSAGES))
    expect(page.get_by_test_id("dashboard-users")).to_contain_text("linus")
    expect(page.get_by_test_id("recent-list")).to_contain_text(f"History {HISTORY_MESSAGES}")

    # Profile: users:get is skipped until a user is picked.
    profile = page.get_by_test_id("user-profile")
    expect(profile).to_contain_text("skipped")
    page.get_by_test_id("user-select").select_option(label="linus")
    expect(page.get_by_test_id("profile-username")).to_have_text("linus")

    # A new author appears in users:list (dashboard and profile picker) and the stats.
    send_message(page, "First words", author="margaret")
    expect(page.get_by_test_id("dashboard-users")).to_contain_text("margaret")
    expect(page.get_by_test_id("stat-users")).to_have_text("3")
    expect(page.get_by_test_id("recent-list").locator("li").first).to_contain_text("First words")
    page.get_by_test_id("user-select").select_option(label="margaret")
    expect(page.get_by_test_id("profile-username")).to_have_text("margaret")

    # A taken channel name fails with the server's message.
    page.get_by_test_id("new-channel-name").fill("general")
    page.get_by_test_id("create-channel").click()
    expect(page.get_by_test_id("channel-error")).to_contain_text("already exists")

    # Orders: create one, pay it with the action.
    page.get_by_test_id("order-description").fill("Sticker pack")
    page.get_by_test_id("order-amount").fill("4.50")
    page.get_by_test_id("create-order").click()
    order_row = page.get_by_test_id("order").filter(has_text="Sticker pack")
    expect(order_row.get_by_test_id("pay-button")).to_have_text("Pay now")
    order_row.get_by_test_id("pay-button").click()
    expect(order_row.get_by_test_id("order-paid")).to_have_text("paid")
    expect(page.get_by_test_id("stat-revenue")).to_have_text("$4.50")
    assert orm(lambda: Payment.objects.get(order__description="Sticker pack").amount_cents) == 450

    # Tasks: a new one appears.
    page.get_by_test_id("task-input").fill("Look at the screenshot")
    page.get_by_test_id("add-task").click()
    expect(page.get_by_test_id("task-list")).to_contain_text("Look at the screenshot")
    expect(page.get_by_test_id("panel-error")).to_have_count(0)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
