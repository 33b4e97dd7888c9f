"""The reference community of DOMAIN.md at its real size, for `make run` and for trying things.

79 buildings in 7 grids, 3,880 households, 10,569 people with realistic Chinese names and phone
numbers (Faker, zh_CN), floor areas from 40 to 140 m², owners of several units, co-owned units,
tenants, and the developer's unsold units. The rows go through the same validation and import code
as a residents' committee's file, keyed by stable references, so running it twice changes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from faker import Faker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import log
from app.accounts import hash_password, issue_activation_code
from app.i18n import gettext as _
from app.models import Account, Community, Person, Role, RoleGrant, UnitLink
from app.register import create_community, person_grid_ids
from app.register_import import (
    apply_buildings,
    apply_households,
    validate_buildings,
    validate_households,
)
from app.settings import Settings

SLUG = "z"
BUILDINGS = 79
HOUSEHOLDS = 3_880
PEOPLE = 10_569
GRIDS = 7
UNITS_PER_ENTRANCE = 18  # six floors, three doors a floor
DEMO_PASSWORD = "yishi-demo-2026"  # noqa: S105  (printed for the demo, documented)
GRID_NAMES = ["第一网格", "第二网格", "第三网格", "第四网格", "第五网格", "第六网格", "第七网格"]
DEVELOPER = "北京城建房地产开发有限公司"


@dataclass
class DemoResult:
    community: Community
    created: bool
    accounts: list[tuple[str, str, str]]  # role label, username, password
    activation: tuple[str, str] | None  # person name and a fresh code, on the first run only


def _building_rows() -> list[tuple[int, dict[str, str]]]:
    rows = []
    for b in range(1, BUILDINGS + 1):
        grid = min((b - 1) * GRIDS // BUILDINGS + 1, GRIDS)
        rows.append(
            (b + 1, {"grid": str(grid), "grid_name": GRID_NAMES[grid - 1], "building": str(b)})
        )
    return rows


def _household_rows(seed: int) -> list[tuple[int, dict[str, str]]]:
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    phones: set[str] = set()
    serial = 0

    def person(birth_from: int, birth_to: int, phone_share: float) -> dict[str, str]:
        nonlocal serial
        serial += 1
        phone = ""
        if rng.random() < phone_share:
            while not phone or phone in phones:
                phone = fake.phone_number()
            phones.add(phone)
        return {
            "person_ref": f"Z{serial:05d}",
            "name": fake.name(),
            "phone": phone,
            "birth_year": str(rng.randint(birth_from, birth_to)),
        }

    units: list[dict[str, str]] = []
    per_building = [
        HOUSEHOLDS // BUILDINGS + (1 if b < HOUSEHOLDS % BUILDINGS else 0) for b in range(BUILDINGS)
    ]
    for b, count in enumerate(per_building, start=1):
        for j in range(count):
            floor, door = divmod(j % UNITS_PER_ENTRANCE, 3)
            units.append(
                {
                    "building": str(b),
                    "entrance": str(j // UNITS_PER_ENTRANCE + 1),
                    "unit": f"{floor + 1}{door + 1:02d}",
                    "floor_area": f"{rng.randint(4000, 14000) / 100:.2f}",
                }
            )

    rows: list[dict[str, str]] = []
    developer = {
        "person_ref": "Z00000",
        "name": DEVELOPER,
        "phone": "",
        "birth_year": "",
        "organisation": "1",
    }
    landlords: list[dict[str, str]] = []
    household_sizes: list[list[dict[str, str]]] = []
    for index, unit in enumerate(units):
        kind = rng.random()
        household: list[dict[str, str]] = []
        if index % 388 == 7:  # the developer still holds ten unsold units, let to tenants
            rows.append({**unit, **developer, "relation": "owner", "representative": "0"})
            occupants = "tenant"
        elif kind < 0.04 and landlords:  # an owner of several units lets this one
            rows.append(
                {**unit, **rng.choice(landlords), "relation": "owner", "representative": "0"}
            )
            occupants = "tenant"
        elif kind < 0.24:  # owner lives elsewhere, tenants live here
            landlord = person(1950, 1985, 0.95)
            landlords.append(landlord)
            rows.append({**unit, **landlord, "relation": "owner", "representative": "0"})
            occupants = "tenant"
        else:
            occupants = "owners"
        if occupants == "tenant":
            for k in range(rng.choice((1, 1, 2, 2, 3))):
                household.append(
                    {
                        **unit,
                        **person(1975, 2004, 0.97),
                        "relation": "tenant",
                        "representative": "1" if k == 0 else "0",
                    }
                )
        else:
            co_owned = rng.random() < 0.18
            elderly = rng.random() < 0.35
            span = (1935, 1960) if elderly else (1960, 1992)
            household.append(
                {
                    **unit,
                    **person(*span, 0.55 if elderly else 0.95),
                    "relation": "co_owner" if co_owned else "owner",
                    "representative": "1",
                }
            )
            if co_owned:
                household.append(
                    {
                        **unit,
                        **person(*span, 0.55 if elderly else 0.95),
                        "relation": "co_owner",
                        "representative": "0",
                    }
                )
            else:
                household.append(
                    {
                        **unit,
                        **person(*span, 0.5 if elderly else 0.9),
                        "relation": "family",
                        "representative": "0",
                    }
                )
        household_sizes.append(household)
    # Children and live-in relatives bring the population to the register's 10,569.
    counted = len({r["person_ref"] for r in rows}) + sum(map(len, household_sizes))
    while counted < PEOPLE:
        household = rng.choice(household_sizes)
        if household[0]["relation"] == "tenant" and len(household) >= 4:
            continue
        relation = "tenant" if household[0]["relation"] == "tenant" else "family"
        place = {k: household[0][k] for k in ("building", "entrance", "unit", "floor_area")}
        household.append(
            {**place, **person(1995, 2024, 0.3), "relation": relation, "representative": "0"}
        )
        counted += 1
    for household in household_sizes:
        rows.extend(household)
    return [(line, row) for line, row in enumerate(rows, start=2)]


async def load_demo(session: AsyncSession, settings: Settings, *, seed: int = 2026) -> DemoResult:
    community = (
        await session.execute(select(Community).where(Community.slug == SLUG))
    ).scalar_one_or_none()
    created = community is None
    if community is None:
        community = await create_community(
            session, settings, SLUG, "Z社区", "1987年建成 · 79栋楼 · 3,880户"
        )
    await apply_buildings(session, community, validate_buildings(_building_rows()), None)
    await apply_households(session, community, validate_households(_household_rows(seed)), None)
    accounts = await _role_accounts(session, community)
    activation = None
    if created:
        person = (
            await session.execute(
                select(Person).where(
                    Person.community_id == community.id,
                    Person.account_id.is_(None),
                    Person.ref == "Z00042",
                )
            )
        ).scalar_one()
        activation = (
            person.name,
            await issue_activation_code(session, settings.secret_key, person),
        )
    await log.integrate_all(session, settings)
    return DemoResult(community, created, accounts, activation)


# Role, username, register reference of the person behind it (None: staff outside the register).
ROLE_ACCOUNTS = [
    (Role.resident, "resident", "tenant"),
    (Role.owner, "owner", "owner"),
    (Role.grid_member, "grid", "family"),
    (Role.chair, "chair", "owner"),
    (Role.auditor, "auditor", None),
    (Role.admin, "admin", None),
]


async def _role_accounts(session: AsyncSession, community: Community) -> list[tuple[str, str, str]]:
    printed = []
    used_people: set[int] = set()
    for role, username, relation in ROLE_ACCOUNTS:
        account = (
            await session.execute(select(Account).where(Account.username == username))
        ).scalar_one_or_none()
        if account is None:
            person = None
            if relation is not None:
                candidates = await session.execute(
                    select(Person)
                    .join(UnitLink, UnitLink.person_id == Person.id)
                    .where(
                        Person.community_id == community.id,
                        UnitLink.relation == relation,
                        Person.account_id.is_(None),
                        Person.phone.is_not(None),
                        Person.is_organisation.is_(False),
                    )
                    .order_by(Person.ref)
                    .limit(20)
                )
                person = next(p for p in candidates.scalars() if p.id not in used_people)
                used_people.add(person.id)
            account = Account(
                username=username,
                phone=person.phone if person else None,
                display_name=person.name
                if person
                else _("Demo account %(username)s", username=username),
                password_hash=await hash_password(DEMO_PASSWORD),
            )
            session.add(account)
            await session.flush()
            if person is not None:
                person.account_id = account.id
            if role in (Role.grid_member, Role.chair, Role.auditor, Role.admin):
                grid_id = None
                if role == Role.grid_member:
                    grid_id = min(await person_grid_ids(session, person.id))
                session.add(
                    RoleGrant(
                        community_id=community.id, account_id=account.id, role=role, grid_id=grid_id
                    )
                )
            await session.commit()
        printed.append((role.value, username, DEMO_PASSWORD))
    return printed
