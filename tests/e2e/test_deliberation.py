"""Issue 5's story on phones, end to end: the admin sets the co-signing threshold; a resident
drafts an item with Markdown and a photo and publishes it; two neighbours co-sign it (one with
htmx, one with JavaScript off); the chair puts it on the agenda and opens its consultation;
residents comment and reply three deep (htmx and plain forms), a thread collapses; an amendment
is proposed and accepted by the author with a visible diff; the chair closes the consultation,
decides the item by a linked ballot that residents vote in; the item's history and the public
log show every step. Screenshots are named 50-…; axe runs on the main pages."""

from __future__ import annotations

import io
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page

from tests.app.conftest import PASSWORD
from tests.e2e.conftest import PHONE, screenshot, serious_accessibility_violations

pytestmark = pytest.mark.browser
BEIJING = ZoneInfo("Asia/Shanghai")
ENGLISH = {"Accept-Language": "en"}

TITLE = "Charging points for e-bikes beside building 2"
BODY = (
    "E-bikes are charged **in the stairwells** today, which is a fire risk.\n\n"
    "We propose:\n\n"
    "- six charging points under the shelter beside building 2\n"
    "- paid by the hour, at cost\n\n"
    "See the [fire brigade's advice](https://example.org/advice)."
)
AMENDED_BODY = BODY.replace("six charging points", "ten charging points with a timer")


def signed_in(
    browser: Browser, base: str, username: str, *, locale: str = "en-GB", javascript: bool = True
) -> Page:
    context = browser.new_context(**PHONE, locale=locale, java_script_enabled=javascript)
    context.set_default_timeout(10000)
    page = context.new_page()
    page.goto(f"{base}/signin?next=/c/z")
    page.locator("input[name=identifier]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/signin'] button[type=submit]").click()
    page.wait_for_url(f"{base}/c/z")
    return page


def beijing(minutes: int) -> str:
    """A datetime-local value, in Beijing time, this many minutes from now."""
    return (datetime.now(BEIJING) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def photo() -> bytes:
    image = Image.new("RGB", (160, 120), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 40, 140, 100), fill=(30, 90, 160))
    draw.ellipse((60, 10, 100, 50), fill=(230, 160, 20))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def comment_id(page: Page, text: str) -> int:
    """The id of the (visible) comment carrying this text."""
    article = page.locator("article.comment", has_text=text).first
    article.wait_for()
    return int((article.get_attribute("id") or "c0")[1:])


def log_entries(base: str, type_: str, expected: int, timeout: float = 20) -> str:
    """The public log's page of one entry type, once it lists ``expected`` sealed entries."""
    deadline = time.monotonic() + timeout
    while True:
        text = httpx.get(f"{base}/c/z/log", params={"type": type_}, headers=ENGLISH).text
        found = re.search(r'<p class="muted">(\d+) entr', text)
        if found and int(found.group(1)) >= expected:
            return text
        assert time.monotonic() < deadline, f"{type_}: fewer than {expected} entries: {text}"
        time.sleep(0.3)


