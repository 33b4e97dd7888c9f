"""Importing the register from the residents' committee's CSV or XLSX files.

Two kinds of file, told apart by their header:

* buildings: ``grid, building`` (optional ``grid_name``) — creates grids and buildings;
* households: ``building, entrance, unit, floor_area, person_ref, name, relation`` (optional
  ``phone, birth_year, since, until, representative, organisation``) — one row per person and unit.

Every row is validated before anything is written; a file with any bad row writes nothing and the
report names each bad row by its line number. Rows are matched on stable keys (grid number,
building number, building+entrance+unit, person_ref), so importing the same file again changes
nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import log
from app.accounts import PHONE_RE
from app.i18n import gettext as _
from app.models import (
    Building,
    Community,
    Grid,
    Person,
    RegisterChange,
    Relation,
    Unit,
    UnitLink,
    utcnow,
)
from audit.entries import canonical_json

MAX_ROWS = 50_000

# Canonical column names and the Chinese headers the residents' committee uses for them.
ALIASES = {
    "grid": ("grid", "网格", "网格编号"),
    "grid_name": ("grid_name", "网格名称"),
    "building": ("building", "楼栋", "楼号", "楼栋号"),
    "entrance": ("entrance", "单元"),
    "unit": ("unit", "户号", "房号"),
    "floor_area": ("floor_area", "面积", "专有部分面积", "建筑面积"),
    "person_ref": ("person_ref", "居民编号", "人员编号"),
    "name": ("name", "姓名"),
    "phone": ("phone", "手机", "手机号", "电话"),
    "relation": ("relation", "关系", "与房屋关系"),
    "birth_year": ("birth_year", "出生年份"),
    "since": ("since", "起始日期", "入住日期"),
    "until": ("until", "终止日期", "迁出日期"),
    "representative": ("representative", "户代表"),
    "organisation": ("organisation", "单位"),
}
_HEADER_LOOKUP = {alias: name for name, aliases in ALIASES.items() for alias in aliases}

BUILDING_COLUMNS = ("grid", "building")
HOUSEHOLD_COLUMNS = ("building", "entrance", "unit", "floor_area", "person_ref", "name", "relation")

RELATION_WORDS = {
    "owner": Relation.owner,
    "业主": Relation.owner,
    "产权人": Relation.owner,
    "co_owner": Relation.co_owner,
    "共有人": Relation.co_owner,
    "共有业主": Relation.co_owner,
    "tenant": Relation.tenant,
    "租户": Relation.tenant,
    "租客": Relation.tenant,
    "family": Relation.family,
    "家庭成员": Relation.family,
    "家属": Relation.family,
}
TRUE_WORDS = {"1", "yes", "y", "true", "是", "√"}
FALSE_WORDS = {"", "0", "no", "n", "false", "否"}


@dataclass(frozen=True)
class RowError:
    line: int  # 1-based, the header being line 1
    column: str | None
    message: str


class ImportRejected(Exception):
    """The file was refused as a whole; ``errors`` says where and why."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} problem(s) in the file")
        self.errors = errors


@dataclass
class ImportReport:
    kind: str
    rows: int
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())


# ---------------------------------------------------------------- reading files


