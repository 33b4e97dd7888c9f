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
            "channel": "online",
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
