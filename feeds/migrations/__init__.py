"""Alembic migrations of the paper database, shipped inside the package (see ``feeds.migrate``)."""
