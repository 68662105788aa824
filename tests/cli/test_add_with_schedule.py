"""`algovisor strategy add --start ...`: a strategy and its schedule in one step, as the web
UI's upload form does; a bad schedule adds nothing."""

from __future__ import annotations

from algovisor.services import strategies as strategy_service
from algovisor.services.context import ServiceContext
from tests.cli.conftest import CliCall
from tests.cli.test_cli import LOOPING, WriteScript, failed, ok


def test_add_with_a_schedule_and_a_bad_one_that_adds_nothing(
    ctx: ServiceContext, cli: CliCall, write_script: WriteScript
) -> None:
    script = write_script("opening.py", LOOPING)
    refused = cli("strategy", "add", str(script), "--start", "09:15", "--days", "funday")
    failed(refused, "unknown day 'funday'")
    assert strategy_service.list_strategies(ctx) == []

    result = ok(cli("strategy", "add", str(script), "--start", "09:15", "--stop", "15:30"))
    assert "scheduled 09:15-15:30 IST mon-fri on NSE" in result.stdout
    [view] = strategy_service.list_strategies(ctx)
    assert view.schedule is not None
    assert (view.schedule.exchange, view.intent) == ("NSE", "stop")
