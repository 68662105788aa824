"""Short NIFTY straddle with a trailing stop on each leg, through OpenAlgo; survives crashes.

Sells one lot each of the at-the-money CE and PE of the nearest expiry (NRML),
then polls their premiums: each leg's stop sits TRAIL_PCT above the lowest
premium seen since entry, so it trails down as the premium decays, and the leg
is bought back when the premium climbs to it.

Every entry, stop move and exit goes through the position SDK, with an order
intent around each order. After a crash (kill -9 included) the next run asks
the SDK for what it held, checked against the broker's position book: a leg
the broker still holds is resumed from its stored stop; one the broker closed
meanwhile is recorded as exited. A leg is never bought back when the broker
says it is already flat. SIGTERM ends the run cleanly; open legs stay open and
the next run resumes them. One straddle per run: a run that resumed legs, or
whose legs have all been bought back, opens no new one.

Settings (environment variables; algovisor sets OPENALGO_API_KEY and OPENALGO_HOST):
    UNDERLYING=NIFTY  LOTS=1  TRAIL_PCT=25  STRIKE_STEP=50  POLL_SECS=5
"""

import os
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

from openalgo import api

from algovisor.sdk import PositionPersistenceManager, openalgo_broker

STRATEGY = os.environ.get("ALGOVISOR_STRATEGY_NAME", "NIFTY short straddle")
UNDERLYING = os.environ.get("UNDERLYING", "NIFTY").upper()
EXCHANGE, PRODUCT = "NFO", "NRML"
LOTS = int(os.environ.get("LOTS", "1"))
TRAIL = float(os.environ.get("TRAIL_PCT", "25")) / 100
STRIKE_STEP = float(os.environ.get("STRIKE_STEP", "50"))
POLL_SECS = float(os.environ.get("POLL_SECS", "5"))
IST = timezone(timedelta(hours=5, minutes=30), "IST")

API_KEY = os.environ.get("OPENALGO_API_KEY") or os.environ.get("OPENALGO_APIKEY")
if not API_KEY:
    sys.exit("set OPENALGO_API_KEY (algovisor sets it for strategies on the paper broker)")
client = api(
    api_key=API_KEY,
    host=os.environ.get("OPENALGO_HOST", "http://127.0.0.1:5000"),
    timeout=8.0,  # not the client's 120 s: a stop must finish within algovisor's 10 s grace
)
stopping = threading.Event()


@dataclass
class Leg:
    position_id: int
    name: str  # CE or PE
    symbol: str
    quantity: int
    stop: float
    low: float  # the lowest premium since entry: the stop trails it
    tick: float


def log(message: str) -> None:
    print(f"{datetime.now(IST):%H:%M:%S} {message}", flush=True)


def answer_of(response: Any, what: str) -> dict[str, Any] | None:
    """The response, or None after logging it: the client returns errors, it never raises."""
    if isinstance(response, dict) and response.get("status") == "success":
        return response
    message = response.get("message") if isinstance(response, dict) else repr(response)
    log(f"{what} failed: {message}")
    return None


def ltp(symbol: str, exchange: str = EXCHANGE) -> float | None:
    answer = answer_of(client.quotes(symbol=symbol, exchange=exchange), f"quote of {symbol}")
    return float(answer["data"]["ltp"]) if answer else None


def on_tick(price: float, tick: float) -> float:
    return round(round(price / tick) * tick, 2)


def broker_quantity(symbol: str) -> int | None:
    response = client.openposition(
        strategy=STRATEGY, symbol=symbol, exchange=EXCHANGE, product=PRODUCT
    )
    answer = answer_of(response, f"openposition {symbol}")
    return int(float(answer.get("quantity") or 0)) if answer else None


def fill_price(order_id: str, fallback: float) -> float:
    """What the order filled at, as the broker reports it; `fallback` if it does not say."""
    answer = answer_of(client.orderstatus(order_id=order_id, strategy=STRATEGY), "orderstatus")
    data = answer.get("data", {}) if answer else {}
    for key in ("average_price", "price"):
        if float(data.get(key) or 0) > 0:
            return float(data[key])
    return fallback


def still_trading(expiry: str) -> bool:
    """Whether a series (expiry 28-NOV-24) trades on: it expires at 15:30 IST on its day."""
    day = datetime.strptime(expiry, "%d-%b-%y").replace(tzinfo=IST).date()
    now = datetime.now(IST)
    return day > now.date() or (day == now.date() and now.time() < time(15, 30))


