"""Stored XSS, tried in every text field of the deliberation pages and checked in the real
browser: item title and body, an attachment's file name, a decline reason, a progress report,
comments, replies and their edits, a report's note, an amendment's text and reason, the chair's
summary, a meeting's title, place and minutes, and people's display names.

Every page where the text shows is visited (the item, the list, search results, the
consultation, the amendment and its diff, the text and comment histories, my participation,
notifications, the Atom feed, a meeting, the posters, the log, moderation, a ballot made from the
item). On each: no script ran (``window.__xss`` stays undefined, no dialog opened), no element
carries an injected handler or a ``javascript:`` link, and the payload reads as plain text where
the page shows it."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page
from sqlalchemy import update

from app import rules
from app.models import Account, Meeting
from tests.app.conftest import PASSWORD, World
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser
BEIJING = ZoneInfo("Asia/Shanghai")

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'
SVG = "<svg onload=alert(1)>"
BREAKOUT = '"><script>window.__xss=1</script>'
TEXTAREA = "</textarea><script>window.__xss=1</script>"

# Each within its field's limit (titles 120, display names 60, places 120 characters).
TITLE = f"Bikes </title>{BREAKOUT}{IMG}"
MEETING_TITLE = f"Meeting </title>{BREAKOUT}"
PLACE = f"Hall {IMG}"
RESIDENT_NAME = f"Zhao{BREAKOUT}{SVG}"
OWNER_NAME = f"Wang{IMG}"
FILE_NAMES = ("<img src=x onerror=alert(1)>.png", '"><svg onload=alert(1)>.png')


def beijing(minutes: int) -> str:
    return (datetime.now(BEIJING) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def markdown(marker: str) -> str:
    """A Markdown text with every payload, raw HTML and javascript: links among them."""
    return (
        f"{marker} starts **here**.\n\n"
        f"{SCRIPT}\n\n{IMG}\n\n{SVG}\n\n{BREAKOUT}\n\n{TEXTAREA}\n\n"
        "[click me](javascript:window.__xss=1) and [again](JaVaScRiPt:alert(1))\n\n"
        '<a href="javascript:window.__xss=1">raw link</a>\n\n'
        "<javascript:alert(1)>\n\n"
        "[ref][x]\n\n[x]: javascript:alert(1)\n"
    )


SHOWN_AS_TEXT = (SCRIPT, IMG, "[click me](javascript:window.__xss=1)")


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 120, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


INJECTED = """() => {
  const bad = [];
  const handlers = [...document.querySelectorAll('*')].filter(
    e => [...e.attributes].some(a => a.name.startsWith('on')));
  if (handlers.length) bad.push('handlers on ' + handlers.map(e => e.outerHTML.slice(0, 80)));
  const scripts = [...document.querySelectorAll('script')].filter(
    s => (s.textContent || '').includes('__xss'));
  if (scripts.length) bad.push(scripts.length + ' injected script(s)');
  const links = [...document.querySelectorAll('[href],[src],[action],[formaction]')].filter(e =>
    ['href', 'src', 'action', 'formaction'].some(
      n => /^\\s*(javascript|data|vbscript):/i.test(e.getAttribute(n) || '')));
  if (links.length) bad.push('script links ' + links.map(e => e.outerHTML.slice(0, 80)));
  const imgs = document.querySelectorAll('img[src="x"]');
  if (imgs.length) bad.push(imgs.length + ' injected <img>');
  return bad;
}"""


class Inspector:
    """Opens pages as several people and notes everything that looks like a script ran."""

    def __init__(self, browser: Browser, base: str) -> None:
        self.browser = browser
        self.base = base
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.visited: list[str] = []
        self.overflows: list[str] = []

    def page(self, username: str | None) -> Page:
        # A phone-wide window but not mobile emulation: a payload's long unbreakable words
        # widen the page (see ``overflows``), and a mobile layout then zooms out and misplaces
        # clicks.
        context = self.browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
        context.set_default_timeout(10000)
        page = context.new_page()
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        if username:
            page.goto(f"{self.base}/signin?next=/c/z")
            page.locator("input[name=identifier]").fill(username)
            page.locator("input[name=password]").fill(PASSWORD)
            page.locator("form[action='/signin'] button[type=submit]").click()
            page.wait_for_url(f"{self.base}/c/z")
        return page

    def check(self, page: Page, where: str, *texts: str, html: bool = True) -> None:
        """The page as it stands: nothing ran, nothing injected, the texts are shown."""
        page.wait_for_load_state("load")
        page.wait_for_timeout(150)  # a broken image's onerror fires after load
        self.visited.append(where)
        if page.evaluate("typeof window.__xss") != "undefined":
            self.problems.append(f"{where}: a payload ran (window.__xss is set)")
        for found in page.evaluate(INJECTED):
            self.problems.append(f"{where}: {found}")
        if html and page.evaluate("document.documentElement.scrollWidth > window.innerWidth"):
            self.overflows.append(where)
        if html:  # what a reader sees, folded parts (co-signers, hidden text…) unfolded
            page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        shown = page.locator("body").inner_text() if html else page.content()
        for text in texts:
            if text not in shown:
                self.problems.append(f"{where}: {text!r} is not shown as text")

    def visit(self, page: Page, path: str, *texts: str, html: bool = True) -> None:
        page.goto(self.base + path)
        self.check(page, path, *texts, html=html)


def test_stored_xss_is_inert_everywhere(browser: Browser, live_server: str, world: World) -> None:
    base = live_server

    async def prepare(session: Any) -> None:
        for username, name in (("resident", RESIDENT_NAME), ("owner", OWNER_NAME)):
            await session.execute(
                update(Account).where(Account.username == username).values(display_name=name)
            )
        await session.commit()
        await rules.update_rules(
            session,
            world.ids["z"],
            {"cosign_residents": "1", "cosign_household_permille": "0", "comments_per_hour": "100"},
        )

    world.db.run(prepare)
    x = Inspector(browser, base)

    # The resident drafts item A: every payload in its title and body, two booby-trapped files.
    resident = x.page("resident")
    x.check(resident, "community page", RESIDENT_NAME)
    resident.goto(f"{base}/c/z/items/new")
    resident.get_by_label("Title").fill(TITLE)
    resident.get_by_label("Text", exact=True).fill(markdown("BODYMARK"))
    resident.get_by_label("Other").check()
    resident.get_by_label("Attachments").set_input_files(
        files=[{"name": n, "mimeType": "image/png", "buffer": png()} for n in FILE_NAMES]
    )
    resident.get_by_role("button", name="Save draft").click()
    resident.wait_for_url(re.compile(r".*/items/\d+\?done=drafted"))
    a = int(re.findall(r"/items/(\d+)", resident.url)[0])
    item = f"/c/z/items/{a}"
    x.check(resident, "draft", TITLE, *SHOWN_AS_TEXT)
    alts = [img.get_attribute("alt") for img in resident.locator("li.attachment-image img").all()]
    assert sorted(alts) == sorted(FILE_NAMES)
    x.visit(resident, f"{item}/edit", *FILE_NAMES)
    assert resident.get_by_label("Title").input_value() == TITLE
    assert resident.get_by_label("Text", exact=True).input_value() == markdown("BODYMARK").strip()
    resident.goto(base + item)
    resident.get_by_role("button", name="Publish").click()
    resident.wait_for_url(re.compile(r".*\?done=published"))

    # Item B, declined with a reason full of payloads.
    resident.goto(f"{base}/c/z/items/new")
    resident.get_by_label("Title").fill("A plain second item")
    resident.get_by_label("Text", exact=True).fill("Nothing to see.")
    resident.get_by_label("Other").check()
    resident.get_by_role("button", name="Save draft").click()
    resident.wait_for_url(re.compile(r".*/items/\d+\?done=drafted"))
    b = int(re.findall(r"/items/(\d+)", resident.url)[0])
    resident.get_by_role("button", name="Publish").click()
    resident.wait_for_url(re.compile(r".*\?done=published"))

    owner = x.page("owner")
    owner.goto(base + item)
    owner.get_by_role("button", name="Co-sign this item").click()
    owner.locator("#cosign", has_text="1 of 1").wait_for()
    x.check(owner, "item after co-signing", OWNER_NAME)

    chair = x.page("chair")
    chair.goto(f"{base}/c/z/items/{b}")
    chair.get_by_label("Decline, with a public reason").fill(markdown("DECLINEMARK"))
    chair.get_by_role("button", name="Decline the item").click()
    chair.wait_for_url(re.compile(r".*\?done=declined"))
    chair.goto(base + item)
    chair.get_by_role("button", name="Put it on the agenda").click()
    chair.wait_for_url(re.compile(r".*\?done=accepted"))
    chair.get_by_label("Opens", exact=True).fill(beijing(-5))
    chair.get_by_label("Closes", exact=True).fill(beijing(24 * 60))
    chair.get_by_role("button", name="Open the consultation").click()
    chair.wait_for_url(re.compile(r".*\?done=consultation_opened"))

    # Comments, a reply, an edit and a report's note.
    thread = f"{item}/consultation"
    resident.goto(base + thread)
    resident.get_by_label("Your comment").fill(markdown("COMMENTMARK"))
    resident.get_by_role("button", name="Post comment").click()
    comment = comment_id(resident, "COMMENTMARK")
    x.check(resident, "consultation after posting (htmx)", *SHOWN_AS_TEXT)
    owner.goto(base + thread)
    owner.locator(f"#c{comment} details.reply > summary").click()
    owner.locator(f"#b{comment}").fill(markdown("REPLYMARK"))
    owner.locator(f"#c{comment} details.reply button[type=submit]").click()
    reply = comment_id(owner, "REPLYMARK")
    x.check(owner, "consultation after replying (htmx)", OWNER_NAME)
    resident.goto(f"{base}/c/z/comments/{comment}/edit")
    x.check(resident, "comment edit form")
    assert resident.get_by_label("Your comment").input_value() == markdown("COMMENTMARK").strip()
    resident.get_by_label("Your comment").fill(markdown("EDITMARK"))
    resident.get_by_role("button", name="Save the change").click()
    resident.wait_for_url(re.compile(r".*\?done=edited.*"))
    resident.locator(f"#c{reply} details.report > summary").click()
    resident.locator(f"#rn{reply}").fill(f"NOTEMARK {BREAKOUT}{IMG}")
    resident.locator(f"#c{reply} details.report button[type=submit]").click()
    resident.get_by_text("A moderator will look at this comment", exact=False).wait_for()

    # An amendment with payloads in its text and reason; the author accepts it.
    owner.goto(f"{base}{item}/amendments/new")
    owner.get_by_label("The proposed text").fill(
        markdown("BODYMARK") + "\n" + markdown("AMENDMARK")
    )
    owner.get_by_label("The reason for the change").fill(f"RATIONALEMARK {BREAKOUT}{IMG}{SVG}")
    owner.get_by_role("button", name="Preview the changes").click()
    owner.locator("#preview .amend-diff").wait_for()
    x.check(owner, "amendment preview (htmx)")
    owner.get_by_role("button", name="Propose the amendment").click()
    owner.wait_for_url(re.compile(r".*/amendments/\d+\?done=proposed"))
    amendment = owner.url.split("?")[0].removeprefix(base)
    resident.goto(base + amendment)
    resident.get_by_role("button", name="Accept: change the text").click()
    resident.wait_for_url(re.compile(r".*\?done=accepted"))

    # The chair's summary, and a ballot prepared from the item (its description comes from
    # the body as plain text).
    chair.goto(f"{base}{item}/summary")
    chair.locator("#f-text_1").fill(f"POINTMARK {BREAKOUT}{IMG}{SVG}")
    chair.locator("#f-comments_1").fill(str(comment))
    chair.get_by_role("button", name="Publish the summary").click()
    chair.wait_for_url(re.compile(r".*/consultation\?done=summary"))
    x.check(chair, "consultation with the summary", "POINTMARK " + BREAKOUT)
    chair.goto(base + item)
    chair.get_by_role("button", name="Prepare a ballot").click()
    chair.wait_for_url(re.compile(r".*/c/z/ballots/\d+/edit"))
    ballot = int(re.findall(r"/ballots/(\d+)", chair.url)[0])
    x.check(chair, "ballot edit form from the item")
    assert chair.get_by_label("Title").input_value() == TITLE

    # A meeting with payloads in its title, place and minutes, which decides item A.
    chair.goto(f"{base}/c/z/meetings/new")
    chair.get_by_label("Title", exact=True).fill(MEETING_TITLE)
    chair.locator("input[name=kind]").first.check()
    chair.get_by_label("Place", exact=True).fill(PLACE)
    chair.get_by_label("Date and time (Beijing time)").fill(beijing(60))
    chair.locator(f"input[name=agenda][value='{a}']").check()
    chair.get_by_role("button", name="Convene the meeting").click()
    chair.wait_for_url(re.compile(r".*/meetings/\d+\?.*"))
    meeting = int(re.findall(r"/meetings/(\d+)", chair.url)[0])
    x.check(chair, "meeting convened", MEETING_TITLE, PLACE)

    async def started(session: Any) -> None:
        await session.execute(
            update(Meeting)
            .where(Meeting.number == meeting, Meeting.community_id == world.ids["z"])
            # it has just begun: after the amendment taken in above (a vote on an older text
            # could not decide the item)
            .values(starts_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()

    world.db.run(started)
    chair.goto(f"{base}/c/z/meetings/{meeting}")
    chair.get_by_label("People present").fill("5")
    chair.locator(f"#f-v{a}-for").fill("4")
    chair.locator(f"#f-v{a}-against").fill("1")
    chair.locator(f"#f-v{a}-abstain").fill("0")
    chair.get_by_label("Minutes", exact=True).fill(markdown("MINUTESMARK"))
    chair.get_by_role("button", name="Publish the record").click()
    chair.wait_for_url(re.compile(r".*\?.*recorded.*"))

    chair.goto(base + item)
    chair.get_by_role("button", name="Close the consultation").click()
    chair.wait_for_url(re.compile(r".*\?done=consultation_closed"))
    chair.locator(f"input[name=by][value='meeting:{meeting}']").check()
    x.check(chair, "decision form naming the meeting", TITLE)
    chair.get_by_role("button", name="Record the decision").click()
    chair.wait_for_url(re.compile(r".*\?done=decided"))
    chair.get_by_label("What has happened").fill(markdown("PROGRESSMARK"))
    chair.get_by_role("button", name="Publish the report").click()
    chair.wait_for_url(re.compile(r".*\?done=progress"))

    # Now every page where any of it shows, as the people who see it.
    x.visit(resident, item, TITLE, RESIDENT_NAME, "BODYMARK", "PROGRESSMARK", *SHOWN_AS_TEXT)
    x.visit(resident, f"/c/z/items/{b}", "DECLINEMARK", *SHOWN_AS_TEXT)
    x.visit(resident, "/c/z/items", TITLE)
    x.visit(resident, "/c/z/search?q=Bikes", TITLE)
    assert resident.locator(".search-hit", has_text=TITLE).count() == 1
    x.visit(resident, "/c/z/search?q=EDITMARK", "EDITMARK")
    assert resident.locator(".search-hit .snippet", has_text="EDITMARK").count() == 1
    x.visit(resident, "/c/z/search?q=" + "%3Cscript%3E", SCRIPT)
    assert resident.locator(".search-hit").count() >= 1
    x.visit(resident, thread, TITLE, RESIDENT_NAME, OWNER_NAME, "EDITMARK", "REPLYMARK")
    x.visit(resident, f"/c/z/comments/{comment}/history", RESIDENT_NAME, "COMMENTMARK")
    x.visit(resident, amendment, OWNER_NAME, "RATIONALEMARK " + BREAKOUT, "AMENDMARK")
    x.visit(resident, f"{item}/amendments", TITLE, "RATIONALEMARK")
    x.visit(resident, f"{item}/revisions", TITLE, "AMENDMARK")
    x.visit(resident, "/c/z/me", TITLE)
    x.visit(resident, "/c/z/notifications", TITLE, MEETING_TITLE)
    x.visit(resident, f"/c/z/meetings/{meeting}", MEETING_TITLE, PLACE, "MINUTESMARK", TITLE)
    x.visit(resident, "/c/z/meetings", MEETING_TITLE)
    x.visit(resident, f"/share/poster?path={item}", TITLE)
    x.visit(resident, f"/share/poster?path=/c/z/meetings/{meeting}", MEETING_TITLE)
    x.visit(resident, "/c/z/log", TITLE, MEETING_TITLE, "DECLINEMARK")
    x.visit(owner, "/c/z/notifications", TITLE)
    x.visit(owner, "/c/z/me", TITLE, "REPLYMARK")
    x.visit(chair, "/c/z/moderation", "NOTEMARK " + BREAKOUT + IMG, OWNER_NAME)
    x.visit(chair, thread, "POINTMARK")
    x.visit(chair, f"{item}/summary", "REPLYMARK")
    x.visit(chair, f"/c/z/ballots/{ballot}", TITLE, "BODYMARK starts here. " + SCRIPT)
    x.visit(chair, f"/c/z/ballots/{ballot}/edit")
    x.visit(chair, item, TITLE)
    # The Atom feed: in the browser it is inert text; parsed, its texts are the stored ones,
    # escaped once (not lost, not double-escaped) and the HTML content is the sanitised body.
    feed = x.page(None)
    x.visit(feed, "/c/z/items.atom", html=False)
    feed_xml = httpx.get(f"{base}/c/z/items.atom").content
    atom = ElementTree.fromstring(feed_xml)  # noqa: S314 (our own server's output)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entry = next(e for e in atom.findall("a:entry", ns) if (e.findtext("a:title", "", ns)) == TITLE)
    assert entry.find("a:author", ns) is None  # residents' names stay out of the public feed
    content = entry.findtext("a:content", "", ns)
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in content
    tags = Tags()
    tags.feed(content)
    assert tags.seen <= {"p", "strong"}, tags.seen
    assert not tags.attributes, tags.attributes
    # And a passer-by who is not signed in.
    anonymous = x.page(None)
    for path in (item, thread, f"{item}/amendments", f"/c/z/meetings/{meeting}", "/c/z/items"):
        x.visit(anonymous, path, TITLE if path != f"/c/z/meetings/{meeting}" else MEETING_TITLE)

    resident.goto(base + item)
    screenshot(resident, "63-xss-item-en")
    resident.goto(base + thread)
    screenshot(resident, "64-xss-consultation-en")
    if x.overflows:  # a layout finding, reported, not a script running
        print("Pages wider than a 390 px phone with these texts:", ", ".join(x.overflows))

    assert not x.dialogs, f"dialogs opened: {x.dialogs}"
    assert not x.problems, "\n".join(x.problems)
    assert len(x.visited) >= 30


def test_the_inspector_notices_a_script_that_ran(browser: Browser) -> None:
    """The checks above would see a payload that got through: a handler that fired, an
    injected element, a javascript: link, text that is not there."""
    x = Inspector(browser, "")
    page = x.page(None)
    page.set_content(f"<main><p>shown</p>{IMG}<a href='javascript:void(0)'>x</a></main>")
    x.check(page, "booby-trapped page", "shown", SCRIPT)
    assert any("window.__xss is set" in p for p in x.problems), x.problems
    assert any("handlers on" in p for p in x.problems), x.problems
    assert any("script links" in p for p in x.problems), x.problems
    assert any("is not shown as text" in p for p in x.problems), x.problems
    page.set_content(f"<main>{SCRIPT}</main>")
    x.problems.clear()
    x.check(page, "script element")
    assert any("window.__xss is set" in p for p in x.problems), x.problems
    assert any("injected script" in p for p in x.problems), x.problems
    page.evaluate("alert('hello')")
    assert x.dialogs == ["hello"]


def comment_id(page: Page, text: str) -> int:
    article = page.locator("article.comment", has_text=text).first
    article.wait_for()
    return int((article.get_attribute("id") or "c0")[1:])


class Tags(HTMLParser):
    """The elements and attributes an HTML fragment really has (not what its text says)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        self.attributes += attrs
