"""Agenda items: the actions (drafting, publishing, co-signing, the chair's steps, the decision by
a ballot or a meeting, implementation) and their pages. Every refusal writes nothing; every
action writes exactly one log entry; co-signs in parallel all count, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import html
import io
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from app import ballots
from app import items as actions
from app.controllers.log import entry_summary
from app.db import create_engine, create_sessionmaker
from app.items import DeliberationError, Upload
from app.models import (
    Account,
    AgendaItem,
    Amendment,
    Ballot,
    Building,
    Community,
    DeliberationSettings,
    Grid,
    ItemAttachment,
    ItemCosign,
    ItemEvent,
    ItemFollow,
    ItemRevision,
    LogEntry,
    Meeting,
    Notification,
    Person,
    UnitLink,
    utcnow,
)
from app.register_import import import_file
from app.settings import Settings
from tests.app.conftest import Client, World, settle
from tests.conftest import in_thread

BODY = "## 背景\n\n小区东门**夜间**没有照明。\n\n- 装两盏路灯\n- 每晚 18 点到 6 点"


def png(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


# --- helpers -----------------------------------------------------------------------------------


async def _account(session: Any, name: str) -> Account:
    return (await session.execute(select(Account).where(Account.username == name))).scalar_one()  # type: ignore[no-any-return]


async def _person_of(session: Any, account: Account) -> Person | None:
    return (  # type: ignore[no-any-return]
        await session.execute(select(Person).where(Person.account_id == account.id))
    ).scalar_one_or_none()


def set_threshold(world: World, residents: int, permille: int = 0) -> None:
    async def run(session: Any) -> None:
        session.add(
            DeliberationSettings(
                community_id=world.ids["z"],
                cosign_residents=residents,
                cosign_household_permille=permille,
            )
        )
        await session.commit()

    world.db.run(run)


def act(world: World, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run an action; a refusal comes back as its code."""

    async def run(session: Any) -> Any:
        try:
            return await work(session)
        except DeliberationError as error:
            return error.code

    return world.db.run(run)


def draft(world: World, author: str = "resident", **fields: Any) -> int:
    async def run(session: Any) -> int:
        account = await _account(session, author)
        item = await actions.create_draft(
            session,
            world.ids["z"],
            account,
            await _person_of(session, account),
            title=fields.get("title", "东门装路灯"),
            body=fields.get("body", BODY),
            category=fields.get("category", "security"),
            scope=fields.get("scope", ""),
            uploads=fields.get("uploads", ()),
        )
        return item.number  # type: ignore[no-any-return]

    return int(world.db.run(run))


def on_item(
    world: World, number: int, username: str, work: Callable[..., Awaitable[Any]], *args: Any
) -> Any:
    """``work(session, item, account, *args)``; a refusal comes back as its code."""

    async def run(session: Any) -> Any:
        item = await actions.get_item(session, world.ids["z"], number)
        account = await _account(session, username)
        return await work(session, item, account, *args)

    return act(world, run)


def cosign_as(world: World, number: int, username: str) -> Any:
    async def work(session: Any, item: AgendaItem, account: Account) -> Any:
        return await actions.cosign(session, item, account, await _person_of(session, account))

    return on_item(world, number, username, work)


def item_row(world: World, number: int) -> AgendaItem:
    return world.db.run(lambda s: actions.get_item(s, world.ids["z"], number))  # type: ignore[no-any-return]


def entries(world: World, type_: str | None = None) -> list[LogEntry]:
    """Community z's entries since the register was seeded (ballots' and items')."""

    async def run(session: Any) -> list[LogEntry]:
        query = select(LogEntry).where(
            LogEntry.community_id == world.ids["z"], LogEntry.type != "register.changed"
        )
        if type_:
            query = query.where(LogEntry.type == type_)
        return list((await session.execute(query.order_by(LogEntry.id))).scalars())

    return world.db.run(run)  # type: ignore[no-any-return]


def rows(world: World, model: Any, *where: Any) -> list[Any]:
    async def run(session: Any) -> list[Any]:
        return list((await session.execute(select(model).where(*where))).scalars())

    return world.db.run(run)  # type: ignore[no-any-return]


def count(world: World, model: Any) -> int:
    async def run(session: Any) -> int:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())

    return world.db.run(run)  # type: ignore[no-any-return]


def published(world: World, threshold: int = 2, author: str = "resident") -> int:
    set_threshold(world, threshold)
    number = draft(world, author)
    assert isinstance(on_item(world, number, author, actions.publish), int)
    return number


def submitted(world: World) -> int:
    number = published(world, threshold=2)
    assert isinstance(cosign_as(world, number, "owner"), actions.CosignResult)
    assert isinstance(cosign_as(world, number, "grid"), actions.CosignResult)
    assert item_row(world, number).status == "submitted"
    return number


def deciding(world: World) -> int:
    number = submitted(world)
    assert isinstance(on_item(world, number, "chair", actions.accept), int)
    now = utcnow()
    opened = on_item(
        world,
        number,
        "chair",
        actions.open_consultation,
        now - timedelta(hours=1),
        now + timedelta(days=7),
    )
    assert isinstance(opened, int), opened
    assert isinstance(on_item(world, number, "chair", actions.close_consultation), int)
    return number


def held_meeting(world: World, number: int, outcome: str, status: str = "held") -> int:
    async def run(session: Any) -> int:
        chair = await _account(session, "chair")
        meeting = Meeting(
            community_id=world.ids["z"],
            number=1,
            title="居民会议",
            place="社区活动室",
            starts_at=utcnow() - timedelta(days=1),
            agenda=[number],
            status=status,
            attendance=5,
            eligible=6,
            votes=[{"item": number, "for": 4, "against": 1, "abstain": 0, "outcome": outcome}],
            convened_by=chair.id,
        )
        session.add(meeting)
        await session.commit()
        return meeting.number  # type: ignore[no-any-return]

    return int(world.db.run(run))


