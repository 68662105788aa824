"""The upload page and the script editor in real Chromium against a real host.

Upload: a refused field is shown beside itself and nothing is created; the fixed form adds
the strategy with its schedule, and starting it turns its dashboard badge green live.
Editor: CodeMirror under the pages' strict CSP; saving makes a new version; while the
strategy's process runs the editor is read-only with a banner, and editable again once it
stops, all without reloading.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from algovisor.services import strategies
from algovisor.services import versions as version_service
from algovisor.services.context import ServiceContext
from tests.conftest import HostProcess
from tests.web.conftest import SCREENSHOTS, open_page
from tests.web.test_dashboard import LOOPING, assert_not_reloaded, card, mark_page

# Collects the page's CSP violations from before its first script runs.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__csp.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}`);
});
"""


def names(ctx: ServiceContext) -> set[str]:
    return {view.name for view in strategies.list_strategies(ctx)}


def test_upload_shows_a_bad_start_beside_it_then_adds_and_starts_the_strategy(
    page: Page, web_ctx: ServiceContext, web_host: HostProcess
) -> None:
    open_page(page, web_host, "/strategies/new")
    expect(page.get_by_role("link", name="New strategy")).to_have_attribute("aria-current", "page")
    page.get_by_label("Python script (.py)").set_input_files(
        {"name": "gapfill.py", "mimeType": "text/x-python", "buffer": LOOPING.encode()}
    )
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("placeholder", "gapfill")
    expect(page.get_by_label("Broker", exact=True)).to_have_value("paper")
    expect(page.get_by_label("Start", exact=True)).to_be_hidden()  # on demand unless asked
    page.get_by_label("In a daily window").check()
    # CRYPTO never closes: from 00:00 every day, the window is open whenever the test runs.
    page.get_by_label("Exchange", exact=True).select_option("CRYPTO")
    page.get_by_label("Start", exact=True).fill("24:00")
    page.get_by_label("Sat").check()
    page.get_by_label("Sun").check()
    page.get_by_role("button", name="Add strategy").click()

    start_error = page.locator('[data-error-for="start"]')
    expect(start_error).to_have_text(
        "start time '24:00' is not a 24-hour HH:MM time; write it like 09:15 or 21:00"
    )
    expect(page.get_by_label("Start", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Start", exact=True)).to_be_focused()
    assert "gapfill" not in names(web_ctx)

    page.get_by_label("Start", exact=True).fill("00:00")
    page.get_by_role("button", name="Add strategy").click()
    expect(page.get_by_role("heading", name="Added gapfill")).to_be_visible()
    expect(page.locator("#added-text")).to_contain_text("runs from 00:00 IST daily on CRYPTO")
    added = strategies.show(web_ctx, "gapfill")
    assert added.schedule is not None
    assert added.schedule.description == "from 00:00 IST daily on CRYPTO"
    assert (added.broker, added.intent, added.current_version) == ("paper", "stop", 1)

    # The dashboard, open in a second tab, follows the start pressed on this page.
    dashboard = page.context.new_page()
    dashboard.goto(f"{web_host.url}/")
    expect(dashboard.locator("#live")).to_have_text("Live")
    mark_page(dashboard)
    badge = card(dashboard, "gapfill").locator(".badge")
    expect(badge).to_have_text("Stopped")
    page.get_by_role("button", name="Start it").click()
    expect(page.locator(".toast").last).to_have_text("gapfill: start requested")
    expect(badge).to_have_text("Running")
    expect(badge).to_have_class("badge badge-green")
    card(dashboard, "gapfill").get_by_role("button", name="Stop").click()
    expect(badge).to_have_text("Stopped")
    expect(badge).to_have_class("badge badge-grey")
    assert_not_reloaded(dashboard)
    dashboard.close()

    # Another, with a file that is not Python: refused beside the file field.
    page.get_by_role("button", name="Add another").click()
    page.get_by_label("Python script (.py)").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"buy low\n"}
    )
    page.get_by_role("button", name="Add strategy").click()
    expect(page.locator('[data-error-for="file"]')).to_contain_text("is not a Python file")
    assert names(web_ctx) == {"gapfill"}
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_label("In a daily window").check()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_editor_saves_versions_and_is_read_only_while_the_strategy_runs(
    page: Page,
    web_ctx: ServiceContext,
    web_host: HostProcess,
    write_script: Callable[[str, str], Path],
) -> None:
    strategies.add(web_ctx, "editme.py", write_script("editme.py", LOOPING).read_bytes())
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text))
    page.add_init_script(WATCH_CSP)
    open_page(page, web_host, "/strategies/editme/edit")
    mark_page(page)
    content = page.locator(".cm-content")
    expect(page.get_by_role("heading", name="Edit editme")).to_be_visible()
    expect(page.locator("#version-info")).to_have_text("version 1 · editme.py")
    expect(content).to_contain_text("while True:")
    # Highlighted: the keyword is coloured by CodeMirror's constructed style sheet.
    keyword = page.locator(".cm-line span", has_text="import").first
    assert keyword.evaluate("node => getComputedStyle(node).color") != content.evaluate(
        "node => getComputedStyle(node).color"
    )
    save = page.get_by_role("button", name="Save")
    expect(save).to_be_disabled()  # nothing to save yet

    content.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("# tuned in the browser")
    expect(save).to_be_enabled()
    page.keyboard.press("Control+s")
    expect(page.locator("#save-status")).to_have_text("Saved as version 2.")
    expect(page.locator("#version-info")).to_have_text("version 2 · editme.py")
    saved = version_service.script(web_ctx, "editme")
    assert (saved.version, saved.content) == (2, LOOPING + "# tuned in the browser")
    expect(save).to_be_disabled()

    # The host's refusal is shown above the editor; undo brings the text back.
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    save.click()
    expect(page.locator("#save-error")).to_contain_text("editme.py is empty")
    page.keyboard.press("Control+z")
    expect(content).to_contain_text("# tuned in the browser")
    assert version_service.script(web_ctx, "editme").version == 2

    # Esc then Tab leaves the editor (Tab alone indents).
    content.click()
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.evaluate("!document.activeElement.closest('.cm-editor')")

    # An unsaved edit, then the strategy starts: read-only with a banner, edit kept.
    content.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("  # unsaved")
    strategies.start(web_ctx, "editme")
    banner = page.locator("#running-banner")
    expect(banner).to_contain_text("editme is running")
    expect(banner).to_contain_text("stop it to edit")
    expect(page.locator("#state-badge")).to_have_text("Running")
    expect(content).to_have_attribute("contenteditable", "false")
    expect(save).to_be_disabled()
    content.click()
    page.keyboard.type("zzz")
    page.keyboard.press("Control+s")
    expect(page.locator("#save-status")).to_have_text("editme is running: stop it to save.")
    expect(content).not_to_contain_text("zzz")
    expect(content).to_contain_text("# unsaved")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "editor.png"), full_page=True)

    banner.get_by_role("button", name="Stop it").click()
    expect(page.locator(".toast").last).to_have_text("editme: stop requested")
    expect(banner).to_be_hidden()
    expect(page.locator("#state-badge")).to_have_text("Stopped")
    expect(content).to_have_attribute("contenteditable", "true")
    expect(content).to_contain_text("# unsaved")
    expect(save).to_be_enabled()
    save.click()
    expect(page.locator("#save-status")).to_have_text("Saved as version 3.")
    assert version_service.script(web_ctx, "editme").content.endswith("# unsaved")
    assert_not_reloaded(page)

    # A phone's width: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("window.__csp") == []
    assert not [text for text in console_errors if "Content Security Policy" in text]

    # Leaving with unsaved edits asks first.
    content.click()
    page.keyboard.type("# not saved")
    with page.expect_event("dialog") as asked:
        page.close(run_before_unload=True)
    assert asked.value.type == "beforeunload"
    asked.value.dismiss()
    expect(content).to_contain_text("# not saved")  # still here
