"""Sizes the schema imposes, for checks before anything reaches the database.

Standard library only: the positions SDK checks its input against these too.
"""

MAX_INTEGER = 2**31 - 1  # an INTEGER column (ids, quantities, version numbers) on PostgreSQL
