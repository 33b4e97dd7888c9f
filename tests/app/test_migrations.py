"""The migrations are the only way the schema changes: models and migrations must agree."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the tables)
from app.db import include_in_migrations
from tests.conftest import Database


def test_models_match_the_migrations(database: Database) -> None:
    async def diff(session: Any) -> list[Any]:
        connection = await session.connection()

        def compare(sync_connection: Any) -> list[Any]:
            context = MigrationContext.configure(
                sync_connection,
                opts={"compare_type": True, "include_object": include_in_migrations},
            )
            return list(compare_metadata(context, SQLModel.metadata))

        return await connection.run_sync(compare)

    assert database.run(diff) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(database: Database) -> None:
    if database.backend != "sqlite":
        return
    from sqlalchemy import text

    async def pragmas(session: Any) -> tuple[str, int]:
        mode = (await session.execute(text("PRAGMA journal_mode"))).scalar_one()
        keys = (await session.execute(text("PRAGMA foreign_keys"))).scalar_one()
        return mode, keys

    assert database.run(pragmas) == ("wal", 1)