def test_an_item_from_proposal_to_decision(browser: Browser, live_server: str) -> None:
    base = live_server
    violations: dict[str, list[str]] = {}

    # The admin lowers the co-signing threshold to two residents.
    admin = signed_in(browser, base, "admin")
    admin.goto(f"{base}/c/z/rules")
    admin.get_by_label("Support needed: at least this many residents").fill("2")
    admin.get_by_label("…or this many per thousand households", exact=False).fill("0")
    admin.get_by_role("button", name="Save the rules").click()
    admin.wait_for_url(re.compile(r".*/c/z/rules"))
    assert "2 residents" in admin.locator("main").inner_text()

    # A resident drafts an item with a Markdown body and a photo, then publishes it.
    resident = signed_in(browser, base, "resident")
    resident.goto(f"{base}/c/z/items")
    violations["list"] = serious_accessibility_violations(resident)
    resident.get_by_role("link", name="Propose an item").click()
    resident.get_by_label("Title").fill(TITLE)
    resident.get_by_label("Text", exact=True).fill(BODY)
    resident.get_by_label("Parking").check()
    resident.get_by_label("Attachments").set_input_files(
        files=[{"name": "shelter.png", "mimeType": "image/png", "buffer": photo()}]
    )
    violations["draft form"] = serious_accessibility_violations(resident)
    screenshot(resident, "50-item-draft-form-en")
    resident.get_by_role("button", name="Save draft").click()
    resident.wait_for_url(re.compile(r".*/c/z/items/\d+\?done=drafted"))
    number = int(re.findall(r"/items/(\d+)", resident.url)[0])
    item_url = f"{base}/c/z/items/{number}"
    body = resident.locator("article.item-body")
    assert body.locator("strong", has_text="in the stairwells").is_visible()
    assert body.locator("li").count() == 2
    assert body.locator("a[href='https://example.org/advice']").is_visible()
    image = resident.locator("li.attachment-image img[alt='shelter.png']")
    image.scroll_into_view_if_needed()
    resident.wait_for_function(
        "img => img.complete && img.naturalWidth === 160", arg=image.element_handle()
    )
    resident.get_by_role("button", name="Publish").click()
    resident.wait_for_url(re.compile(rf".*/items/{number}\?done=published"))
    assert resident.locator(".item-status").inner_text() == "Collecting co-signatures"
    assert "0 of 2 co-signatures needed" in resident.locator("#cosign").inner_text()
    violations["item"] = serious_accessibility_violations(resident)
    screenshot(resident, "51-item-published-en")

    # The owner co-signs with htmx: the panel changes, the page is not reloaded.
    owner = signed_in(browser, base, "owner")
    owner.goto(item_url)
    owner.evaluate("window.__same_page = 'yes'")
    owner.get_by_role("button", name="Co-sign this item").click()
    owner.locator("#cosign", has_text="You have co-signed this item.").wait_for()
    assert "1 of 2 co-signatures needed" in owner.locator("#cosign").inner_text()
    assert owner.evaluate("window.__same_page") == "yes"
    assert owner.url == item_url

    # The grid member co-signs with JavaScript off: a plain form, post/redirect/get.
    grid_plain = signed_in(browser, base, "grid", javascript=False)
    grid_plain.goto(item_url)
    grid_plain.get_by_role("button", name="Co-sign this item").click()
    grid_plain.wait_for_url(re.compile(rf".*/items/{number}\?done=cosigned"))
    assert "Thank you: your co-signature is counted." in grid_plain.locator("main").inner_text()
    assert grid_plain.locator(".item-status").inner_text() == "Before the chair"
    assert "2 of 2 co-signatures needed" in grid_plain.locator("#cosign").inner_text()
    screenshot(grid_plain, "52-item-cosigned-nojs-en")

    # The chair puts it on the agenda and opens its consultation, from now for a week.
    chair = signed_in(browser, base, "chair")
    chair.goto(item_url)
    chair.get_by_role("button", name="Put it on the agenda").click()
    chair.wait_for_url(re.compile(r".*\?done=accepted"))
    chair.get_by_label("Opens", exact=True).fill(beijing(-5))
    chair.get_by_label("Closes", exact=True).fill(beijing(7 * 24 * 60))
    screenshot(chair, "53-chair-opens-consultation-en")
    chair.get_by_role("button", name="Open the consultation").click()
    chair.wait_for_url(re.compile(r".*\?done=consultation_opened"))
    assert chair.locator(".item-status").inner_text() == "In consultation"
    assert "(Beijing time)" in chair.locator("dl.facts").inner_text()

    # Residents talk it through. The owner comments with htmx: no full reload.
    thread_url = f"{item_url}/consultation"
    owner.goto(thread_url)
    owner.evaluate("window.__same_page = 'still'")
    owner.get_by_label("Your comment").fill("Ten points would be better: **forty** e-bikes here.")
    owner.get_by_role("button", name="Post comment").click()
    first = comment_id(owner, "forty")
    assert owner.evaluate("window.__same_page") == "still"
    assert owner.url == thread_url
    assert owner.locator(f"#thread > li#t{first} article strong").inner_text() == "forty"
    assert owner.get_by_label("Your comment").input_value() == ""  # the form was reset

    # The resident replies to it with htmx.
    resident.goto(thread_url)
    resident.evaluate("window.__same_page = 'reply'")
    resident.locator(f"#c{first} details.reply > summary").click()
    resident.locator(f"#b{first}").fill("Agreed, and a timer so that none charges all night.")
    resident.locator(f"#c{first} details.reply button[type=submit]").click()
    second = comment_id(resident, "none charges all night")
    assert resident.evaluate("window.__same_page") == "reply"
    assert resident.locator(f"#t{first} ol#r{first} > li#t{second}").count() == 1

    # The grid member, without JavaScript, comments and replies to the reply: plain forms.
    grid_plain.goto(thread_url)
    grid_plain.get_by_label("Your comment").fill("Where would the cables run?")
    grid_plain.get_by_role("button", name="Post comment").click()
    grid_plain.wait_for_url(re.compile(r".*/consultation\?done=posted#c\d+"))
    assert grid_plain.locator("#thread > li > article", has_text="cables").count() == 1
    grid_plain.locator(f"#c{second} details.reply > summary").click()
    grid_plain.locator(f"#b{second}").fill("Timers exist for 30 yuan each; I asked the shop.")
    grid_plain.locator(f"#c{second} details.reply button[type=submit]").click()
    grid_plain.wait_for_url(re.compile(r".*/consultation\?done=posted#c\d+"))
    third = int(grid_plain.url.rsplit("#c", 1)[1])
    assert "Your comment is posted." in grid_plain.locator("main").inner_text()
    screenshot(grid_plain, "54-consultation-nojs-en")

    # The owner replies three deep, with htmx, and sees the nesting.
    owner.reload()
    owner.evaluate("window.__same_page = 'deep'")
    owner.locator(f"#c{third} details.reply > summary").click()
    owner.locator(f"#b{third}").fill("Then the shop can fit them: 300 yuan for all ten.")
    owner.locator(f"#c{third} details.reply button[type=submit]").click()
    fourth = comment_id(owner, "300 yuan for all ten")
    assert owner.evaluate("window.__same_page") == "deep"
    nested = owner.locator(
        f"#thread > li#t{first} ol#r{first} > li#t{second} ol#r{second} > li#t{third}"
        f" ol#r{third} > li#t{fourth} > article#c{fourth}"
    )
    assert nested.count() == 1
    depth = owner.evaluate(
        "id => { let n = 0, e = document.getElementById(id);"
        " while ((e = e.parentElement.closest('ol.thread'))) n++; return n; }",
        f"c{fourth}",
    )
    assert depth == 4  # the root list and three lists of replies
    owner.reload()  # the server renders the same nesting
    assert nested.count() == 1

    # Collapsing the first thread hides its replies; opening it shows them again.
    toggle = owner.locator(f"#t{first} > details.replies > summary")
    assert "3 replies" in toggle.inner_text()
    toggle.click()
    assert owner.locator(f"#c{second}").is_hidden()
    assert owner.locator(f"#c{fourth}").is_hidden()
    assert owner.locator(f"#c{first}").is_visible()
    toggle.click()
    owner.locator(f"#c{fourth}").wait_for()
    # A comment has its own link.
    assert (
        owner.locator(f"#c{fourth} a.comment-time").get_attribute("href")
        == f"/c/z/comments/{fourth}"
    )
    violations["consultation"] = serious_accessibility_violations(owner)
    screenshot(owner, "55-consultation-en")

    # The owner proposes an amendment; the item's author accepts it and sees the diff.
    owner.goto(f"{item_url}/amendments")
    owner.get_by_role("link", name="Propose an amendment").click()
    owner.get_by_label("The proposed text").fill(AMENDED_BODY)
    owner.get_by_label("The reason for the change").fill("Forty e-bikes need more than six.")
    owner.get_by_role("button", name="Preview the changes").click()
    owner.locator("#preview .amend-diff ins", has_text="ten").first.wait_for()
    owner.get_by_role("button", name="Propose the amendment").click()
    owner.wait_for_url(re.compile(r".*/amendments/\d+\?done=proposed"))
    amendment_url = owner.url.split("?")[0]

    resident.goto(amendment_url)
    diff = resident.locator(".amend-diff")
    assert "ten" in diff.locator("ins").all_inner_texts()[0]
    assert "six" in " ".join(diff.locator("del").all_inner_texts())
    assert "Forty e-bikes need more than six." in resident.locator("main").inner_text()
    violations["amendment"] = serious_accessibility_violations(resident)
    screenshot(resident, "56-amendment-diff-en")
    resident.get_by_role("button", name="Accept: change the text").click()
    resident.wait_for_url(re.compile(r".*\?done=accepted"))
    assert resident.locator(".amend-status").inner_text() == "Accepted"
    resident.goto(f"{item_url}/revisions")
    assert resident.locator("#v2 ins", has_text="ten").count() >= 1
    screenshot(resident, "57-text-history-en")
    resident.goto(item_url)
    assert "ten charging points with a timer" in resident.locator("article.item-body").inner_text()

    # The chair closes the consultation and prepares a ballot on the item.
    chair.goto(item_url)
    chair.get_by_role("button", name="Close the consultation").click()
    chair.wait_for_url(re.compile(r".*\?done=consultation_closed"))
    assert chair.locator(".item-status").inner_text() == "Awaiting decision"
    chair.get_by_role("button", name="Prepare a ballot").click()
    chair.wait_for_url(re.compile(r".*/c/z/ballots/\d+/edit"))
    ballot = int(re.findall(r"/ballots/(\d+)", chair.url)[0])
    assert chair.get_by_label("Title").input_value() == TITLE
    chair.get_by_label("Voting opens (Beijing time)").fill(beijing(-2))
    chair.get_by_label("Voting closes (Beijing time)").fill(beijing(3 * 24 * 60))
    chair.get_by_label("The chair may close the ballot early (consultations only)").check()
    # no objection period, so that the result is final (and may decide the item) at once
    chair.get_by_label("Days for objections after the preliminary result").fill("0")
    chair.get_by_role("button", name="Save the draft").click()
    chair.wait_for_url(re.compile(rf".*/c/z/ballots/{ballot}(\?.*)?$"))
    assert chair.get_by_text("No problems found: the ballot may open.").is_visible()
    chair.get_by_role("button", name="Open the ballot").click()
    chair.get_by_text("The ballot is open.", exact=False).wait_for()

    # Two residents vote for it (one in Chinese).
    voter_zh = signed_in(browser, base, "resident", locale="zh-CN")
    for voter in (voter_zh, owner):
        voter.goto(f"{base}/c/z/ballots/{ballot}/vote")
        voter.get_by_label("同意").check()
        voter.locator("form button[type=submit]").last.click()
        voter.wait_for_url(f"**/ballots/{ballot}/vote")
        voter.locator("form[action$='/cast'] button[type=submit]").first.click()
        voter.wait_for_url(re.compile(rf".*/ballots/{ballot}/receipt/\d+(\?.*)?$"))
    screenshot(voter_zh, "58-receipt-zh")

    # The chair closes it early; the tally is published; the ballot decides the item.
    chair.goto(f"{base}/c/z/ballots/{ballot}")
    chair.get_by_role("button", name="Close now").click()
    results = f"{base}/c/z/ballots/{ballot}/results"
    deadline = time.monotonic() + 30
    while httpx.get(results).status_code != 200:
        assert time.monotonic() < deadline, "no result published"
        time.sleep(0.5)
    decision = chair.get_by_label(f"By ballot #{ballot}: Adopted")
    deadline = time.monotonic() + 30
    while True:  # the scheduler makes the result final right after publishing it
        chair.goto(item_url)
        if decision.count():
            break
        assert time.monotonic() < deadline, "the result never became final"
        time.sleep(0.5)
    decision.check()
    chair.get_by_role("button", name="Record the decision").click()
    chair.wait_for_url(re.compile(r".*\?done=decided"))
    assert chair.locator(".item-status").inner_text() == "Decided"
    assert "Decision: Adopted" in chair.locator(".result-banner").inner_text()

    # The item's history shows every step, each linked to its log entry once sealed.
    history_text = ""
    deadline = time.monotonic() + 20
    while True:
        resident.goto(item_url)
        history = resident.locator("ol.item-history")
        history_text = history.inner_text()
        if "log entry pending" not in history_text:
            break
        assert time.monotonic() < deadline, "history entries never sealed"
        time.sleep(0.5)
    for step in (
        "Published and opened for co-signing",
        "Enough co-signatures: put before the chair",
        "Put on the agenda",
        "Consultation opened",
        "Consultation closed",
        "Decided",
    ):
        assert step in history_text, step
    assert history.locator("a[href^='/c/z/log/']").count() >= 6
    violations["item decided"] = serious_accessibility_violations(resident)
    screenshot(resident, "59-item-decided-history-en")

    # The public log has the matching entries.
    moved = log_entries(base, "item.transitioned", 5)
    for words in (
        f"Item #{number} “{TITLE}” (Parking) published; it needs 2 co-signatures",
        "Before the chair → On the agenda",
        "consultation open from",
        "In consultation → Awaiting decision",
        f"decided by ballot #{ballot}: Adopted",
    ):
        assert words in moved, words
    cosigned = log_entries(base, "item.cosigned", 2)
    assert f"Item #{number} co-signed: 1 of 2." in cosigned
    assert f"Item #{number} co-signed: 2 of 2." in cosigned
    amended = log_entries(base, "amendment.decided", 1)
    assert f"Amendment 1 to item #{number} accepted: the text is now revision 2." in amended
    for type_, count in (
        ("ballot.opened", 1),
        ("ballot.cast", 2),
        ("ballot.closed", 1),
        ("tally.published", 1),
    ):
        log_entries(base, type_, count)
    resident.goto(f"{base}/c/z/log")
    log_text = resident.locator("main").inner_text()
    for label in (
        "agenda item moved on",
        "agenda item co-signed",
        "amendment decided",
        "ballot opened",
        "tally published",
    ):
        assert label in log_text, label
    screenshot(resident, "60-log-en")

    # In Chinese, on a phone.
    voter_zh.goto(item_url)
    screenshot(voter_zh, "61-item-decided-zh")
    voter_zh.goto(thread_url)
    screenshot(voter_zh, "62-consultation-zh")

    assert not any(violations.values()), violations


