"""Ballot actions against the database: open, cast on every channel, close, tally."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app import ballots as actions
from app.ballots import BallotError, DefinitionProblems
from app.models import (
    Account,
    Ballot,
    BallotPaper,
    BallotParticipation,
    BallotStatus,
    LogEntry,
    Person,
    utcnow,
)
from ballots.rules import civil_code_278
from tests.app.conftest import World


def definition(**changes: Any) -> dict[str, Any]:
    data = actions.blank_definition()
    now = utcnow()
    data.update(
        title="加装电梯",
        opens_at=(now - timedelta(minutes=5)).isoformat(),
        closes_at=(now + timedelta(days=1)).isoformat(),
    )
    data["questions"][0]["text"] = "是否同意?"
    data.update(changes)
    return data


async def person(session: Any, ref: str) -> Person:
    return (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()


async def account(session: Any, name: str) -> Account:
    return (await session.execute(select(Account).where(Account.username == name))).scalar_one()


async def opened(session: Any, world: World, **changes: Any) -> Ballot:
    from app.models import Community

    community = await session.get(Community, world.ids["z"])
    chair = await account(session, "chair")
    ballot = await actions.create_ballot(session, community, chair, definition(**changes))
    await actions.open_ballot(session, ballot, chair)
    return ballot


def test_owners_roll_groups_units_and_casts_count_once(world: World) -> None:
    async def run(session: Any) -> None:
        ballot = await opened(
            session, world, electorate="owners", rule=civil_code_278("ordinary").to_dict()
        )
        assert ballot.status == BallotStatus.open
        assert ballot.roll_size == 4  # 101, 102 (co-owned), 201, 301; 302 has no owner
        owner = await person(session, "P001")
        await actions.cast_online(session, ballot, owner, {"q1": "yes"})
        await actions.cast_online(session, ballot, owner, {"q1": "no"})  # last counts
        with pytest.raises(BallotError) as refused:
            await actions.cast_online(session, ballot, await person(session, "P006"), {"q1": "yes"})
        assert refused.value.code == "not_on_roll"
        with pytest.raises(BallotError) as bad:
            await actions.cast_online(session, ballot, owner, {"q1": "maybe"})
        assert bad.value.code == "unknown_option"
        co_owner = await person(session, "P003")
        await actions.cast_online(session, ballot, co_owner, {"q1": "yes"})
        count = await session.execute(select(func.count()).select_from(BallotParticipation))
        assert count.scalar_one() == 2
        await session.execute(
            update(Ballot).where(Ballot.id == ballot.id).values(closes_at=utcnow())
        )
        await session.commit()
        assert await actions.run_due(session) == 2
        await session.refresh(ballot)
        assert ballot.status == BallotStatus.tallied
        q = ballot.tally["questions"][0]
        assert q["counts"] == {"yes": "1", "no": "1", "abstain": "0"}
        assert q["area"] == {"yes": "60.00", "no": "86.45", "abstain": "0.00"}
        assert q["decision"]["valid"] is False  # 2 of 4 heads took part
        types = (await session.execute(select(LogEntry.type).order_by(LogEntry.id))).scalars()
        assert [t for t in types if not t.startswith("register")] == [
            "ballot.opened",
            "ballot.cast",
            "ballot.cast",
            "ballot.cast",
            "ballot.closed",
            "tally.published",
        ]

    world.db.run(run)


def test_secret_ballot_refuses_revote_and_stores_no_identity(world: World) -> None:
    async def run(session: Any) -> None:
        ballot = await opened(session, world, secrecy="secret", revoting="first")
        voter = await person(session, "P006")
        await actions.cast_online(session, ballot, voter, {"q1": "yes"})
        with pytest.raises(BallotError) as again:
            await actions.cast_online(session, ballot, voter, {"q1": "no"})
        assert again.value.code == "already_voted"
        cast = (
            await session.execute(select(LogEntry).where(LogEntry.type == "ballot.cast"))
        ).scalar_one()
        assert cast.payload == {
            "ballot": ballot.number,
            "answers": {"q1": "yes"},
        }
        row = (await session.execute(select(BallotParticipation))).scalar_one()
        assert row.entry_id is None

    world.db.run(run)


def test_secret_ballot_with_last_revoting_cannot_open(world: World) -> None:
    async def run(session: Any) -> None:
        with pytest.raises(DefinitionProblems) as problems:
            await opened(session, world, secrecy="secret", revoting="last")
        assert [p.code for p in problems.value.problems] == ["secret_revoting"]

    world.db.run(run)


async def grid_member(session: Any) -> tuple[Account, set[int]]:
    from app.models import Grid

    grid_id = (
        (await session.execute(select(Grid.id).where(Grid.community_id != 0, Grid.number == 2)))
        .scalars()
        .first()
    )
    return await account(session, "grid"), {grid_id}


def test_proxy_cast_is_overridden_by_the_principal_and_limited_per_holder(world: World) -> None:
    async def run(session: Any) -> None:
        ballot = await opened(session, world, proxy_limit=1)
        holder = await person(session, "P005")
        await actions.grant_proxy(
            session, ballot, "P001", holder, by_principal=await person(session, "P001")
        )
        with pytest.raises(BallotError) as over:
            await actions.grant_proxy(
                session, ballot, "P002", holder, by_principal=await person(session, "P002")
            )
        assert over.value.code == "proxy_limit"
        with pytest.raises(BallotError) as twice:
            await actions.grant_proxy(
                session,
                ballot,
                "P001",
                await person(session, "P003"),
                by_principal=await person(session, "P001"),
            )
        assert twice.value.code == "proxy_exists"
        await actions.cast_as_proxy(session, ballot, holder, "P001", {"q1": "yes"})
        with pytest.raises(BallotError) as stranger:
            await actions.cast_as_proxy(
                session, ballot, await person(session, "P003"), "P001", {"q1": "no"}
            )
        assert stranger.value.code == "not_your_proxy"
        await actions.cast_online(session, ballot, await person(session, "P001"), {"q1": "no"})
        with pytest.raises(BallotError) as late:
            await actions.cast_as_proxy(session, ballot, holder, "P001", {"q1": "yes"})
        assert late.value.code == "voted_in_person"
        row = await session.get(BallotParticipation, (ballot.id, "P001"))
        assert (row.channel, row.via_proxy) == ("online", False)

    world.db.run(run)


def test_paper_double_entry_counts_on_the_second_matching_reading(world: World) -> None:
    async def run(session: Any) -> None:
        ballot = await opened(session, world, paper_double_entry=True)
        grid, grids = await grid_member(session)
        first = await actions.enter_paper(
            session, ballot, grid, grids, "P007", "A-0001", {"q1": "yes"}
        )
        assert first.counted is None
        waiting = await session.get(BallotPaper, (ballot.id, "A-0001"))
        assert len(waiting.reading) == 64 and "yes" not in waiting.reading  # a digest, no answers
        with pytest.raises(BallotError) as same:
            await actions.enter_paper(session, ballot, grid, grids, "P007", "A-0001", {"q1": "yes"})
        assert same.value.code == "second_entry_same_person"
        chair = await account(session, "chair")  # a second reader of the same grid
        with pytest.raises(BallotError) as differs:
            await actions.enter_paper(session, ballot, chair, grids, "P007", "A-0001", {"q1": "no"})
        assert differs.value.code == "paper_mismatch"
        second = await actions.enter_paper(
            session, ballot, chair, grids, "P007", "A-0001", {"q1": "yes"}
        )
        assert second.counted is not None
        entry = await session.get(LogEntry, second.counted.entry_id)
        assert entry.payload["serial"] == "A-0001"
        assert entry.payload["entered_by"] == [grid.id, chair.id]
        with pytest.raises(BallotError) as reused:
            await actions.enter_paper(session, ballot, grid, grids, "P007", "A-0001", {"q1": "yes"})
        assert reused.value.code == "serial_used"
        with pytest.raises(BallotError) as outside:
            await actions.enter_paper(session, ballot, grid, grids, "P001", "A-0002", {"q1": "yes"})
        assert outside.value.code == "not_your_grid"

    world.db.run(run)


def test_window_and_frozen_definition(world: World) -> None:
    async def run(session: Any) -> None:
        now = utcnow()
        ballot = await opened(
            session,
            world,
            opens_at=(now + timedelta(hours=1)).isoformat(),
            closes_at=(now + timedelta(days=1)).isoformat(),
        )
        voter = await person(session, "P006")
        with pytest.raises(BallotError) as early:
            await actions.cast_online(session, ballot, voter, {"q1": "yes"})
        assert early.value.code == "not_yet_open"
        with pytest.raises(BallotError) as frozen:
            await actions.update_draft(session, ballot, definition(), ballot.revision)
        assert frozen.value.code == "frozen"
        chair = await account(session, "chair")
        with pytest.raises(BallotError) as not_allowed:
            await actions.close_ballot(session, ballot, chair)
        assert not_allowed.value.code == "early_close_not_allowed"
        assert ballot.status == BallotStatus.open

    world.db.run(run)


def test_early_close_by_the_chair_where_allowed_then_final_after_objections(world: World) -> None:
    async def run(session: Any) -> None:
        ballot = await opened(session, world, early_close=True, objection_days=0)
        await actions.cast_online(session, ballot, await person(session, "P006"), {"q1": "yes"})
        await actions.close_ballot(session, ballot, await account(session, "chair"))
        with pytest.raises(BallotError) as after:
            await actions.cast_online(session, ballot, await person(session, "P001"), {"q1": "no"})
        assert after.value.code == "closed"
        assert await actions.run_due(session) == 1  # tallied; final on the next round
        assert await actions.run_due(session) == 1
        await session.refresh(ballot)
        assert ballot.status == BallotStatus.final
        decision = ballot.tally["questions"][0]["decision"]
        assert decision["passed"] is True
        csv_text = await actions.counted_csv(session, ballot)
        assert csv_text.splitlines()[1] == "P006,,0,online,q1,yes"

    world.db.run(run)


def test_draft_edits_need_the_current_revision(world: World) -> None:
    async def run(session: Any) -> None:
        from app.models import Community

        community = await session.get(Community, world.ids["z"])
        chair = await account(session, "chair")
        ballot = await actions.create_ballot(session, community, chair, definition())
        await actions.update_draft(session, ballot, definition(title="新标题"), 1)
        assert (ballot.title, ballot.revision) == ("新标题", 2)
        with pytest.raises(BallotError) as stale:
            await actions.update_draft(session, ballot, definition(title="旧表单"), 1)
        assert stale.value.code == "stale_revision"
        with pytest.raises(DefinitionProblems):
            await actions.update_draft(session, ballot, {"title": 1}, 2)

    world.db.run(run)


def test_a_paper_form_never_replaces_the_voters_own_online_ballot(world: World) -> None:
    async def run(session: Any) -> None:
        ballot = await opened(session, world)  # roll-call, the last ballot counts
        grid, grids = await grid_member(session)
        voter = await person(session, "P007")
        await actions.cast_online(session, ballot, voter, {"q1": "yes"})
        with pytest.raises(BallotError) as refused:
            await actions.enter_paper(session, ballot, grid, grids, "P007", "B-1", {"q1": "no"})
        assert refused.value.code == "already_voted"
        # the other way round: the voter's own online ballot replaces a form entered for them
        other = await opened(session, world)
        await actions.enter_paper(session, other, grid, grids, "P007", "B-3", {"q1": "no"})
        await actions.cast_online(session, other, voter, {"q1": "yes"})
        row = await session.get(BallotParticipation, (other.id, "P007"))
        assert row.channel == "online"

    world.db.run(run)