def tallied_ballot(world: World, number: int, answer: str, *, final: bool = True) -> int:
    """Prepare the item's ballot, open it now, let the owner and the resident vote, close and
    publish its tally; with ``final``, no objection period, so the result is final at once."""

    async def run(session: Any) -> int:
        community = await session.get(Community, world.ids["z"])
        chair = await _account(session, "chair")
        item = await actions.get_item(session, world.ids["z"], number)
        ballot = await actions.prepare_ballot(session, community, item, chair)
        data = dict(ballot.definition)
        now = utcnow()
        data.update(
            opens_at=(now - timedelta(minutes=5)).isoformat(),
            closes_at=(now + timedelta(days=1)).isoformat(),
            early_close=True,
            objection_days=0 if final else 7,
        )
        await ballots.update_draft(session, ballot, data, ballot.revision)
        await ballots.open_ballot(session, ballot, chair)
        for ref in ("P001", "P006"):
            voter = (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()
            await ballots.cast_online(session, ballot, voter, {"q1": answer})
        await ballots.close_ballot(session, ballot, chair)
        await ballots.publish_tally(session, ballot)
        if final:
            await ballots.finalise(session, ballot)
        return ballot.number  # type: ignore[no-any-return]

    return int(world.db.run(run))


# --- drafting ----------------------------------------------------------------------------------


def test_a_draft_is_numbered_cleaned_and_private(world: World) -> None:
    first = draft(world, title="  东门   装路灯 ", body=BODY + "\n\n<script>alert(1)</script>")
    second = draft(world, "owner", category="parking")
    assert (first, second) == (1, 2)
    item = item_row(world, first)
    assert item.title == "东门 装路灯"
    assert item.status == "draft" and item.author_person_id is not None
    assert "<strong>夜间</strong>" in item.body_html and "<script>" not in item.body_html
    assert entries(world) == []  # a draft is private: nothing in the log
    assert item_row(world, second).category == "parking"


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"title": "   "}, "empty", "title"),
        ({"title": "长" * 121}, "too_long", "title"),
        ({"body": ""}, "empty", "body"),
        ({"body": "x" * 20_001}, "too_long", "body"),
        ({"category": "gossip"}, "bad_category", "category"),
        ({"scope": "building:999999"}, "bad_scope", "scope"),
        ({"scope": "grid:abc"}, "bad_scope", "scope"),
    ],
)
def test_bad_drafts_are_refused_naming_the_field(
    world: World, fields: dict[str, Any], code: str, field: str
) -> None:
    async def run(session: Any) -> Any:
        account = await _account(session, "resident")
        try:
            await actions.create_draft(
                session,
                world.ids["z"],
                account,
                await _person_of(session, account),
                title=fields.get("title", "标题"),
                body=fields.get("body", "正文"),
                category=fields.get("category", "other"),
                scope=fields.get("scope", ""),
            )
        except DeliberationError as error:
            return error.code, error.details.get("field")
        return None

    assert world.db.run(run) == (code, field)
    assert count(world, AgendaItem) == 0


def test_only_people_in_the_register_may_draft(world: World) -> None:
    with pytest.raises(DeliberationError, match="not_in_register"):
        draft(world, "auditor")  # no person: refused before anything is written

    async def run(session: Any) -> Any:
        auditor = await _account(session, "auditor")
        other = (await session.execute(select(Person).where(Person.ref == "Q001"))).scalar_one()
        codes = []
        for person in (None, other):
            try:
                await actions.create_draft(
                    session, world.ids["z"], auditor, person, title="t", body="b", category="other"
                )
            except DeliberationError as error:
                codes.append(error.code)
        return codes

    assert world.db.run(run) == ["not_in_register", "not_in_register"]
    assert count(world, AgendaItem) == 0


def test_scope_is_a_building_or_grid_of_this_community(world: World) -> None:
    async def ids(session: Any) -> tuple[int, int, int]:
        building = (
            await session.execute(
                select(Building.id).where(
                    Building.community_id == world.ids["z"], Building.number == "3"
                )
            )
        ).scalar_one()
        grid = (
            (await session.execute(select(Grid.id).where(Grid.community_id == world.ids["z"])))
            .scalars()
            .first()
        )
        foreign = (
            await session.execute(
                select(Building.id).where(Building.community_id == world.ids["other"])
            )
        ).scalar_one()
        return building, grid, foreign

    building, grid, foreign = world.db.run(ids)
    item = item_row(world, draft(world, scope=f"building:{building}"))
    assert (item.scope_building_id, item.scope_grid_id) == (building, None)
    item = item_row(world, draft(world, scope=f"grid:{grid}"))
    assert (item.scope_building_id, item.scope_grid_id) == (None, grid)
    with pytest.raises(DeliberationError, match="bad_scope"):
        draft(world, scope=f"building:{foreign}")


def test_attachments_are_checked_by_content_and_counted(world: World) -> None:
    number = draft(world, uploads=[Upload("../../etc/东门.png", png()), Upload("方案.pdf", PDF)])
    files = rows(world, ItemAttachment)
    assert [(f.filename, f.media_type) for f in files] == [
        ("东门.png", "image/png"),
        ("方案.pdf", "application/pdf"),
    ]

    def update(username: str, uploads: list[Upload]) -> Any:
        async def work(session: Any, item: AgendaItem, account: Account) -> Any:
            return await actions.update_draft(
                session,
                item,
                account,
                title=item.title,
                body=item.body,
                category=item.category,
                uploads=uploads,
            )

        return on_item(world, number, username, work)

    assert update("resident", [Upload("x.png", b"<html><script>alert(1)</script></html>")]) == (
        "attachment_not_allowed"
    )
    assert update("resident", [Upload(f"{i}.png", png()) for i in range(4)]) == (
        "attachment_too_many"
    )
    assert update("owner", [Upload("a.png", png())]) == "not_author"
    assert count(world, ItemAttachment) == 2
    assert isinstance(update("resident", [Upload("b.png", png())]), AgendaItem)
    assert count(world, ItemAttachment) == 3

    first = files[0].id
    assert on_item(world, number, "owner", actions.delete_attachment, first) == "not_author"
    assert on_item(world, number, "resident", actions.delete_attachment, first) is None
    assert on_item(world, number, "resident", actions.delete_attachment, first) == (
        "no_such_attachment"
    )
    assert count(world, ItemAttachment) == 2


# --- publishing --------------------------------------------------------------------------------


def test_publish_fixes_the_threshold_and_logs_once(world: World) -> None:
    set_threshold(world, 2, permille=1000)  # every household: 4 units have people linked now
    number = draft(world)
    assert on_item(world, number, "owner", actions.publish) == "not_author"
    entry_id = on_item(world, number, "resident", actions.publish)
    assert isinstance(entry_id, int)
    item = item_row(world, number)
    assert item.status == "collecting" and item.cosign_threshold == 4
    assert item.published_at is not None
    [entry] = entries(world)
    assert entry.id == entry_id and entry.type == "item.transitioned"
    import hashlib

    assert entry.payload == {
        "item": number,
        "action": "publish",
        "from": "draft",
        "to": "collecting",
        "title": "东门装路灯",
        "body_sha256": hashlib.sha256(BODY.encode()).hexdigest(),
        "category": "security",
        "threshold": 4,
    }
    [revision] = rows(world, ItemRevision)
    assert (revision.revision, revision.body) == (1, BODY)
    [event] = rows(world, ItemEvent)
    assert (event.action, event.from_status, event.to_status, event.entry_id) == (
        "publish",
        "draft",
        "collecting",
        entry_id,
    )
    assert [f.account_id for f in rows(world, ItemFollow)] == [world.ids["resident"]]
    # publishing again is refused and writes nothing
    assert on_item(world, number, "resident", actions.publish) == "wrong_status"
    assert len(entries(world)) == 1


