"""What an order or a position blocks as margin: simple, documented rules (`MarginRules`).

Pure. Money is Decimal, from the printed value of each float price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from algovisor.brokers.paper.segments import DERIVATIVE_EXCHANGES, OPTION_TYPES
from algovisor.contracts.records import Instrument


class Side(Protocol):
    """What the rules read from an order: `orders.OrderRequest` is one."""

    @property
    def action(self) -> str: ...

    @property
    def product(self) -> str: ...


def decimal(value: float) -> Decimal:
    """The decimal a float prints as: 100.05 is Decimal('100.05'), not its binary value."""
    return Decimal(repr(float(value)))


@dataclass(frozen=True, slots=True)
class MarginRules:
    """What a unit of new exposure blocks, as a share of a price. Simple, documented rules:

    - shares: MIS `equity_intraday` of the price (20%: SEBI's 5x intraday leverage),
      CNC the whole price (delivery is paid for);
    - futures (NRML or MIS: since the peak-margin rules intraday F&O leverage is no
      higher than overnight) `futures` of the price, long or short;
    - options bought: the premium; options sold: `options_sold` of the strike, the
      strike standing in for the underlying's price.
    """

    equity_intraday: Decimal = Decimal("0.20")
    equity_delivery: Decimal = Decimal(1)
    futures: Decimal = Decimal("0.12")
    options_sold: Decimal = Decimal("0.12")


DEFAULT_MARGIN_RULES = MarginRules()


def margin_per_unit(
    request: Side,
    instrument: Instrument,
    reference_price: float,
    rules: MarginRules = DEFAULT_MARGIN_RULES,
) -> float:
    """What one unit of new exposure from this order blocks (see MarginRules)."""
    price = decimal(reference_price)
    kind = instrument.instrument_type
    if kind in OPTION_TYPES:
        if request.action == "BUY":
            amount = price
        else:
            amount = rules.options_sold * decimal(instrument.strike or reference_price)
    elif kind == "FUT" or instrument.exchange in DERIVATIVE_EXCHANGES:
        amount = rules.futures * price
    elif request.product == "CNC":
        amount = rules.equity_delivery * price
    else:
        amount = rules.equity_intraday * price
    return float(amount)
