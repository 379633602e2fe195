"""The Store: engine, sessions, schema migration, and the repositories.

SQLite is the embedded default and Kamailio reads the same file for agent
credentials, so the connection setup matters:
- WAL journal: Kamailio's reads never block our writes, nor ours its reads.
- busy timeout: a writer from another process (``voicecenter agents add``
  while ``serve`` runs) waits instead of failing with "database is locked".
- BEGIN IMMEDIATE for writes, and one writer at a time inside this process:
  a transaction that reads and then writes can otherwise fail at once with
  SQLITE_BUSY, which no timeout retries.
The schema comes only from Alembic (``upgrade head`` in ``open_store``), never
from ``create_all``, so a database made by any version can be upgraded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from voicecenter.settings import Settings
from voicecenter.store.agents import AgentRepository
from voicecenter.store.callbacks import CallbackRepository
from voicecenter.store.calls import CallRepository
from voicecenter.store.customers import CustomerRepository
from voicecenter.store.customers_identity import IdentityRepository
from voicecenter.store.errors import StoreError
from voicecenter.store.figure_samples import FigureSampleRepository
from voicecenter.store.interactions import InteractionRepository
from voicecenter.store.outbox import OutboxRepository
from voicecenter.store.reviews import ReviewRepository
from voicecenter.store.timeline import OUTBOX_WRITTEN
from voicecenter.store.transcripts import TranscriptRepository
from voicecenter.store.users import UserRepository

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 5000
_BEGIN_OPTION = "voicecenter_begin"


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``, with the SQLite settings described above."""
    parsed = make_url(url)
    if not parsed.get_backend_name() == "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise StoreError("the store needs a SQLite file, not an in-memory database")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module; _on_begin below emits it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic, on this engine's connection."""
    async with engine.connect() as connection:
        connection = await connection.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        async with connection.begin():
            await connection.run_sync(_upgrade, revision)


def _upgrade(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # env.py runs on this connection instead of opening its own engine.
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


class Store:
    """Sessions plus one repository per resource; made by ``open_store``.

    ``outbox_written`` is set whenever a committed transaction added outbox
    rows; the OutboxPublisher waits on it so events leave at once.
    """

    def __init__(self, engine: AsyncEngine, topic_prefix: str = "voicecenter") -> None:
        self.engine = engine
        self.topic_prefix = topic_prefix
        self.outbox_written = asyncio.Event()
        # Called after each commit that added outbox rows (the publisher clears
        # outbox_written, so other readers of the outbox need their own signal).
        self.outbox_listeners: list[Callable[[], None]] = []
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        sqlite = engine.dialect.name == "sqlite"
        self._write_lock: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if sqlite else contextlib.nullcontext()
        )
        self._begin = {_BEGIN_OPTION: "IMMEDIATE"} if sqlite else {}
        self.interactions = InteractionRepository(self)
        self.calls = CallRepository(self)
        self.agents = AgentRepository(self)
        self.outbox = OutboxRepository(self)
        self.customers = CustomerRepository(self)
        self.transcripts = TranscriptRepository(self)
        self.callbacks = CallbackRepository(self)
        self.identities = IdentityRepository(self)
        self.reviews = ReviewRepository(self)
        self.figure_samples = FigureSampleRepository(self)
        self.users = UserRepository(self)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed on exit, rolled back on error.

        Not reentrant on SQLite (one writer at a time): don't call repository
        methods from inside; use the session, and timeline.record_event for events.
        """
        async with self._write_lock, self._sessions() as session:
            async with session.begin():
                await session.connection(execution_options=self._begin)
                yield session
            if session.info.pop(OUTBOX_WRITTEN, False):
                self.outbox_written.set()
                for listener in self.outbox_listeners:
                    listener()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; nothing it does is committed."""
        async with self._sessions() as session:
            yield session

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def open_store(settings: Settings) -> Store:
    """Open the configured database, upgrade its schema to head, return the Store."""
    engine = create_engine(settings.store.url)
    try:
        await migrate(engine)
    except BaseException:
        await engine.dispose()
        raise
    return Store(engine, settings.mqtt.topic_prefix)
