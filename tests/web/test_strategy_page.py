"""The strategy page in real Chromium against a real host: schedule with `explain` in words,
environment variables (a secret never reaches the browser), versions with a diff and
rollback, the live log with pause and search, runs history and the resource chart.

Strategies and their versions are arranged through the services; everything the trader
does here goes through the page.
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, Response, expect

from algovisor.services import environment, schedules, strategies
from algovisor.services import versions as version_service
from algovisor.services.context import ServiceContext
from tests.conftest import HostProcess
from tests.web.conftest import SCREENSHOTS, open_page

# Chatty enough to show a live log (five lines a second), with an order now and then.
MOMENTUM_V1 = """\
import itertools
import os
import time

SYMBOL = os.environ.get("SYMBOL", "NIFTY")
LOTS = int(os.environ.get("LOTS", "1"))
THRESHOLD = 0.35

print(f"momentum up on {SYMBOL}, {LOTS} lot(s)", flush=True)
for tick in itertools.count(1):
    price = 24100 + (tick * 7) % 90
    print(f"tick {tick} {SYMBOL} ltp {price}.35 signal hold", flush=True)
    if tick % 10 == 0:
        print(f"ORDER {tick // 10}: BUY {LOTS * 75} {SYMBOL} @ {price}.35", flush=True)
    time.sleep(0.2)
