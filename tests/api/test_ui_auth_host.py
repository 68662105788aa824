"""`algovisor serve` creates the web UI's admin on first run and prints its password once."""

from __future__ import annotations

import re
import signal

import httpx

from tests.conftest import HostProcess

ADMIN_LINE = re.compile(
    r"Web UI: (?P<url>\S+) — user admin, password \(shown once, keep it\): (?P<password>\S+)"
)


def test_the_first_start_prints_the_admin_password_once(host: HostProcess) -> None:
    host.start()
    [printed] = ADMIN_LINE.findall(host.output())
    url, password = printed
    assert url == f"{host.url}/"
    with httpx.Client(base_url=host.url, timeout=10) as browser:
        logged_in = browser.post("/api/ui/login", json={"username": "admin", "password": password})
        assert logged_in.status_code == 200, logged_in.text
        assert browser.get("/api/strategies").status_code == 200

    host.kill(signal.SIGTERM)
    host.start()
    assert len(ADMIN_LINE.findall(host.output())) == 1  # the second start prints none
    assert password not in (host.settings.data_dir / "host.log").read_text()
