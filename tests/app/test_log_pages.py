"""The public log pages: browse, receipts (file, QR, check), checkpoint, the auditor's zip."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.models import LogEntry
from audit.verify import verify_bundle
from tests.app.conftest import Client, World


def _wait_integrated(world: World) -> None:
    """The app's sequencer runs every 0.05 s in tests; wait (bounded) until nothing is pending."""

    async def pending(session: Any) -> int:
        return len((await session.execute(select(LogEntry.id).where(LogEntry.seq.is_(None)))).all())

    deadline = time.monotonic() + 10
    while world.db.run(pending) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.db.run(pending) == 0


def test_anyone_can_browse_the_log_and_filter_it(world: World, client: Client) -> None:
    _wait_integrated(world)
    page = client.get("/c/z/log")
    assert page.status_code == 200
    assert "#1" in page.text and "#0" in page.text
    fragment = client.get("/c/z/log?type=ballot.cast", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and "#0" not in fragment.text
    assert client.get("/c/z/log?type=not.a.type").status_code == 200  # an unknown filter shows all


def test_an_entry_page_offers_its_receipt_as_file_and_qr_code(world: World, client: Client) -> None:
    _wait_integrated(world)
    page = client.get("/c/z/log/1")
    assert page.status_code == 200 and "<svg" in page.text
    receipt = client.get("/c/z/log/1/receipt.tlog-proof")
    assert receipt.status_code == 200
    assert receipt.text.startswith("c2sp.org/tlog-proof@v1\n")
    assert "attachment" in receipt.headers["content-disposition"]
    assert client.get("/c/z/log/99").status_code == 404


def test_the_receipt_check_accepts_a_real_receipt_and_refuses_a_doctored_one(
    world: World, client: Client
) -> None:
    _wait_integrated(world)
    client.cookies.set("yishi_lang", "en")
    receipt = client.get("/c/z/log/0/receipt.tlog-proof").text
    good = client.form("/c/z/log/receipt", {"receipt": receipt})
    assert good.status_code == 200 and "The receipt checks out" in good.text
    lines = receipt.split("\n")
    lines[2] = "index 1"  # replayed at another position
    bad = client.form("/c/z/log/receipt", {"receipt": "\n".join(lines)})
    assert bad.status_code == 400 and "does not check out" in bad.text
    other = client.get("/c/other/log/0/receipt.tlog-proof").text
    foreign = client.form("/c/z/log/receipt", {"receipt": other})
    assert foreign.status_code == 400
    empty = client.form("/c/z/log/receipt", {"receipt": "  "})
    assert empty.status_code == 400 and "Paste a receipt" in empty.text
    garbage = client.form("/c/z/log/receipt", {"receipt": "not a receipt"})
    assert garbage.status_code == 400


def test_the_checkpoint_and_key_are_published(world: World, client: Client) -> None:
    _wait_integrated(world)
    note = client.get("/c/z/log/checkpoint.txt")
    assert note.status_code == 200 and note.text.startswith("testserver.local/c/z\n2\n")
    assert client.get("/c/z/log/log.vkey").text.startswith("testserver.local/c/z+")
    assert "testserver.local/c/z" in client.get("/c/z/log/checkpoint").text


def test_the_auditor_downloads_a_bundle_that_verifies(
    world: World, client: Client, tmp_path: Path
) -> None:
    _wait_integrated(world)
    client.sign_in("auditor")
    response = client.get("/c/z/log/export.zip")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(response.content)).extractall(tmp_path)
    assert sorted(p.name for p in (tmp_path / "z").iterdir()) == [
        "checkpoint",
        "entries.jsonl",
        "log.vkey",
    ]
    report = verify_bundle(tmp_path / "z")
    assert report.ok, report.issues
