"""A small seeded world for the application tests: two communities, one account per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from app.accounts import hash_password
from app.factory import create_app, memory_stores
from app.models import Account, Person, Role, RoleGrant
from app.register import create_community
from app.register_import import import_file
from app.settings import Settings
from tests.conftest import Database

PASSWORD = "correct horse 42"

BUILDINGS_CSV = "网格,网格名称,楼栋\n1,第一网格,1\n1,第一网格,2\n2,第二网格,3\n"
HOUSEHOLDS_CSV = """楼栋,单元,户号,面积,居民编号,姓名,手机号,关系,出生年份,起始日期,终止日期,户代表,单位
1,1,101,86.45,P001,王秀英,13800000001,业主,1948,2001-05-01,,是,
1,1,101,86.45,P002,李建国,,家庭成员,1946,,,否,
1,1,102,60.00,P003,张伟,13800000003,共有人,1975,,,是,
1,1,102,60.00,P004,刘芳,13800000004,共有人,1978,,,否,
2,1,201,120.50,P005,陈静,13800000005,业主,1980,,,否,
2,1,201,120.50,P006,赵磊,13800000006,租户,1995,2023-03-01,,是,
3,2,301,45.00,P007,孙丽,13800000007,业主,1960,,,是,
3,2,302,75.25,,,,,,,,,
"""
OTHER_BUILDINGS_CSV = "grid,building\n1,A\n"
OTHER_HOUSEHOLDS_CSV = "building,entrance,unit,floor_area,person_ref,name,phone,relation\nA,1,101,70,Q001,周杰,13900000001,owner\n"

# username -> (community slug, role granted, register ref of the person behind the account)
ACCOUNTS: dict[str, tuple[str, Role | None, str | None]] = {
    "resident": ("z", None, "P006"),  # a tenant: resident, not owner
    "owner": ("z", None, "P001"),
    "grid": ("z", Role.grid_member, "P007"),  # grid 2 only
    "chair": ("z", Role.chair, "P003"),
    "auditor": ("z", Role.auditor, None),
    "admin": ("z", Role.admin, None),
    "otheradmin": ("other", Role.admin, "Q001"),
}


@dataclass
class World:
    db: Database
    ids: dict[str, int] = field(default_factory=dict)


async def seed(session: Any) -> dict[str, int]:
    ids: dict[str, int] = {}
    for slug, name, buildings, households in (
        ("z", "Z社区", BUILDINGS_CSV, HOUSEHOLDS_CSV),
        ("other", "另一社区", OTHER_BUILDINGS_CSV, OTHER_HOUSEHOLDS_CSV),
    ):
        community = await create_community(session, SEED_SETTINGS, slug, name)
        ids[slug] = community.id
        await import_file(session, community, "buildings.csv", buildings.encode(), None)
        await import_file(session, community, "households.csv", households.encode(), None)
    password_hash = await hash_password(PASSWORD)
    for username, (slug, role, ref) in ACCOUNTS.items():
        person = None
        if ref:
            person = (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()
        account = Account(
            username=username,
            phone=person.phone if person else None,
            display_name=person.name if person else username,
            password_hash=password_hash,
        )
        session.add(account)
        await session.flush()
        ids[username] = account.id  # type: ignore[assignment]
        if person:
            person.account_id = account.id
        if role:
            grid_id = None
            if role == Role.grid_member:
                from app.models import Grid

                grid_id = (
                    await session.execute(
                        select(Grid.id).where(Grid.community_id == ids[slug], Grid.number == 2)
                    )
                ).scalar_one()
            session.add(
                RoleGrant(community_id=ids[slug], account_id=account.id, role=role, grid_id=grid_id)
            )
    await session.commit()
    for ref in ("P001", "P002", "P005", "P007", "Q001"):
        ids[ref] = (await session.execute(select(Person.id).where(Person.ref == ref))).scalar_one()
    return ids


@pytest.fixture
def world(database: Database) -> World:
    return World(database, database.run(seed))


class Client(TestClient):  # type: ignore[type-arg]
    """A browser-like client: keeps cookies and sends the CSRF token with every write."""

    def csrf(self) -> str:
        if "csrftoken" not in self.cookies:
            self.get("/healthz")
            self.get("/signin")
        return self.cookies["csrftoken"]

    def form(self, url: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return self.post(
            url, data={**(data or {}), "_csrf_token": self.csrf()}, follow_redirects=False, **kwargs
        )

    def api(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"x-csrftoken": self.csrf(), **kwargs.pop("headers", {})}
        return self.request(method, url, headers=headers, **kwargs)

    def sign_in(self, username: str, password: str = PASSWORD) -> Any:
        response = self.form("/signin", {"identifier": username, "password": password, "next": "/"})
        assert response.status_code == 303, response.text
        return response


TEST_SECRET = "test-secret-" + "x" * 40
TEST_BASE_URL = "http://testserver.local"


def make_settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db.url,
        secret_key=TEST_SECRET,
        redis_url=None,
        var_dir=tmp_path,
        base_url=TEST_BASE_URL,
        workers=1,
        log_level="WARNING",
        cli_lang="zh_CN",
        log_interval=0.05,
    )


# What the seed needs of the settings: the secret that encrypts the log keys and the origin.
SEED_SETTINGS = make_settings(Database("sqlite", "sqlite://"), Path("."))


@pytest.fixture
def settings(world: World, tmp_path: Path) -> Settings:
    return make_settings(world.db, tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    app = create_app(settings, stores=memory_stores())
    with Client(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


def settle(world: World, settings: Settings, timeout: float = 15) -> None:
    """Integrate until nothing is pending. With an app running beside the test, its sequencer
    may hold the community's lock (PostgreSQL then skips): keep trying until it is done."""
    import time

    from app import log
    from app.models import LogEntry

    async def pending(session: Any) -> int:
        await log.integrate_all(session, settings)
        return len((await session.execute(select(LogEntry.id).where(LogEntry.seq.is_(None)))).all())

    deadline = time.monotonic() + timeout
    while world.db.run(pending):
        assert time.monotonic() < deadline, "log entries still pending"
        time.sleep(0.02)
