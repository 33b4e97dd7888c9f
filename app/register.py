"""The community register: reading it, and editing it one recorded change at a time."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import log
from app.accounts import PHONE_RE
from app.i18n import gettext as _
from app.models import (
    GRANTED_ROLES,
    Account,
    Building,
    Community,
    Grid,
    Person,
    RegisterChange,
    Role,
    RoleGrant,
    Unit,
    UnitLink,
    utcnow,
)
from app.register_import import ALIASES
from app.settings import Settings

PAGE_SIZE = 50


class NotFound(LookupError):
    """The thing asked for is not in this community (answered with 404)."""


class RegisterError(Exception):
    """A refused edit; ``field`` names the form field, the message is translated."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


async def create_community(
    session: AsyncSession, settings: Settings, slug: str, name: str, address: str = ""
) -> Community:
    """A community with its public log: the signing key is made with it."""
    community = Community(slug=slug, name=name, address=address)
    session.add(community)
    await session.flush()
    await log.create_log(session, settings, community)
    await session.commit()
    return community


def unit_label(building: Building | str, unit: Unit) -> str:
    number = building.number if isinstance(building, Building) else building
    return _("Building %(b)s, entrance %(e)s, unit %(u)s", b=number, e=unit.entrance, u=unit.number)


@dataclass
class Counts:
    grids: int
    buildings: int
    units: int
    people: int
    floor_area: Decimal


async def counts(session: AsyncSession, community_id: int) -> Counts:
    async def count(model: Any) -> int:
        return (
            await session.execute(
                select(func.count()).select_from(model).where(model.community_id == community_id)
            )
        ).scalar_one()

    area = (
        await session.execute(
            select(func.coalesce(func.sum(Unit.floor_area), 0)).where(
                Unit.community_id == community_id
            )
        )
    ).scalar_one()
    return Counts(
        await count(Grid),
        await count(Building),
        await count(Unit),
        await count(Person),
        Decimal(area),
    )


async def grids_with_buildings(
    session: AsyncSession, community_id: int, grid_ids: set[int] | None
) -> list[tuple[Grid, list[tuple[Building, int]]]]:
    """Grids and their buildings with unit counts; ``grid_ids`` limits a grid member's view."""
    query = select(Grid).where(Grid.community_id == community_id).order_by(Grid.number)
    if grid_ids is not None:
        query = query.where(Grid.id.in_(grid_ids))
    grids = list((await session.execute(query)).scalars())
    unit_count = (
        select(Building, func.count(Unit.id))
        .outerjoin(Unit, Unit.building_id == Building.id)
        .where(Building.community_id == community_id)
        .group_by(Building.id)
    )
    by_grid: dict[int, list[tuple[Building, int]]] = {}
    for building, n in (await session.execute(unit_count)).all():
        by_grid.setdefault(building.grid_id, []).append((building, n))
    for items in by_grid.values():
        items.sort(key=lambda item: _natural_key(item[0].number))
    return [(grid, by_grid.get(grid.id, [])) for grid in grids]


def _natural_key(text: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdecimal() else part for part in re.split(r"(\d+)", text))


@dataclass
class PersonRow:
    person: Person
    links: list[tuple[UnitLink, Unit, Building]]