def test_threshold_defaults_without_a_settings_row(world: World) -> None:
    number = draft(world)
    on_item(world, number, "resident", actions.publish)
    assert item_row(world, number).cosign_threshold == 20  # the model's default


# --- co-signing --------------------------------------------------------------------------------


def test_cosigning_counts_refuses_and_reaches_the_threshold(world: World) -> None:
    number = published(world, threshold=2)
    assert cosign_as(world, number, "resident") == "own_item"
    assert cosign_as(world, number, "auditor") == "not_in_register"
    first = cosign_as(world, number, "owner")
    assert isinstance(first, actions.CosignResult)
    assert (first.count, first.threshold, first.submitted) == (1, 2, False)
    assert cosign_as(world, number, "owner") == "already_cosigned"
    second = cosign_as(world, number, "grid")
    assert (second.count, second.submitted) == (2, True)
    item = item_row(world, number)
    assert (item.status, item.cosign_count) == ("submitted", 2)
    assert cosign_as(world, number, "chair") == "not_collecting"
    cosigned = entries(world, "item.cosigned")
    assert [e.payload for e in cosigned] == [
        {"item": number, "count": 1, "threshold": 2},
        {"item": number, "count": 2, "threshold": 2},
    ]
    assert (
        len(entries(world, "item.transitioned")) == 1
    )  # the publish; the threshold moves by itself
    reached = rows(world, ItemEvent, ItemEvent.action == "threshold_reached")
    assert [(e.entry_id, e.to_status, e.actor_id) for e in reached] == [
        (second.entry_id, "submitted", None)
    ]
    followers = {f.account_id for f in rows(world, ItemFollow)}
    assert followers == {world.ids[n] for n in ("resident", "owner", "grid")}
    told = {(n.account_id, n.params["status"]) for n in rows(world, Notification)}
    # the followers (but not the co-signer who reached it) and the chairs
    assert told == {(world.ids["resident"], "submitted"), (world.ids["owner"], "submitted"),
                    (world.ids["chair"], "submitted")}  # fmt: skip
    assert count(world, ItemCosign) == 2


def test_drafts_cannot_be_cosigned(world: World) -> None:
    number = draft(world)
    assert cosign_as(world, number, "owner") == "no_such_item"
    assert count(world, ItemCosign) == 0


# --- co-signing in parallel --------------------------------------------------------------------

EXTRA = 40


async def add_signers(session: Any, world: World) -> list[int]:
    """EXTRA more people in the register, each with an account of their own."""
    community = await session.get(Community, world.ids["z"])
    header = (
        "楼栋,单元,户号,面积,居民编号,姓名,手机号,关系,出生年份,起始日期,终止日期,户代表,单位\n"
    )
    rows_ = "".join(
        f"3,9,{n + 1000},60.00,S{n:03d},居民{n},,业主,1970,,,是,\n" for n in range(EXTRA)
    )
    await import_file(session, community, "households.csv", (header + rows_).encode(), None)
    people = list(
        (await session.execute(select(Person).where(Person.ref.like("S%")).order_by(Person.ref)))
        .scalars()
        .all()
    )
    account_ids = []
    for person in people:
        account = Account(
            username=f"signer{person.ref}", display_name=person.name, password_hash="x"
        )
        session.add(account)
        await session.flush()
        person.account_id = account.id
        account_ids.append(account.id)
    await session.commit()
    return account_ids


def cosign_in_parallel(world: World, number: int, account_ids: list[int]) -> list[Any]:
    async def main() -> list[Any]:
        engine = create_engine(world.db.url)
        sessionmaker = create_sessionmaker(engine)
        start = asyncio.Event()

        async def one(account_id: int) -> Any:
            async with sessionmaker() as session:
                await start.wait()
                try:
                    item = await actions.get_item(session, world.ids["z"], number)
                    account = await session.get(Account, account_id)
                    person = await _person_of(session, account)
                    return await actions.cosign(session, item, account, person)
                except DeliberationError as error:
                    return error.code

        try:
            running = [asyncio.ensure_future(one(a)) for a in account_ids]
            await asyncio.sleep(0.05)
            start.set()
            return list(await asyncio.gather(*running, return_exceptions=True))
        finally:
            await engine.dispose()

    return in_thread(asyncio.run, main())


def test_parallel_cosigns_all_count(world: World, settings: Settings) -> None:
    signers = world.db.run(lambda s: add_signers(s, world))
    number = published(world, threshold=EXTRA + 10)
    results = cosign_in_parallel(world, number, signers)
    assert all(isinstance(r, actions.CosignResult) for r in results), results
    assert sorted(r.count for r in results) == list(range(1, EXTRA + 1))
    item = item_row(world, number)
    assert (item.status, item.cosign_count) == ("collecting", EXTRA)
    assert count(world, ItemCosign) == EXTRA
    counts = sorted(e.payload["count"] for e in entries(world, "item.cosigned"))
    assert counts == list(range(1, EXTRA + 1))
    settle(world, settings)


def test_parallel_cosigns_cross_the_threshold_once(world: World) -> None:
    signers = world.db.run(lambda s: add_signers(s, world))
    number = published(world, threshold=10)
    results = cosign_in_parallel(world, number, signers + signers[:5])  # some twice at once
    done = [r for r in results if isinstance(r, actions.CosignResult)]
    refused = [r for r in results if isinstance(r, str)]
    assert len(done) == 10, results
    assert set(refused) <= {"not_collecting", "already_cosigned"}, refused
    assert len(done) + len(refused) == len(results)
    assert [r.submitted for r in sorted(done, key=lambda r: r.count)] == [False] * 9 + [True]
    item = item_row(world, number)
    assert (item.status, item.cosign_count) == ("submitted", 10)
    assert count(world, ItemCosign) == 10
    assert len(entries(world, "item.cosigned")) == 10
    assert len(rows(world, ItemEvent, ItemEvent.action == "threshold_reached")) == 1


# --- the chair's steps -------------------------------------------------------------------------


