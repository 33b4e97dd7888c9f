"""The demo's deliberation on a small register: items in every stage, deep threads, amendments,
moderation, summaries and meetings, all through the real actions, with a log that verifies;
loading again changes nothing."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app import demo, log, share
from app.demo import load_demo
from app.demo_deliberation import ITEMS, NEW_ACCOUNTS
from app.models import (
    Account,
    AgendaItem,
    Amendment,
    Ballot,
    Comment,
    CommentReaction,
    CommentReport,
    CommentRevision,
    Community,
    DeliberationSettings,
    ItemAttachment,
    ItemCosign,
    ItemEvent,
    ItemRevision,
    ItemSummary,
    LogEntry,
    Meeting,
    Notification,
    Person,
)
from audit.verify import verify_bundle
from deliberation.items import Status
from tests.app.conftest import make_settings
from tests.conftest import Database


@pytest.fixture
def small_register(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference community at a tenth of its size: buildings 3 to 12 (the lift blocks) and
    seven grids still exist, and the demo's ballots run quickly."""
    monkeypatch.setattr(demo, "BUILDINGS", 14)
    monkeypatch.setattr(demo, "HOUSEHOLDS", 420)
    monkeypatch.setattr(demo, "PEOPLE", 1_150)


async def _state(session: Any) -> dict[str, Any]:
    async def count(model: Any) -> int:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())

    return {
        "items": [
            (i.number, i.status, i.revision, i.cosign_count, i.outcome, i.implementation)
            for i in (
                await session.execute(select(AgendaItem).order_by(AgendaItem.number))
            ).scalars()
        ],
        "comments": await count(Comment),
        "reactions": await count(CommentReaction),
        "amendments": await count(Amendment),
        "meetings": await count(Meeting),
        "accounts": await count(Account),
        "entries": await count(LogEntry),
        "notifications": await count(Notification),
    }


