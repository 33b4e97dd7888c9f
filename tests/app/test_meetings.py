"""Meetings: convening with an agenda, the record (attendance, votes, minutes), cancelling; one
log entry per action, notices to the community, and every refusal a 4xx that stores nothing."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from app import meetings as actions
from app.models import (
    AgendaItem,
    ItemFollow,
    ItemRevision,
    LogEntry,
    Meeting,
    Notification,
    utcnow,
)
from app.settings import Settings
from deliberation.text import render_markdown
from tests.app.conftest import Client, World, settle

BEIJING = ZoneInfo("Asia/Shanghai")
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def make_item(world: World, number: int, status: str, title: str = "", community: str = "z") -> int:
    """An agenda item written straight to the tables (the item actions are not under test)."""

    async def run(session: Any) -> int:
        now = utcnow()
        body = f"Item {number}: **why** it matters."
        author = world.ids["owner"] if community == "z" else world.ids["otheradmin"]
        item = AgendaItem(
            community_id=world.ids[community],
            number=number,
            title=title or f"Item {number}",
            body=body,
            body_html=render_markdown(body),
            revision=1,
            category="parking",
            author_id=author,
            status=status,
            published_at=None if status == "draft" else now - timedelta(days=10),
            consultation_opens_at=now - timedelta(days=5),
            consultation_closes_at=now + timedelta(days=5),
        )
        session.add(item)
        await session.flush()
        session.add(
            ItemRevision(
                community_id=item.community_id,
                item_id=item.id,
                revision=1,
                title=item.title,
                body=body,
                created_by=author,
            )
        )
        await session.commit()
        return int(item.id)

    return world.db.run(run)


def follow(world: World, item_id: int, username: str) -> None:
    async def run(session: Any) -> None:
        session.add(
            ItemFollow(item_id=item_id, account_id=world.ids[username], community_id=world.ids["z"])
        )
        await session.commit()

    world.db.run(run)


def rows(world: World, model: Any, *where: Any) -> list[Any]:
    async def run(session: Any) -> list[Any]:
        return list((await session.execute(select(model).where(*where))).scalars())

    return world.db.run(run)


def count(world: World, model: Any, *where: Any) -> int:
    async def run(session: Any) -> int:
        query = select(func.count()).select_from(model).where(*where)
        return int((await session.execute(query)).scalar_one())

    return world.db.run(run)


def entries(world: World, type_: str) -> list[dict[str, Any]]:
    async def run(session: Any) -> list[dict[str, Any]]:
        query = select(LogEntry.payload).where(LogEntry.type == type_).order_by(LogEntry.id)
        return list((await session.execute(query)).scalars())

    return world.db.run(run)


def move_start(world: World, number: int, delta: timedelta) -> None:
    """Let time pass: the meeting now starts ``delta`` from now."""

    async def run(session: Any) -> None:
        await session.execute(
            update(Meeting)
            .where(Meeting.community_id == world.ids["z"], Meeting.number == number)
            .values(starts_at=utcnow() + delta)
        )
        await session.commit()

    world.db.run(run)


def local(delta: timedelta) -> str:
    """A datetime-local value in Beijing time, ``delta`` from now."""
    return (utcnow() + delta).astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


def text(response: Any) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.text))


def english(client: Client, username: str | None) -> Client:
    client.cookies.set("yishi_lang", "en")
    if username:
        client.sign_in(username)
    return client


def notice_form(**changes: Any) -> dict[str, Any]:
    form = {
        "title": "Parking in the north yard",
        "kind": "residents",
        "place": "Residents' committee hall",
        "starts_at": local(timedelta(days=3)),
    }
    form.update(changes)
    return form


def convene(client: Client, **changes: Any) -> Any:
    data = notice_form(**changes)
    agenda = data.pop("agenda", [])
    return client.post(
        "/c/z/meetings/new",
        data={**data, "agenda": agenda, "_csrf_token": client.csrf()},
        follow_redirects=False,
    )


# ---------------------------------------------------------------- convening


def test_chair_convenes_a_meeting_with_an_agenda(
    world: World, client: Client, settings: Settings
) -> None:
    on_agenda = make_item(world, 1, "on_agenda", "Parcel lockers")
    make_item(world, 2, "consultation", "CCTV at the gates")
    make_item(world, 3, "collecting", "Not ready yet")
    make_item(world, 4, "draft", "Secret draft")
    follow(world, on_agenda, "auditor")  # a follower without a person in the register
    english(client, "chair")

    form = client.get("/c/z/meetings/new")
    assert form.status_code == 200
    assert "Parcel lockers" in form.text and "CCTV at the gates" in form.text
    assert "Not ready yet" not in form.text and "Secret draft" not in form.text

    response = convene(client, agenda=["1", "2"])
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/c/z/meetings/1?done=convened"

    (meeting,) = rows(world, Meeting)
    assert (meeting.number, meeting.status, meeting.kind) == (1, "convened", "residents")
    assert meeting.agenda == [1, 2]
    (payload,) = entries(world, "meeting.convened")
    assert payload == {
        "meeting": 1,
        "title": "Parking in the north yard",
        "kind": "residents",
        "starts_at": meeting.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "place": "Residents' committee hall",
        "agenda": [1, 2],
    }
    assert meeting.convened_entry_id is not None

    # every account with a person in z, and the item's follower; not the chair, not "other"
    told = {n.account_id: n for n in rows(world, Notification)}
    assert set(told) == {world.ids[u] for u in ("resident", "owner", "grid", "auditor")}
    notice = told[world.ids["resident"]]
    assert notice.kind == "meeting" and notice.link == "/c/z/meetings/1"
    assert notice.params["meeting"] == 1 and notice.params["title"] == meeting.title
    assert notice.params["starts_at"] == payload["starts_at"]

    settle(world, settings)
    page = client.get("/c/z/meetings/1")
    assert page.status_code == 200
    words = text(page)
    assert "Parking in the north yard" in words and "Residents' committee hall" in words
    assert meeting.starts_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") in words
    assert 'href="/c/z/items/1"' in page.text and "Parcel lockers" in words
    assert re.search(r'href="/c/z/log/\d+"', page.text)  # the convening entry, once sequenced

    listing = client.get("/c/z/meetings")
    assert listing.status_code == 200 and "Parking in the north yard" in listing.text


def test_anyone_may_read_meetings_but_only_the_chair_convenes(world: World, client: Client) -> None:
    english(client, None)
    assert client.get("/c/z/meetings").status_code == 200
    assert client.get("/c/z/meetings/new", follow_redirects=False).status_code in {303, 401}
    assert convene(client).status_code == 401
    client.sign_in("resident")
    assert client.get("/c/z/meetings/new").status_code == 403
    assert convene(client).status_code == 403
    assert client.get("/c/z/meetings").status_code == 200
    assert "Convene a meeting" not in client.get("/c/z/meetings").text
    assert count(world, Meeting) == 0 and entries(world, "meeting.convened") == []


def test_refused_notices_say_which_field_and_store_nothing(world: World, client: Client) -> None:
    make_item(world, 1, "draft")
    make_item(world, 2, "on_agenda", community="other")  # another community's item 2
    english(client, "chair")
    cases = [
        ({"starts_at": local(-timedelta(hours=1))}, "f-starts_at", "must start in the future"),
        ({"starts_at": "tomorrow evening"}, "f-starts_at", "enter a date and time"),
        ({"title": "   "}, "f-title", "Title: please fill this in"),
        ({"place": ""}, "f-place", "Place: please fill this in"),
        ({"title": "t" * 121}, "f-title", "at most 120 characters"),
        ({"kind": "banquet"}, "f-kind", "Choose the kind of meeting"),
        ({"agenda": ["1"]}, "f-agenda", "Item #1 cannot be taken up"),
        ({"agenda": ["2"]}, "f-agenda", "Item #2 cannot be taken up"),
        ({"agenda": ["x"]}, "f-agenda", "cannot be taken up"),
    ]
    for changes, field, message in cases:
        response = convene(client, **changes)
        assert response.status_code == 400, (changes, response.status_code)
        assert message in text(response), (changes, text(response))
        assert f'href="#{field}"' in response.text, changes
    assert count(world, Meeting) == 0
    assert entries(world, "meeting.convened") == []
    assert count(world, Notification) == 0


def test_text_is_inert_on_every_meeting_page(world: World, client: Client) -> None:
    english(client, "chair")
    assert convene(client, title=XSS, place=XSS).status_code == 303
    move_start(world, 1, -timedelta(minutes=5))
    for url in ("/c/z/meetings", "/c/z/meetings/1"):
        page = client.get(url)
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;" in page.text
    page = client.get("/c/z/meetings/1")
    og = re.search(r'<meta property="og:title" content="([^"]*)">', page.text)
    assert og is not None and html.unescape(og.group(1)) == XSS
    minutes = f"We met.\n\n{XSS}\n\n[link](javascript:alert(1))"
    assert record(client, minutes=minutes).status_code == 303
    page = client.get("/c/z/meetings/1")
    assert "<script>alert" not in page.text and 'href="javascript' not in page.text
    assert "<p>We met.</p>" in page.text


# ---------------------------------------------------------------- the record


def record(client: Client, number: int = 1, **fields: Any) -> Any:
    data = {"attendance": "6", "eligible": "7", "minutes": "We met and voted."}
    data.update({k.replace("_", "-"): str(v) for k, v in fields.items()})
    return client.form(f"/c/z/meetings/{number}/minutes", data)


def test_the_record_of_a_meeting(world: World, client: Client, settings: Settings) -> None:
    for number in (1, 2, 3):
        make_item(world, number, "deciding", f"Item {number}")
    english(client, "chair")
    assert convene(client, agenda=["1", "2", "3"]).status_code == 303
    assert count(world, Notification) == 3  # resident, owner, grid

    early = record(client, v1_for=4)
    assert early.status_code == 409 and "has not started yet" in text(early)

    move_start(world, 1, -timedelta(hours=2))
    page = client.get("/c/z/meetings/1")
    assert 'name="eligible" type="number" min="1" inputmode="numeric" value="7"' in page.text
    minutes = "## Decisions\n\n- lockers: yes\n- CCTV: no"
    response = record(
        client,
        attendance=6,
        eligible=10,
        minutes=minutes,
        v1_for=4,
        v1_against=1,
        v1_abstain=1,
        v2_for=3,
        v2_against=2,
        v2_abstain=1,
    )
    assert response.status_code == 303, text(response)
    (meeting,) = rows(world, Meeting)
    assert meeting.status == "held" and (meeting.attendance, meeting.eligible) == (6, 10)
    assert meeting.votes == [
        {"item": 1, "for": 4, "against": 1, "abstain": 1, "outcome": "adopted"},
        {"item": 2, "for": 3, "against": 2, "abstain": 1, "outcome": "rejected"},  # 3 of 6
    ]
    assert meeting.minutes == minutes and "<h3>Decisions</h3>" in (meeting.minutes_html or "")
    (payload,) = entries(world, "meeting.minutes")
    assert payload == {
        "meeting": 1,
        "attendance": 6,
        "eligible": 10,
        "minutes_sha256": hashlib.sha256(minutes.encode()).hexdigest(),
        "votes": meeting.votes,
    }
    held = [n for n in rows(world, Notification) if n.params.get("status") == "held"]
    assert {n.account_id for n in held} == {world.ids[u] for u in ("resident", "owner", "grid")}

    settle(world, settings)
    english(client, None)
    page = client.get("/c/z/meetings/1")
    words = text(page)
    assert "6 of 10 people entitled to attend were present" in words
    assert "the meeting could decide" in words
    assert "4 for, 1 against, 1 abstaining, of 6 present" in words
    assert "No vote was taken on this item" in words  # item 3
    assert len(re.findall(r'href="/c/z/log/\d+"', page.text)) == 2


def test_a_meeting_without_quorum_adopts_nothing(world: World, client: Client) -> None:
    make_item(world, 1, "deciding")
    english(client, "chair")
    convene(client, agenda=["1"])
    move_start(world, 1, -timedelta(hours=1))
    assert (
        record(client, attendance=3, eligible=7, v1_for=3, v1_against=0, v1_abstain=0).status_code
        == 303
    )
    (meeting,) = rows(world, Meeting)
    assert meeting.votes[0]["outcome"] == "rejected"
    assert "could not decide" in text(client.get("/c/z/meetings/1"))


def test_bad_counts_are_refused_and_nothing_stored(world: World, client: Client) -> None:
    make_item(world, 1, "deciding")
    english(client, "chair")
    convene(client, agenda=["1"])
    move_start(world, 1, -timedelta(hours=1))
    cases = [
        ({"attendance": ""}, "f-attendance", "People present: enter a whole number"),
        ({"attendance": "-2"}, "f-attendance", "People present: a count cannot be negative"),
        ({"attendance": "8"}, "f-attendance", "8 present, but only 7 entitled"),
        ({"eligible": "0"}, "f-eligible", "at least one person must be entitled"),
        (
            {"v1_for": 5, "v1_against": 2, "v1_abstain": 0},
            "f-v1-for",
            "7 votes counted, but only 6",
        ),
        ({"v1_for": 5}, "f-v1-against", "Item #1, against: enter a whole number"),
        ({"v1_for": 1, "v1_against": -1, "v1_abstain": 0}, "f-v1-against", "cannot be negative"),
        ({"minutes": "  "}, "f-minutes", "Minutes: please fill this in"),
    ]
    for changes, field, message in cases:
        response = record(client, **changes)
        assert response.status_code == 400, (changes, response.status_code)
        assert message in text(response), (changes, text(response))
        assert f'href="#{field}"' in response.text and 'aria-invalid="true"' in response.text
        # what was typed comes back
        assert 'name="minutes"' in response.text
    (meeting,) = rows(world, Meeting)
    assert meeting.status == "convened" and meeting.votes == [] and meeting.minutes is None
    assert entries(world, "meeting.minutes") == []


def test_minutes_only_once_and_only_by_the_chair(world: World, client: Client) -> None:
    english(client, "chair")
    convene(client)
    move_start(world, 1, -timedelta(hours=1))
    client.sign_in("grid")
    assert record(client).status_code == 403
    assert client.form("/c/z/meetings/1/cancel").status_code == 403
    assert entries(world, "meeting.minutes") == [] and rows(world, Meeting)[0].status == "convened"
    client.sign_in("chair")
    assert record(client).status_code == 303
    again = record(client, attendance=7)
    assert again.status_code == 409 and "cannot be recorded twice" in text(again)
    assert len(entries(world, "meeting.minutes")) == 1
    assert rows(world, Meeting)[0].attendance == 6
    cancelled = client.form("/c/z/meetings/1/cancel")
    assert cancelled.status_code == 409
    assert rows(world, Meeting)[0].status == "held"
    assert record(client, number=2).status_code == 404


def test_cancel_a_meeting(world: World, client: Client) -> None:
    english(client, "chair")
    convene(client)
    before = count(world, LogEntry)
    response = client.form("/c/z/meetings/1/cancel")
    assert response.status_code == 303
    (meeting,) = rows(world, Meeting)
    assert meeting.status == "cancelled"
    [entry] = [e for e in rows(world, LogEntry) if e.type == "meeting.cancelled"]
    assert count(world, LogEntry) == before + 1 and entry.payload == {"meeting": 1}
    cancelled = [n for n in rows(world, Notification) if n.params.get("status") == "cancelled"]
    assert len(cancelled) == 3
    assert client.form("/c/z/meetings/1/cancel").status_code == 409
    move_start(world, 1, -timedelta(hours=1))
    assert record(client).status_code == 409
    assert "This meeting was cancelled" in text(client.get("/c/z/meetings/1"))
    assert "Past meetings" in text(client.get("/c/z/meetings"))


def test_meetings_stay_in_their_community(world: World, client: Client) -> None:
    english(client, "chair")
    convene(client)
    client.cookies.clear()
    english(client, "otheradmin")
    assert client.get("/c/other/meetings/1").status_code == 404
    assert client.get("/c/other/meetings/1/card.png").status_code == 404
    assert "Parking in the north yard" not in client.get("/c/other/meetings").text
    assert client.get("/c/nowhere/meetings").status_code == 404


def test_eligible_is_prefilled_from_the_register(world: World) -> None:
    async def run(session: Any) -> tuple[Any, ...]:
        community = world.ids["z"]
        return (
            await actions.entitled_count(session, community, "residents"),
            await actions.entitled_count(session, community, "owners"),
            await actions.entitled_count(session, community, "council"),
        )

    # seven adults in z's register; owners by head: P001, P003, P004 (co-owners), P005, P007
    assert world.db.run(run) == (7, 5, None)
