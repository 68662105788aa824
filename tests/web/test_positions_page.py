"""The positions page in real Chromium against a real host: a crashed position, as a real
strategy process left it, with its crash, stop and trailing state; the broker check; the trail.

The positions come from strategy scripts using the SDK, run by the host: one raises with a
position open (the runner's hook marks it CRASHED), one keeps its position open.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

from playwright.sync_api import Page, expect

from algovisor.schedule.calendar import INDIA
from algovisor.services import positions, strategies
from algovisor.services.context import ServiceContext
from algovisor.services.views import CrashedPositionView
from tests.conftest import HostProcess, wait_until
from tests.web.conftest import SCREENSHOTS, open_page

# Opens SBIN with a stop and trailing state, trails it once, then the feed "breaks". Run
# again after the crash (the host restarts it), it leaves the crashed position alone.
CRASHER = """
import time

from algovisor.sdk import PositionPersistenceManager


class FeedBrokenError(RuntimeError):
    pass


manager = PositionPersistenceManager(flush_interval_ms=50)
if not manager.get_crashed_positions(manager.strategy_name):
    position = manager.save_position_entry(
        "SBIN", "NSE", "BUY", 10, 800.0, stop_price=790.0, target_price=830.0,
        state={"trail_step": 2.5, "highest": 800.0},
    )
    manager.queue_position_update(
        position, current_price=812.4, stop_price=805.5,
        state={"highest": 812.4, "trail_armed": True}, force_immediate=True,
    )
    raise FeedBrokenError("no tick from the feed for 30 s")
while True:
    time.sleep(0.1)
"""

HOLDER = """
import time

from algovisor.sdk import PositionPersistenceManager

manager = PositionPersistenceManager(flush_interval_ms=50)
if not manager.recover():
    manager.save_position_entry(
        "INFY", "NSE", "SELL", 5, 1500.0, stop_price=1510.0, state={"trail_step": 1.0}
    )
while True:
    time.sleep(0.1)
"""


def test_a_crashed_position_appears_with_its_crash_and_the_broker_verdict(
    page: Page,
    web_ctx: ServiceContext,
    web_host: HostProcess,
    write_script: Callable[[str, str], Path],
) -> None:
    strategies.add(web_ctx, "holder.py", write_script("holder.py", HOLDER).read_bytes())
    strategies.start(web_ctx, "holder")
    open_page(page, web_host, "/positions")
    page.evaluate("window.__notReloaded = true")
    infy = page.locator('section.open-group[data-strategy="holder"] tr[data-position]')
    expect(infy).to_have_count(1)
    expect(infy.locator("td").first).to_have_text("INFY")
    expect(infy.locator(".badge").first).to_have_text("ACTIVE")
    expect(page.locator("#no-crashed")).to_be_visible()

    # A strategy crashes with a position open while the page is open: it appears.
    strategies.add(web_ctx, "crasher.py", write_script("crasher.py", CRASHER).read_bytes())
    strategies.start(web_ctx, "crasher")
    crashed = wait_until(
        lambda: positions.crashed(web_ctx, "crasher"), timeout_secs=15, message="crasher crashed"
    )
    strategies.stop(web_ctx, "crasher")
    (crash,) = cast(list[CrashedPositionView], crashed)
    card = page.locator(f'li.crash[data-position="{crash.position.id}"]')
    expect(card).to_be_visible()
    assert page.evaluate("window.__notReloaded === true")
    expect(card.locator(".crash-title")).to_have_text("SBIN NSE · MIS")
    expect(card.locator('[data-field="reason"]')).to_have_text(
        "FeedBrokenError: no tick from the feed for 30 s"
    )
    expect(card.locator('[data-field="crashed-at"]')).to_contain_text("IST")
    expect(card.locator('[data-field="crashed-at"]')).to_contain_text(
        str(crash.crash.at.astimezone(INDIA).year)
    )
    expect(card.locator('[data-field="quantity"]')).to_have_text("LONG 10")
    expect(card.locator('[data-field="entry"]')).to_contain_text("800.00 at ")
    expect(card.locator('[data-field="stop"]')).to_have_text("805.50")
    expect(card.locator('[data-field="target"]')).to_have_text("830.00")
    expect(card.locator('[data-field="last"]')).to_have_text("812.40")
    state = card.locator('[data-field="state"]')
    expect(state).to_contain_text("trail step2.5")
    expect(state).to_contain_text("highest812.4")
    expect(state).to_contain_text("trail armedyes")
    expect(card.locator('[data-field="verdict"]')).to_have_text("Not checked yet")
    expect(card.locator(".crash-now .badge")).to_have_text("CRASHED")
    sbin = page.locator(
        f'section.open-group[data-strategy="crasher"] tr[data-position="{crash.position.id}"]'
    )
    expect(sbin.locator(".badge").first).to_have_text("CRASHED")

    # The broker check: the paper account traded nothing, so both are closed there.
    page.get_by_role("button", name="Reconcile now").click()
    expect(page.locator("#reconcile-message")).to_contain_text(
        "Checked 2 symbols on the paper broker: 2 closed at the broker."
    )
    expect(page.locator('#findings tr[data-verdict="closed_at_broker"]')).to_have_count(2)
    expect(card.locator('[data-field="verdict"]')).to_have_text("Closed at the broker")
    expect(card.locator('[data-field="checked"]')).to_contain_text("IST")

    # The trail, from the keyboard: its events, then Escape gives the focus back.
    trail_button = card.get_by_role("button", name="Event trail")
    trail_button.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#trail-title")).to_have_text(
        f"Position {crash.position.id} · SBIN NSE · crasher"
    )
    kinds = dialog.locator("table.trail-events tbody tr")
    expect(kinds.locator("td:first-child")).to_contain_text(["ENTRY", "CRASH", "RECONCILE"])
    expect(dialog.locator('tr[data-kind="CRASH"]')).to_contain_text("FeedBrokenError")
    expect(dialog.locator('tr[data-kind="ENTRY"] td').nth(1)).to_contain_text("IST")
    expect(dialog.locator(".traceback")).to_contain_text("raise FeedBrokenError")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "positions-trail.png"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(trail_button).to_be_focused()
    page.locator("#toasts").evaluate("box => box.replaceChildren()")  # the page, not its toasts
    page.screenshot(path=str(SCREENSHOTS / "positions.png"), full_page=True)

    # A phone's width: nothing wider than the screen (tables scroll inside their box).
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("window.__notReloaded === true")
