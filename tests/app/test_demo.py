"""The reference community at its real size, loaded twice: the second run changes nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.demo import load_demo
from app.demo_deliberation import NEW_ACCOUNTS
from app.models import (
    Account,
    Ballot,
    BallotParticipation,
    Building,
    Grid,
    LogEntry,
    Person,
    RegisterChange,
    RoleGrant,
    Unit,
    UnitLink,
)
from tests.app.conftest import make_settings
from tests.conftest import Database


async def _figures(session: Any) -> dict[str, Any]:
    async def count(model: Any) -> int:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()  # type: ignore[no-any-return]

    owners_of_several = (
        await session.execute(
            select(func.count()).select_from(
                select(UnitLink.person_id)
                .where(UnitLink.relation == "owner")
                .group_by(UnitLink.person_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
    ).scalar_one()
    co_owned = (
        await session.execute(
            select(func.count()).select_from(
                select(UnitLink.unit_id)
                .where(UnitLink.relation == "co_owner")
                .group_by(UnitLink.unit_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
    ).scalar_one()
    areas = (
        await session.execute(select(func.min(Unit.floor_area), func.max(Unit.floor_area)))
    ).one()
    phones = list(
        (await session.execute(select(Person.phone).where(Person.phone.is_not(None)))).scalars()
    )  # type: ignore[union-attr]
    return {
        "grids": await count(Grid),
        "buildings": await count(Building),
        "units": await count(Unit),
        "people": await count(Person),
        "changes": await count(RegisterChange),
        "accounts": await count(Account),
        "grants": await count(RoleGrant),
        "owners_of_several": owners_of_several,
        "co_owned": co_owned,
        "tenants": (
            await session.execute(select(func.count()).where(UnitLink.relation == "tenant"))
        ).scalar_one(),
        "organisations": (
            await session.execute(select(func.count()).where(Person.is_organisation.is_(True)))
        ).scalar_one(),  # type: ignore[attr-defined]
        "min_area": Decimal(areas[0]),
        "max_area": Decimal(areas[1]),
        "phones_unique": len(phones) == len(set(phones)),
        "phones": len(phones),
        "ballots": [
            (number, status, channels)
            for number, status, channels in (
                await session.execute(
                    select(Ballot.number, Ballot.status, func.count(BallotParticipation.elector))
                    .outerjoin(BallotParticipation, BallotParticipation.ballot_id == Ballot.id)
                    .group_by(Ballot.number, Ballot.status)
                    .order_by(Ballot.number)
                )
            ).all()
        ],
        "entries": await count(LogEntry),
    }


def test_demo_builds_the_reference_community_once(database: Database, tmp_path: Path) -> None:
    settings = make_settings(database, tmp_path)
    first = database.run(lambda session: load_demo(session, settings))
    assert first.created and first.activation is not None
    assert [role for role, _u, _p in first.accounts] == [
        "resident",
        "owner",
        "grid_member",
        "chair",
        "auditor",
        "admin",
    ]
    figures = database.run(_figures)
    assert (figures["grids"], figures["buildings"], figures["units"], figures["people"]) == (
        7,
        79,
        3880,
        10569,
    )
    assert (
        figures["owners_of_several"] > 0 and figures["co_owned"] > 100 and figures["tenants"] > 500
    )
    assert figures["organisations"] == 1
    assert Decimal(40) <= figures["min_area"] and figures["max_area"] <= Decimal(140)
    assert figures["phones_unique"] and figures["phones"] > 5000
    # six role accounts, a grid member for each of the six grids the "grid" account lacks, and
    # the residents who speak, co-sign and react in the deliberation demo
    assert (figures["accounts"], figures["grants"]) == (12 + NEW_ACCOUNTS, 10)
    statuses = [status for _n, status, _c in figures["ballots"]]
    assert statuses == ["open", "final", "final", "tallied"]
    assert all(voted > 1000 for _n, _s, voted in figures["ballots"])

    again = database.run(lambda session: load_demo(session, settings))
    assert not again.created and again.activation is None
    assert database.run(_figures) == figures