def read_rows(filename: str, data: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Return the canonical header and (line number, row) pairs of a CSV or XLSX file."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        table = _xlsx_table(data)
    elif lower.endswith((".csv", ".txt")):
        table = list(csv.reader(io.StringIO(_decode(data))))
    else:
        raise ImportRejected(
            [RowError(0, None, _("Unsupported file type: use a .csv or .xlsx file."))]
        )
    while table and not any(cell.strip() for cell in table[-1]):
        table.pop()
    if not table:
        raise ImportRejected([RowError(1, None, _("The file is empty."))])
    header = [_canonical_header(cell) for cell in table[0]]
    problems = [
        RowError(1, raw, _("Unknown column “%(column)s”.", column=raw))
        for raw, name in zip(table[0], header, strict=True)
        if name is None and raw.strip()
    ]
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            problems.append(RowError(1, name, _("Column “%(column)s” appears twice.", column=name)))
        seen.add(name or "")
    if problems:
        raise ImportRejected(problems)
    if len(table) - 1 > MAX_ROWS:
        raise ImportRejected(
            [RowError(0, None, _("Too many rows: at most %(n)s per file.", n=MAX_ROWS))]
        )
    rows = []
    overflowing = []  # every such row is reported, not only the first
    for line, cells in enumerate(table[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
            overflowing.append(RowError(line, None, _("This row has more cells than the header.")))
        rows.append(
            (
                line,
                {
                    name: (cells[i].strip() if i < len(cells) else "")
                    for i, name in enumerate(header)
                    if name
                },
            )
        )
    if overflowing:
        raise ImportRejected(overflowing)
    return [name for name in header if name], rows


def _canonical_header(cell: str) -> str | None:
    return _HEADER_LOOKUP.get(cell.strip().lstrip("\ufeff").lower()) or _HEADER_LOOKUP.get(
        cell.strip()
    )


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030, the superset of the GBK that Excel writes here."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportRejected(
        [
            RowError(
                0,
                None,
                _("The file's text encoding is not recognised: save it as UTF-8 or GBK CSV."),
            )
        ]
    )


def _xlsx_table(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook  # imported here: only uploads of .xlsx pay for it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise ImportRejected(
            [RowError(0, None, _("The .xlsx file cannot be read: %(error)s", error=str(error)))]
        ) from error
    sheet = workbook.worksheets[0]
    table = [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    workbook.close()
    return table


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------- validating rows


@dataclass(frozen=True)
class BuildingRow:
    line: int
    grid: int
    grid_name: str
    building: str


@dataclass(frozen=True)
class HouseholdRow:
    line: int
    building: str
    entrance: str
    unit: str
    floor_area: Decimal
    person_ref: str
    name: str
    phone: str | None
    relation: Relation | None
    birth_year: int | None
    since: date | None
    until: date | None
    representative: bool
    organisation: bool

    @property
    def unit_key(self) -> tuple[str, str, str]:
        return self.building, self.entrance, self.unit


class _Checker:
    """Collects every problem of every row instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []

    def fail(self, line: int, column: str | None, message: str) -> None:
        self.errors.append(RowError(line, column, message))

    def required(self, line: int, row: dict[str, str], column: str) -> str:
        value = row.get(column, "")
        if not value:
            self.fail(line, column, _("“%(column)s” is missing.", column=column))
        return value

    def text(self, line: int, row: dict[str, str], column: str, max_length: int) -> str:
        value = self.required(line, row, column)
        if len(value) > max_length:
            self.fail(
                line,
                column,
                _("“%(column)s” is longer than %(n)s characters.", column=column, n=max_length),
            )
        return value

    def flag(self, line: int, row: dict[str, str], column: str) -> bool:
        value = row.get(column, "").lower()
        if value in TRUE_WORDS:
            return True
        if value not in FALSE_WORDS:
            self.fail(line, column, _("“%(value)s” is not yes or no (是/否).", value=value))
        return False

    def day(self, line: int, row: dict[str, str], column: str) -> date | None:
        value = row.get(column, "")
        if not value:
            return None
        match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", value)
        try:
            if match:
                return date(*(int(part) for part in match.groups()))
        except ValueError:
            pass
        self.fail(line, column, _("“%(value)s” is not a date like 2021-05-01.", value=value))
        return None


def validate_buildings(rows: list[tuple[int, dict[str, str]]]) -> list[BuildingRow]:
    check = _Checker()
    result: list[BuildingRow] = []
    first_line: dict[str, int] = {}
    grid_names: dict[int, tuple[str, int]] = {}
    for line, row in rows:
        grid_text = check.required(line, row, "grid")
        building = check.text(line, row, "building", 20)
        grid = 0
        if grid_text:
            if grid_text.isdecimal() and 0 < int(grid_text) < 1000:
                grid = int(grid_text)
            else:
                check.fail(
                    line,
                    "grid",
                    _("The grid must be a number from 1 to 999, not “%(value)s”.", value=grid_text),
                )
        if building in first_line:
            check.fail(
                line,
                "building",
                _(
                    "Building %(building)s is already listed on line %(other)s.",
                    building=building,
                    other=first_line[building],
                ),
            )
        first_line.setdefault(building, line)
        # An empty name leaves an existing grid's name alone (and names a new one by number).
        grid_name = row.get("grid_name", "")
        named = grid_names.setdefault(grid, (grid_name, line))
        if grid_name and named[0] and named[0] != grid_name:
            check.fail(
                line,
                "grid_name",
                _(
                    "Grid %(n)s is named “%(other)s” on line %(line)s.",
                    n=grid,
                    other=named[0],
                    line=named[1],
                ),
            )
        result.append(BuildingRow(line, grid, grid_name[:50], building))
    if check.errors:
        raise ImportRejected(check.errors)
    return result


def validate_households(rows: list[tuple[int, dict[str, str]]]) -> list[HouseholdRow]:
    result, errors = _check_households(rows)
    if errors:
        raise ImportRejected(errors)
    return result


def _check_households(
    rows: list[tuple[int, dict[str, str]]],
) -> tuple[list[HouseholdRow], list[RowError]]:
    """The rows as far as they can be read, and every problem found in them."""
    check = _Checker()
    result: list[HouseholdRow] = []
    this_year = date.today().year
    for line, row in rows:
        building = check.text(line, row, "building", 20)
        entrance = check.text(line, row, "entrance", 10)
        unit = check.text(line, row, "unit", 20)
        area_text = check.required(line, row, "floor_area")
        area = Decimal(0)
        if area_text:
            try:
                parsed = Decimal(area_text)
                if (
                    not parsed.is_finite()
                    or parsed <= 0
                    or parsed >= 10000
                    or parsed.as_tuple().exponent < -2
                ):
                    raise InvalidOperation
                area = parsed  # stays 0 when invalid: NaN would even differ from itself
            except InvalidOperation:
                check.fail(
                    line,
                    "floor_area",
                    _(
                        "The floor area must be a positive number of m² with at most two decimals, not “%(value)s”.",
                        value=area_text,
                    ),
                )
        person_fields = (row.get("person_ref", ""), row.get("name", ""), row.get("relation", ""))
        person_ref = name = ""
        relation: Relation | None = None
        phone: str | None = None
        birth_year: int | None = None
        if any(person_fields):  # a row without a person lists a vacant unit
            person_ref = check.text(line, row, "person_ref", 40)
            name = check.text(line, row, "name", 60)
            relation_text = check.required(line, row, "relation")
            relation = RELATION_WORDS.get(relation_text.lower())
            if relation_text and relation is None:
                check.fail(
                    line,
                    "relation",
                    _(
                        "Unknown relation “%(value)s”: use 业主, 共有人, 租户 or 家庭成员.",
                        value=relation_text,
                    ),
                )
            phone_text = re.sub(r"[\s-]", "", row.get("phone", ""))
            if phone_text:
                if PHONE_RE.match(phone_text):
                    phone = phone_text
                else:
                    check.fail(
                        line,
                        "phone",
                        _("“%(value)s” is not an 11-digit mobile number.", value=row["phone"]),
                    )
            year_text = row.get("birth_year", "")
            if year_text:
                if year_text.isdecimal() and 1900 <= int(year_text) <= this_year:
                    birth_year = int(year_text)
                else:
                    check.fail(
                        line,
                        "birth_year",
                        _("“%(value)s” is not a year of birth.", value=year_text),
                    )
        result.append(
            HouseholdRow(
                line=line,
                building=building,
                entrance=entrance,
                unit=unit,
                floor_area=area,
                person_ref=person_ref,
                name=name,
                phone=phone,
                relation=relation,
                birth_year=birth_year,
                since=check.day(line, row, "since"),
                until=check.day(line, row, "until"),
                representative=check.flag(line, row, "representative"),
                organisation=check.flag(line, row, "organisation"),
            )
        )
    _check_consistency(result, check)
    return result, check.errors


def _check_consistency(rows: list[HouseholdRow], check: _Checker) -> None:
    """Rows that each look fine but contradict one another."""
    unit_area: dict[tuple[str, str, str], HouseholdRow] = {}
    person: dict[str, HouseholdRow] = {}
    phone_owner: dict[str, HouseholdRow] = {}
    links: dict[tuple[tuple[str, str, str], str], HouseholdRow] = {}
    owners: dict[tuple[str, str, str], list[HouseholdRow]] = {}
    for row in rows:
        # A row whose area is already refused (left at 0) is not compared with the others.
        first = unit_area.setdefault(row.unit_key, row) if row.floor_area else row
        if first.floor_area != row.floor_area:
            check.fail(
                row.line,
                "floor_area",
                _(
                    "Unit %(unit)s has floor area %(a)s here but %(b)s on line %(other)s.",
                    unit="-".join(row.unit_key),
                    a=row.floor_area,
                    b=first.floor_area,
                    other=first.line,
                ),
            )
        if not row.person_ref:
            continue
        known = person.setdefault(row.person_ref, row)
        if (known.name, known.phone, known.birth_year, known.organisation) != (
            row.name,
            row.phone,
            row.birth_year,
            row.organisation,
        ):
            check.fail(
                row.line,
                "person_ref",
                _(
                    "Person %(ref)s is described differently on line %(other)s.",
                    ref=row.person_ref,
                    other=known.line,
                ),
            )
        if row.phone:
            holder = phone_owner.setdefault(row.phone, row)
            if holder.person_ref != row.person_ref:
                check.fail(
                    row.line,
                    "phone",
                    _(
                        "Phone %(phone)s already belongs to person %(ref)s on line %(other)s.",
                        phone=row.phone,
                        ref=holder.person_ref,
                        other=holder.line,
                    ),
                )
        duplicate = links.setdefault((row.unit_key, row.person_ref), row)
        if duplicate is not row:
            check.fail(
                row.line,
                None,
                _(
                    "Duplicate row: person %(ref)s and unit %(unit)s are already on line %(other)s.",
                    ref=row.person_ref,
                    unit="-".join(row.unit_key),
                    other=duplicate.line,
                ),
            )
        if row.relation in (Relation.owner, Relation.co_owner):
            owners.setdefault(row.unit_key, []).append(row)
    for unit_key, unit_owners in owners.items():
        kinds = [r.relation for r in unit_owners]
        if kinds.count(Relation.owner) > 1 or (
            Relation.owner in kinds and Relation.co_owner in kinds
        ):
            check.fail(
                unit_owners[-1].line,
                "relation",
                _(
                    "Unit %(unit)s has more than one owner (业主): list them all as co-owners (共有人).",
                    unit="-".join(unit_key),
                ),
            )


# ---------------------------------------------------------------- writing


async def import_file(
    session: AsyncSession, community: Community, filename: str, data: bytes, actor_id: int | None
) -> ImportReport:
    """Validate the whole file, then write it in one transaction (or write nothing)."""
    header, rows = read_rows(filename, data)
    if set(HOUSEHOLD_COLUMNS) <= set(header):
        # The problems found against the register are reported together with these.
        parsed, errors = _check_households(rows)
        return await apply_households(
            session, community, parsed, actor_id, columns=set(header), errors=errors
        )
    if set(BUILDING_COLUMNS) <= set(header) and "unit" not in header:
        return await apply_buildings(session, community, validate_buildings(rows), actor_id)
    missing = (
        [c for c in HOUSEHOLD_COLUMNS if c not in header]
        if "unit" in header
        else [c for c in BUILDING_COLUMNS if c not in header]
    )
    raise ImportRejected(
        [
            RowError(
                1,
                None,
                _(
                    "The header lacks these columns: %(columns)s. A buildings file has the columns %(buildings)s; a households file has %(households)s.",
                    columns=_column_names(missing),
                    buildings=_column_names(BUILDING_COLUMNS),
                    households=_column_names(HOUSEHOLD_COLUMNS),
                ),
            )
        ]
    )


def _column_names(columns: Iterable[str]) -> str:
    """Columns as the committee writes them, with the English name: 楼栋 (building)."""
    return ", ".join(f"{ALIASES[c][1]} ({c})" for c in columns)


class _Changes:
    def __init__(self, community_id: int, actor_id: int | None, kind: str, rows: int):
        self.community_id = community_id
        self.actor_id = actor_id
        self.report = ImportReport(kind=kind, rows=rows)
        self.records: list[RegisterChange] = []

    def created(self, entity: str, entity_id: int, values: dict[str, Any]) -> None:
        self.report.created[entity] = self.report.created.get(entity, 0) + 1
        self._record(
            entity, entity_id, "import.create", {k: [None, _json(v)] for k, v in values.items()}
        )

    def updated(
        self, entity: str, entity_id: int, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        diff = {k: [_json(before[k]), _json(v)] for k, v in after.items() if before[k] != v}
        if diff:
            self.report.updated[entity] = self.report.updated.get(entity, 0) + 1
            self._record(entity, entity_id, "import.update", diff)

    async def save(self, session: AsyncSession) -> None:
        """The history records, and one public log entry for the whole import (by counts and a
        digest of the changes: the log is public, the register's personal data is not)."""
        session.add_all(self.records)
        if not self.report.changed:
            return
        digest = hashlib.sha256(
            canonical_json([[r.entity, r.entity_id, r.action, r.changes] for r in self.records])
        ).hexdigest()
        await log.append(
            session,
            self.community_id,
            "register.changed",
            {
                "action": "import",
                "created": self.report.created,
                "digest": digest,
                "kind": self.report.kind,
                "rows": self.report.rows,
                "updated": self.report.updated,
            },
        )

    def _record(self, entity: str, entity_id: int, action: str, changes: dict[str, Any]) -> None:
        self.records.append(
            RegisterChange(
                community_id=self.community_id,
                actor_id=self.actor_id,
                at=utcnow(),
                entity=entity,
                entity_id=entity_id,
                action=action,
                changes=changes,
            )
        )


def _json(value: Any) -> Any:
    return str(value) if isinstance(value, (Decimal, date)) else value


async def apply_buildings(
    session: AsyncSession, community: Community, rows: list[BuildingRow], actor_id: int | None
) -> ImportReport:
    cid = community.id
    assert cid is not None
    changes = _Changes(cid, actor_id, "buildings", len(rows))
    grids = {
        g.number: g
        for g in (await session.execute(select(Grid).where(Grid.community_id == cid))).scalars()
    }
    buildings = {
        b.number: b
        for b in (
            await session.execute(select(Building).where(Building.community_id == cid))
        ).scalars()
    }
    for row in rows:
        grid = grids.get(row.grid)
        if grid is None:
            name = row.grid_name or _("Grid %(n)s", n=row.grid)
            grid = grids[row.grid] = Grid(community_id=cid, number=row.grid, name=name)
            session.add(grid)
            await session.flush()
            changes.created("grid", grid.id, {"number": row.grid, "name": name})
        elif row.grid_name and grid.name != row.grid_name:
            changes.updated("grid", grid.id, {"name": grid.name}, {"name": row.grid_name})
            grid.name = row.grid_name
        building = buildings.get(row.building)
        if building is None:
            building = buildings[row.building] = Building(
                community_id=cid, grid_id=grid.id, number=row.building
            )
            session.add(building)
            await session.flush()
            changes.created("building", building.id, {"number": row.building, "grid": row.grid})
        elif building.grid_id != grid.id:
            old_grid = next(g.number for g in grids.values() if g.id == building.grid_id)
            changes.updated("building", building.id, {"grid": old_grid}, {"grid": row.grid})
            building.grid_id = grid.id  # type: ignore[assignment]
    await changes.save(session)
    await session.commit()
    return changes.report


# Optional columns and the attributes they set: a file without the column leaves them alone.
OPTIONAL_ATTRIBUTES = {
    "phone": "phone",
    "birth_year": "birth_year",
    "organisation": "is_organisation",
    "since": "since",
    "until": "until",
    "representative": "is_representative",
}


async def apply_households(
    session: AsyncSession,
    community: Community,
    rows: list[HouseholdRow],
    actor_id: int | None,
    *,
    columns: set[str] | None = None,
    errors: Iterable[RowError] = (),
) -> ImportReport:
    """Write validated rows; ``errors`` found earlier are reported with the register's own.

    ``columns`` names the file's columns (None: all of them).
    """
    absent = {
        attribute
        for column, attribute in OPTIONAL_ATTRIBUTES.items()
        if columns is not None and column not in columns
    }
    cid = community.id
    assert cid is not None
    buildings = {
        b.number: b
        for b in (
            await session.execute(select(Building).where(Building.community_id == cid))
        ).scalars()
    }
    unknown = [
        RowError(
            r.line,
            "building",
            _(
                "Unknown building “%(building)s”: import the buildings file first.",
                building=r.building,
            ),
        )
        for r in rows
        if r.building and r.building not in buildings
    ]

    units = {
        (u.building_id, u.entrance, u.number): u
        for u in (await session.execute(select(Unit).where(Unit.community_id == cid))).scalars()
    }
    people = {
        p.ref: p
        for p in (await session.execute(select(Person).where(Person.community_id == cid))).scalars()
    }
    links = {
        (link.unit_id, link.person_id): link
        for link in (
            await session.execute(select(UnitLink).where(UnitLink.community_id == cid))
        ).scalars()
    }
    problems = [*errors, *unknown, *_phones_held_in_register(rows, people)]
    if problems:
        raise ImportRejected(sorted(problems, key=lambda e: e.line))

    changes = _Changes(cid, actor_id, "households", len(rows))
    new_units: list[tuple[Unit, HouseholdRow]] = []
    for row in rows:
        key = (buildings[row.building].id, row.entrance, row.unit)
        unit = units.get(key)
        if unit is None:
            unit = units[key] = Unit(
                community_id=cid,
                building_id=key[0],
                entrance=row.entrance,
                number=row.unit,
                floor_area=row.floor_area,
            )
            new_units.append((unit, row))
        elif unit.floor_area != row.floor_area:
            changes.updated(
                "unit", unit.id, {"floor_area": unit.floor_area}, {"floor_area": row.floor_area}
            )
            unit.floor_area = row.floor_area
    new_people: list[Person] = []
    for row in rows:
        if not row.person_ref:
            continue
        values = {
            "name": row.name,
            "phone": row.phone,
            "birth_year": row.birth_year,
            "is_organisation": row.organisation,
        }
        found = people.get(row.person_ref)
        if found is None:
            found = people[row.person_ref] = Person(community_id=cid, ref=row.person_ref, **values)
            new_people.append(found)
        elif found.id is not None:
            values = {k: v for k, v in values.items() if k not in absent}
            before = {k: getattr(found, k) for k in values}
            changes.updated("person", found.id, before, values)
            for k, v in values.items():
                setattr(found, k, v)
    session.add_all([u for u, _row in new_units] + new_people)
    await session.flush()
    for unit, row in new_units:
        changes.created(
            "unit",
            unit.id,
            {
                "building": row.building,
                "entrance": row.entrance,
                "number": row.unit,
                "floor_area": row.floor_area,
            },
        )
    for p in new_people:
        changes.created("person", p.id, {"ref": p.ref, "name": p.name, "phone": p.phone})

    new_links: list[UnitLink] = []
    for row in rows:
        if not row.person_ref or row.relation is None:
            continue
        unit = units[(buildings[row.building].id, row.entrance, row.unit)]
        person = people[row.person_ref]
        values = {
            "relation": row.relation.value,
            "since": row.since,
            "until": row.until,
            "is_representative": row.representative,
        }
        link = links.get((unit.id, person.id))
        if link is None:
            link = UnitLink(community_id=cid, unit_id=unit.id, person_id=person.id, **values)
            links[(unit.id, person.id)] = link
            new_links.append(link)
        else:
            values = {k: v for k, v in values.items() if k not in absent}
            changes.updated("unit_link", link.id, {k: getattr(link, k) for k in values}, values)
            for k, v in values.items():
                setattr(link, k, v)
    session.add_all(new_links)
    await session.flush()
    for link in new_links:
        changes.created(
            "unit_link",
            link.id,
            {"unit": link.unit_id, "person": link.person_id, "relation": link.relation},
        )
    await changes.save(session)
    await session.commit()
    return changes.report


def _phones_held_in_register(
    rows: Iterable[HouseholdRow], people: dict[str, Person]
) -> list[RowError]:
    """A phone number identifies one person: a file may not give someone else's number."""
    holder = {p.phone: p for p in people.values() if p.phone}
    return [
        RowError(
            r.line,
            "phone",
            _(
                "Phone %(phone)s already belongs to %(name)s (%(ref)s) in the register.",
                phone=r.phone,
                name=holder[r.phone].name,
                ref=holder[r.phone].ref,
            ),
        )
        for r in rows
        if r.phone and r.phone in holder and holder[r.phone].ref != r.person_ref
    ]
