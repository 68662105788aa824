"""The paper broker's settings: starting cash, MIS square-off times, margin rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal

from algovisor.brokers.paper.margin import MarginRules
from algovisor.brokers.paper.segments import squareoff_times
from algovisor.services.context import ServiceContext


@dataclass(frozen=True, slots=True)
class PaperSettings:
    starting_cash: Decimal = Decimal(10_000_000)
    squareoff: dict[str, time] = field(
        default_factory=lambda: squareoff_times("15:15", "16:45", "23:30")
    )
    rules: MarginRules = field(default_factory=MarginRules)

    @classmethod
    def of(cls, ctx: ServiceContext) -> PaperSettings:
        settings = ctx.settings
        return cls(
            starting_cash=Decimal(settings.paper_starting_cash),
            squareoff=squareoff_times(
                settings.paper_squareoff_equity,
                settings.paper_squareoff_currency,
                settings.paper_squareoff_commodity,
            ),
        )
