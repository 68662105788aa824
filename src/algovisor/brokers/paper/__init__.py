"""The built-in paper broker: a simulated market and an OpenAlgo-compatible API over it.

No account needed: prices are seeded, deterministic and priced consistently across instruments.
"""

BROKER = "paper"  # its name wherever a broker is named: strategies, contracts, accounts
