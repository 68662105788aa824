"""A minimal strategy: prints a heartbeat every few seconds and stops cleanly on SIGTERM."""

import os
import time
from datetime import UTC, datetime

name = os.environ.get("ALGOVISOR_STRATEGY_NAME", "heartbeat")
interval_secs = float(os.environ.get("HEARTBEAT_SECS", "5"))
print(f"{name}: started, beating every {interval_secs:g} s", flush=True)
try:
    while True:
        print(f"{name}: alive at {datetime.now(UTC):%H:%M:%S} UTC", flush=True)
        time.sleep(interval_secs)
finally:
    print(f"{name}: shutting down cleanly", flush=True)
