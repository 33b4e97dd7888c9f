"""A community's rules for agenda items: the support that puts an item before the chair, and
how often one account may post. Kept per community; an item records the threshold it was
published under (in its ``item.transitioned`` publish entry), so a later change never moves an
item's goalposts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import DeliberationSettings, Unit, UnitLink
from deliberation.items import cosign_threshold


async def rules_of(session: AsyncSession, community_id: int) -> DeliberationSettings:
    """The community's rules, or the defaults (not stored) if it never set any."""
    found = await session.get(DeliberationSettings, community_id)
    return found or DeliberationSettings(community_id=community_id)


async def households(session: AsyncSession, community_id: int) -> int:
    """Dwellings with someone currently linked to them."""
    return int(
        (
            await session.execute(
                select(func.count(func.distinct(UnitLink.unit_id)))
                .join(Unit, Unit.id == UnitLink.unit_id)
                .where(UnitLink.community_id == community_id, UnitLink.until.is_(None))
            )
        ).scalar_one()
    )


async def current_threshold(session: AsyncSession, community_id: int) -> int:
    rules = await rules_of(session, community_id)
    return cosign_threshold(
        rules.cosign_residents,
        rules.cosign_household_permille,
        await households(session, community_id),
    )


@dataclass(frozen=True)
class RulesError(Exception):
    field: str
    limit: int


LIMITS = {
    "cosign_residents": (1, 10_000),
    "cosign_household_permille": (0, 1_000),
    "comments_per_hour": (1, 1_000),
}


async def update_rules(session: AsyncSession, community_id: int, values: dict[str, str]) -> None:
    """Set the rules from form values (whole numbers within LIMITS); all or nothing."""
    parsed: dict[str, int] = {}
    for name, (low, high) in LIMITS.items():
        text = values.get(name, "").strip()
        if not text.isdecimal() or not low <= int(text) <= high:
            raise RulesError(name, high)
        parsed[name] = int(text)
    rules = await session.get(DeliberationSettings, community_id)
    if rules is None:
        rules = DeliberationSettings(community_id=community_id)
        session.add(rules)
    for name, value in parsed.items():
        setattr(rules, name, value)
    await session.commit()