def test_chair_steps_are_chair_only_and_follow_the_life_cycle(world: World) -> None:
    number = published(world, threshold=2)
    assert on_item(world, number, "resident", actions.accept) == "not_chair"
    assert on_item(world, number, "chair", actions.accept) == "wrong_status"  # still collecting
    cosign_as(world, number, "owner")
    cosign_as(world, number, "grid")
    before = len(entries(world))
    assert on_item(world, number, "owner", actions.decline, "不行") == "not_chair"
    assert on_item(world, number, "chair", actions.decline, "  ") == "empty"
    assert len(entries(world)) == before
    entry_id = on_item(world, number, "chair", actions.accept)
    item = item_row(world, number)
    assert item.status == "on_agenda"
    [entry] = [e for e in entries(world) if e.id == entry_id]
    assert entry.payload == {
        "item": number,
        "action": "accept",
        "from": "submitted",
        "to": "on_agenda",
    }
    told = rows(world, Notification, Notification.params["status"].as_string() == "on_agenda")
    assert {n.account_id for n in told} == {world.ids[n] for n in ("resident", "owner", "grid")}
    assert all(n.kind == "item_status" and n.link == f"/c/z/items/{number}" for n in told)
    assert told[0].params == {"item": number, "title": "东门装路灯", "status": "on_agenda"}

    now = utcnow()
    bad = [
        (None, now + timedelta(days=1), "bad_time"),
        (now, now - timedelta(hours=1), "closes_before_opens"),
        (now - timedelta(days=3), now - timedelta(days=1), "closes_in_past"),
    ]
    for opens, closes, code in bad:
        assert on_item(world, number, "chair", actions.open_consultation, opens, closes) == code
    opens, closes = now, now + timedelta(days=14)
    entry_id = on_item(world, number, "chair", actions.open_consultation, opens, closes)
    [entry] = [e for e in entries(world) if e.id == entry_id]
    from ballots.ballot import iso_utc

    assert entry.payload["opens_at"] == iso_utc(opens)
    assert entry.payload["closes_at"] == iso_utc(closes)
    assert item_row(world, number).status == "consultation"
    assert on_item(world, number, "chair", actions.decide_by_ballot) == "wrong_status"
    on_item(world, number, "chair", actions.close_consultation)
    assert item_row(world, number).status == "deciding"


def test_decline_with_a_public_reason(world: World) -> None:
    number = published(world, threshold=5)
    entry_id = on_item(world, number, "chair", actions.decline, "已列入区里的改造计划。")
    item = item_row(world, number)
    assert (item.status, item.declined_reason) == ("declined", "已列入区里的改造计划。")
    [entry] = [e for e in entries(world) if e.id == entry_id]
    assert entry.payload == {
        "item": number,
        "action": "decline",
        "from": "collecting",
        "to": "declined",
        "reason": "已列入区里的改造计划。",
    }
    assert cosign_as(world, number, "owner") == "not_collecting"


def test_decide_by_the_linked_ballot(world: World) -> None:
    number = deciding(world)
    assert on_item(world, number, "chair", actions.decide_by_ballot) == "no_ballot"

    async def prepare(session: Any) -> tuple[int, int]:
        community = await session.get(Community, world.ids["z"])
        chair = await _account(session, "chair")
        item = await actions.get_item(session, world.ids["z"], number)
        ballot = await actions.prepare_ballot(session, community, item, chair)
        again = await actions.prepare_ballot(session, community, item, chair)
        return ballot.id, again.id

    first, again = world.db.run(prepare)
    assert first == again and count(world, Ballot) == 1  # the linked draft, not a second one
    [ballot] = rows(world, Ballot)
    assert ballot.definition["agenda_item"] == str(number) and ballot.status == "draft"
    assert item_row(world, number).decision_ballot_id == ballot.id
    assert on_item(world, number, "chair", actions.decide_by_ballot) == "ballot_not_final"

    ballot_number = tallied_ballot(world, number, "yes")
    entry_id = on_item(world, number, "chair", actions.decide_by_ballot)
    assert isinstance(entry_id, int), entry_id
    item = item_row(world, number)
    assert (item.status, item.outcome) == ("decided", "adopted")
    [entry] = [e for e in entries(world) if e.id == entry_id]
    assert entry.payload == {
        "item": number,
        "action": "decide",
        "from": "deciding",
        "to": "decided",
        "outcome": "adopted",
        "ballot": ballot_number,
        "revision": 1,
        "body_sha256": actions.body_sha256(item.body),
    }


def test_a_rejecting_ballot_decides_rejected_and_the_item_closes(world: World) -> None:
    number = deciding(world)
    tallied_ballot(world, number, "no")
    on_item(world, number, "chair", actions.decide_by_ballot)
    assert item_row(world, number).outcome == "rejected"
    assert on_item(world, number, "chair", actions.post_progress, "开工", "in_progress") == (
        "not_adopted"
    )
    entry_id = on_item(world, number, "chair", actions.close_rejected)
    assert item_row(world, number).status == "closed"
    [entry] = [e for e in entries(world) if e.id == entry_id]
    assert entry.payload == {"item": number, "action": "close", "from": "decided", "to": "closed"}


def test_a_preliminary_result_open_to_objections_decides_nothing(world: World) -> None:
    number = deciding(world)
    tallied_ballot(world, number, "yes", final=False)
    assert on_item(world, number, "chair", actions.decide_by_ballot) == "ballot_not_final"
    assert item_row(world, number).status == "deciding"


def test_a_vote_on_a_text_amended_since_decides_nothing(world: World) -> None:
    number = deciding(world)
    tallied_ballot(world, number, "yes")

    async def amend(session: Any) -> None:  # as app.amendments does when one is accepted
        item = await actions.get_item(session, world.ids["z"], number)
        amendment = Amendment(
            community_id=item.community_id,
            item_id=item.id,
            number=1,
            author_id=world.ids["owner"],
            base_revision=1,
            body="另一种写法",
            status="accepted",
        )
        session.add(amendment)
        await session.flush()
        session.add(
            ItemRevision(
                community_id=item.community_id,
                item_id=item.id,
                revision=2,
                title=item.title,
                body=amendment.body,
                amendment_id=amendment.id,
                created_by=world.ids["resident"],
            )
        )
        item.body, item.revision = amendment.body, 2
        await session.commit()

    world.db.run(amend)
    assert on_item(world, number, "chair", actions.decide_by_ballot) == "amended_since_vote"
    assert item_row(world, number).status == "deciding"


