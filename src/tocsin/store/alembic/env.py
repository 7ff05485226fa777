"""Alembic environment: migrations run on the connection the engine hands over (see tocsin.store.database)."""

from __future__ import annotations

from alembic import context

from tocsin.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # `alembic` command line (development): build an engine from sqlalchemy.url
    from sqlalchemy import create_engine

    with create_engine(config.get_main_option("sqlalchemy.url")).begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
