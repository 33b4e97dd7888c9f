"""Real-browser tests: Debian's chromium driven by Playwright against a served app.

The server is a real `yishi serve` process on a free port, over a seeded SQLite copy of the test
database. Screenshots go to test-artifacts/ (kept by CI as artefacts).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import PROJECT_ROOT, normalise_database_url
from tests.app.conftest import TEST_BASE_URL, TEST_SECRET, World, seed
from tests.conftest import Database, skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        skip_or_fail(
            "Debian's chromium is missing: run `make test` as root or `sudo apt-get install chromium`"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def world(sqlite_template: Path, tmp_path: Path) -> World:
    """The seeded world on SQLite: the browser tests check pages, which the HTTP tests already
    run on both databases."""
    path = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, path)
    database = Database("sqlite", normalise_database_url(f"sqlite:///{path}"))
    return World(database, database.run(seed))


@pytest.fixture
def live_server(world: World, tmp_path: Path) -> Iterator[str]:
    """`yishi serve` over the seeded world database."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YISHI_")}
    env.update(
        YISHI_DATABASE_URL=world.db.url,
        YISHI_VAR_DIR=str(tmp_path),
        YISHI_BASE_URL=TEST_BASE_URL,
        YISHI_SECRET_KEY=TEST_SECRET,
        YISHI_LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise RuntimeError(
                "the server did not start: "
                + (process.stdout.read().decode() if process.stdout else "")
            )
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def screenshot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def serious_accessibility_violations(page: object) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
