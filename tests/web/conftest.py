"""Browser tests: Debian's Chromium, driven by Playwright, against a real `algovisor serve`.

One host per test module (starting one takes seconds), on SQLite: the UI talks to the
same API whatever the database, and the API's tests run on both. Tests in a module share
that host, so each names its own strategies.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from algovisor.data_layout import DataLayout
from algovisor.services import api_keys, users
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings
from tests.conftest import HostProcess, kill_processes_of, load_small_contract

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
# The dashboard must follow a change within a second; the rest is the host's own latency
# (the reconciler ticks every 0.2 s in tests, a strategy process takes a moment to start).
LIVE_TIMEOUT_MS = 8000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep each browser module on one xdist worker (`--dist loadgroup`): one host each."""
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here:
            item.add_marker(pytest.mark.xdist_group(f"web-{item.path.stem}"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def web_root(tmp_path_factory: pytest.TempPathFactory, calendar_cache: Path) -> Path:
    root = tmp_path_factory.mktemp("web")
    data_dir = root / "data"
    (data_dir / "calendars").mkdir(parents=True)
    shutil.copyfile(calendar_cache, DataLayout(data_dir).calendar_cache)
    return root


@pytest.fixture(scope="module")
def web_ctx(web_root: Path) -> Iterator[ServiceContext]:
    """The module's host's database, for arranging what the page then shows."""
    data_dir = web_root / "data"
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'algovisor.db'}",
        reconcile_interval_secs=0.2,
        resource_sample_secs=1.0,
    )
    context = ServiceContext.open(settings)
    yield context
    context.close()
    kill_processes_of(data_dir)


@pytest.fixture(scope="module")
def web_host(web_ctx: ServiceContext, web_root: Path) -> Iterator[HostProcess]:
    """A started host with the paper contract ready and the admin's password known."""
    load_small_contract(web_ctx, web_root)
    key, _ = api_keys.create(web_ctx, "tests")
    users.set_password(web_ctx, users.ADMIN_USERNAME, PASSWORD)
    instance = HostProcess(web_ctx.settings, key)
    instance.start()
    yield instance
    if instance.process is not None:
        instance.kill(signal.SIGTERM)


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


def open_page(page: Page, host: HostProcess, path: str) -> None:
    """Log in, then open `path` (the login page returns to the dashboard)."""
    open_dashboard(page, host)
    page.goto(f"{host.url}{path}")
