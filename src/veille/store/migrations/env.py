"""Alembic environment: migrations run on the connection veille hands over (see migrate.py)."""

from __future__ import annotations

from alembic import context

from veille.store.migrate import include_object, target_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run veille's migrations through veille.store.migrate (veille db upgrade)")

context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    include_object=include_object,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
