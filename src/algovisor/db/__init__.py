"""The database: SQLAlchemy 2 models, engine set-up and Alembic migrations.

The single source of truth for strategies, runs, contracts and positions.
"""
