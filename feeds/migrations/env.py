"""Alembic environment: always run on a connection handed over by ``feeds.migrate``.

No ``alembic.ini`` and no logging configuration here: the daemon owns logging,
and the URL comes from coolstove's config, so migrations run the same from
the daemon, the CLI and the tests.
"""

from __future__ import annotations

from alembic import context

from feeds.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from a hand-run `alembic`
    raise RuntimeError("run migrations through feeds.migrate.upgrade(url)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
