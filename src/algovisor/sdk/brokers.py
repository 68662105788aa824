"""Brokers a strategy can hand to `recover(broker=...)`, built from its environment."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from algovisor.brokers.upstream import OpenAlgoUpstream


def openalgo_broker(
    host: str | None = None, api_key: str | None = None, timeout_secs: float = 10.0
) -> OpenAlgoUpstream:
    """The account behind `OPENALGO_HOST` and `OPENALGO_API_KEY` (the host sets both for
    strategies on the paper broker and on an OpenAlgo upstream), read through its position
    book. A book that cannot be read makes `recover()`'s verdict "unknown", never "flat".
    """
    from algovisor.brokers.upstream import OpenAlgoUpstream  # httpx: only when asked for

    host = host or os.environ.get("OPENALGO_HOST")
    api_key = api_key or os.environ.get("OPENALGO_API_KEY") or os.environ.get("OPENALGO_APIKEY")
    if not host or not api_key:
        raise RuntimeError(
            "openalgo_broker() needs OPENALGO_HOST and OPENALGO_API_KEY (algovisor sets them "
            "for strategies on the paper broker), or host= and api_key="
        )
    return OpenAlgoUpstream(host, api_key, timeout_secs=timeout_secs)
