"""A process that writes log entries as fast as it can while its sequencer integrates them.
tests/app/test_log_crash.py kills it with SIGKILL at random moments.

Usage: python -m tests.app.crash_worker DATABASE_URL COMMUNITY_ID STATUS_FILE
After every commit it records, durably, how many entries it has committed in total.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from app import log
from app.db import create_engine, create_sessionmaker
from tests.app.conftest import SEED_SETTINGS


async def main(database_url: str, community_id: int, status: Path) -> None:
    settings = SEED_SETTINGS.__class__(
        **{**SEED_SETTINGS.__dict__, "database_url": database_url, "log_interval": 0.01}
    )
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    stop = asyncio.Event()
    sequencer = asyncio.create_task(log.run_sequencer(sessionmaker, settings, stop))
    committed = int(status.read_text()) if status.exists() else 0  # noqa: ASYNC240  (once, at start)
    while True:
        async with sessionmaker() as session:
            for _ in range(5):
                await log.append(
                    session,
                    community_id,
                    "register.changed",
                    {"action": "crash-test", "n": f"{os.getpid()}-{committed}"},
                )
                committed += 1
            await session.commit()
        temporary = status.with_suffix(".tmp")
        with temporary.open("w") as handle:
            handle.write(str(committed))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, status)
        await asyncio.sleep(0)
    sequencer.cancel()  # unreachable: the test kills the process


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))