def test_decide_by_a_meeting_and_implement(world: World) -> None:
    number = deciding(world)
    assert on_item(world, number, "chair", actions.decide_by_meeting, 1) == "no_such_meeting"
    held_meeting(world, number + 1, "adopted")  # a vote on another item
    assert on_item(world, number, "chair", actions.decide_by_meeting, 1) == "no_meeting_vote"

    async def fix(session: Any) -> None:
        await session.execute(
            update(Meeting).values(
                status="convened",
                votes=[
                    {"item": number, "for": 4, "against": 1, "abstain": 0, "outcome": "adopted"}
                ],
            )
        )
        await session.commit()

    world.db.run(fix)
    assert on_item(world, number, "chair", actions.decide_by_meeting, 1) == "meeting_not_held"
    world.db.run(lambda s: _held(s))
    before = len(entries(world))
    entry_id = on_item(world, number, "chair", actions.decide_by_meeting, 1)
    assert len(entries(world)) == before + 1
    item = item_row(world, number)
    [meeting] = rows(world, Meeting)
    assert (item.status, item.outcome, item.decision_meeting_id) == (
        "decided",
        "adopted",
        meeting.id,
    )
    [entry] = [e for e in entries(world) if e.id == entry_id]
    assert entry.payload == {
        "item": number,
        "action": "decide",
        "from": "deciding",
        "to": "decided",
        "outcome": "adopted",
        "meeting": 1,
        "revision": 1,
        "body_sha256": actions.body_sha256(item_row(world, number).body),
    }
    assert on_item(world, number, "chair", actions.close_rejected) == "not_rejected"
    assert on_item(world, number, "chair", actions.post_progress, "", "in_progress") == "empty"
    assert on_item(world, number, "chair", actions.post_progress, "x", "half") == "bad_progress"
    assert on_item(world, number, "resident", actions.post_progress, "x", "done") == "not_chair"
    on_item(world, number, "chair", actions.post_progress, "施工队已进场。", "in_progress")
    on_item(world, number, "chair", actions.post_progress, "第二盏灯已装好。", "in_progress")
    assert item_row(world, number).status == "implementing"
    entry_id = on_item(world, number, "chair", actions.post_progress, "**全部完工**", "done")
    item = item_row(world, number)
    assert (item.status, item.implementation) == ("closed", "done")
    [entry] = [e for e in entries(world) if e.id == entry_id]
    assert entry.payload == {
        "item": number,
        "action": "close",
        "from": "implementing",
        "to": "closed",
        "progress": "done",
    }
    steps = world.db.run(
        lambda s: actions.history(s, item)  # type: ignore[arg-type]
    )
    assert [s.event.action for s in steps] == [
        "publish",
        "threshold_reached",
        "accept",
        "open_consultation",
        "close_consultation",
        "decide",
        "progress",
        "progress",
        "close",
    ]
    assert [s.by for s in steps][:3] == ["author", "system", "chair"]
    assert "<strong>全部完工</strong>" in (steps[-1].event.note_html or "")


async def _held(session: Any) -> None:
    await session.execute(update(Meeting).values(status="held"))
    await session.commit()


def test_every_item_action_writes_one_entry_or_none(world: World) -> None:
    """Across a whole life: the log has one entry per step and per co-sign, no more."""
    number = deciding(world)
    held_meeting(world, number, "adopted")
    on_item(world, number, "chair", actions.decide_by_meeting, 1)
    on_item(world, number, "chair", actions.post_progress, "开工", "in_progress")
    on_item(world, number, "chair", actions.post_progress, "完工", "done")
    kinds = [(e.type, e.payload.get("action")) for e in entries(world)]
    assert kinds == [
        ("item.transitioned", "publish"),
        ("item.cosigned", None),
        ("item.cosigned", None),
        ("item.transitioned", "accept"),
        ("item.transitioned", "open_consultation"),
        ("item.transitioned", "close_consultation"),
        ("item.transitioned", "decide"),
        ("item.transitioned", "progress"),
        ("item.transitioned", "close"),
    ]
    events = rows(world, ItemEvent)
    assert len({e.entry_id for e in events}) == len(events)  # each step its own entry


# --- pages -------------------------------------------------------------------------------------


def text(response: Any) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def english(client: Client, username: str | None = None) -> Client:
    client.cookies.set("yishi_lang", "en")
    if username:
        client.sign_in(username)
    return client


def another(client: Client, username: str | None = None) -> Client:
    """A second browser on the same app."""
    other = Client(app=client.app, base_url=str(client.base_url))
    other.blocking_portal = client.blocking_portal
    return english(other, username)


def new_item(client: Client, files: list[tuple[str, bytes, str]] = (), **fields: str) -> Any:  # type: ignore[assignment]
    data = {"title": "东门装路灯", "body": BODY, "category": "security", "scope": ""} | fields
    return client.form(
        "/c/z/items/new",
        data,
        files=[("attachments", (name, content, kind)) for name, content, kind in files] or None,
    )


