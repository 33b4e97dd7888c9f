"""Register import and export: every bad row named by line and reason, nothing half-written.

The import is exercised directly (``import_file``), through the admin upload page, through the
JSON API and through the ``yishi register`` command line. Messages are checked in English (the
CLI through YISHI_LANG, the pages through the language cookie); one test checks the Chinese default.
"""

from __future__ import annotations

import html
import io
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from sqlalchemy import select
from sqlmodel import SQLModel

from app import i18n
from app.cli import main as cli
from app.factory import MAX_UPLOAD_BYTES
from app.models import Community, Person, RegisterChange, Unit, UnitLink
from app.register_import import ImportRejected, ImportReport, import_file
from app.settings import normalise_database_url
from tests.app.conftest import BUILDINGS_CSV, HOUSEHOLDS_CSV, Client, World, seed
from tests.conftest import Database, _pg_execute, _pg_url

HEADER = "building,entrance,unit,floor_area,person_ref,name,phone,relation"
FULL_HEADER = HEADER + ",birth_year,since,until,representative,organisation"
ZH_HEADER = "楼栋,单元,户号,面积,居民编号,姓名,手机号,关系,出生年份,起始日期,终止日期,户代表,单位"
REGISTER_TABLES = ("grid", "building", "unit", "person", "unit_link", "register_change")


def households(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join((header, *rows)) + "\n").encode()


# ---------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def default_language_afterwards() -> Iterator[None]:
    """The CLI sets the language of the thread it runs in: do not leak it into other tests."""
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


def run_import(
    db: Database, filename: str, data: bytes, actor_id: int | None = None, slug: str = "z"
) -> ImportReport:
    """``import_file`` with the messages in English."""

    async def work(session: Any) -> ImportReport:
        i18n.set_language("en")
        community = (
            await session.execute(select(Community).where(Community.slug == slug))
        ).scalar_one()
        return await import_file(session, community, filename, data, actor_id)

    return db.run(work)


