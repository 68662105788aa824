"""Bad position input is refused at the call, naming what is wrong."""

from __future__ import annotations

import math

import pytest

from algovisor.errors import InvalidInputError
from algovisor.positions.validation import PositionInputError, Side, check_entry


def test_a_good_entry_is_normalised() -> None:
    entry = check_entry(" nifty25nov2524000ce ", "nfo", "sell", 75.0, 112.5, product="nrml")
    assert (entry.symbol, entry.exchange, entry.side, entry.quantity) == (
        "NIFTY25NOV2524000CE",
        "NFO",
        Side.SHORT,
        75,
    )
    assert (entry.entry_price, entry.product, entry.stop_price) == (112.5, "NRML", None)
    assert Side.of("BUY") is Side.LONG
    assert Side.SHORT.sign == -1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"quantity": 0}, "quantity must be above zero"),
        ({"quantity": -75}, "quantity must be above zero"),
        ({"quantity": 7.5}, "quantity must be a whole number"),
        ({"quantity": True}, "quantity must be a whole number"),
        ({"entry_price": math.nan}, "entry price must be a finite number above zero"),
        ({"entry_price": math.inf}, "entry price must be a finite number above zero"),
        ({"entry_price": -1}, "entry price must be a finite number above zero"),
        ({"entry_price": "100"}, "entry price must be a number"),
        ({"stop_price": math.nan}, "stop price must be a finite number above zero"),
        ({"target_price": 0}, "target price must be a finite number above zero"),
        ({"side": "HOLD"}, "side must be LONG or SHORT (or BUY or SELL), not 'HOLD'"),
        ({"exchange": "NYSE"}, "unknown exchange 'NYSE'"),
        ({"product": "BO"}, "product must be one of MIS, NRML, CNC"),
        ({"symbol": ""}, "symbol must be 1-64 characters"),
    ],
)
def test_bad_input_is_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "symbol": "SBIN",
        "exchange": "NSE",
        "side": "BUY",
        "quantity": 10,
        "entry_price": 812.4,
        "stop_price": 800.0,
        "target_price": 840.0,
    } | change
    with pytest.raises(PositionInputError) as refused:
        check_entry(**arguments)  # type: ignore[arg-type]
    assert message in refused.value.message
    assert isinstance(refused.value, InvalidInputError)  # the API answers 4xx
