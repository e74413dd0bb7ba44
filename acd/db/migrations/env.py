"""Alembic's entry: migrations always run on the connection acd.db.migrate hands over."""

from alembic import context

from acd.db.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with 'acd db upgrade', not the alembic command")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
