"""Test databases built by the migrations, on SQLite and on PostgreSQL.

The migrations run once per session into a template database; each test gets a copy of it (a
file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL), so the app under test can commit
freely and tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
from argon2 import PasswordHasher

from app import accounts
from app.cli import upgrade_database
from app.db import create_engine, session_scope
from app.settings import normalise_database_url

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_URL = os.environ.get(
    "YISHI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_counter = itertools.count()


def skip_or_fail(reason: str) -> None:
    """Locally a missing system part skips the test; under CI nothing may be skipped."""
    if IN_CI:
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """argon2id with small parameters: the real ones cost ~90 ms a hash."""
    original = accounts.password_hasher
    accounts.use_password_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    accounts.use_password_hasher(original)


def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run blocking or asyncio.run-based work on a thread of its own: the sync Playwright API
    keeps an event loop running in the test's thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def run(database_url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` against a database, outside any running event loop."""

    async def main() -> T:
        engine = create_engine(database_url)
        try:
            async with session_scope(engine) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return in_thread(asyncio.run, main())


@dataclass
class Database:
    backend: str
    url: str  # with the async driver, as the app takes it

    def run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        return run(self.url, work)


async def _pg_execute(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(
        POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://"), timeout=5
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _pg_url(name: str) -> str:
    parts = urlsplit(POSTGRES_URL)
    return normalise_database_url(
        urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    in_thread(upgrade_database, normalise_database_url(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    name = f"yishi_test_{os.getpid()}_template"
    try:
        in_thread(asyncio.run, _pg_execute(f'DROP DATABASE IF EXISTS "{name}"'))
        in_thread(asyncio.run, _pg_execute(f'CREATE DATABASE "{name}"'))
    except (OSError, Exception) as error:  # asyncpg raises several kinds when no server answers
        skip_or_fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({error.__class__.__name__}: {error}); "
            "start it or set YISHI_TEST_POSTGRES_URL"
        )
    in_thread(upgrade_database, _pg_url(name))
    yield name
    in_thread(asyncio.run, _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield Database("sqlite", normalise_database_url(f"sqlite:///{path}"))
        return
    template = request.getfixturevalue("postgres_template")
    name = f"yishi_test_{os.getpid()}_{next(_counter)}"
    in_thread(asyncio.run, _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield Database("postgres", _pg_url(name))
    finally:
        in_thread(asyncio.run, _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test is a failed run: the PostgreSQL and browser tests must run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if IN_CI and skipped:
        reporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; nothing may be skipped under CI.", red=True
        )
        session.exitstatus = 1