def rejected(db: Database, filename: str, data: bytes) -> list[tuple[int, str]]:
    with pytest.raises(ImportRejected) as caught:
        run_import(db, filename, data)
    return [(e.line, e.message) for e in caught.value.errors]


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every register table: equal snapshots mean nothing was written."""

    async def work(session: Any) -> dict[str, list[tuple[Any, ...]]]:
        result = {}
        for name in REGISTER_TABLES:
            table = SQLModel.metadata.tables[name]
            rows = await session.execute(select(table).order_by(table.c.id))
            result[name] = [tuple(row) for row in rows]
        return result

    return db.run(work)


def changes_of(db: Database) -> list[RegisterChange]:
    async def work(session: Any) -> list[RegisterChange]:
        return list(
            (await session.execute(select(RegisterChange).order_by(RegisterChange.id))).scalars()
        )

    return db.run(work)


def person_by_ref(db: Database, ref: str) -> tuple[Person, list[tuple[UnitLink, Unit]]]:
    async def work(session: Any) -> tuple[Person, list[tuple[UnitLink, Unit]]]:
        person = (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()
        links = await session.execute(
            select(UnitLink, Unit)
            .join(Unit, Unit.id == UnitLink.unit_id)
            .where(UnitLink.person_id == person.id)
        )
        return person, list(links.all())

    return db.run(work)


def unit_area(db: Database, entrance: str, number: str) -> Decimal:
    """The floor area of a unit of community z."""

    async def work(session: Any) -> Decimal:
        return (
            await session.execute(
                select(Unit.floor_area)
                .join(Community, Community.id == Unit.community_id)
                .where(Community.slug == "z", Unit.entrance == entrance, Unit.number == number)
            )
        ).scalar_one()

    return db.run(work)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def seeded_once(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One seeded database per backend for the whole table of bad files: a refused file writes
    nothing (each case proves it), so the cases can share it and stay fast."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("bad-imports") / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db = Database("sqlite", normalise_database_url(f"sqlite:///{path}"))
        yield World(db, db.run(seed))
        return
    template = request.getfixturevalue("postgres_template")
    name = f"yishi_test_{os.getpid()}_bad_imports"
    import asyncio

    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        db = Database("postgres", _pg_url(name))
        yield World(db, db.run(seed))
    finally:
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def xlsx(rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- bad files, directly

TWO_OWNERS = "Unit 1-1-103 has more than one owner (业主): list them all as co-owners (共有人)."
AREA = "The floor area must be a positive number of m² with at most two decimals, not “{}”."
HOUSEHOLD_COLUMNS = (
    "楼栋 (building), 单元 (entrance), 户号 (unit), 面积 (floor_area), 居民编号 (person_ref), "
    "姓名 (name), 关系 (relation)"
)

# A new unit 1-1-103 and new people P100/P101 unless the case is about the existing register.
BAD_FILES = [
    pytest.param(
        "h.csv",
        households("1,1,101,86.45,P001,王秀英,13800000001,owner", "9,1,901,50,P100,周新,,owner"),
        [(3, "Unknown building “9”: import the buildings file first.")],
        id="unknown-building",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,-5,P100,周新,,owner"),
        [(2, AREA.format("-5"))],
        id="negative-area",
    ),
    pytest.param(
        "h.csv", households("1,1,103,0,P100,周新,,owner"), [(2, AREA.format("0"))], id="zero-area"
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,八十,P100,周新,,owner"),
        [(2, AREA.format("八十"))],
        id="non-numeric-area",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,NaN,P100,周新,,owner"),
        [(2, AREA.format("NaN"))],
        id="nan-area",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner", "1,1,103,5O,P101,吴敏,,family"),
        [(3, AREA.format("5O"))],  # not also "floor area 0 here but 50 on line 2"
        id="bad-area-of-a-unit-listed-twice",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50.125,P100,周新,,owner"),
        [(2, AREA.format("50.125"))],
        id="three-decimals",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,10000,P100,周新,,owner"),
        [(2, AREA.format("10000"))],
        id="area-too-large",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,,P100,周新,,owner"),
        [(2, "“floor_area” is missing.")],
        id="missing-area",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner", "1,1,103,51,P101,吴敏,,family"),
        [(3, "Unit 1-1-103 has floor area 51 here but 50 on line 2.")],
        id="duplicate-unit-different-area",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner", "1,1,103,50,P100,周新,,family"),
        [(3, "Duplicate row: person P100 and unit 1-1-103 are already on line 2.")],
        id="duplicate-person-and-unit",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,,,owner"),
        [(2, "“name” is missing.")],
        id="missing-name",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,,周新,,owner"),
        [(2, "“person_ref” is missing.")],
        id="missing-person-ref",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,"),
        [(2, "“relation” is missing.")],
        id="missing-relation",
    ),
    pytest.param(
        "h.csv",
        households(",1,103,50,P100,周新,,owner"),
        [(2, "“building” is missing.")],
        id="missing-building",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,1380000000,owner"),
        [(2, "“1380000000” is not an 11-digit mobile number.")],
        id="phone-too-short",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,23800000001,owner"),
        [(2, "“23800000001” is not an 11-digit mobile number.")],
        id="phone-not-mobile",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,1390000000x,owner"),
        [(2, "“1390000000x” is not an 11-digit mobile number.")],
        id="phone-with-letter",
    ),
    pytest.param(
        "h.csv",
        households(
            "1,1,103,50,P100,周新,13900000001,owner", "1,1,103,50,P101,吴敏,13900000001,family"
        ),
        [(3, "Phone 13900000001 already belongs to person P100 on line 2.")],
        id="phone-of-another-person-in-file",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,13800000001,owner"),
        [(2, "Phone 13800000001 already belongs to 王秀英 (P001) in the register.")],
        id="phone-of-another-person-in-register",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner", "1,1,104,60,P100,周心,,owner"),
        [(3, "Person P100 is described differently on line 2.")],
        id="same-person-described-differently",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,房东"),
        [(2, "Unknown relation “房东”: use 业主, 共有人, 租户 or 家庭成员.")],
        id="unknown-relation",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner", "1,1,103,50,P101,吴敏,,业主"),
        [(3, TWO_OWNERS)],
        id="two-sole-owners",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,业主", "1,1,103,50,P101,吴敏,,共有人"),
        [(3, TWO_OWNERS)],
        id="sole-owner-and-co-owner",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner,1970,2021-13-01,,,", header=FULL_HEADER),
        [(2, "“2021-13-01” is not a date like 2021-05-01.")],
        id="impossible-date",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner,1970,,last spring,,", header=FULL_HEADER),
        [(2, "“last spring” is not a date like 2021-05-01.")],
        id="date-in-words",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner,1850,,,,", header=FULL_HEADER),
        [(2, "“1850” is not a year of birth.")],
        id="bad-birth-year",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner,,,,maybe,", header=FULL_HEADER),
        [(2, "“maybe” is not yes or no (是/否).")],
        id="bad-yes-no",
    ),
    pytest.param(
        "h.csv",
        households("1,1," + "9" * 21 + ",50,P100,周新,,owner"),
        [(2, "“unit” is longer than 20 characters.")],
        id="unit-too-long",
    ),
    pytest.param(
        "h.csv",
        "楼,门,房\n1,1,101\n".encode(),
        [(1, "Unknown column “楼”."), (1, "Unknown column “门”."), (1, "Unknown column “房”.")],
        id="wrong-header",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner,x", header=HEADER + ",备注"),
        [(1, "Unknown column “备注”.")],
        id="unknown-column",
    ),
    pytest.param(
        "h.csv",
        households(
            "1,1,103,50,P100,周新,周新,owner",
            header="building,entrance,unit,floor_area,person_ref,name,姓名,relation",
        ),
        [(1, "Column “name” appears twice.")],
        id="duplicated-column",
    ),
    pytest.param(
        "h.csv",
        households(
            "1,1,103,50,P100,周新,",
            header="building,entrance,unit,floor_area,person_ref,name,phone",
        ),
        [
            (
                1,
                "The header lacks these columns: 关系 (relation). A buildings file has the "
                f"columns 网格 (grid), 楼栋 (building); a households file has {HOUSEHOLD_COLUMNS}.",
            )
        ],
        id="missing-column",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner", "1,1,104,50,P101,吴敏,,owner,surplus"),
        [(3, "This row has more cells than the header.")],
        id="more-cells-than-header",
    ),
    pytest.param(
        "h.csv",
        households(
            "1,1,103,50,P100,周新,,owner,x",
            "1,1,104,50,P101,吴敏,,owner",
            "1,1,105,50,P102,郑洁,,owner,,y",
        ),
        [
            (2, "This row has more cells than the header."),
            (4, "This row has more cells than the header."),
        ],
        id="every-row-with-more-cells",
    ),
    pytest.param("h.csv", b"", [(1, "The file is empty.")], id="empty-file"),
    pytest.param("h.csv", b"\n  \n,,,\n", [(1, "The file is empty.")], id="blank-lines-only"),
    pytest.param(
        "register.xls",
        households("1,1,103,50,P100,周新,,owner"),
        [(0, "Unsupported file type: use a .csv or .xlsx file.")],
        id="unsupported-extension",
    ),
    pytest.param(
        "h.csv",
        (ZH_HEADER + "\n1,1,103,50,P100,周新,,业主,,,,,\n").encode("utf-16"),
        [(0, "The file's text encoding is not recognised: save it as UTF-8 or GBK CSV.")],
        id="utf16-encoding",
    ),
    pytest.param(
        "b.csv",
        b"grid,building\nx,9\n",
        [(2, "The grid must be a number from 1 to 999, not “x”.")],
        id="buildings-bad-grid",
    ),
    pytest.param(
        "b.csv",
        b"grid,building\n1,9\n2,9\n",
        [(3, "Building 9 is already listed on line 2.")],
        id="buildings-duplicate",
    ),
    pytest.param(
        "b.csv", b"grid,building\n1,\n", [(2, "“building” is missing.")], id="buildings-no-number"
    ),
]


@pytest.mark.parametrize(("filename", "data", "expected"), BAD_FILES)
def test_bad_file_names_line_and_reason_and_writes_nothing(
    seeded_once: World, filename: str, data: bytes, expected: list[tuple[int, str]]
) -> None:
    before = snapshot(seeded_once.db)
    assert rejected(seeded_once.db, filename, data) == expected
    assert snapshot(seeded_once.db) == before


def test_damaged_xlsx_is_refused(seeded_once: World) -> None:
    before = snapshot(seeded_once.db)
    [(line, message)] = rejected(seeded_once.db, "register.xlsx", b"PK\x03\x04 not a workbook")
    assert line == 0
    assert message.startswith("The .xlsx file cannot be read: ")
    # A CSV renamed to .xlsx is not read as text either.
    [(line, message)] = rejected(
        seeded_once.db, "renamed.xlsx", households("1,1,103,50,P1,周,,owner")
    )
    assert message.startswith("The .xlsx file cannot be read: ")
    assert snapshot(seeded_once.db) == before


def test_every_bad_row_is_reported_with_its_physical_line(seeded_once: World) -> None:
    """All problems of all rows at once; a blank line still counts when numbering lines."""
    data = households(
        "1,1,103,-1,P100,周新,,owner",  # line 2
        "1,1,104,50,P101,吴敏,,owner",  # line 3: good
        "",  # line 4: blank, skipped
        "1,1,105,50,P102,,12345,owner",  # line 5: two problems
        "1,1,106,50,P103,郑洁,,landlord",  # line 6
    )
    assert rejected(seeded_once.db, "h.csv", data) == [
        (2, AREA.format("-1")),
        (5, "“name” is missing."),
        (5, "“12345” is not an 11-digit mobile number."),
        (6, "Unknown relation “landlord”: use 业主, 共有人, 租户 or 家庭成员."),
    ]


def test_problems_found_against_the_register_are_reported_with_the_others(
    seeded_once: World,
) -> None:
    """An unknown building or a phone already in the register is as much a bad row as a bad
    area: the committee should see every bad row in one report, not one kind per upload."""
    data = households(
        "1,1,103,-1,P100,周新,,owner",
        "9,1,901,50,P101,吴敏,,owner",
        "1,1,104,50,P102,郑洁,13800000001,owner",
    )
    assert rejected(seeded_once.db, "h.csv", data) == [
        (2, AREA.format("-1")),
        (3, "Unknown building “9”: import the buildings file first."),
        (4, "Phone 13800000001 already belongs to 王秀英 (P001) in the register."),
    ]


def test_xlsx_errors_name_the_spreadsheet_row(seeded_once: World) -> None:
    data = xlsx(
        [
            HEADER.split(","),
            [1, 1, 103, 50, "P100", "周新", 13900000100, "业主"],
            [1, 1, 104, -2.5, "P101", "吴敏", None, "业主"],
        ]
    )
    assert rejected(seeded_once.db, "register.xlsx", data) == [(3, AREA.format("-2.5"))]


# ---------------------------------------------------------------- good files, directly


def test_gbk_encoded_csv_is_detected_and_read(world: World) -> None:
    text = ZH_HEADER + "\n3,2,302,75.25,P008,欧阳秀珍,13800000008,业主,1952,2020-10-01,,是,\n"
    data = text.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the test would prove nothing if GBK were also valid UTF-8
    report = run_import(world.db, "住户.csv", data)
    assert report.kind == "households"
    assert report.created == {"person": 1, "unit_link": 1}
    person, links = person_by_ref(world.db, "P008")
    assert (person.name, person.phone, person.birth_year) == ("欧阳秀珍", "13800000008", 1952)
    [(link, unit)] = links
    assert (unit.entrance, unit.number, link.relation) == ("2", "302", "owner")
    assert (link.since.isoformat(), link.is_representative) == ("2020-10-01", True)  # type: ignore[union-attr]


def test_gbk_buildings_file_with_chinese_grid_name(world: World) -> None:
    report = run_import(world.db, "楼栋.csv", "网格,网格名称,楼栋\n3,第三网格,4\n".encode("gbk"))
    assert report.created == {"grid": 1, "building": 1}
    assert changes_of(world.db)[-2].changes == {"number": [None, 3], "name": [None, "第三网格"]}


def test_utf8_csv_with_bom_and_chinese_header(world: World) -> None:
    data = ("\ufeff" + ZH_HEADER + "\n1,1,103,66.60,P100,周新,138 0000 0100,租户,,,,否,\n").encode()
    report = run_import(world.db, "h.csv", data)
    assert report.created == {"unit": 1, "person": 1, "unit_link": 1}
    person, [(link, unit)] = person_by_ref(world.db, "P100")
    assert (person.name, person.phone) == ("周新", "13800000100")  # spaces in the phone removed
    assert (unit.floor_area, link.relation) == (Decimal("66.60"), "tenant")


def test_xlsx_built_with_openpyxl_with_numbers_and_dates(world: World) -> None:
    data = xlsx(
        [
            FULL_HEADER.split(","),
            [
                1,
                1,
                103,
                86.45,
                "P100",
                "周新",
                13800000100,
                "业主",
                1966,
                datetime(2019, 4, 1),
                None,
                "是",
                None,
            ],
            [1, 1, 103, 86.45, "P101", "吴敏", None, "家庭成员", 1990, None, None, None, None],
            [1, 1, 104, 60, None, None, None, None, None, None, None, None, None],  # vacant
        ]
    )
    report = run_import(world.db, "register.xlsx", data)
    assert report.created == {"unit": 2, "person": 2, "unit_link": 2}
    assert unit_area(world.db, "1", "103") == Decimal("86.45")  # the float 86.45, exactly
    assert unit_area(world.db, "1", "104") == Decimal("60.00")
    person, [(link, _unit)] = person_by_ref(world.db, "P100")
    assert (person.phone, person.birth_year, link.since.isoformat()) == (
        "13800000100",
        1966,
        "2019-04-01",
    )  # type: ignore[union-attr]
    assert link.is_representative is True
    # The same workbook again changes nothing.
    before = snapshot(world.db)
    assert not run_import(world.db, "register.xlsx", data).changed
    assert snapshot(world.db) == before


def test_importing_the_same_files_again_changes_nothing(world: World) -> None:
    before = snapshot(world.db)
    for filename, text in (("b.csv", BUILDINGS_CSV), ("h.csv", HOUSEHOLDS_CSV)):
        report = run_import(world.db, filename, text.encode(), actor_id=world.ids["admin"])
        assert not report.changed
        assert (report.created, report.updated) == ({}, {})
    assert report.rows == 8
    assert snapshot(world.db) == before  # in particular no register_change rows


def test_a_changed_area_updates_the_unit_and_records_one_change(world: World) -> None:
    changed = HOUSEHOLDS_CSV.replace("1,1,101,86.45,", "1,1,101,88.00,")
    assert changed.count("88.00") == 2
    before = len(changes_of(world.db))
    report = run_import(world.db, "h.csv", changed.encode(), actor_id=world.ids["admin"])
    assert (report.created, report.updated) == ({}, {"unit": 1})
    assert unit_area(world.db, "1", "101") == Decimal("88.00")
    [change] = changes_of(world.db)[before:]
    assert (change.entity, change.action, change.actor_id) == (
        "unit",
        "import.update",
        world.ids["admin"],
    )
    assert change.changes == {"floor_area": ["86.45", "88.00"]}


def test_a_changed_name_updates_the_person_and_records_who(world: World) -> None:
    changed = HOUSEHOLDS_CSV.replace("P007,孙丽,", "P007,孙莉,")
    before = len(changes_of(world.db))
    report = run_import(world.db, "h.csv", changed.encode(), actor_id=world.ids["admin"])
    assert report.updated == {"person": 1}
    [change] = changes_of(world.db)[before:]
    assert (change.entity, change.entity_id, change.actor_id) == (
        "person",
        world.ids["P007"],
        world.ids["admin"],
    )
    assert change.changes == {"name": ["孙丽", "孙莉"]}


def test_a_file_without_optional_columns_leaves_those_values_alone(world: World) -> None:
    """A sheet that lacks the phone or birth-year column says nothing about them: importing it
    must not erase the phones and years already in the register."""
    before = snapshot(world.db)
    data = households("1,1,101,86.45,P001,王秀英,owner", header=HEADER.replace(",phone", ""))
    report = run_import(world.db, "h.csv", data)
    assert not report.changed, report
    assert snapshot(world.db) == before
    person, _links = person_by_ref(world.db, "P001")
    assert (person.phone, person.birth_year) == ("13800000001", 1948)


def test_export_then_import_changes_nothing_and_reproduces_the_register(
    world: World, client: Client, tmp_path: Path
) -> None:
    client.sign_in("admin")
    exported = {}
    for what in ("buildings", "households"):
        response = client.get(f"/c/z/register/export/{what}.csv")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert f'filename="z-{what}.csv"' in response.headers["content-disposition"]
        exported[what] = response.content
    assert exported["households"].startswith("\ufeff楼栋,单元,户号,面积,居民编号,姓名".encode())
    assert "王秀英" in exported["households"].decode()

    before = snapshot(world.db)
    for what in ("buildings", "households"):
        assert not run_import(world.db, f"{what}.csv", exported[what]).changed
    assert snapshot(world.db) == before

    # Into an empty community, the export rebuilds the same register.
    async def fresh(session: Any) -> None:
        session.add(Community(slug="fresh", name="新社区"))
        await session.commit()

    world.db.run(fresh)
    for what in ("buildings", "households"):
        assert run_import(world.db, f"{what}.csv", exported[what], slug="fresh").changed
    assert (
        client.get("/api/v1/c/z/register/export/households.csv").content == exported["households"]
    )
    result = yishi(world, tmp_path, "register", "export", "--community", "fresh")
    assert result.exit_code == 0, result.output
    assert result.stdout.encode() == exported["households"]


# ---------------------------------------------------------------- the upload page and the API


def upload(client: Client, url: str, filename: str, data: bytes) -> Any:
    """A multipart upload as the page's form sends it, or as an API client does (CSRF header)."""
    if url.startswith("/api/"):
        return client.api("POST", url, files={"file": (filename, data, "text/csv")})
    return client.post(
        url,
        files={"file": (filename, data, "text/csv")},
        data={"_csrf_token": client.csrf()},
        follow_redirects=False,
    )