"""
MOMENTUM_V2 = MOMENTUM_V1.replace("THRESHOLD = 0.35", "THRESHOLD = 0.5\nCOOLDOWN_SECS = 30")


def collect_api_answers(page: Page) -> list[tuple[str, str]]:
    """(url, body) of every answer of the host's API the page receives, read as it arrives
    (streams aside: they never end)."""
    answers: list[tuple[str, str]] = []

    def keep(response: Response) -> None:
        content_type = response.headers.get("content-type", "")
        if "/api/" in response.url and "event-stream" not in content_type:
            answers.append((response.url, response.text()))

    page.on("response", keep)
    return answers


def test_schedule_environment_and_versions_with_errors_beside_their_fields(
    page: Page, web_ctx: ServiceContext, web_host: HostProcess
) -> None:
    added = strategies.add(web_ctx, "breakout-nifty.py", MOMENTUM_V1.encode())
    version_service.edit(web_ctx, added.id, "breakout-nifty.py", MOMENTUM_V2.encode())
    secret = f"tok-{uuid.uuid4().hex}"
    answers = collect_api_answers(page)
    open_page(page, web_host, f"/strategies/{added.id}")
    expect(page.get_by_role("heading", name="breakout-nifty")).to_be_visible()
    expect(page.locator("#strategy-badge")).to_have_text("Stopped")
    expect(page.locator("#explain")).to_contain_text("No schedule: it runs when started")

    # A wrong start time: the host's message beside the field, nothing saved.
    form = page.locator("#schedule-form")
    form.get_by_label("Start (IST)").fill("9.15")
    form.get_by_label("Stop (IST)").fill("15:30")
    form.get_by_label("Days").fill("mon-fri")
    form.get_by_label("Exchange calendar").select_option("NSE")
    form.get_by_role("button", name="Save schedule").click()
    expect(form.locator('[data-error-for="start"]')).to_contain_text(
        "start time '9.15' is not a 24-hour HH:MM time"
    )
    expect(form.get_by_label("Start (IST)")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Start (IST)")).to_be_focused()
    assert strategies.show(web_ctx, added.id).schedule is None

    form.get_by_label("Start (IST)").fill("09:15")
    form.get_by_label("Days").fill("mon,wed,fri")
    form.get_by_role("button", name="Save schedule").click()
    expect(page.locator(".toast").last).to_contain_text("schedule saved")
    expect(form.locator('[data-error-for="start"]')).to_be_hidden()
    expect(page.locator("#explain")).to_contain_text(
        "Once started, it runs 09:15-15:30 IST mon,wed,fri on NSE."
    )
    expect(page.locator("#strategy-broker")).to_contain_text("09:15-15:30 IST mon,wed,fri on NSE")
    saved = strategies.show(web_ctx, added.id).schedule
    assert saved is not None
    assert (saved.start, saved.stop, saved.days, saved.exchange) == (
        "09:15",
        "15:30",
        "mon,wed,fri",
        "NSE",
    )

    # Environment: a bad name is refused beside it; a secret shows as dots, its value never sent.
    env = page.locator("#env-form")
    env.get_by_label("Name").fill("1BAD")
    env.get_by_label("Value").fill(secret)
    env.get_by_role("button", name="Save variable").click()
    expect(env.locator('[data-error-for="key"]')).to_contain_text(
        "invalid environment variable name '1BAD'"
    )
    assert environment.env_list(web_ctx, added.id) == []
    env.get_by_label("Name").fill("SYMBOL")
    env.get_by_label("Value").fill("BANKNIFTY")
    env.get_by_role("button", name="Save variable").click()
    expect(page.locator('#env-rows tr[data-key="SYMBOL"]')).to_contain_text("BANKNIFTY")
    env.get_by_label("Name").fill("BROKER_TOKEN")
    env.get_by_label("Value").fill(secret)
    env.get_by_label("Secret").check()
    env.get_by_role("button", name="Save variable").click()
    token_row = page.locator('#env-rows tr[data-key="BROKER_TOKEN"]')
    expect(token_row).to_contain_text("••••")
    expect(token_row).to_contain_text("secret")
    expect(env.get_by_label("Value")).to_have_value("")

    # Versions: the current one's changes first; then version 1 against the current one.
    expect(page.locator("#version-rows tr")).to_have_count(2)
    expect(page.locator("#diff-title")).to_contain_text(
        "From version 1 to version 2 (current): 2 lines added, 1 removed."
    )
    expect(page.locator("#diff .diff-del")).to_have_text(["-THRESHOLD = 0.35"])
    expect(page.locator("#diff .diff-add")).to_have_text(
        ["+THRESHOLD = 0.5", "+COOLDOWN_SECS = 30"]
    )
    page.get_by_role("button", name="Compare version 1 with the current one").click()
    expect(page.locator("#diff-from")).to_have_value("1")

    # Rolling back asks first; cancelling changes nothing.
    page.get_by_role("button", name="Roll back to version 1").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_contain_text("Roll back to version 1?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert len(version_service.versions(web_ctx, added.id)) == 2
    page.get_by_role("button", name="Roll back to version 1").click()
    dialog.get_by_role("button", name="Roll back").click()
    expect(page.locator(".toast").last).to_have_text("Rolled back to version 1: now version 3")
    expect(page.locator("#version-rows tr").first).to_contain_text("v3current")
    expect(page.locator("#version-rows tr").first).to_contain_text("rollback to version 1")
    expect(page.locator("#diff-title")).to_contain_text("From version 2 to version 3 (current)")
    expect(page.locator('.summary [data-field="version"]')).to_have_text("v3")
    assert version_service.version_content(web_ctx, added.id) == MOMENTUM_V1.encode()

    # The secret is in no answer the page received, and nowhere in the page.
    assert secret not in page.content()
    assert any('"BROKER_TOKEN"' in body for _, body in answers)  # the page did read the env
    assert not [url for url, body in answers if secret in body]


def test_a_running_strategy_streams_its_log_with_pause_and_search_and_charts_its_usage(
    page: Page, web_ctx: ServiceContext, web_host: HostProcess
) -> None:
    added = strategies.add(web_ctx, "nifty-momentum.py", MOMENTUM_V1.encode())
    version_service.edit(web_ctx, added.id, "nifty-momentum.py", MOMENTUM_V2.encode())
    schedules.set_schedule(
        web_ctx, added.id, schedules.checked_schedule("00:00", None, "daily", "CRYPTO")
    )
    secret = f"tok-{uuid.uuid4().hex}"
    environment.env_set(web_ctx, added.id, "SYMBOL", "NIFTY")
    environment.env_set(web_ctx, added.id, "LOTS", "2")
    environment.env_set(web_ctx, added.id, "BROKER_TOKEN", secret, secret=True)
    open_page(page, web_host, f"/strategies/{added.id}")
    expect(page.locator("#runs-empty")).to_be_visible()
    page.evaluate("window.__notReloaded = true")

    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#strategy-badge")).to_have_text("Running")
    expect(page.locator("#explain")).to_contain_text("Runs now.")
    expect(page.locator("#locked-note")).to_be_visible()
    expect(page.get_by_role("button", name="Save schedule")).to_be_disabled()
    expect(page.locator("#run-rows tr").first).to_contain_text("Running")

    # The log arrives live, line by line.
    log = page.locator("#log .log-line")
    expect(log.first).to_contain_text("momentum up on NIFTY, 2 lot(s)")
    expect(page.locator("#log")).to_contain_text("ORDER 1: BUY 150 NIFTY")
    shown_before = log.count()
    expect(log).not_to_have_count(shown_before)  # more lines came, without reloading

    # Paused: lines are kept aside, not shown; resumed: they appear.
    page.get_by_role("button", name="Pause").click()
    pause = page.locator("#log-pause")
    expect(pause).to_have_attribute("aria-pressed", "true")
    paused_count = log.count()
    expect(pause).to_have_text(re.compile(r"Resume \(([5-9]|\d\d+) new\)"))
    assert log.count() == paused_count
    waiting = int(re.findall(r"\d+", pause.inner_text())[0])
    pause.click()
    expect(pause).to_have_text("Pause")
    page.wait_for_function(
        "wanted => document.querySelectorAll('#log .log-line').length >= wanted",
        arg=paused_count + waiting,
    )

    # Search the whole log on the host: only matching lines, the match highlighted.
    page.get_by_label("Search the log").fill("order")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#log-note")).to_contain_text(re.compile(r"contains? “order” \(searched"))
    expect(log.first).to_contain_text("ORDER 1: BUY 150 NIFTY")
    expect(log.locator("mark").first).to_have_text("ORDER")
    assert all("ORDER" in text for text in log.all_inner_texts())
    page.get_by_role("button", name="Back to live").click()
    expect(page.locator("#log mark")).to_have_count(0)
    expect(log.last).to_contain_text("NIFTY")

    # The resource chart, once the host has stored samples of this run.
    chart = page.locator("#chart svg")
    expect(chart.locator("path.chart-line-cpu")).to_have_count(1, timeout=20_000)
    expect(chart.locator("path.chart-line-memory")).to_have_count(1)
    expect(page.locator("#chart-summary")).to_contain_text("samples from")
    expect(page.locator("#chart-summary")).to_contain_text("MB")
    expect(page.locator('.summary [data-field="memory"]')).to_contain_text("MB")

    assert secret not in page.content()
    assert page.evaluate("window.__notReloaded === true")
    page.locator("#log").evaluate("node => { node.scrollTop = node.scrollHeight; }")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "strategy.png"), full_page=True)

    # Stopped: the run is in the history with how it ended and how long it ran.
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.locator("#strategy-badge")).to_have_text("Stopped")
    first_run = page.locator("#run-rows tr").first
    expect(first_run).to_contain_text("Stopped")
    expect(first_run).to_contain_text("IST")
    expect(first_run.locator("td").nth(2)).to_have_text(re.compile(r"^\d+s$|^\d+m \d+s$"))
    expect(first_run.locator("td").nth(3)).to_have_text("v2")
    expect(page.locator("#log-status")).to_have_text("Run ended")

    # A phone's width: one column, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
