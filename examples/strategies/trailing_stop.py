"""A trailing stop kept across crashes with the position SDK, on a simulated price walk.

Every entry and exit is durable before the call returns; the stop and the
high-water mark are queued and written every 100 ms. Kill this process any way
you like: `algovisor positions crashed` shows what was open, and the next run
resumes trailing from the stored stop. Prices here are simulated and no order
is sent, so its positions are booked under their own broker name, "simulated",
not netted against the paper broker's account (`option_selling.py` trades for real
on the paper broker).
"""

import random
import time

from algovisor.sdk import PositionPersistenceManager

TRAIL = 0.004  # the stop trails the high-water mark by 0.4 %
rng = random.Random()
price = 800.0

with PositionPersistenceManager(broker="simulated", flush_interval_ms=100) as positions:
    held = {}
    for record in positions.recover():
        positions.mark_position_recovered(record.id, notes="resumed by the next run")
        held[record.id] = (record.stop_price or record.entry_price, record.state.get("high", price))
        price = record.current_price or record.entry_price
        print(f"resumed position {record.id}: stop {held[record.id][0]:.2f}", flush=True)

    while True:
        price = round(price * (1 + rng.gauss(0, 0.0008)), 2)
        if not held:
            position_id = positions.save_position_entry(
                "SBIN", "NSE", "BUY", 10, price, stop_price=round(price * (1 - TRAIL), 2)
            )
            held[position_id] = (round(price * (1 - TRAIL), 2), price)
            print(f"entered position {position_id} at {price:.2f}", flush=True)
        for position_id, (stop, high_water) in list(held.items()):
            if price <= stop:
                positions.save_position_exit(position_id, price, "trailing stop hit")
                del held[position_id]
                print(f"exited position {position_id} at {price:.2f}", flush=True)
                continue
            high = max(high_water, price)
            new_stop = max(stop, round(high * (1 - TRAIL), 2))
            held[position_id] = (new_stop, high)
            positions.queue_position_update(
                position_id,
                current_price=price,
                stop_price=new_stop,
                state={"high": high},
                force_immediate=new_stop > stop + 1,  # a big move of the stop: commit now
            )
        time.sleep(0.5)