@pytest.fixture
def admin(client: Client) -> Client:
    client.cookies.set("yishi_lang", "en")
    client.sign_in("admin")
    return client


def test_upload_page_imports_and_reports(world: World, admin: Client) -> None:
    assert admin.get("/c/z/register/import").status_code == 200
    data = households("3,2,302,75.25,P008,钱芳,13800000008,owner")
    response = upload(admin, "/c/z/register/import", "new.csv", data)
    assert response.status_code == 200
    page = html.unescape(response.text)
    assert "Imported new.csv" in page
    assert "people created: 1" in page
    assert "links between people and households created: 1" in page
    actors = {
        c.actor_id
        for c in changes_of(world.db)
        if c.action == "import.create"
        and c.entity == "person"
        and c.entity_id == person_by_ref(world.db, "P008")[0].id
    }
    assert actors == {world.ids["admin"]}
    again = html.unescape(upload(admin, "/c/z/register/import", "new.csv", data).text)
    assert "All 1 rows match the register already; nothing was changed." in again


PAGE_CASES = [
    pytest.param(
        "h.csv",
        households("1,1,103,50,P100,周新,,owner", "9,1,901,50,P101,吴敏,,owner"),
        "Line 3, building: Unknown building “9”: import the buildings file first.",
        id="unknown-building",
    ),
    pytest.param(
        "h.csv",
        households("1,1,103,-5,P100,周新,,owner"),
        "Line 2, floor_area: " + AREA.format("-5"),
        id="negative-area",
    ),
    pytest.param("h.csv", b"", "Line 1: The file is empty.", id="empty-file"),
    pytest.param(
        "h.xls", b"a,b\n", "Unsupported file type: use a .csv or .xlsx file.", id="extension"
    ),
]


