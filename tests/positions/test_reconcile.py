"""Reconciliation verdicts, table-driven: what a trader reads after a crash."""

from __future__ import annotations

import pytest

from algovisor.positions.reconcile import (
    BrokerPosition,
    Finding,
    HeldPosition,
    Key,
    Verdict,
    reconcile,
)

NIFTY_CE = Key("NIFTY25NOV2524000CE", "NFO", "NRML")
SBIN = Key("SBIN", "NSE", "MIS")
INFY = Key("INFY", "NSE", "CNC")


def held(position_id: int, key: Key, quantity: int, strategy: str = "straddle") -> HeldPosition:
    return HeldPosition(position_id, strategy, key, quantity)


def verdicts(findings: list[Finding]) -> dict[Key, Verdict]:
    return {finding.key: finding.verdict for finding in findings}


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        pytest.param(
            [held(1, SBIN, 100)], [BrokerPosition(SBIN, 100)], Verdict.MATCHED, id="match"
        ),
        pytest.param(
            [held(1, SBIN, -50)], [BrokerPosition(SBIN, -50)], Verdict.MATCHED, id="short"
        ),
        pytest.param([held(1, SBIN, 100)], [], Verdict.CLOSED_AT_BROKER, id="ghost: absent"),
        pytest.param(
            [held(1, SBIN, 100)], [BrokerPosition(SBIN, 0)], Verdict.CLOSED_AT_BROKER, id="ghost: 0"
        ),
        pytest.param(
            [held(1, SBIN, 100)], [BrokerPosition(SBIN, 60)], Verdict.QUANTITY_MISMATCH, id="less"
        ),
        pytest.param(
            [held(1, SBIN, 100)],
            [BrokerPosition(SBIN, -100)],
            Verdict.QUANTITY_MISMATCH,
            id="opposite direction",
        ),
        pytest.param([], [BrokerPosition(SBIN, 75)], Verdict.ORPHAN, id="orphan"),
        pytest.param(
            [held(1, SBIN, 50), held(2, SBIN, -50, "hedger")],
            [BrokerPosition(SBIN, 0)],
            Verdict.MATCHED,
            id="two strategies net to flat",
        ),
        pytest.param(
            [held(1, SBIN, 50), held(2, SBIN, -50, "hedger")],
            [BrokerPosition(SBIN, 50)],
            Verdict.QUANTITY_MISMATCH,
            id="netting to flat, broker long",
        ),
    ],
)
def test_one_key(ours: list[HeldPosition], theirs: list[BrokerPosition], expected: Verdict) -> None:
    assert verdicts(reconcile(ours, theirs)) == {SBIN: expected}


def test_quantities_are_netted_across_strategies_on_one_account() -> None:
    ours = [held(1, NIFTY_CE, -75, "straddle"), held(2, NIFTY_CE, -75, "iron_fly")]
    [finding] = reconcile(ours, [BrokerPosition(NIFTY_CE, -150)])
    assert finding.verdict is Verdict.MATCHED
    assert finding.position_ids == (1, 2)
    assert finding.strategies == ("iron_fly", "straddle")


def test_the_same_symbol_in_another_product_is_another_position() -> None:
    ours = [held(1, SBIN, 100)]
    cnc = Key("SBIN", "NSE", "CNC")
    findings = verdicts(reconcile(ours, [BrokerPosition(SBIN, 100), BrokerPosition(cnc, 10)]))
    assert findings == {SBIN: Verdict.MATCHED, cnc: Verdict.ORPHAN}


def test_a_failed_broker_query_is_unknown_never_flat() -> None:
    findings = reconcile([held(1, SBIN, 100), held(2, INFY, 5)], None)
    assert {finding.verdict for finding in findings} == {Verdict.UNKNOWN}
    assert [finding.broker_quantity for finding in findings] == [None, None]
    assert "could not be asked" in findings[0].detail


def test_flat_broker_rows_without_positions_say_nothing() -> None:
    assert reconcile([], [BrokerPosition(SBIN, 0)]) == []


def test_findings_explain_themselves_and_come_in_key_order() -> None:
    findings = reconcile([held(1, SBIN, 100)], [BrokerPosition(SBIN, 60), BrokerPosition(INFY, 5)])
    assert [finding.key for finding in findings] == [INFY, SBIN]
    assert findings[1].detail == "NSE:SBIN MIS: strategies hold +100, the broker +60"
