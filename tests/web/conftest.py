"""Browser tests: Debian's Chromium, driven by Playwright, against a real `algovisor serve`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from algovisor.services import users
from algovisor.services.context import ServiceContext
from tests.conftest import HostProcess

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
# The dashboard must follow a change within a second; the rest is the host's own latency
# (the reconciler ticks every 0.2 s in tests, a strategy process takes a moment to start).
LIVE_TIMEOUT_MS = 8000


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield instance
        instance.close()


@pytest.fixture
def web_host(ctx: ServiceContext, host: HostProcess) -> HostProcess:
    """A started host with the admin's password known to the test."""
    users.set_password(ctx, users.ADMIN_USERNAME, PASSWORD)
    host.start()
    return host


@pytest.fixture
def page(browser: Browser, web_host: HostProcess) -> Iterator[Page]:
    """A fresh browser context; closed before the host stops, so no stream holds it up."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-IN")
    context.set_default_timeout(LIVE_TIMEOUT_MS)
    instance = context.new_page()
    errors: list[str] = []
    instance.on("pageerror", lambda error: errors.append(str(error)))
    yield instance
    context.close()
    assert not errors, f"the page raised: {errors}"


def log_in(page: Page, host: HostProcess, password: str = PASSWORD) -> None:
    page.goto(f"{host.url}/login")
    page.get_by_label("Username").fill(users.ADMIN_USERNAME)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def open_dashboard(page: Page, host: HostProcess) -> None:
    log_in(page, host)
    page.wait_for_url(f"{host.url}/")
    expect(page.locator("#live")).to_have_text("Live")