def number_of(response: Any) -> int:
    assert response.status_code == 303, response.text
    found = re.match(r"/c/z/items/(\d+)", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


def test_drafting_on_the_page_with_attachments(world: World, client: Client) -> None:
    english(client, "resident")
    form = client.get("/c/z/items/new")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text and 'name="_csrf_token"' in form.text
    for label in ("Parking", "Safety and security", "Greening", "Facilities", "Budget", "Other"):
        assert label in form.text
    assert "Building 3" in form.text and "Grid: 第二网格" in form.text
    created = new_item(
        client, [("东门.png", png(), "image/png"), ("方案.pdf", PDF, "application/pdf")]
    )
    number = number_of(created)
    assert created.headers["location"].endswith("done=drafted")
    page = client.get(f"/c/z/items/{number}")
    assert page.status_code == 200
    words = text(page)
    assert "Only you can see this draft" in words and "Publish" in words
    assert "<strong>夜间</strong>" in page.text
    [image, pdf] = rows(world, ItemAttachment)
    assert f'<img src="/c/z/items/{number}/attachments/{image.id}" alt="东门.png"' in page.text
    assert (
        f'href="/c/z/items/{number}/attachments/{pdf.id}"' in page.text and "(PDF, 1 KB)" in words
    )
    assert 'property="og:title"' not in page.text  # a draft is not shared

    # a draft does not exist for anyone else
    assert another(client, "owner").get(f"/c/z/items/{number}").status_code == 404
    assert another(client).get(f"/c/z/items/{number}").status_code == 404
    assert (
        another(client, "owner").get(f"/c/z/items/{number}/attachments/{image.id}").status_code
        == 404
    )
    assert another(client, "owner").get(f"/c/z/items/{number}/edit").status_code == 404
    listing = another(client, "owner").get("/c/z/items")
    assert "东门装路灯" not in listing.text
    mine = client.get("/c/z/items")
    assert "My drafts" in mine.text and f"#{number} 东门装路灯" in text(mine)

    # edit, then take a file off again
    edit = client.get(f"/c/z/items/{number}/edit")
    assert edit.status_code == 200 and "东门.png" in edit.text
    saved = client.form(
        f"/c/z/items/{number}/edit",
        {"title": "东门装两盏路灯", "body": BODY, "category": "facilities", "scope": ""},
    )
    assert saved.status_code == 303
    assert item_row(world, number).title == "东门装两盏路灯"
    assert client.form(f"/c/z/items/{number}/attachments/{pdf.id}/delete").status_code == 303
    assert count(world, ItemAttachment) == 1
    assert client.form(f"/c/z/items/{number}/attachments/{pdf.id}/delete").status_code == 404
    owner = another(client, "owner")
    assert owner.form(f"/c/z/items/{number}/attachments/{image.id}/delete").status_code == 404
    assert entries(world) == []


def test_only_people_in_the_register_reach_the_draft_form(world: World, client: Client) -> None:
    english(client, "auditor")
    assert client.get("/c/z/items/new").status_code == 403
    assert new_item(client).status_code == 403
    away = another(client).get("/c/z/items/new", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith("/signin")
    assert "Propose an item" not in client.get("/c/z/items").text
    assert count(world, AgendaItem) == 0


def test_someone_who_moved_out_no_longer_speaks_for_the_community(
    world: World, client: Client
) -> None:
    number = published(world)

    async def move_out(session: Any) -> None:
        links = await session.execute(
            select(UnitLink).where(UnitLink.person_id == world.ids["P001"])
        )
        for link in links.scalars():
            link.until = utcnow().date()
        await session.commit()

    world.db.run(move_out)
    english(client, "owner")  # P001, the owner, has moved out
    assert client.get("/c/z/items/new").status_code == 403
    assert client.form(f"/c/z/items/{number}/cosign").status_code == 403
    assert item_row(world, number).cosign_count == 0


@pytest.mark.parametrize(
    ("fields", "files", "words"),
    [
        ({"title": ""}, [], "Title: please fill this in."),
        (
            {"body": "x" * 20_001},
            [],
            "Text is too long: at most 20000 characters, you wrote 20001.",
        ),
        ({"category": ""}, [], "Choose one of the categories."),
        ({"scope": "building:99999"}, [], "Choose a building or a grid of this community"),
        (
            {},
            [("notice.png", b"<html><script>alert(1)</script></html>", "image/png")],
            "“notice.png” is not a picture (PNG, JPEG, WebP, GIF) or a PDF, whatever its name says.",
        ),
        (
            {},
            [("plan.pdf", b"MZ\x90\x00" + b"\x00" * 300, "application/pdf")],
            "“plan.pdf” is not a picture (PNG, JPEG, WebP, GIF) or a PDF",
        ),
        (
            {},
            [("big.pdf", PDF + b"\x00" * (5 * 1024 * 1024), "application/pdf")],
            "“big.pdf” is larger than 5 MB.",
        ),
        (
            {},
            [("cut.png", png((64, 64))[:-40], "image/png")],
            "“cut.png” is damaged or incomplete",
        ),
        (
            {},
            [(f"{i}.png", png(), "image/png") for i in range(6)],
            "An item may have at most 5 attachments.",
        ),
    ],
)
def test_bad_drafts_are_refused_on_the_page(
    world: World,
    client: Client,
    fields: dict[str, str],
    files: list[tuple[str, bytes, str]],
    words: str,
) -> None:
    english(client, "resident")
    refused = new_item(client, files, **fields)
    assert refused.status_code == 400, refused.status_code
    assert words in text(refused)
    assert "Nothing was saved." in text(refused)
    assert count(world, AgendaItem) == 0 and count(world, ItemAttachment) == 0
    if fields.get("title") is None:  # what was typed comes back
        assert "东门装路灯" in refused.text


def test_attachments_are_served_safely(world: World, client: Client) -> None:
    english(client, "resident")
    name = '东门 夜景"<b>.png'
    number = number_of(
        new_item(client, [(name, png(), "image/png"), ("方案 1.pdf", PDF, "application/pdf")])
    )
    image, pdf = rows(world, ItemAttachment)
    assert image.filename == '东门 夜景"<b>.png'
    page = client.get(f"/c/z/items/{number}")
    assert 'alt="东门 夜景&#34;&lt;b&gt;.png"' in page.text  # escaped, not markup
    served = client.get(f"/c/z/items/{number}/attachments/{image.id}")
    assert served.status_code == 200 and served.content == png()
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == "sandbox"
    assert served.headers["content-disposition"] == (
        'inline; filename="__ ___<b>.png"; '
        "filename*=UTF-8''%E4%B8%9C%E9%97%A8%20%E5%A4%9C%E6%99%AF%22%3Cb%3E.png"
    )
    document = client.get(f"/c/z/items/{number}/attachments/{pdf.id}")
    assert document.headers["content-type"] == "application/pdf"
    assert document.headers["content-disposition"].startswith('attachment; filename="__ 1.pdf"')
    assert document.headers["cache-control"] == "private, no-store"  # still a draft
    assert client.get(f"/c/z/items/{number}/attachments/{pdf.id + 100}").status_code == 404
    client.form(f"/c/z/items/{number}/publish")
    # published: anyone may read it, and nobody may take it off any more
    assert another(client).get(f"/c/z/items/{number}/attachments/{pdf.id}").status_code == 200
    assert client.form(f"/c/z/items/{number}/attachments/{pdf.id}/delete").status_code == 409


def test_publishing_and_cosigning_on_the_page(
    world: World, client: Client, settings: Settings
) -> None:
    set_threshold(world, 2)
    english(client, "resident")
    number = number_of(new_item(client))
    assert another(client, "owner").form(f"/c/z/items/{number}/publish").status_code == 404
    published_ = client.form(f"/c/z/items/{number}/publish")
    assert published_.status_code == 303 and "done=published" in published_.headers["location"]
    assert client.form(f"/c/z/items/{number}/publish").status_code == 409
    assert len(entries(world, "item.transitioned")) == 1
    page = client.get(f"/c/z/items/{number}")
    assert "0 of 2 co-signatures needed" in text(page)
    assert "share them with your neighbours" not in page.text
    assert "This is your item" in text(page)
    assert 'property="og:title" content="东门装路灯"' in page.text
    assert f'content="http://testserver.local/c/z/items/{number}/card.png"' in page.text
    own = client.form(f"/c/z/items/{number}/cosign")
    assert own.status_code == 409 and "You cannot co-sign your own item." in text(own)

    owner = another(client, "owner")
    assert "Co-sign this item" in owner.get(f"/c/z/items/{number}").text
    # htmx: only the panel comes back
    panel = owner.post(
        f"/c/z/items/{number}/cosign",
        headers={"HX-Request": "true", "x-csrftoken": owner.csrf()},
    )
    assert panel.status_code == 200 and "<html" not in panel.text
    assert 'id="cosign"' in panel.text and "1 of 2 co-signatures needed" in text(panel)
    assert "You have co-signed this item." in text(panel) and "王秀英" in panel.text
    twice = owner.post(
        f"/c/z/items/{number}/cosign",
        headers={"HX-Request": "true", "x-csrftoken": owner.csrf()},
    )
    assert twice.status_code == 409 and "You have already co-signed this item." in twice.text
    assert "<html" not in twice.text
    assert another(client, "auditor").form(f"/c/z/items/{number}/cosign").status_code == 403
    assert another(client).form(f"/c/z/items/{number}/cosign").status_code == 401
    grid = another(client, "grid")
    done = grid.form(f"/c/z/items/{number}/cosign")
    assert done.status_code == 303 and "done=cosigned" in done.headers["location"]
    late = another(client, "chair").form(f"/c/z/items/{number}/cosign")
    assert late.status_code == 409
    assert "This item is no longer collecting co-signatures." in text(late)
    assert len(entries(world, "item.cosigned")) == 2
    settle(world, settings)
    page = grid.get(f"/c/z/items/{number}")
    words = text(page)
    assert "Before the chair" in words and "2 people co-signed" in words
    assert "王秀英" in words and "孙丽" in words
    assert 'aria-current="step"' in page.text
    assert "Enough co-signatures: put before the chair (automatic)" in words
    seqs = [e.seq for e in entries(world) if e.type.startswith("item.")]
    assert all(f'href="/c/z/log/{seq}"' in page.text for seq in (seqs[0], seqs[-1]))


def test_following(world: World, client: Client) -> None:
    number = published(world, 5)
    english(client, "owner")
    page = client.get(f"/c/z/items/{number}")
    assert "Follow this item" in page.text
    answer = client.post(
        f"/c/z/items/{number}/follow",
        data={"follow": "yes"},
        headers={"HX-Request": "true", "x-csrftoken": client.csrf()},
    )
    assert answer.status_code == 200 and "<html" not in answer.text
    assert 'id="follow"' in answer.text and "Stop following" in answer.text
    assert world.ids["owner"] in {f.account_id for f in rows(world, ItemFollow)}
    stop = client.form(f"/c/z/items/{number}/follow", {"follow": "no"})
    assert stop.status_code == 303
    assert world.ids["owner"] not in {f.account_id for f in rows(world, ItemFollow)}
    # any member of the community may follow (an auditor too), nobody from outside
    assert another(client, "auditor").form(f"/c/z/items/{number}/follow").status_code == 303
    assert another(client, "otheradmin").form(f"/c/z/items/{number}/follow").status_code == 403
    assert another(client).form(f"/c/z/items/{number}/follow").status_code == 401
    hidden = draft(world, "owner")
    assert another(client, "grid").form(f"/c/z/items/{hidden}/follow").status_code == 404


def test_the_chair_alone_moves_an_item(world: World, client: Client) -> None:
    number = submitted(world)
    english(client, "resident")
    page = client.get(f"/c/z/items/{number}")
    assert "For the chair" not in page.text and "/accept" not in page.text
    before = len(entries(world))
    for step in ("accept", "decline", "open-consultation", "close-consultation",
                 "prepare-ballot", "decide", "progress", "close"):  # fmt: skip
        assert client.form(f"/c/z/items/{number}/{step}").status_code == 403, step
        assert another(client).form(f"/c/z/items/{number}/{step}").status_code == 401, step
    assert len(entries(world)) == before
    chair = another(client, "chair")
    page = chair.get(f"/c/z/items/{number}")
    assert "Put it on the agenda" in page.text and "Decline the item" in page.text
    assert "Open the consultation" not in page.text
    refused = chair.form(f"/c/z/items/{number}/decline", {"reason": "  "})
    assert refused.status_code == 400 and "Reason: please fill this in." in text(refused)
    assert 'aria-invalid="true"' in refused.text
    assert chair.form(f"/c/z/items/{number}/accept").status_code == 303
    again = chair.form(f"/c/z/items/{number}/accept")
    assert again.status_code == 409 and "not possible while the item is “On the agenda”" in text(
        again
    )
    assert len(entries(world)) == before + 1


def test_declining_on_the_page(world: World, client: Client) -> None:
    number = published(world, 5)
    chair = english(client, "chair")
    reason = "<script>alert(1)</script> 已有同类改造计划"
    assert chair.form(f"/c/z/items/{number}/decline", {"reason": reason}).status_code == 303
    page = another(client).get(f"/c/z/items/{number}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 已有同类改造计划" in page.text
    assert "<script>alert(1)" not in page.text
    steps = re.findall(r'<li class="step-(\w+)"', page.text)
    assert steps == ["done", "current"]  # collecting, then declined
    assert "Why the chair declined it" in page.text


def test_consultation_ballot_decision_and_progress_on_the_page(
    world: World, client: Client, settings: Settings
) -> None:
    number = submitted(world)
    chair = english(client, "chair")
    chair.form(f"/c/z/items/{number}/accept")
    page = chair.get(f"/c/z/items/{number}")
    assert 'type="datetime-local"' in page.text and "Prepare a ballot" in page.text
    now = utcnow() + timedelta(hours=8)  # Beijing time is UTC+8
    local = "%Y-%m-%dT%H:%M"
    cases = [
        ({"opens_at": "", "closes_at": "2030-01-01T10:00"}, "Opens: enter a date and time"),
        (
            {
                "opens_at": now.strftime(local),
                "closes_at": (now - timedelta(days=1)).strftime(local),
            },
            "The closing time must come after the opening time.",
        ),
        (
            {
                "opens_at": (now - timedelta(days=3)).strftime(local),
                "closes_at": (now - timedelta(days=1)).strftime(local),
            },
            "The closing time must lie in the future.",
        ),
    ]
    for form, words in cases:
        refused = chair.form(f"/c/z/items/{number}/open-consultation", form)
        assert refused.status_code == 400 and words in text(refused), text(refused)[:500]
        assert form["closes_at"] in refused.text  # what was typed stays in the form
    opens, closes = now - timedelta(minutes=1), now + timedelta(days=14)
    opened = chair.form(
        f"/c/z/items/{number}/open-consultation",
        {"opens_at": opens.strftime(local), "closes_at": closes.strftime(local)},
    )
    assert opened.status_code == 303
    item = item_row(world, number)
    assert item.status == "consultation"
    assert (item.consultation_closes_at - utcnow()).days in (13, 14)
    page = chair.get(f"/c/z/items/{number}")
    assert closes.strftime("%Y-%m-%d %H:%M") in text(page)
    assert chair.form(f"/c/z/items/{number}/close-consultation").status_code == 303
    prepared = chair.form(f"/c/z/items/{number}/prepare-ballot")
    assert prepared.status_code == 303
    [ballot] = rows(world, Ballot)
    assert prepared.headers["location"] == f"/c/z/ballots/{ballot.number}/edit"
    decide_early = chair.form(f"/c/z/items/{number}/decide", {"by": "ballot"})
    assert decide_early.status_code == 409
    assert f"Ballot #{ballot.number} has no final result yet" in text(decide_early)
    tallied_ballot(world, number, "yes")
    page = chair.get(f"/c/z/items/{number}")
    assert f"By ballot #{ballot.number}: Adopted" in text(page)
    decided = chair.form(f"/c/z/items/{number}/decide", {"by": "ballot"})
    assert decided.status_code == 303
    assert (item_row(world, number).status, item_row(world, number).outcome) == (
        "decided",
        "adopted",
    )
    empty = chair.form(f"/c/z/items/{number}/progress", {"progress": "", "state": "in_progress"})
    assert empty.status_code == 400 and "Progress report: please fill this in." in text(empty)
    chair.form(
        f"/c/z/items/{number}/progress", {"progress": "施工队**已进场**", "state": "in_progress"}
    )
    assert item_row(world, number).status == "implementing"
    chair.form(f"/c/z/items/{number}/progress", {"progress": "两盏灯已亮", "state": "done"})
    item = item_row(world, number)
    assert (item.status, item.implementation) == ("closed", "done")
    settle(world, settings)
    page = another(client).get(f"/c/z/items/{number}")
    words = text(page)
    assert "Decision: Adopted" in words and f"#{ballot.number}" in words
    assert "<strong>已进场</strong>" in page.text  # the progress post, rendered safely
    assert "For the chair" not in page.text
    history = page.text[page.text.index("History") :]
    order = [
        "Published and opened for co-signing",
        "Enough co-signatures",
        "Put on the agenda",
        "Consultation opened",
        "Consultation closed",
        "Decided",
        "Implementation update",
        "Closed",
    ]
    positions = [history.index(words_) for words_ in order]
    assert positions == sorted(positions)
    assert history.count('href="/c/z/log/') == 8  # every step links its entry


def test_deciding_by_a_meeting_on_the_page(world: World, client: Client) -> None:
    number = deciding(world)
    meeting = held_meeting(world, number, "rejected")
    chair = english(client, "chair")
    page = chair.get(f"/c/z/items/{number}")
    assert f'value="meeting:{meeting}"' in page.text and "Rejected" in page.text
    wrong = chair.form(f"/c/z/items/{number}/decide", {"by": "meeting:7"})
    assert wrong.status_code == 400 and "Choose a meeting of this community." in text(wrong)
    assert (
        chair.form(f"/c/z/items/{number}/decide", {"by": f"meeting:{meeting}"}).status_code == 303
    )
    item = item_row(world, number)
    assert (item.status, item.outcome) == ("decided", "rejected")
    page = chair.get(f"/c/z/items/{number}")
    assert "4 for, 1 against, 0 abstaining" in text(page)
    assert "Close the item" in page.text and "Report progress" not in page.text
    assert chair.form(f"/c/z/items/{number}/close").status_code == 303
    assert item_row(world, number).status == "closed"


def test_the_item_list_filters_and_pages(world: World, client: Client) -> None:
    set_threshold(world, 3)

    async def ids(session: Any) -> tuple[int, int]:
        building = (
            await session.execute(
                select(Building).where(
                    Building.community_id == world.ids["z"], Building.number == "3"
                )
            )
        ).scalar_one()
        return building.id, building.grid_id

    building, grid = world.db.run(ids)
    for n in range(22):
        number = draft(world, title=f"停车议题 {n}", category="parking")
        on_item(world, number, "resident", actions.publish)
    scoped = draft(
        world, "owner", title="三号楼绿化", category="greening", scope=f"building:{building}"
    )
    on_item(world, scoped, "owner", actions.publish)
    draft(world, "owner", title="王的草稿")
    english(client)
    first = client.get("/c/z/items")
    assert first.status_code == 200
    assert "23 items" in text(first) and "Page 1 of 2" in text(first)
    assert "三号楼绿化" in first.text  # most recently updated first
    assert "王的草稿" not in first.text and "My drafts" not in first.text
    assert 'type="application/atom+xml" href="/c/z/items.atom"' in first.text
    assert 'action="/c/z/search"' in first.text and 'name="q"' in first.text
    assert "0 of 3 co-signatures" in text(first)
    second = client.get("/c/z/items?p=2")
    assert "停车议题 0" in second.text and "三号楼绿化" not in second.text
    greening = client.get("/c/z/items?category=greening")
    assert "1 item" in text(greening) and "三号楼绿化" in greening.text
    in_grid = client.get(f"/c/z/items?grid={grid}")
    assert "三号楼绿化" in in_grid.text and "停车议题" not in in_grid.text
    declined = client.get("/c/z/items?status=declined")
    assert "No items match." in declined.text
    nonsense = client.get("/c/z/items?status=draft&category=x&grid=abc&p=-1")
    assert nonsense.status_code == 200 and "23 items" in text(nonsense)
    fragment = client.get("/c/z/items?category=greening", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and 'id="item-rows"' in fragment.text
    owner = another(client, "owner")
    assert "My drafts" in owner.get("/c/z/items").text


def test_titles_and_names_are_inert(world: World, client: Client) -> None:
    set_threshold(world, 2)
    english(client, "resident")
    evil = '<img src=x onerror="alert(1)">'
    number = number_of(new_item(client, [(evil + ".png", png(), "image/png")], title=evil))
    client.form(f"/c/z/items/{number}/publish")
    for page in (client.get("/c/z/items"), client.get(f"/c/z/items/{number}")):
        assert "<img src=x" not in page.text and "&lt;img src=x" in page.text


def test_log_entries_of_items_are_worded(world: World, settings: Settings) -> None:
    number = deciding(world)
    held_meeting(world, number, "adopted")
    on_item(world, number, "chair", actions.decide_by_meeting, 1)
    on_item(world, number, "chair", actions.post_progress, "完工", "done")
    from app.i18n import set_language

    set_language("en")
    words = [entry_summary(e) for e in entries(world)]
    assert words[0].startswith(
        f"Item #{number} “东门装路灯” (Safety and security) published; it needs 2"
    )
    assert words[1] == f"Item #{number} co-signed: 1 of 2."
    assert words[3] == f"Item #{number}: Before the chair → On the agenda."
    assert "consultation open from" in words[4] and "(Beijing time)" in words[4]
    assert words[6] == f"Item #{number} decided by meeting #1: Adopted."
    assert words[7] == f"Item #{number}: implementation done (Closed)."
    fake = [
        LogEntry(community_id=1, type="amendment.decided", payload={"item": 1, "amendment": 2, "decision": "accepted", "revision": 3}),
        LogEntry(community_id=1, type="summary.published", payload={"item": 1, "points": [{"side": "for"}, {"side": "against"}, {"side": "for"}]}),
        LogEntry(community_id=1, type="comment.moderated", payload={"item": 1, "comment": 5, "action": "hidden", "reason": "private_data", "by": "grid_member"}),
        LogEntry(community_id=1, type="meeting.minutes", payload={"meeting": 2, "attendance": 40, "eligible": 70, "votes": [{}]}),
    ]  # fmt: skip
    assert [entry_summary(e) for e in fake] == [
        "Amendment 2 to item #1 accepted: the text is now revision 3.",
        "The chair's summary of item #1: 2 points for, 1 against.",
        "A comment on item #1 was hidden by a grid member: someone's private data.",
        "Minutes of meeting #2: 40 of 70 present, 1 votes recorded.",
    ]
    set_language("zh_CN")
