"""kill -9 while entries are being appended and integrated; restart; everything verifies."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from app import log
from app.settings import PROJECT_ROOT
from audit.verify import verify_bundle
from tests.app.conftest import World


def test_kill_minus_nine_loses_no_committed_entry_and_leaves_the_tree_consistent(
    world: World, settings: Any, tmp_path: Path
) -> None:
    status = tmp_path / "committed"
    rng = random.Random(20261127)
    for _round in range(4):
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.app.crash_worker",
                world.db.url,
                str(world.ids["z"]),
                str(status),
            ],
            cwd=PROJECT_ROOT,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        before = int(status.read_text()) if status.exists() else 0
        while (
            not status.exists() or int(status.read_text()) < before + 20
        ) and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))  # land the kill anywhere in a commit or an integration
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    committed = int(status.read_text())
    assert committed >= 80

    world.db.run(lambda session: log.integrate_all(session, settings))  # the restart's first tick

    async def export(session: Any) -> None:
        from sqlalchemy import select

        from app.models import Community

        community = (
            await session.execute(select(Community).where(Community.id == world.ids["z"]))
        ).scalar_one()
        await log.export_bundle(session, community, tmp_path / "bundle")

    world.db.run(export)
    report = verify_bundle(tmp_path / "bundle")
    assert report.ok, report.issues
    logged = [
        json.loads(line)["payload"]
        for line in (tmp_path / "bundle" / "entries.jsonl").read_text().splitlines()
    ]
    numbers = sorted(p["n"] for p in logged if p.get("action") == "crash-test")
    assert len(numbers) >= committed  # every entry whose commit was recorded is in the log
    assert len(numbers) == len(set(numbers))  # and none twice (labels are unique per process)
