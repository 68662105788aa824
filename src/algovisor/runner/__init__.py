"""The thin runner every strategy process starts in (`python -m algovisor.runner`).

It executes the user's script as `__main__`, owns the run's log file and
records how the run ended. It imports only the standard library.
"""
