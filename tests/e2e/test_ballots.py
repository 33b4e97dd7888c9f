"""A ballot on phones, end to end: a chair defines and opens it, a resident votes and follows
the receipt into the public log, a grid member enters a paper form, the chair closes it, the
results appear, and an auditor's export passes the verifier."""

from __future__ import annotations

import io
import re
import time
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from ballots.verify import main as verify
from tests.app.conftest import PASSWORD
from tests.e2e.conftest import PHONE, screenshot, serious_accessibility_violations

pytestmark = pytest.mark.browser
BEIJING = ZoneInfo("Asia/Shanghai")


def signed_in(browser, base: str, username: str, locale: str = "en-GB"):  # type: ignore[no-untyped-def]
    context = browser.new_context(**PHONE, locale=locale)
    context.set_default_timeout(8000)
    page = context.new_page()
    page.goto(f"{base}/signin?next=/c/z")
    page.locator("input[name=identifier]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/signin'] button[type=submit]").click()
    page.wait_for_url(f"{base}/c/z")
    return page


def test_a_ballot_from_definition_to_verified_result(  # type: ignore[no-untyped-def]
    browser, live_server: str, tmp_path: Path
) -> None:
    violations: dict[str, list[str]] = {}

    # The chair defines a consultation that may close early, and opens it.
    chair = signed_in(browser, live_server, "chair")
    chair.goto(f"{live_server}/c/z/ballots/new")
    chair.get_by_label("Title").fill("Parcel lockers by building 3")
    chair.locator("[name$='_text']").first.fill("Should the lockers go beside building 3?")
    now = datetime.now(BEIJING)
    chair.get_by_label("Voting opens (Beijing time)").fill(
        (now - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M")
    )
    chair.get_by_label("Voting closes (Beijing time)").fill(
        (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    )
    chair.get_by_label("The chair may close the ballot early (consultations only)").check()
    violations["edit"] = serious_accessibility_violations(chair)
    screenshot(chair, "30-ballot-define-en")
    chair.get_by_role("button", name="Create the draft").click()
    chair.wait_for_url(re.compile(r".*/c/z/ballots/\d+(\?.*)?$"))
    number = int(re.findall(r"/ballots/(\d+)", chair.url)[0])
    assert chair.get_by_text("No problems found: the ballot may open.").is_visible()
    chair.get_by_role("button", name="Open the ballot").click()
    chair.get_by_text("The ballot is open.", exact=False).wait_for()
    violations["ballot"] = serious_accessibility_violations(chair)
    screenshot(chair, "31-ballot-opened-en")

    # A resident (a tenant: adults vote in a consultation) votes, confirms, keeps the receipt.
    voter = signed_in(browser, live_server, "resident", locale="zh-CN")
    voter.goto(f"{live_server}/c/z/ballots/mine")
    screenshot(voter, "32-my-ballots-zh")
    voter.goto(f"{live_server}/c/z/ballots/{number}/vote")
    voter.get_by_label("同意").check()
    violations["vote"] = serious_accessibility_violations(voter)
    screenshot(voter, "33-vote-zh")
    voter.locator("form button[type=submit]").last.click()
    voter.wait_for_url(f"**/ballots/{number}/vote")
    assert "同意" in voter.locator("main").inner_text()
    screenshot(voter, "34-vote-confirm-zh")
    voter.locator("form[action$='/cast'] button[type=submit]").first.click()
    voter.wait_for_url(re.compile(rf".*/ballots/{number}/receipt/\d+(\?.*)?$"))
    entry_link = voter.locator("a[href*='/c/z/log/']").first
    entry_link.wait_for(timeout=15000)  # htmx polls until the sequencer has sealed the vote
    violations["receipt"] = serious_accessibility_violations(voter)
    screenshot(voter, "35-receipt-zh")
    entry_link.click()
    voter.wait_for_url(re.compile(r".*/c/z/log/\d+(\?.*)?$"))
    assert voter.locator("a[href$='receipt.tlog-proof']").is_visible()

    # The grid member enters a paper form for a voter of their grid.
    grid = signed_in(browser, live_server, "grid")
    grid.goto(f"{live_server}/c/z/ballots/{number}/paper")
    grid.get_by_label("Voter's code, as on the form").fill("P007")
    grid.get_by_label("Form number").fill("Z-0001")
    grid.locator("input[name='q.q1'][value='no']").check()
    grid.get_by_role("button", name="Enter this form").click()
    grid.get_by_text("Form Z-0001 is counted.").wait_for()
    violations["paper"] = serious_accessibility_violations(grid)
    screenshot(grid, "36-paper-entered-en")
    grid.get_by_label("Form number").fill("Z-0001")  # the same form again is refused
    grid.get_by_label("Voter's code, as on the form").fill("P007")
    grid.locator("input[name='q.q1'][value='yes']").check()
    grid.get_by_role("button", name="Enter this form").click()
    assert "Z-0001" in grid.get_by_role("alert").inner_text()

    # The chair closes early; the scheduler publishes the preliminary result.
    chair.goto(f"{live_server}/c/z/ballots/{number}")
    chair.get_by_role("button", name="Close now").click()
    results = f"{live_server}/c/z/ballots/{number}/results"
    deadline = time.monotonic() + 30
    while httpx.get(results).status_code != 200:
        assert time.monotonic() < deadline, "no result published"
        time.sleep(0.5)
    chair.goto(results)
    text = chair.locator("main").inner_text()
    assert "Preliminary" in text
    assert chair.locator("svg[role=img]").count() >= 1
    violations["results"] = serious_accessibility_violations(chair)
    screenshot(chair, "37-results-en")

    # The auditor downloads the log and the verifier replays the ballot.
    auditor = signed_in(browser, live_server, "auditor")
    with auditor.expect_download() as download:
        auditor.evaluate(
            "url => { const a = document.createElement('a'); a.href = url; a.download = '';"
            " document.body.appendChild(a); a.click(); }",
            f"{live_server}/c/z/log/export.zip",
        )
    bundle = tmp_path / "bundle"
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as archive:
        archive.extractall(bundle)
    roots = {p.parent for p in bundle.rglob("entries.jsonl")}
    assert len(roots) == 1
    assert verify([str(roots.pop())]) == 0

    assert not any(violations.values()), violations
