"""The master-contracts page in real Chromium against a real host: status and counts per
broker, the symbol search, and "Download now" (refused with the API's reason, and a real
download from a local server that the page follows live).

Every download here reads 127.0.0.1: the zerodha contract comes from a small file served
by a local HTTP server, and the openalgo broker has no server configured (refused at once).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from algovisor.services import contracts, strategies
from algovisor.services.context import ServiceContext
from tests.conftest import HostProcess, small_zerodha_csv, wait_until
from tests.web.conftest import SCREENSHOTS, open_page

LOOPING = "import time\nwhile True:\n    time.sleep(0.1)\n"


class QuietFiles(SimpleHTTPRequestHandler):
    """Serves a folder; counts the requests instead of logging them."""

    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A local server for `tmp_path/served`: its base URL, and the paths it was asked for."""
    folder = tmp_path / "served"
    folder.mkdir()
    small_zerodha_csv(folder / "instruments.csv")
    asked: list[str] = []
    handler = type("Handler", (QuietFiles,), {"requests": asked})
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()
    thread.join()


def test_contracts_show_counts_search_and_download_now(
    page: Page,
    web_ctx: ServiceContext,
    web_host: HostProcess,
    file_server: tuple[str, list[str]],
    write_script: Callable[[str, str], Path],
) -> None:
    base_url, asked = file_server
    source = contracts.choose_source("zerodha", url=f"{base_url}/instruments.csv")
    zerodha_before = contracts.download(web_ctx, "zerodha", source)
    assert asked == ["/instruments.csv"]
    # A strategy on the openalgo broker, which has no server configured: no contract.
    strategies.add(
        web_ctx, "upstream.py", write_script("upstream.py", LOOPING).read_bytes(), broker="openalgo"
    )
    paper_status = contracts.status(web_ctx, "paper")
    (sbin_row,) = contracts.search(web_ctx, "paper", "SBIN")

    open_page(page, web_host, "/contracts")
    page.evaluate("window.__notReloaded = true")
    paper = page.locator('li.contract-card[data-broker="paper"]')
    expect(paper.locator(".badge")).to_have_text("Ready ✓")
    expect(paper.locator(".badge")).to_have_class("badge badge-green")
    expect(paper.locator('[data-field="total"]')).to_have_text("5")
    expect(paper.locator('[data-field="updated"]')).to_contain_text("IST")
    expect(paper.locator('[data-field="loaded"]')).to_contain_text("IST")
    expect(paper.locator('[data-field="source"]')).to_contain_text("paper-contract.csv (zerodha)")
    expect(paper.locator('table[data-table="exchanges"] tbody tr')).to_have_text(
        [f"{exchange}{count}" for exchange, count in paper_status.exchange_counts.items()]
    )
    steps = paper.locator('table[data-table="steps"] tbody tr td:first-child')
    expect(steps).to_contain_text(["parse", "validate", "load", "total"])
    upstream = page.locator('li.contract-card[data-broker="openalgo"]')
    expect(upstream.locator(".badge")).to_have_text("Waiting ⏰")
    expect(upstream.locator('[data-field="message"]')).not_to_be_empty()

    # The search: debounced as one types, for the broker and exchange chosen.
    search = page.get_by_label("Symbol starts with")
    page.get_by_label("Broker", exact=True).select_option("paper")
    search.press_sequentially("SBIN")
    sbin = page.locator('#results tr[data-symbol="SBIN"]')
    expect(sbin).to_have_count(1)
    expect(sbin.locator("td")).to_have_text(
        ["SBIN", sbin_row.name, "NSE", "779521", "—", "—", "1", "0.05", "EQ"]
    )
    expect(page.locator("#search-status")).to_have_text("1 paper symbol starting with “SBIN”.")
    search.fill("NIFTY")
    page.get_by_label("Exchange", exact=True).select_option("NFO")
    expect(page.locator("#results tbody tr")).to_have_count(3)
    call = next(row for row in contracts.search(web_ctx, "paper", "NIFTY", "NFO") if row.strike)
    expect(page.locator(f'#results tr[data-symbol="{call.symbol}"] td').nth(5)).to_have_text(
        "24,000"
    )
    search.fill("XYZ")
    expect(page.locator("#search-status")).to_have_text("No paper symbol on NFO starts with “XYZ”.")
    expect(page.locator("#results")).to_be_hidden()
    # A broker with no contract: the API's answer beside the box.
    page.get_by_label("Broker", exact=True).select_option("openalgo")
    expect(page.locator('[data-error-for="q"]')).to_contain_text(
        "the openalgo master contract has not been loaded"
    )
    expect(search).to_have_attribute("aria-invalid", "true")

    # Download now, refused: the API's reason shows, and nothing else changes.
    upstream.get_by_role("button", name="Download now").click()
    expect(upstream.locator(".download-result")).to_contain_text(
        "no OpenAlgo server is configured for the openalgo broker"
    )
    expect(upstream.locator(".badge")).to_have_text("Waiting ⏰")
    expect(upstream.get_by_role("button", name="Download now")).to_be_enabled()

    # Download now, from its remembered URL (the local server): followed live.
    zerodha = page.locator('li.contract-card[data-broker="zerodha"]')
    expect(zerodha.locator(".badge")).to_have_text("Ready ✓")
    loaded_before = zerodha_before.model_dump(mode="json")["loaded_at"]
    expect(zerodha.locator('[data-field="loaded"]')).to_have_attribute("data-at", loaded_before)
    zerodha.get_by_role("button", name="Download now").click()
    expect(zerodha.locator(".download-result")).to_contain_text(
        "Download of the zerodha contract requested"
    )
    wait_until(
        lambda: contracts.status(web_ctx, "zerodha").loaded_at != zerodha_before.loaded_at,
        message="the zerodha contract loaded again",
    )
    assert asked == ["/instruments.csv", "/instruments.csv"]
    loaded_after = contracts.status(web_ctx, "zerodha").model_dump(mode="json")["loaded_at"]
    expect(zerodha.locator('[data-field="loaded"]')).to_have_attribute("data-at", loaded_after)
    expect(zerodha.locator(".badge")).to_have_text("Ready ✓")
    expect(zerodha.locator('table[data-table="steps"]')).to_contain_text("download")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#toasts").evaluate("box => box.replaceChildren()")  # the page, not its toasts
    page.screenshot(path=str(SCREENSHOTS / "contracts.png"), full_page=True)
    # A phone's width: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("window.__notReloaded === true")