async def search_people(
    session: AsyncSession, community_id: int, query_text: str, page: int, grid_ids: set[int] | None
) -> tuple[list[PersonRow], int]:
    """People matching a name (Chinese characters match anywhere in the name), phone or reference."""
    query = select(Person).where(Person.community_id == community_id)
    text = query_text.strip()
    if text:
        pattern = f"%{_escape_like(text)}%"
        query = query.where(
            or_(
                Person.name.like(pattern, escape="\\"),
                Person.phone.like(pattern, escape="\\"),
                Person.ref == text,
            )
        )
    if grid_ids is not None:
        in_grid = (
            select(UnitLink.person_id)
            .join(Unit, Unit.id == UnitLink.unit_id)
            .join(Building, Building.id == Unit.building_id)
            .where(Building.grid_id.in_(grid_ids))
        )
        query = query.where(Person.id.in_(in_grid))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    people = list(
        (
            await session.execute(
                query.order_by(Person.name, Person.id)
                .offset((page - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            )
        ).scalars()
    )
    links = await _links_of(session, [p.id for p in people if p.id is not None])
    return [PersonRow(p, links.get(p.id, [])) for p in people], total


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _links_of(
    session: AsyncSession, person_ids: list[int]
) -> dict[int, list[tuple[UnitLink, Unit, Building]]]:
    rows = await session.execute(
        select(UnitLink, Unit, Building)
        .join(Unit, Unit.id == UnitLink.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .where(UnitLink.person_id.in_(person_ids))
        .order_by(Building.number, Unit.entrance, Unit.number)
    )
    result: dict[int, list[tuple[UnitLink, Unit, Building]]] = {}
    for link, unit, building in rows.all():
        result.setdefault(link.person_id, []).append((link, unit, building))
    return result


async def get_person(session: AsyncSession, community_id: int, person_id: int) -> PersonRow | None:
    person = await session.get(Person, person_id)
    if person is None or person.community_id != community_id:
        return None
    return PersonRow(person, (await _links_of(session, [person_id])).get(person_id, []))


async def person_grid_ids(session: AsyncSession, person_id: int) -> set[int]:
    rows = await session.execute(
        select(Building.grid_id)
        .join(Unit, Unit.building_id == Building.id)
        .join(UnitLink, UnitLink.unit_id == Unit.id)
        .where(UnitLink.person_id == person_id)
    )
    return set(rows.scalars())


async def get_building(
    session: AsyncSession, community_id: int, building_id: int
) -> tuple[Building, Grid, list[tuple[Unit, list[tuple[UnitLink, Person]]]]] | None:
    building = await session.get(Building, building_id)
    if building is None or building.community_id != community_id:
        return None
    grid = await session.get(Grid, building.grid_id)
    assert grid is not None
    units = list(
        (await session.execute(select(Unit).where(Unit.building_id == building_id))).scalars()
    )
    units.sort(key=lambda u: (_natural_key(u.entrance), _natural_key(u.number)))
    people: dict[int, list[tuple[UnitLink, Person]]] = {}
    rows = await session.execute(
        select(UnitLink, Person)
        .join(Person, Person.id == UnitLink.person_id)
        .join(Unit, Unit.id == UnitLink.unit_id)
        .where(Unit.building_id == building_id)
    )
    for link, person in rows.all():
        people.setdefault(link.unit_id, []).append((link, person))
    return building, grid, [(u, people.get(u.id, [])) for u in units]


async def get_unit(
    session: AsyncSession, community_id: int, unit_id: int
) -> tuple[Unit, Building, list[tuple[UnitLink, Person]]] | None:
    unit = await session.get(Unit, unit_id)
    if unit is None or unit.community_id != community_id:
        return None
    building = await session.get(Building, unit.building_id)
    assert building is not None
    rows = await session.execute(
        select(UnitLink, Person)
        .join(Person, Person.id == UnitLink.person_id)
        .where(UnitLink.unit_id == unit_id)
    )
    return unit, building, list(rows.all())


# Register fields whose values may appear in the public log; everything else (names, phone
# numbers, years of birth) is logged by field name only.
PUBLIC_FIELDS = frozenset(
    {"floor_area", "role", "grid", "relation", "number", "entrance", "building"}
)


def change_entry(
    entity: str, entity_id: int, action: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """The ``register.changed`` payload of one change."""
    return {
        "action": action,
        "entity": entity,
        "fields": sorted(changes),
        "id": entity_id,
        "values": {key: pair for key, pair in changes.items() if key in PUBLIC_FIELDS},
    }


async def _record(
    session: AsyncSession,
    community_id: int,
    actor: Account,
    entity: str,
    entity_id: int,
    action: str,
    changes: dict[str, Any],
) -> None:
    """Keep the change in the register's history and append it to the public log."""
    session.add(
        RegisterChange(
            community_id=community_id,
            actor_id=actor.id,
            at=utcnow(),
            entity=entity,
            entity_id=entity_id,
            action=action,
            changes=changes,
        )
    )
    await log.append(
        session, community_id, "register.changed", change_entry(entity, entity_id, action, changes)
    )


async def update_person(
    session: AsyncSession, person: Person, actor: Account, *, name: str, phone: str, birth_year: str
) -> bool:
    """Edit a person's name, phone and year of birth; returns whether anything changed."""
    name = name.strip()
    if not name or len(name) > 60:
        raise RegisterError(_("The name must have 1 to 60 characters."), "name")
    phone_value = re.sub(r"[\s-]", "", phone) or None
    if phone_value and not PHONE_RE.match(phone_value):
        raise RegisterError(
            _("“%(value)s” is not an 11-digit mobile number.", value=phone), "phone"
        )
    year_value: int | None = None
    if birth_year.strip():
        if not birth_year.strip().isdecimal() or not 1900 <= int(birth_year) <= utcnow().year:
            raise RegisterError(
                _("“%(value)s” is not a year of birth.", value=birth_year), "birth_year"
            )
        year_value = int(birth_year)
    if phone_value:
        holder = (
            await session.execute(
                select(Person).where(
                    Person.community_id == person.community_id,
                    Person.phone == phone_value,
                    Person.id != person.id,
                )
            )
        ).scalar_one_or_none()
        if holder is not None:
            raise RegisterError(
                _(
                    "Phone %(phone)s already belongs to %(name)s (%(ref)s) in the register.",
                    phone=phone_value,
                    name=holder.name,
                    ref=holder.ref,
                ),
                "phone",
            )
    after = {"name": name, "phone": phone_value, "birth_year": year_value}
    diff = {k: [getattr(person, k), v] for k, v in after.items() if getattr(person, k) != v}
    if not diff:
        return False
    # The phone a resident signs in with follows the register, unless they changed it themselves.
    account = await session.get(Account, person.account_id) if person.account_id else None
    if "phone" in diff and account is not None and account.phone == person.phone:
        if phone_value:
            other = await session.execute(
                select(Account.id).where(Account.phone == phone_value, Account.id != account.id)
            )
            if other.first() is not None:
                raise RegisterError(
                    _("Another account already signs in with %(phone)s.", phone=phone_value),
                    "phone",
                )
        account.phone = phone_value
    for key, value in after.items():
        setattr(person, key, value)
    await _record(session, person.community_id, actor, "person", person.id, "update", diff)
    await session.commit()
    return True


async def update_unit_area(
    session: AsyncSession, unit: Unit, actor: Account, floor_area: str
) -> bool:
    try:
        area = Decimal(floor_area.strip())
        if not area.is_finite() or area <= 0 or area >= 10000 or area.as_tuple().exponent < -2:
            raise InvalidOperation
    except InvalidOperation:
        raise RegisterError(
            _(
                "The floor area must be a positive number of m² with at most two decimals, not “%(value)s”.",
                value=floor_area,
            ),
            "floor_area",
        ) from None
    if area == unit.floor_area:
        return False
    await _record(
        session,
        unit.community_id,
        actor,
        "unit",
        unit.id,
        "update",
        {"floor_area": [str(unit.floor_area), str(area)]},
    )
    unit.floor_area = area
    session.add(unit)
    await session.commit()
    return True


async def changes_page(
    session: AsyncSession, community_id: int, page: int
) -> tuple[list[tuple[RegisterChange, str | None]], int]:
    query = (
        select(RegisterChange, Account.display_name)
        .outerjoin(Account, Account.id == RegisterChange.actor_id)
        .where(RegisterChange.community_id == community_id)
    )
    total = (
        await session.execute(
            select(func.count())
            .select_from(RegisterChange)
            .where(RegisterChange.community_id == community_id)
        )
    ).scalar_one()
    rows = await session.execute(
        query.order_by(RegisterChange.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    )
    return list(rows.all()), total


# ---------------------------------------------------------------- roles


async def role_grants(
    session: AsyncSession, community_id: int
) -> list[tuple[RoleGrant, Account, Grid | None]]:
    rows = await session.execute(
        select(RoleGrant, Account, Grid)
        .join(Account, Account.id == RoleGrant.account_id)
        .outerjoin(Grid, Grid.id == RoleGrant.grid_id)
        .where(RoleGrant.community_id == community_id)
        .order_by(RoleGrant.role, Account.display_name)
    )
    return list(rows.all())


async def grant_role(
    session: AsyncSession,
    community: Community,
    actor: Account,
    identifier: str,
    role: str,
    grid_number: str,
) -> RoleGrant:
    from app.accounts import find_account

    account = await find_account(session, identifier)
    if account is None:
        raise RegisterError(_("No account has this phone number or username."), "account")
    if role not in {r.value for r in GRANTED_ROLES}:
        raise RegisterError(_("Choose a role."), "role")
    grid_id = None
    if role == Role.grid_member:
        grid = (
            await session.execute(
                select(Grid).where(
                    Grid.community_id == community.id,
                    Grid.number == (int(grid_number) if grid_number.isdecimal() else -1),
                )
            )
        ).scalar_one_or_none()
        if grid is None:
            raise RegisterError(_("A grid member needs a grid of this community."), "grid")
        grid_id = grid.id
    existing = (
        await session.execute(
            select(RoleGrant).where(
                RoleGrant.community_id == community.id,
                RoleGrant.account_id == account.id,
                RoleGrant.role == role,
                RoleGrant.grid_id == grid_id,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise RegisterError(_("This account already has this role."), "role")
    grant = RoleGrant(
        community_id=community.id,
        account_id=account.id,
        role=role,
        grid_id=grid_id,
        granted_by=actor.id,
    )
    session.add(grant)
    await session.flush()
    await _record(
        session,
        community.id,
        actor,
        "role",
        grant.id,
        "grant",
        {
            "account": [None, account.display_name],
            "role": [None, role],
            "grid": [None, grid_number or None],
        },
    )
    await session.commit()
    return grant


async def revoke_role(
    session: AsyncSession, community: Community, actor: Account, grant_id: int
) -> None:
    grant = await session.get(RoleGrant, grant_id)
    if grant is None or grant.community_id != community.id:
        raise NotFound(grant_id)
    if grant.role == Role.admin and grant.account_id == actor.id:
        raise RegisterError(_("You cannot remove your own admin role."))
    await session.delete(grant)
    await _record(
        session,
        community.id,
        actor,
        "role",
        grant_id,
        "revoke",
        {"account": [grant.account_id, None], "role": [grant.role, None]},
    )
    await session.commit()


# ---------------------------------------------------------------- export


BUILDING_EXPORT = ("grid", "grid_name", "building")
HOUSEHOLD_EXPORT = (
    "building",
    "entrance",
    "unit",
    "floor_area",
    "person_ref",
    "name",
    "phone",
    "relation",
    "birth_year",
    "since",
    "until",
    "representative",
    "organisation",
)


def _csv(header: tuple[str, ...], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([ALIASES[name][1] if len(ALIASES[name]) > 1 else name for name in header])
    writer.writerows(rows)
    return "\ufeff" + buffer.getvalue()  # the BOM makes Excel read the UTF-8 correctly


async def export_buildings(session: AsyncSession, community_id: int) -> str:
    rows = await session.execute(
        select(Grid, Building)
        .join(Building, Building.grid_id == Grid.id)
        .where(Building.community_id == community_id)
    )
    data = sorted(
        ([g.number, g.name, b.number] for g, b in rows.all()), key=lambda r: _natural_key(r[2])
    )
    return _csv(BUILDING_EXPORT, data)


async def export_households(session: AsyncSession, community_id: int) -> str:
    """One row per person and unit, plus one row per vacant unit: the import format, so that
    importing an export changes nothing."""
    units = await session.execute(
        select(Unit, Building)
        .join(Building, Building.id == Unit.building_id)
        .where(Unit.community_id == community_id)
    )
    links = await session.execute(
        select(UnitLink, Person)
        .join(Person, Person.id == UnitLink.person_id)
        .where(UnitLink.community_id == community_id)
    )
    by_unit: dict[int, list[tuple[UnitLink, Person]]] = {}
    for link, person in links.all():
        by_unit.setdefault(link.unit_id, []).append((link, person))
    data: list[list[Any]] = []
    for unit, building in units.all():
        place = [building.number, unit.entrance, unit.number, str(unit.floor_area)]
        people = sorted(by_unit.get(unit.id, []), key=lambda lp: lp[1].ref)
        if not people:
            data.append([*place] + [""] * 9)
        for link, person in people:
            data.append(
                [
                    *place,
                    person.ref,
                    person.name,
                    person.phone or "",
                    link.relation,
                    person.birth_year or "",
                    link.since.isoformat() if link.since else "",
                    link.until.isoformat() if link.until else "",
                    "1" if link.is_representative else "0",
                    "1" if person.is_organisation else "0",
                ]
            )
    data.sort(key=lambda r: (_natural_key(r[0]), _natural_key(r[1]), _natural_key(r[2]), r[4]))
    return _csv(HOUSEHOLD_EXPORT, data)


def label(kind: str, key: str) -> str:
    """Words for the register's internal names (entities, actions, fields) in the current language."""
    words = {
        "entity": {
            "grid": _("grids"),
            "building": _("buildings"),
            "unit": _("households"),
            "person": _("people"),
            "unit_link": _("links between people and households"),
            "role": _("roles"),
        },
        "kind": {"buildings": _("buildings"), "households": _("households")},
        "action": {
            "import": _("imported"),
            "import.create": _("added by import"),
            "import.update": _("changed by import"),
            "update": _("edited"),
            "grant": _("role granted"),
            "revoke": _("role removed"),
        },
        "field": {
            "name": _("name"),
            "phone": _("phone number"),
            "birth_year": _("year of birth"),
            "is_organisation": _("organisation"),
            "floor_area": _("floor area"),
            "number": _("number"),
            "grid": _("grid"),
            "building": _("building"),
            "entrance": _("entrance"),
            "ref": _("reference"),
            "relation": _("relation"),
            "since": _("since"),
            "until": _("until"),
            "is_representative": _("household representative"),
            "unit": _("household"),
            "person": _("person"),
            "account": _("account"),
            "role": _("role"),
        },
    }
    return words[kind].get(key, key)