def test_the_history_shows_an_accepted_amendment(browser: Browser, live_server: str) -> None:
    """An accepted amendment is a step of the item's history, linked to its log entry."""
    base = live_server
    admin = signed_in(browser, base, "admin")
    admin.goto(f"{base}/c/z/rules")
    admin.get_by_label("Support needed: at least this many residents").fill("1")
    admin.get_by_role("button", name="Save the rules").click()
    resident = signed_in(browser, base, "resident")
    resident.goto(f"{base}/c/z/items/new")
    resident.get_by_label("Title").fill(TITLE)
    resident.get_by_label("Text", exact=True).fill(BODY)
    resident.get_by_label("Parking").check()
    resident.get_by_role("button", name="Save draft").click()
    resident.wait_for_url(re.compile(r".*/items/\d+\?done=drafted"))
    item_url = resident.url.split("?")[0]
    resident.get_by_role("button", name="Publish").click()
    owner = signed_in(browser, base, "owner")
    owner.goto(item_url)
    owner.get_by_role("button", name="Co-sign this item").click()
    owner.locator("#cosign", has_text="1 of 1 co-signatures").wait_for()
    chair = signed_in(browser, base, "chair")
    chair.goto(item_url)
    chair.get_by_role("button", name="Put it on the agenda").click()
    chair.get_by_label("Opens", exact=True).fill(beijing(-5))
    chair.get_by_label("Closes", exact=True).fill(beijing(60))
    chair.get_by_role("button", name="Open the consultation").click()
    chair.wait_for_url(re.compile(r".*\?done=consultation_opened"))
    owner.goto(f"{item_url}/amendments/new")
    owner.get_by_label("The proposed text").fill(AMENDED_BODY)
    owner.get_by_role("button", name="Propose the amendment").click()
    owner.wait_for_url(re.compile(r".*/amendments/\d+\?done=proposed"))
    resident.goto(owner.url.split("?")[0])
    resident.get_by_role("button", name="Accept: change the text").click()
    resident.wait_for_url(re.compile(r".*\?done=accepted"))
    resident.goto(item_url)
    history = resident.locator("ol.item-history").inner_text()
    assert "mendment" in history, history
