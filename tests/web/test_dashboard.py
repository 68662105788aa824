"""The dashboard in real Chromium against a real host: login, live badges, actions, CSRF.

Strategies are added through the services (the upload page is a later step); everything
the trader does here goes through the page, and every change must reach the page over
Server-Sent Events without reloading it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from algovisor.schedule.calendar import INDIA
from algovisor.schedule.windows import DAY_NAMES
from algovisor.services import schedules, strategies
from algovisor.services.context import ServiceContext
from algovisor.services.schedules import checked_schedule
from tests.conftest import HostProcess, load_small_contract
from tests.web.conftest import SCREENSHOTS, log_in, open_dashboard

LOOPING = "import time\nwhile True:\n    time.sleep(0.1)\n"
# A missing module is fatal at once (no restarts): the strategy goes red.
CRASHING = "import algovisor_no_such_module_for_tests\n"


def card(page: Page, name: str) -> Locator:
    return page.locator(f'li.card[data-strategy="{name}"]')


def mark_page(page: Page) -> None:
    """A flag a reload would lose: proof that updates arrived in place."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__notReloaded === true")


def test_login_refuses_a_wrong_password_and_lets_the_admin_in(
    page: Page, web_host: HostProcess
) -> None:
    page.goto(f"{web_host.url}/")
    page.wait_for_url(f"{web_host.url}/login")  # no session: the login page
    log_in(page, web_host, password="not the password")
    expect(page.get_by_role("alert")).to_contain_text("wrong username or password")
    assert page.url == f"{web_host.url}/login"

    open_dashboard(page, web_host)
    expect(page.locator("#user")).to_have_text("admin")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{web_host.url}/login")
    page.goto(f"{web_host.url}/")
    page.wait_for_url(f"{web_host.url}/login")  # the session really ended