def strike_text(strike: float) -> str:
    """24000.0 -> 24000, 292.5 -> 292.5: how OpenAlgo writes a strike in a symbol."""
    return f"{strike:.4f}".rstrip("0").rstrip(".")


def order(
    positions: PositionPersistenceManager,
    leg: str,
    symbol: str,
    action: str,
    quantity: int,
    position_id: int | None = None,
) -> str | None:
    """A MARKET order, made durable as an intent first; returns the broker's order id."""
    intent = positions.record_order_intent(
        symbol, EXCHANGE, action, quantity, position_id=position_id, purpose=f"{leg} {action}"
    )
    response = client.placeorder(
        strategy=STRATEGY,
        symbol=symbol,
        action=action,
        exchange=EXCHANGE,
        price_type="MARKET",
        product=PRODUCT,
        quantity=quantity,
    )
    answer = answer_of(response, f"{action} {quantity} {symbol}")
    if answer is None:
        positions.confirm_order(intent, accepted=False, message=str(response)[:500])
        return None
    positions.confirm_order(intent, str(answer["orderid"]))
    return str(answer["orderid"])


def resume(positions: PositionPersistenceManager) -> tuple[dict[int, Leg], int]:
    """The legs a previous run left open that the broker still holds, and how many it left."""
    legs: dict[int, Leg] = {}
    records = positions.recover(openalgo_broker())
    for record in records:
        verdict = record.broker_verdict or "unknown"
        if verdict != "matched":
            log(f"{record.leg} {record.symbol}: {verdict}: {record.verdict_detail}")
        positions.mark_position_recovered(record.id, notes=f"resumed; broker {verdict}")
        if verdict == "closed_at_broker":
            price = ltp(record.symbol) or record.current_price or record.entry_price
            positions.save_position_exit(record.id, price, "closed at the broker while down")
            log(f"{record.leg} {record.symbol}: the broker closed it meanwhile; recorded exit")
            continue
        low = float(record.state.get("low", record.current_price or record.entry_price))
        tick = float(record.state.get("tick", 0.05))
        stop = record.stop_price or on_tick(low * (1 + TRAIL), tick)
        leg = Leg(record.id, record.leg or "?", record.symbol, record.quantity, stop, low, tick)
        legs[record.id] = leg
        log(
            f"resumed {leg.name} {leg.symbol}: short {leg.quantity} from "
            f"{record.entry_price:.2f}, stop {stop:.2f}, low {low:.2f} (broker: {verdict})"
        )
    return legs, len(records)


def straddle() -> dict[str, dict[str, Any]] | None:
    """The ATM CE and PE of the nearest expiry, as the broker lists them (lot size, tick)."""
    expiries = answer_of(
        client.expiry(symbol=UNDERLYING, exchange=EXCHANGE, instrumenttype="options"), "expiry"
    )
    spot = ltp(UNDERLYING, "NSE_INDEX")
    live = [text for text in (expiries or {}).get("data", []) if still_trading(text)]
    if not live or spot is None:
        log(f"no {UNDERLYING} expiry or index quote to choose a straddle from; retrying")
        return None
    code = live[0].replace("-", "")  # 28-NOV-24 -> 28NOV24, as in NIFTY28NOV24...
    strike = round(spot / STRIKE_STEP) * STRIKE_STEP
    wanted = f"{UNDERLYING}{code}{strike_text(strike)}CE"
    found = client.symbol(symbol=wanted, exchange=EXCHANGE)
    if found.get("status") != "success":  # not listed: the listed strike nearest the spot
        chain = answer_of(client.search(query=f"{UNDERLYING}{code} CE", exchange=EXCHANGE), "chain")
        calls = [row for row in (chain or {}).get("data", []) if row["instrumenttype"] == "CE"]
        if not calls:
            return None
        strike = min((float(row["strike"]) for row in calls), key=lambda s: abs(s - spot))
    legs = {}
    for name in ("CE", "PE"):
        symbol = f"{UNDERLYING}{code}{strike_text(strike)}{name}"
        row = answer_of(client.symbol(symbol=symbol, exchange=EXCHANGE), f"symbol {symbol}")
        if row is None:
            return None
        legs[name] = row["data"]
    log(f"{UNDERLYING} at {spot:.2f}: straddle {strike_text(strike)} of {live[0]}")
    return legs


