"""algovisor: a self-hosted host for Python trading strategies.

Kept empty on purpose: strategy processes import `algovisor.runner` and
`algovisor.sdk`, and must not pay for anything they do not use.
"""

__version__ = "0.1.0"