def test_start_turns_the_badge_green_without_reloading_and_stop_greys_it(
    page: Page,
    web_ctx: ServiceContext,
    web_host: HostProcess,
    write_script: Callable[[str, str], Path],
) -> None:
    strategies.add(web_ctx, "trend.py", write_script("trend.py", LOOPING).read_bytes())
    strategies.add(web_ctx, "breakout.py", write_script("breakout.py", LOOPING).read_bytes())
    # Meant to run, on every weekday but today: grey, with when it starts next.
    strategies.add(web_ctx, "swing.py", write_script("swing.py", LOOPING).read_bytes())
    today = datetime.now(INDIA).weekday()
    days = ",".join(name for day, name in enumerate(DAY_NAMES[:5]) if day != today)
    schedules.set_schedule(web_ctx, "swing", checked_schedule("09:20", "15:10", days, "NSE"))
    strategies.start(web_ctx, "swing")
    open_dashboard(page, web_host)
    mark_page(page)
    trend = card(page, "trend")
    expect(trend.locator(".badge")).to_have_text("Stopped")
    expect(trend.get_by_role("button", name="Stop")).to_be_disabled()
    expect(trend.get_by_role("button", name="Clear error")).to_be_disabled()

    trend.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator(".toast")).to_contain_text("trend: start requested")
    expect(trend.locator(".badge")).to_have_text("Running")
    expect(trend.locator(".badge")).to_have_class("badge badge-green")
    expect(trend.get_by_role("button", name="Start", exact=True)).to_be_disabled()
    expect(page.locator('li.contract[data-broker="paper"] .badge')).to_have_text("Ready ✓")
    expect(trend.locator('[data-field="memory"]')).to_contain_text("MB")  # sampled live
    expect(trend.locator('[data-field="uptime"]')).not_to_have_text("—")
    swing = card(page, "swing")
    expect(swing.locator(".badge")).to_have_class("badge badge-grey")
    expect(swing.locator(".badge")).to_have_text(re.compile("^(Scheduled|Paused)$"))
    expect(swing.locator('[data-field="next"]')).to_contain_text(
        re.compile(r"^next start \d\d \w{3} \d{4}, 09:20:00 IST · 09:20-15:10 IST")
    )
    assert_not_reloaded(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    # Keyboard: the Stop button is reachable and pressed without a mouse.
    trend.get_by_role("button", name="Stop").focus()
    page.keyboard.press("Enter")
    expect(trend.locator(".badge")).to_have_text("Stopped")
    expect(trend.locator(".badge")).to_have_class("badge badge-grey")
    assert_not_reloaded(page)

    # A phone's width: one column, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(SCREENSHOTS / "dashboard-phone.png"), full_page=True)


def test_a_strategy_waiting_for_contracts_turns_green_after_check_and_start(
    page: Page,
    web_ctx: ServiceContext,
    web_host: HostProcess,
    tmp_path: Path,
    write_script: Callable[[str, str], Path],
) -> None:
    script = write_script("options.py", LOOPING).read_bytes()
    strategies.add(web_ctx, "options.py", script, broker="zerodha")  # no zerodha contract yet
    strategies.start(web_ctx, "options")
    open_dashboard(page, web_host)
    mark_page(page)
    options = card(page, "options")
    expect(options.locator(".badge")).to_have_text("Waiting for master contracts")
    expect(options.locator(".badge")).to_have_class("badge badge-yellow")
    expect(options.locator(".card-message")).to_contain_text("zerodha master contract")
    zerodha = page.locator('li.contract[data-broker="zerodha"]')
    expect(zerodha.locator(".badge")).to_have_text("Waiting ⏰")

    load_small_contract(web_ctx, tmp_path, "zerodha")
    page.get_by_role("button", name="Check & Start").click()
    expect(page.locator(".toast").last).not_to_be_empty()
    expect(options.locator(".badge")).to_have_text("Running")
    expect(zerodha.locator(".badge")).to_have_text("Ready ✓")
    expect(zerodha.locator(".contract-count")).to_have_text("5 symbols")
    expect(zerodha.locator(".contract-updated")).to_contain_text("IST")
    assert_not_reloaded(page)


def test_a_crashing_strategy_shows_red_with_its_message_and_clear_error_works(
    page: Page,
    web_ctx: ServiceContext,
    web_host: HostProcess,
    write_script: Callable[[str, str], Path],
) -> None:
    strategies.add(web_ctx, "broken.py", write_script("broken.py", CRASHING).read_bytes())
    open_dashboard(page, web_host)
    mark_page(page)
    broken = card(page, "broken")
    broken.get_by_role("button", name="Start", exact=True).click()
    expect(broken.locator(".badge")).to_have_text("Error")
    expect(broken.locator(".badge")).to_have_class("badge badge-red")
    expect(broken.locator(".card-message")).to_contain_text(
        "ModuleNotFoundError: No module named 'algovisor_no_such_module_for_tests'"
    )
    expect(broken.get_by_role("button", name="Start", exact=True)).to_be_disabled()
    expect(broken.get_by_role("button", name="Restart")).to_be_disabled()

    broken.get_by_role("button", name="Clear error").click()
    expect(page.locator(".toast").last).to_have_text("broken: Error state cleared")
    expect(broken.locator(".badge")).to_have_text("Stopped")
    expect(broken.locator(".card-message")).to_have_text("error cleared")
    expect(broken.get_by_role("button", name="Start", exact=True)).to_be_enabled()
    assert strategies.show(web_ctx, "broken").error_message is None
    assert_not_reloaded(page)


def test_a_write_without_the_csrf_token_is_refused(
    page: Page,
    web_ctx: ServiceContext,
    web_host: HostProcess,
    write_script: Callable[[str, str], Path],
) -> None:
    strategies.add(web_ctx, "guarded.py", write_script("guarded.py", LOOPING).read_bytes())
    open_dashboard(page, web_host)
    status = page.evaluate(
        """async () => (await fetch('/api/strategies/guarded/start',
                                    {method: 'POST', credentials: 'same-origin'})).status"""
    )
    assert status == 403
    assert strategies.show(web_ctx, "guarded").intent == "stop"
    # The same session with its token may write: the refusal was the missing token.
    status = page.evaluate(
        """async () => {
            const session = await (await fetch('/api/ui/session')).json();
            const answer = await fetch('/api/strategies/guarded/stop', {
                method: 'POST', headers: {'X-CSRF-Token': session.csrf_token}});
            return answer.status;
        }"""
    )
    assert status == 200
