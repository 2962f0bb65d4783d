"""Alembic's environment script, for the ``alembic`` command's own functions.

findsupport runs its migrations without it (:mod:`findsupport.migrations.runner`
sets up the same environment in code); ``alembic.command.upgrade``,
``alembic.command.revision`` and friends, given
:func:`~findsupport.migrations.runner.alembic_config`, run this file.  Online,
it uses the connection in ``config.attributes["connection"]`` (and leaves its
transaction to the caller), or else opens the URL of the ``sqlalchemy.url``
option.  Imported any other way (pytest's doctest collection), it does nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context


def run_migrations() -> None:
    """Run the revisions Alembic's command asked for, offline (``--sql``) or online."""
    config = context.config
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            context.configure(connection=connection, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if hasattr(context, "config"):  # run by Alembic (its context is set up), not merely imported
    run_migrations()
