"""Master contracts: each broker's instrument list for a trading day, in OpenAlgo's symbol format.

Download, parse and validate at the edge; load as a new generation and swap it in atomically;
serve lookups from an in-memory book rebuilt by swapping one reference.
"""
