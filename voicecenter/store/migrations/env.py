"""Alembic environment for the voicecenter store.

``open_store`` runs migrations on its own connection (passed in
``config.attributes["connection"]``), so the server never needs an ini file.
The ``alembic`` command line works too (``alembic -c voicecenter/store/alembic.ini
revision --autogenerate -m ...``); it then opens the configured database itself.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from voicecenter.store.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configured_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from voicecenter.settings import load_settings

    return load_settings().store.url


def _run(connection: Connection) -> None:
    # Batch mode lets later migrations alter SQLite tables (copy and move).
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_own_engine() -> None:
    engine = create_async_engine(_configured_url(), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=_configured_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    asyncio.run(_run_own_engine())
