"""Register import at the reference community's size (10,569 people in 3,880 households).

Ceiling: the same number of unit, person and link rows written with bare executemany inserts in
one transaction on the same database. The import validates every row, matches existing rows and
records every change, so the ratio says what that costs over raw writes. Run on SQLite and, when
reachable, PostgreSQL (YISHI_BENCH_POSTGRES_URL, default the local server).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from app.cli import upgrade_database
from app.db import create_engine, session_scope
from app.demo import SLUG, _building_rows, _household_rows
from app.models import Community
from app.register_import import (
    apply_buildings,
    apply_households,
    validate_buildings,
    validate_households,
)
from app.settings import normalise_database_url

POSTGRES_URL = os.environ.get(
    "YISHI_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _import(url: str) -> tuple[float, float, int, int]:
    rows = _household_rows(2026)
    engine = create_engine(url)
    try:
        async with session_scope(engine) as session:
            community = Community(slug=SLUG, name="bench")
            session.add(community)
            await session.commit()
            await apply_buildings(session, community, validate_buildings(_building_rows()), None)
            started = time.perf_counter()
            created = await apply_households(session, community, validate_households(rows), None)
            first = time.perf_counter() - started
            started = time.perf_counter()
            report = await apply_households(session, community, validate_households(rows), None)
            again = time.perf_counter() - started
            assert not report.changed
    finally:
        await engine.dispose()
    # Every created row is written twice: the row and its record in the register history.
    return first, again, len(rows), 2 * sum(created.created.values())


async def _raw_inserts(url: str, n_rows: int) -> float:
    """Bare inserts of as many rows as the import writes (units, people, links, changes)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("CREATE TEMPORARY TABLE bench_raw (a INTEGER, b VARCHAR(60), c VARCHAR(60))")
            )
            started = time.perf_counter()
            await connection.execute(
                text("INSERT INTO bench_raw (a, b, c) VALUES (:a, :b, :c)"),
                [{"a": i, "b": f"name {i}", "c": "13800000000"} for i in range(n_rows)],
            )
            return time.perf_counter() - started
    finally:
        await engine.dispose()


async def _postgres_database(action: str, name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await connection.execute(
            f'{action} DATABASE "{name}"' + (" WITH (FORCE)" if action == "DROP" else "")
        )
    finally:
        await connection.close()


def _report(backend: str, url: str) -> None:
    first, again, n, written = asyncio.run(_import(url))
    raw = asyncio.run(_raw_inserts(url, written))
    print(
        f"   {backend}: first import {n / first:,.0f} rows/s ({first:.1f} s), re-import {n / again:,.0f} rows/s;"
        f" raw inserts {written / raw:,.0f} rows/s; import/raw ratio {(written / first) / (written / raw):.2f}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = normalise_database_url(f"sqlite:///{Path(directory) / 'bench.db'}")
        upgrade_database(url)
        _report("sqlite", url)
    name = f"yishi_bench_{os.getpid()}"
    try:
        asyncio.run(_postgres_database("CREATE", name))
    except Exception as error:  # no server: report and go on
        print(f"   postgres: skipped ({error.__class__.__name__}: {error})")
        return
    try:
        url = normalise_database_url(POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}")
        upgrade_database(url)
        _report("postgres", url)
    finally:
        asyncio.run(_postgres_database("DROP", name))
