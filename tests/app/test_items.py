"""Agenda items: the actions (drafting, publishing, co-signing, the chair's steps, the decision by
a ballot or a meeting, implementation) and their pages. Every refusal writes nothing; every
action writes exactly one log entry; co-signs in parallel all count, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from app import ballots
from app import items as actions
from app.db import create_engine, create_sessionmaker
from app.items import DeliberationError, Upload
from app.models import (
    Account,
    AgendaItem,
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
    utcnow,
)
from app.register_import import import_file
from app.settings import Settings
from tests.app.conftest import World, settle
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


def tallied_ballot(world: World, number: int, answer: str) -> int:
    """Prepare the item's ballot, open it now, let the owner and the resident vote, close and
    publish its tally."""

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
        )
        await ballots.update_draft(session, ballot, data, ballot.revision)
        await ballots.open_ballot(session, ballot, chair)
        for ref in ("P001", "P006"):
            voter = (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()
            await ballots.cast_online(session, ballot, voter, {"q1": answer})
        await ballots.close_ballot(session, ballot, chair)
        await ballots.publish_tally(session, ballot)
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
    assert on_item(world, number, "chair", actions.decide_by_ballot) == "ballot_not_counted"

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
