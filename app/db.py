"""Database engine and sessions.

SQLite runs in WAL mode with foreign keys on; PostgreSQL is used through asyncpg. Both are reached
through the same async SQLAlchemy session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(database_url, pool_size=20, max_overflow=20, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session for one unit of work outside a request (CLI, demo, tests)."""
    async with create_sessionmaker(engine)() as session:
        yield session


# The search indexes (FTS5 tables on SQLite, trigram indexes on PostgreSQL) are written by hand
# in their migration: the models cannot describe them, so the drift check leaves them alone.
SEARCH_OBJECTS = ("item_fts", "comment_fts", "ix_agenda_item_search_trgm", "ix_comment_body_trgm")


def include_in_migrations(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (name and name.startswith(SEARCH_OBJECTS))
