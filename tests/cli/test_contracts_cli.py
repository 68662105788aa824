"""`algovisor contracts ...` and a strategy's broker, on a real database: download (a file,
or the paper generator), status, search, lookup, expiries and the option chain.

The CLI runs on the system clock, so the trading day is read from `status --json`
rather than written down here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from algovisor.services import strategies as strategy_service
from algovisor.services.context import ServiceContext
from tests.cli.conftest import CliCall
from tests.conftest import small_zerodha_csv

LOOPING = """
import time
while True:
    time.sleep(0.1)
"""
KNOWN_BROKERS = "paper, zerodha, angel, dhan, upstox, openalgo"

WriteScript = Callable[[str, str], Path]


def flat(text: str) -> str:
    """Output with Rich's line wrapping and table rules undone, for looking up phrases."""
    return " ".join(text.translate(str.maketrans("│┃━╇", "    ")).split())


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}"
    # strip(): the download's transient progress bar leaves a newline on a non-terminal.
    assert not result.stderr.strip(), result.stderr
    return result


def json_of(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def failed(result: Result, fragment: str, exit_code: int) -> str:
    """A refusal as a trader sees it: the exit code, `error: ...` on stderr, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    message = flat(result.stderr)
    assert message.startswith("error:"), message
    assert fragment.lower() in message.lower(), message
    return message


def paper_status(cli: CliCall) -> dict[str, Any]:
    view: dict[str, Any] = json_of(cli("contracts", "status", "--broker", "paper", "--json"))
    return view


def download_small(cli: CliCall, path: Path, *options: str) -> Result:
    return cli("contracts", "download", "--file", str(small_zerodha_csv(path)), *options)


# ----- download a file, then look things up ------------------------------------------------


def test_download_a_file_then_status_search_lookup_expiries_and_chain(
    cli: CliCall, tmp_path: Path
) -> None:
    before = flat(ok(cli("contracts", "status")).stdout)
    assert "paper: pending, not ready - not downloaded yet" in before
    assert "waiting for the paper master contract: not downloaded yet" in before
    assert [view["broker"] for view in json_of(cli("contracts", "status", "--json"))] == ["paper"]

    path = tmp_path / "instruments.csv"
    said = flat(ok(download_small(cli, path, "--format", "zerodha")).stdout)
    view = paper_status(cli)
    day = view["current_trading_day"]
    assert (view["status"], view["is_ready"], view["total_symbols"]) == ("success", True, 5)
    assert view["trading_day"] == day
    assert view["exchange_counts"] == {"NFO": 3, "NSE": 1, "NSE_INDEX": 1}
    # The download says what it loaded, as `status` does.
    assert "paper: success, ready - Master contracts ready" in said
    assert f"5 symbols for {day} (current trading day {day})" in said
    assert "exchanges: NFO 3, NSE 1, NSE_INDEX 1" in said
    assert f"source: {path} (zerodha)" in said
    shown = flat(ok(cli("contracts", "status")).stdout)
    assert "paper: success, ready - Master contracts ready" in shown
    assert f"5 symbols for {day}" in shown
    assert "waiting for" not in shown
    assert json_of(cli("contracts", "status", "--json")) == [view]

    found = json_of(cli("contracts", "search", "NIFTY", "--exchange", "NFO", "--json"))
    assert sorted(row["symbol"] for row in found) == [
        "NIFTY28DEC2724000CE",
        "NIFTY28DEC2724000PE",
        "NIFTY28DEC27FUT",
    ]
    table = flat(ok(cli("contracts", "search", "NIFTY")).stdout)
    for row in [
        "NIFTY28DEC2724000CE NFO 12345858",
        "NIFTY28DEC2724000PE NFO 12346114",
        "NIFTY28DEC27FUT NFO 12345602",
        "NIFTY NSE_INDEX 256265",
    ]:
        assert row in table, table
    assert len(json_of(cli("contracts", "search", "NIFTY", "--limit", "1", "--json"))) == 1

    looked_up = flat(
        ok(cli("contracts", "lookup", "NIFTY28DEC2724000CE", "--exchange", "NFO")).stdout
    )
    assert "NIFTY28DEC2724000CE NFO 12345858 65 0.05 2027-12-28 24000 NIFTY27DEC24000CE" in (
        looked_up
    )
    as_json = json_of(cli("contracts", "lookup", "sbin", "-e", "nse", "--json"))
    assert (as_json["symbol"], as_json["token"], as_json["lot_size"]) == ("SBIN", "779521", 1)

    assert ok(cli("contracts", "expiries", "NIFTY")).stdout.split("\n")[0] == "2027-12-28 Tue"
    assert ok(cli("contracts", "expiries", "SBIN")).stdout == ""
    chain = flat(ok(cli("contracts", "chain", "NIFTY", "--expiry", "2027-12-28")).stdout)
    assert "NIFTY28DEC2724000CE 12345858 24000 12346114 NIFTY28DEC2724000PE" in chain
    links = json_of(cli("contracts", "chain", "NIFTY", "--expiry", "2027-12-28", "--json"))
    assert [(link["strike"], link["call"]["token"], link["put"]["token"]) for link in links] == [
        (24000.0, "12345858", "12346114")
    ]


def test_lookups_that_find_nothing(cli: CliCall, tmp_path: Path) -> None:
    failed(
        cli("contracts", "lookup", "SBIN", "--exchange", "NSE"),
        "the paper master contract has not been loaded",
        1,
    )
    message = failed(
        cli("contracts", "search", "NIFTY", "--broker", "zerodha"),
        "the zerodha master contract has not been loaded",
        1,
    )
    assert "Run `algovisor contracts download --broker zerodha`." in message

    ok(download_small(cli, tmp_path / "z.csv", "--format", "zerodha"))
    day = paper_status(cli)["trading_day"]
    message = failed(
        cli("contracts", "lookup", "NIFTY28DEC2724500CE", "--exchange", "NFO"),
        f"NIFTY28DEC2724500CE is not in the paper NFO contract for {day}",
        1,
    )
    assert "algovisor contracts search" in message
    failed(
        cli("contracts", "lookup", "SBIN", "--exchange", "NYSE"),
        "the paper contract has no exchange 'NYSE' (it has: NFO, NSE, NSE_INDEX)",
        1,
    )
    failed(cli("contracts", "search", "NIFTY", "--broker", "nosuch"), KNOWN_BROKERS, 2)
    bad_date = cli("contracts", "chain", "NIFTY", "--expiry", "28-12-2027")
    assert bad_date.exit_code == 2
    assert "'28-12-2027' is not a date like" in flat(bad_date.stderr)


# ----- bad input changes nothing ---------------------------------------------------------

BAD_DOWNLOADS = [
    pytest.param(
        ["--file", "{missing}", "--format", "zerodha"], "no such file: {missing}", id="no-file"
    ),
    pytest.param(
        ["--broker", "nosuch"],
        f"unknown broker 'nosuch'; algovisor knows: {KNOWN_BROKERS}",
        id="broker",
    ),
    pytest.param(
        ["--file", "{good}", "--format", "nosuch"],
        "unknown contract format 'nosuch'; use one of: zerodha, angel, dhan, upstox, openalgo",
        id="format",
    ),
    pytest.param(
        ["--file", "{good}", "--url", "http://127.0.0.1:9/x", "--format", "zerodha"],
        "give --file or --url, not both",
        id="file-and-url",
    ),
    pytest.param(
        ["--url", "ftp://x", "--format", "zerodha"], "'ftp://x' is not an http(s) URL", id="ftp"
    ),
    pytest.param(
        ["--file", "{good}"], "paper contracts are generated, not read; give --format", id="paper"
    ),
    pytest.param(["--format", "zerodha"], "--format goes with --file or --url", id="no-source"),
]


@pytest.mark.parametrize(("options", "fragment"), BAD_DOWNLOADS)
def test_a_bad_download_request_is_refused_and_changes_nothing(
    cli: CliCall, tmp_path: Path, options: list[str], fragment: str
) -> None:
    places = {"missing": str(tmp_path / "missing.csv"), "good": str(tmp_path / "z.csv")}
    small_zerodha_csv(tmp_path / "z.csv")
    before = paper_status(cli)
    args = [option.format(**places) for option in options]
    failed(cli("contracts", "download", *args), fragment.format(**places), 2)
    after = paper_status(cli)
    assert after == before
    assert (after["status"], after["is_ready"], after["source"]) == ("pending", False, None)


def test_a_corrupt_file_fails_and_the_loaded_contract_stays(cli: CliCall, tmp_path: Path) -> None:
    ok(download_small(cli, tmp_path / "z.csv", "--format", "zerodha"))
    loaded = paper_status(cli)
    broken = tmp_path / "broken.csv"
    broken.write_text("this is not an instrument list\n")

    result = cli("contracts", "download", "--file", str(broken), "--format", "zerodha")
    message = failed(result, "parse failed: not a Zerodha instruments CSV", 2)
    assert f"the contract for {loaded['trading_day']} (5 symbols) stays in force" in message

    after = paper_status(cli)
    assert after["status"] == "error"
    assert after["is_ready"] is True
    assert after["total_symbols"] == 5
    assert after["exchange_counts"] == loaded["exchange_counts"]
    assert after["trading_day"] == loaded["trading_day"]
    assert after["loaded_at"] == loaded["loaded_at"]
    assert after["failures"] == 1
    shown = flat(ok(cli("contracts", "status")).stdout)
    assert "paper: error, ready - parse failed:" in shown
    assert "(5 symbols) stays in force" in shown
    # Lookups still answer from the contract in force.
    lookup = json_of(cli("contracts", "lookup", "NIFTY28DEC27FUT", "-e", "NFO", "--json"))
    assert lookup["token"] == "12345602"


def test_the_paper_contract_is_generated_for_the_trading_day(cli: CliCall) -> None:
    said = flat(ok(cli("contracts", "download")).stdout)
    assert "paper: success, ready - Master contracts ready" in said
    assert "source: the paper generator" in said

    view = paper_status(cli)
    assert view["is_ready"] is True
    assert view["trading_day"] == view["current_trading_day"]
    assert view["total_symbols"] > 140_000
    counts = view["exchange_counts"]
    assert set(counts) >= {"NSE", "NFO", "BFO", "MCX", "CDS", "NSE_INDEX"}
    assert all(counts[exchange] > 0 for exchange in counts)
    assert sum(counts.values()) == view["total_symbols"]
    assert view["rows_rejected"] == 0
    for exchange in ("NSE", "NFO", "BFO", "MCX", "CDS", "NSE_INDEX"):
        assert f"{exchange} {counts[exchange]:,}" in said, exchange


# ----- a strategy's broker ---------------------------------------------------------------


def test_a_strategy_names_its_broker(
    ctx: ServiceContext, cli: CliCall, write_script: WriteScript
) -> None:
    script = str(write_script("loop.py", LOOPING))
    view = json_of(cli("strategy", "add", script, "--broker", "zerodha", "--json"))
    assert view["broker"] == "zerodha"
    assert " zerodha " in f" {flat(ok(cli('strategy', 'list')).stdout)} "
    # Its broker's contract now shows in the status, not loaded yet.
    brokers = {item["broker"]: item for item in json_of(cli("contracts", "status", "--json"))}
    assert sorted(brokers) == ["paper", "zerodha"]
    assert brokers["zerodha"]["status"] == "pending"

    failed(
        cli("strategy", "add", script, "--name", "other", "--broker", "nosuch"),
        f"unknown broker 'nosuch'; algovisor knows: {KNOWN_BROKERS}",
        2,
    )
    assert [item.name for item in strategy_service.list_strategies(ctx)] == ["loop"]

    said = flat(ok(cli("strategy", "configure", "loop", "--broker", "angel")).stdout)
    assert "broker angel" in said
    assert strategy_service.show(ctx, "loop").broker == "angel"
    failed(cli("strategy", "configure", "loop", "--broker", "nosuch"), "unknown broker", 2)
    assert strategy_service.show(ctx, "loop").broker == "angel"