def sell(positions: PositionPersistenceManager, name: str, row: dict[str, Any]) -> Leg | None:
    """Sell one leg and record it with its first stop; None if not done (tried again later)."""
    symbol, quantity = row["symbol"], int(row["lotsize"]) * LOTS
    tick, quote = float(row["tick_size"] or 0.05), ltp(row["symbol"])
    if quote is None:
        return None
    order_id = order(positions, name, symbol, "SELL", quantity)
    if order_id is None:
        return None
    price = fill_price(order_id, quote)
    stop = on_tick(price * (1 + TRAIL), tick)
    position_id = positions.save_position_entry(
        symbol,
        EXCHANGE,
        "SELL",
        quantity,
        price,
        product=PRODUCT,
        stop_price=stop,
        leg=name,
        state={"low": price, "tick": tick},
        entry_order_id=order_id,
    )
    log(f"sold {name} {symbol}: {quantity} at {price:.2f}, stop {stop:.2f}")
    return Leg(position_id, name, symbol, quantity, stop, price, tick)


def expired(symbol: str) -> bool:
    """Whether an option (NIFTY28NOV2424000CE) is past its expiry's close, 15:30 IST."""
    code = symbol[len(UNDERLYING) : len(UNDERLYING) + 7]  # 28NOV24
    return not still_trading(f"{code[:2]}-{code[2:5]}-{code[5:]}")


def trail(positions: PositionPersistenceManager, leg: Leg) -> bool:
    """Trail the stop down, or buy the leg back at it; True while the leg is open."""
    price = ltp(leg.symbol)
    if expired(leg.symbol) and broker_quantity(leg.symbol) == 0:  # the exchange settled it
        positions.save_position_exit(leg.position_id, price or leg.low, "settled at expiry")
        log(f"{leg.name} {leg.symbol}: expired and settled by the broker; recorded the exit")
        return False
    if price is None:
        return True
    if price < leg.stop:
        low = min(leg.low, price)
        stop = min(leg.stop, on_tick(low * (1 + TRAIL), leg.tick))
        moved, leg.stop, leg.low = stop < leg.stop, stop, low
        positions.queue_position_update(
            leg.position_id,
            current_price=price,
            stop_price=stop,
            state={"low": low},
            force_immediate=moved,  # a stop that moved is durable before the next poll
        )
        if moved:
            log(f"{leg.name} {leg.symbol}: premium {price:.2f}, stop trailed to {stop:.2f}")
        return True
    if broker_quantity(leg.symbol) == 0:  # never buy back what the broker no longer holds
        positions.save_position_exit(leg.position_id, price, "already flat at the broker")
        log(f"{leg.name} {leg.symbol}: already flat at the broker; recorded the exit")
        return False
    log(f"{leg.name} {leg.symbol}: premium {price:.2f} reached the stop {leg.stop:.2f}")
    order_id = order(positions, leg.name, leg.symbol, "BUY", leg.quantity, leg.position_id)
    if order_id is None:
        return True  # tried again on the next poll
    paid = fill_price(order_id, price)
    positions.save_position_exit(
        leg.position_id, paid, f"trailing stop {leg.stop:.2f}", exit_order_id=order_id
    )
    log(f"bought back {leg.name} {leg.symbol} at {paid:.2f}")
    return False


def main() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        # A flag, not an exception: a stop never lands between an order and its record.
        signal.signal(signum, lambda *_: stopping.set())
    log(f"{STRATEGY}: {LOTS} lot(s) of the {UNDERLYING} ATM straddle, trailing {TRAIL:.0%}")
    with PositionPersistenceManager(flush_interval_ms=200) as positions:
        legs, left = resume(positions)
        entering = not left  # after a crash or a stop: finish that straddle, open no new one
        unsold: dict[str, dict[str, Any]] = {}
        while not stopping.is_set():
            if entering:
                unsold = unsold or straddle() or {}  # chosen once; a failed leg is retried
                for name, row in list(unsold.items()):
                    leg = sell(positions, name, row)
                    if leg is not None:
                        legs[leg.position_id] = leg
                        del unsold[name]
                entering = bool(unsold) or not legs
            held = len(legs)
            legs = {key: leg for key, leg in legs.items() if trail(positions, leg)}
            if held and not legs and not entering:
                log("every leg is closed: nothing more to do in this run")
            stopping.wait(POLL_SECS)
        held = f"{len(legs)} leg(s) stay open; the next run resumes them" if legs else "no legs"
        log(f"stopping: {held}")


if __name__ == "__main__":
    main()