def test_demo_deliberation_plays_every_stage_through_the_actions(
    database: Database, tmp_path: Path, small_register: None
) -> None:
    settings = make_settings(database, tmp_path)
    database.run(lambda session: load_demo(session, settings))

    async def read(session: Any) -> dict[str, Any]:
        community = (
            await session.execute(select(Community).where(Community.slug == "z"))
        ).scalar_one()
        found = {
            i.number: i
            for i in (
                await session.execute(
                    select(AgendaItem).where(AgendaItem.community_id == community.id)
                )
            ).scalars()
        }
        comments = list((await session.execute(select(Comment).order_by(Comment.id))).scalars())
        entries = [
            (e.type, e.payload)
            for e in (await session.execute(select(LogEntry).order_by(LogEntry.id))).scalars()
        ]
        ballots = {b.id: b for b in (await session.execute(select(Ballot))).scalars()}
        out = tmp_path / "bundle"
        await log.export_bundle(session, community, out)
        return {
            "items": found,
            "comments": comments,
            "entries": entries,
            "ballots": ballots,
            "amendments": list((await session.execute(select(Amendment))).scalars()),
            "revisions": list((await session.execute(select(ItemRevision))).scalars()),
            "summaries": list((await session.execute(select(ItemSummary))).scalars()),
            "meetings": list(
                (await session.execute(select(Meeting).order_by(Meeting.number))).scalars()
            ),
            "reports": list((await session.execute(select(CommentReport))).scalars()),
            "attachments": list(
                (await session.execute(select(ItemAttachment.item_id, ItemAttachment.media_type)))
                .tuples()
                .all()
            ),
            "edits": list((await session.execute(select(CommentRevision))).scalars()),
            "events": list((await session.execute(select(ItemEvent))).scalars()),
            "cosigns": int(
                (await session.execute(select(func.count()).select_from(ItemCosign))).scalar_one()
            ),
            "kinds": Counter((await session.execute(select(Notification.kind))).scalars()),
            "rules": await session.get(DeliberationSettings, community.id),
            "names": list(
                (
                    await session.execute(select(Person.name).where(Person.account_id.is_not(None)))
                ).scalars()
            ),
        }

    got = database.run(read)
    items = got["items"]

    # Every stage of the life cycle, in the planned order of numbers.
    assert [items[n].status for n in sorted(items)] == [plan.stage for plan in ITEMS]
    assert {i.status for i in items.values()} == set(Status)
    by_status = {i.status: i for i in items.values()}
    assert by_status["declined"].declined_reason
    collecting = by_status["collecting"]
    assert 0 < collecting.cosign_count < collecting.cosign_threshold
    for item in items.values():
        if item.status not in ("draft", "collecting", "declined"):
            assert item.cosign_count == item.cosign_threshold == 20

    # Item 1 waits for the open parking ballot, item 2 was decided by the final lift ballot.
    parking, lift = items[1], items[2]
    assert parking.status == "deciding"
    assert got["ballots"][parking.decision_ballot_id].status == "open"
    assert got["ballots"][parking.decision_ballot_id].definition["agenda_item"] == "1"
    assert lift.status == "implementing" and lift.outcome == "adopted"
    assert got["ballots"][lift.decision_ballot_id].status == "final"
    assert got["ballots"][lift.decision_ballot_id].definition["agenda_item"] == "2"

    # The parking item carries a chart where a Chinese font is installed to draw it.
    if share.find_cjk_font() is not None:
        assert got["attachments"] == [(parking.id, "image/png")]

    # Threads of 15 to 40 comments in varied voices, replies several levels deep.
    per_item = Counter(c.item_id for c in got["comments"])
    consulted = [i for i in items.values() if i.consultation_opens_at is not None]
    assert len(consulted) == 5
    for item in consulted:
        assert 15 <= per_item[item.id] <= 40, (item.number, per_item[item.id])
        authors = {c.author_id for c in got["comments"] if c.item_id == item.id}
        assert len(authors) >= 10
    assert max(c.depth for c in got["comments"]) >= 6
    paths = {c.id: c.path for c in got["comments"]}
    assert all(
        c.parent_id is None or c.path.startswith(paths[c.parent_id]) for c in got["comments"]
    )
    assert sum(c.agree_count + c.disagree_count + c.question_count for c in got["comments"]) > 500
    assert got["edits"] and all(e.revision == 1 for e in got["edits"])

    # Amendments accepted (the text moved on, with its revisions), rejected, and one still open.
    decisions = Counter(a.status for a in got["amendments"])
    assert decisions["accepted"] >= 4 and decisions["rejected"] >= 2 and decisions["proposed"] == 1
    assert "临时停靠位" in parking.body and parking.revision == 2
    # the lift ballot was under way: its amendment was rejected, the voters' text stands
    assert "一楼住户不分摊" not in lift.body and lift.revision == 1
    assert "外来车辆一律不得进入小区" not in parking.body
    assert len(got["revisions"]) == sum(i.revision for i in items.values() if i.status != "draft")

    # Moderation: a personal attack hidden by the chair, a phone number by the author's grid
    # member, both reported first; the log says so without text or names.
    hidden = [c for c in got["comments"] if c.hidden_at is not None]
    assert sorted(c.hidden_reason for c in hidden) == ["personal_attack", "private_data"]
    private = next(c for c in hidden if c.hidden_reason == "private_data")
    assert re.search(r"电话 1\d{10}", private.body)  # a neighbour's number from the register
    assert all(r.resolved_at is not None for r in got["reports"]) and len(got["reports"]) == 2
    moderated = [p for t, p in got["entries"] if t == "comment.moderated"]
    assert sorted(p["by"] for p in moderated) == ["chair", "grid_member"]

    # The chair's summaries cite comments of their own item.
    comment_items = {c.id: c.item_id for c in got["comments"]}
    assert len(got["summaries"]) == 3
    for summary in got["summaries"]:
        sides = {p["side"] for p in summary.points}
        assert sides == {"for", "against"}
        assert all(
            comment_items[c] == summary.item_id for p in summary.points for c in p["comments"]
        )

    # A council meeting held (its minutes decide items 3 and 5), the next one convened.
    held, upcoming = got["meetings"]
    assert held.status == "held" and held.agenda == [3, 5] and held.minutes_html
    assert [v["outcome"] for v in held.votes] == ["adopted", "adopted"]
    assert upcoming.status == "convened" and upcoming.agenda == [4, 6]
    assert items[3].decision_meeting_id == held.id and items[3].status == "decided"
    assert items[5].decision_meeting_id == held.id and items[5].implementation == "done"

    # Every step is in the log once; the notices went out; the posting limit is back.
    types = Counter(t for t, _p in got["entries"])
    assert types["item.cosigned"] == got["cosigns"]
    assert types["item.transitioned"] == len(
        [e for e in got["events"] if e.action not in ("threshold_reached", "amend")]
    )
    assert types["amendment.decided"] == decisions["accepted"] + decisions["rejected"]
    assert types["summary.published"] == 3
    assert (types["meeting.convened"], types["meeting.minutes"]) == (2, 1)
    assert {"reply", "item_status", "amendment", "moderation", "meeting"} <= set(got["kinds"])
    assert got["rules"].comments_per_hour == DeliberationSettings(community_id=0).comments_per_hour

    # The exported log verifies and carries no resident's name.
    report = verify_bundle(tmp_path / "bundle")
    assert report.ok, report.issues
    exported = (tmp_path / "bundle" / "entries.jsonl").read_text(encoding="utf-8")
    assert not [name for name in got["names"] if name in exported]

    # Loading again changes nothing.
    before = database.run(_state)
    assert before["accounts"] == 12 + NEW_ACCOUNTS
    database.run(lambda session: load_demo(session, settings))
    assert database.run(_state) == before
