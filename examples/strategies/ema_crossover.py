"""EMA crossover on an NSE stock, written for OpenAlgo: runs unmodified on algovisor's paper broker.

The shape of OpenAlgo's own `simple_ema_strategy.py`: bars from `client.history()`,
EMAs with pandas, orders with `client.placesmartorder()`. Long while the fast EMA
is above the slow one, short while it is below; each cross reverses the position.
On start it takes the side of the current trend (the broker's `openposition`
says what is already held, so a restart places nothing twice).

Signals use the last *completed* bar: the newest one may still be forming.
After the broker squares off MIS, the strategy waits for the next cross
instead of re-entering at once. SIGTERM (`algovisor strategy stop`) finishes
the current step and exits; the position is left as it is.

Settings (environment variables; algovisor sets OPENALGO_API_KEY and OPENALGO_HOST):
    SYMBOL=SBIN  EXCHANGE=NSE  PRODUCT=MIS  QUANTITY=1
    FAST=5  SLOW=20  INTERVAL=5m  POLL_SECS=15  LOOKBACK_DAYS=7
"""

import os
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
from openalgo import api

STRATEGY = os.environ.get("ALGOVISOR_STRATEGY_NAME", "EMA Crossover Python")
SYMBOL = os.environ.get("SYMBOL", "SBIN").upper()
EXCHANGE = os.environ.get("EXCHANGE", "NSE").upper()
PRODUCT = os.environ.get("PRODUCT", "MIS").upper()
QUANTITY = int(os.environ.get("QUANTITY", "1"))
FAST = int(os.environ.get("FAST", "5"))
SLOW = int(os.environ.get("SLOW", "20"))
INTERVAL = os.environ.get("INTERVAL", "5m")
POLL_SECS = float(os.environ.get("POLL_SECS", "15"))
LOOKBACK_DAYS = int(os.environ.get("LOOKBACK_DAYS", "7"))
IST = timezone(timedelta(hours=5, minutes=30), "IST")

API_KEY = os.environ.get("OPENALGO_API_KEY") or os.environ.get("OPENALGO_APIKEY")
if not API_KEY:
    sys.exit("set OPENALGO_API_KEY (algovisor sets it for strategies on the paper broker)")
if not 0 < FAST < SLOW or QUANTITY <= 0:
    sys.exit(f"need 0 < FAST < SLOW and QUANTITY > 0, not FAST={FAST} SLOW={SLOW} Q={QUANTITY}")

client = api(
    api_key=API_KEY,
    host=os.environ.get("OPENALGO_HOST", "http://127.0.0.1:5000"),
    timeout=8.0,  # not the client's 120 s: a stop must finish within algovisor's 10 s grace
)
stopping = threading.Event()


def log(message: str) -> None:
    print(f"{datetime.now(IST):%H:%M:%S} {message}", flush=True)


def failed(answer: Any, what: str) -> bool:
    """The client never raises: an error comes back as {"status": "error", "message": ...}."""
    if isinstance(answer, dict) and answer.get("status") == "success":
        return False
    message = answer.get("message") if isinstance(answer, dict) else repr(answer)
    log(f"{what} failed: {message}; retrying in {POLL_SECS:g} s")
    return True


def fetch_bars() -> pd.DataFrame | None:
    """Recent bars, oldest first; None when the broker has none to give right now."""
    today = datetime.now(IST).date()
    bars = client.history(
        symbol=SYMBOL,
        exchange=EXCHANGE,
        interval=INTERVAL,
        start_date=(today - timedelta(days=LOOKBACK_DAYS)).isoformat(),
        end_date=today.isoformat(),
    )
    if not isinstance(bars, pd.DataFrame):  # an error dict, like every other call
        failed(bars, "history")
        return None
    if len(bars) < SLOW + 2:
        log(f"only {len(bars)} {INTERVAL} bars of {SYMBOL}; need {SLOW + 2}")
        return None
    return bars


def trend(close: pd.Series) -> tuple[int, float, float]:
    """+1 when the fast EMA is above the slow one on the last completed bar, -1 below, 0 equal."""
    fast = float(close.ewm(span=FAST, adjust=False).mean().iloc[-2])
    slow = float(close.ewm(span=SLOW, adjust=False).mean().iloc[-2])
    return (fast > slow) - (fast < slow), fast, slow


def position_now() -> int | None:
    """The broker's net quantity in SYMBOL (signed), or None if it could not be asked."""
    answer = client.openposition(
        strategy=STRATEGY, symbol=SYMBOL, exchange=EXCHANGE, product=PRODUCT
    )
    if failed(answer, "openposition"):
        return None
    return int(float(answer.get("quantity") or 0))


def go_to(target: int, held: int) -> bool:
    """Move the position from `held` to `target` with one smart order; True if accepted."""
    action = "BUY" if target > held else "SELL"
    answer = client.placesmartorder(
        strategy=STRATEGY,
        symbol=SYMBOL,
        action=action,
        exchange=EXCHANGE,
        price_type="MARKET",
        product=PRODUCT,
        quantity=abs(target - held),
        position_size=target,
    )
    if failed(answer, f"{action} {abs(target - held)} {SYMBOL}"):
        return False
    log(f"{action} {abs(target - held)} {SYMBOL}: order {answer.get('orderid', '-')} ({target:+d})")
    return True


def main() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        # A flag, not an exception: a stop never lands between an order and its log line.
        signal.signal(signum, lambda *_: stopping.set())
    log(
        f"{STRATEGY}: EMA {FAST}/{SLOW} on {EXCHANGE}:{SYMBOL} {INTERVAL} bars, "
        f"{QUANTITY} {PRODUCT}, polling every {POLL_SECS:g} s"
    )
    acted_on = 0  # the trend we last traded on; 0: none yet
    while not stopping.is_set():
        bars = fetch_bars()
        held = position_now() if bars is not None else None
        if bars is not None and held is not None:
            side, fast, slow = trend(bars["close"])
            log(
                f"{SYMBOL} {float(bars['close'].iloc[-1]):.2f}  EMA{FAST} {fast:.3f}  "
                f"EMA{SLOW} {slow:.3f}  position {held:+d}"
            )
            target = side * QUANTITY
            if side and side != acted_on:
                if acted_on:
                    log(f"fast EMA crossed {'above' if side > 0 else 'below'} slow")
                else:
                    log(f"trend at start: {'up' if side > 0 else 'down'}, target {target:+d}")
                if held == target or go_to(target, held):
                    acted_on = side
            elif side and held != target:
                log(f"holding {held:+d}, not {target:+d} (squared off?): waiting for a cross")
        stopping.wait(POLL_SECS)
    log("stopped; the position stays as it is")


if __name__ == "__main__":
    main()