@pytest.mark.parametrize(("filename", "data", "message"), PAGE_CASES)
def test_upload_page_lists_bad_rows_and_writes_nothing(
    world: World, admin: Client, filename: str, data: bytes, message: str
) -> None:
    before = snapshot(world.db)
    response = upload(admin, "/c/z/register/import", filename, data)
    assert response.status_code == 400
    page = html.unescape(response.text)
    assert "Nothing was imported" in page
    assert f"The file {filename} has 1 problem." in page
    assert message in page
    assert snapshot(world.db) == before


def test_upload_page_speaks_chinese_by_default(world: World, client: Client) -> None:
    client.sign_in("admin")
    data = households("9,1,901,50,P101,吴敏,,owner")
    response = upload(client, "/c/z/register/import", "h.csv", data)
    assert response.status_code == 400
    assert "第2行, building: 找不到楼栋“9”：请先导入楼栋文件。" in html.unescape(response.text)


def test_upload_page_without_a_file(world: World, admin: Client) -> None:
    response = admin.form("/c/z/register/import", {})
    assert response.status_code == 400
    assert "Choose a CSV or Excel file to import." in response.text


@pytest.mark.parametrize("url", ["/c/z/register/import", "/api/v1/c/z/register/import"])
def test_an_upload_over_5_mb_is_refused_with_413(world: World, admin: Client, url: str) -> None:
    row = "1,1,103,50,P100,周新,,owner\n".encode()
    data = households() + row * (MAX_UPLOAD_BYTES // len(row) + 1)
    assert len(data) > MAX_UPLOAD_BYTES
    before = snapshot(world.db)
    response = upload(admin, url, "big.csv", data)
    assert response.status_code == 413
    assert "The upload is too large (at most 5 MB)." in html.unescape(response.text)
    assert snapshot(world.db) == before


@pytest.mark.parametrize("url", ["/c/z/register/import", "/api/v1/c/z/register/import"])
def test_only_an_admin_may_import(world: World, client: Client, url: str) -> None:
    client.sign_in("chair")
    before = snapshot(world.db)
    response = upload(client, url, "h.csv", households("1,1,103,50,P100,周新,,owner"))
    assert response.status_code == 403
    assert snapshot(world.db) == before


def test_an_admin_of_another_community_may_not_import_here(world: World, client: Client) -> None:
    client.sign_in("otheradmin")
    before = snapshot(world.db)
    response = upload(
        client, "/c/z/register/import", "h.csv", households("1,1,103,50,P100,周新,,owner")
    )
    assert response.status_code == 403
    assert snapshot(world.db) == before


def test_api_import_reports_counts(world: World, admin: Client) -> None:
    response = upload(
        admin, "/api/v1/c/z/register/import", "h.csv", households("1,1,103,50,P100,周新,,owner")
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "households",
        "rows": 1,
        "created": {"unit": 1, "person": 1, "unit_link": 1},
        "updated": {},
    }


def test_api_import_lists_every_bad_row_as_json(world: World, admin: Client) -> None:
    before = snapshot(world.db)
    data = households("1,1,103,-5,P100,周新,,owner", "1,1,104,50,P101,,,owner")
    response = upload(admin, "/api/v1/c/z/register/import", "h.csv", data)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == AREA.format("-5")
    assert body["extra"]["field"] == "file"
    assert body["extra"]["errors"] == [
        {"line": 2, "column": "floor_area", "message": AREA.format("-5")},
        {"line": 3, "column": "name", "message": "“name” is missing."},
    ]
    assert snapshot(world.db) == before


# ---------------------------------------------------------------- the command line


def cli_env(world: World, var_dir: Path) -> dict[str, str]:
    return {
        "YISHI_DATABASE_URL": world.db.url,
        "YISHI_SECRET_KEY": "cli-test-secret-" + "x" * 32,
        "YISHI_VAR_DIR": str(var_dir),
        "YISHI_LANG": "en",
    }


def yishi(world: World, tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=cli_env(world, tmp_path))


def test_cli_import_reports_what_it_created(world: World, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(households("1,1,103,50,P100,周新,,owner"))
    result = yishi(world, tmp_path, "register", "import", str(path), "--community", "z")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "households created: 1",
        "people created: 1",
        "links between people and households created: 1",
    ]
    assert person_by_ref(world.db, "P100")[0].name == "周新"
    again = yishi(world, tmp_path, "register", "import", str(path), "--community", "z")
    assert again.exit_code == 0
    assert again.stdout.strip() == "All 1 rows match the register already; nothing was changed."


def test_cli_import_refuses_a_bad_file_and_writes_nothing(world: World, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(
        households(
            "1,1,103,50,P100,周新,,owner",
            "1,1,104,-5,P101,吴敏,,owner",
            "1,1,105,50,P102,郑洁,,房东",
        )
    )
    before = snapshot(world.db)
    result = yishi(world, tmp_path, "register", "import", str(path), "--community", "z")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Nothing was imported: 2 problems in {path}.",
        "  bad.csv:line 3 [floor_area]: " + AREA.format("-5"),
        "  bad.csv:line 4 [relation]: Unknown relation “房东”: use 业主, 共有人, 租户 or 家庭成员.",
    ]
    assert snapshot(world.db) == before


def test_cli_import_into_an_unknown_community(world: World, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(households("1,1,103,50,P100,周新,,owner"))
    result = yishi(world, tmp_path, "register", "import", str(path), "--community", "nope")
    assert result.exit_code == 1
    assert "No community has the slug “nope”." in result.stderr


def test_cli_export_then_import_round_trip(world: World, tmp_path: Path) -> None:
    before = snapshot(world.db)
    for what in ("buildings", "households"):
        out = tmp_path / f"{what}.csv"
        result = yishi(
            world,
            tmp_path,
            "register",
            "export",
            "--community",
            "z",
            "--what",
            what,
            "--out",
            str(out),
        )
        assert result.exit_code == 0, result.output
        result = yishi(world, tmp_path, "register", "import", str(out), "--community", "z")
        assert result.exit_code == 0, result.output
        assert "nothing was changed" in result.stdout
    assert snapshot(world.db) == before
