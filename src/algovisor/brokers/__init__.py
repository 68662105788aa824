"""Brokers: the small protocol algovisor speaks to every broker, and its adapters.

Adapters translate their library's errors at this boundary (`BrokerError`).
"""
