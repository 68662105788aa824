"""Benchmarks of the figures each issue names; standalone scripts, never timed tests.

Run one with `.venv/bin/python -m benchmarks.bench_<name>`; see benchmarks/README.md.
"""
