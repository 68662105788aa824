"""A toy moving-average signal on a simulated price walk (no broker needed).

Shows the shape of a real strategy: state in memory, a loop, a clean shutdown.
The paper broker and the position SDK arrive with later examples.
"""

import random
import time
from collections import deque

FAST, SLOW = 5, 20
prices: deque[float] = deque(maxlen=SLOW)
price = 22_000.0
position = 0
rng = random.Random(42)

while True:
    price = round(price + rng.gauss(0, 8), 2)
    prices.append(price)
    if len(prices) == SLOW:
        fast = sum(list(prices)[-FAST:]) / FAST
        slow = sum(prices) / SLOW
        wanted = 1 if fast > slow else -1
        if wanted != position:
            side = "BUY" if wanted > position else "SELL"
            print(f"signal {side} at {price:.2f} (fast {fast:.2f}, slow {slow:.2f})", flush=True)
            position = wanted
    time.sleep(1)
