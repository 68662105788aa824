"""Schedules and exchange calendars: when a strategy's window is open, and why not.

Pure decisions over immutable calendars; loading (library data, the override file) sits at the edge.
"""
