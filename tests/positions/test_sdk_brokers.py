"""`algovisor.sdk.openalgo_broker()`: the account behind a strategy's OpenAlgo variables."""

from __future__ import annotations

import subprocess
import sys

import pytest

from algovisor.sdk import openalgo_broker


def test_it_is_built_from_the_variables_the_host_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENALGO_HOST", "http://127.0.0.1:8600/")
    monkeypatch.setenv("OPENALGO_API_KEY", "av_key")
    broker = openalgo_broker()
    try:
        assert broker.url == "http://127.0.0.1:8600"
    finally:
        broker.close()


def test_without_the_variables_it_says_what_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENALGO_HOST", "OPENALGO_API_KEY", "OPENALGO_APIKEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="needs OPENALGO_HOST and OPENALGO_API_KEY"):
        openalgo_broker()


def test_importing_the_sdk_does_not_import_httpx() -> None:
    code = "import sys, algovisor.sdk; print('httpx' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
