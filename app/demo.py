"""The reference community of DOMAIN.md at its real size, for `make run` and for trying things.

79 buildings in 7 grids, 3,880 households, 10,569 people with realistic Chinese names and phone
numbers (Faker, zh_CN), floor areas from 40 to 140 m², owners of several units, co-owned units,
tenants, and the developer's unsold units. The rows go through the same validation and import code
as a residents' committee's file, keyed by stable references, so running it twice changes nothing.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from faker import Faker
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import ballots, log
from app.accounts import hash_password, issue_activation_code
from app.demo_deliberation import load_demo_deliberation
from app.i18n import gettext as _
from app.models import (
    Account,
    Ballot,
    BallotCaster,
    BallotElector,
    Building,
    Community,
    Grid,
    Person,
    Role,
    RoleGrant,
    Unit,
    UnitLink,
    utcnow,
)
from app.register import create_community, person_grid_ids
from app.register_import import (
    apply_buildings,
    apply_households,
    validate_buildings,
    validate_households,
)
from app.settings import Settings
from ballots.rules import civil_code_278

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
    await load_demo_ballots(session, settings, community, seed=seed)
    await load_demo_deliberation(session, settings, community, seed=seed)
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


# --- ballots -----------------------------------------------------------------------------------
#
# Four ballots with the turnout of a real neighbourhood: a closed owners' decision under Civil
# Code art. 278 (final), a closed committee election by STV (final), a closed participatory
# budget (preliminary, in its objection period) and an open consultation on parking. Every vote
# goes through the same actions as a real one (same checks, same log entries); closed ballots
# are cast inside their window, then closed and counted by the scheduler's own run_due.

CANDIDATES = ["王建华", "李秀兰", "张国强", "刘淑珍", "陈志明", "杨桂英", "赵德胜"]
CANDIDATE_PULL = [9, 7, 6, 4, 3, 2, 1]  # how often each is ranked first, roughly
PROJECTS = [  # id, label, cost in yuan, popularity
    ("charging", "增设电动自行车充电桩", 120_000, 8),
    ("cctv", "安装监控", 150_000, 7),
    ("lockers", "快递柜", 60_000, 6),
    ("greening", "绿化改造", 90_000, 4),
    ("lighting", "楼道照明", 40_000, 5),
    ("benches", "适老座椅与扶手", 30_000, 5),
    ("playground", "儿童游乐设施", 110_000, 3),
    ("sheds", "非机动车棚", 180_000, 4),
]
PARKING = [
    ("permits", "业主凭证停车,外来车辆收费"),
    ("odd_even", "单双号轮换停车"),
    ("lottery", "车位摇号,一年一轮"),
    ("as_is", "维持现状"),
]
LIFT_TURNOUT = 0.84  # the mean of the owners' decision's range below


def _question(qid: str, text: str, method: str, options: list[dict[str, Any]], **more: Any) -> Any:
    return {
        "id": qid,
        "text": text,
        "method": method,
        "options": options,
        "seats": 1,
        "max_picks": None,
        "budget": None,
    } | more


def _definitions(now: Any, rng: random.Random) -> dict[str, dict[str, Any]]:
    def base(title: str, description: str, **changes: Any) -> dict[str, Any]:
        data = ballots.blank_definition(now)
        data.update(
            title=title,
            description=description,
            opens_at=(now - timedelta(minutes=1)).isoformat(),
            seed=rng.getrandbits(128).to_bytes(16, "big").hex(),
        )
        return data | changes

    lift = base(
        "使用专项维修资金加装电梯",
        "第3至第12栋申请使用专项维修资金加装电梯,约占资金余额的四成;"
        "依《民法典》第278条,属于业主共同决定的重大事项。",
        rule=civil_code_278("major").to_dict(),
        electorate="owners",
        objection_days=0,
        agenda_item="2",  # the demo's agenda item #2 (app.demo_deliberation)
    )
    lift["questions"][0]["text"] = "是否同意使用专项维修资金为第3至第12栋加装电梯?"
    election = base(
        "第二届业主委员会选举",
        "选出三名业主委员会委员;无记名投票,按偏好排序(单记可让渡投票制)。",
        secrecy="secret",
        revoting="first",
        channels=["online", "paper"],
        closes_at=(now + timedelta(days=7)).isoformat(),
        early_close=True,
        objection_days=0,
        questions=[
            _question(
                "committee",
                "请按偏好排列候选人(可只排前几位)",
                "stv",
                [{"id": f"c{i + 1}", "label": name} for i, name in enumerate(CANDIDATES)],
                seats=3,
            )
        ],
    )
    budget = base(
        "2026年社区微更新参与式预算",
        "50万元用于社区微更新;勾选你支持的项目,按等份额法分配。",
        channels=["online", "paper"],
        closes_at=(now + timedelta(days=7)).isoformat(),
        early_close=True,
        questions=[
            _question(
                "projects",
                "你支持哪些项目?(可多选)",
                "equal_shares",
                [{"id": p, "label": label, "cost": str(cost)} for p, label, cost, _w in PROJECTS],
                budget="500000",
            )
        ],
    )
    parking = base(
        "停车管理方案征求意见",
        "约500个车位、1,730辆车:请选择你倾向的停车管理方案,结果供业委会与物业参考。",
        closes_at=(now + timedelta(days=14)).isoformat(),
        channels=["online", "paper"],
        agenda_item="1",  # the demo's agenda item #1 (app.demo_deliberation)
        questions=[
            _question(
                "plan",
                "你倾向哪种停车管理方案?",
                "single_choice",
                [{"id": p, "label": label} for p, label in PARKING],
            )
        ],
    )
    return {"lift": lift, "election": election, "budget": budget, "parking": parking}


async def _grid_members(session: AsyncSession, community: Community) -> dict[int, Account]:
    """One grid member per grid (paper forms are entered by the grid's own member)."""
    members: dict[int, Account] = {}
    grants = await session.execute(
        select(RoleGrant.grid_id, Account)
        .join(Account, Account.id == RoleGrant.account_id)
        .where(RoleGrant.community_id == community.id, RoleGrant.role == Role.grid_member)
        .order_by(RoleGrant.id)
    )
    for grid_id, account in grants.all():
        if grid_id is not None:
            members.setdefault(grid_id, account)
    grids = (
        await session.execute(select(Grid.id, Grid.number).where(Grid.community_id == community.id))
    ).all()
    for grid_id, number in sorted(grids, key=lambda g: g[1]):
        if grid_id in members:
            continue
        username = f"grid{number}"
        account = (
            await session.execute(select(Account).where(Account.username == username))
        ).scalar_one_or_none()
        if account is None:
            person = (
                await session.execute(
                    select(Person)
                    .join(UnitLink, UnitLink.person_id == Person.id)
                    .join(Unit, Unit.id == UnitLink.unit_id)
                    .join(Building, Building.id == Unit.building_id)
                    .where(
                        Building.grid_id == grid_id,
                        UnitLink.relation == "family",
                        Person.account_id.is_(None),
                        Person.phone.is_not(None),
                    )
                    .order_by(Person.ref)
                    .limit(1)
                )
            ).scalar_one()
            account = Account(
                username=username,
                phone=person.phone,
                display_name=person.name,
                password_hash=await hash_password(DEMO_PASSWORD),
            )
            session.add(account)
            await session.flush()
            person.account_id = account.id
        session.add(
            RoleGrant(
                community_id=community.id,
                account_id=account.id,
                role=Role.grid_member,
                grid_id=grid_id,
            )
        )
        await session.commit()
        members[grid_id] = account
    return members


@dataclass
class _Voter:
    code: str
    person: Person
    building: str
    grid_id: int
    elderly: bool
    ground_floor: bool


async def _voters(
    session: AsyncSession, ballot: Ballot, people: dict[int, Person], this_year: int
) -> list[_Voter]:
    """Each elector of the frozen roll with the first person who may cast for it."""
    casters: dict[str, int] = {}
    for code, person_id in (
        await session.execute(
            select(BallotCaster.code, BallotCaster.person_id)
            .where(BallotCaster.ballot_id == ballot.id)
            .order_by(BallotCaster.code, BallotCaster.person_id)
        )
    ).all():
        casters.setdefault(code, person_id)
    found = []
    for code, building, grid_id, units in (
        await session.execute(
            select(
                BallotElector.code,
                BallotElector.building,
                BallotElector.grid_id,
                BallotElector.units,
            )
            .where(BallotElector.ballot_id == ballot.id)
            .order_by(BallotElector.code)
        )
    ).all():
        person = people[casters[code]]
        born = person.birth_year or this_year - 50
        door = (units[0] if units else "").rsplit("-", 1)[-1]
        found.append(
            _Voter(code, person, building, grid_id, this_year - born >= 65, door.startswith("1"))
        )
    return found


class _Caster:
    """Casts a ballot's votes through the actions, spreading them over the channels the way the
    neighbourhood does: the elderly mostly on paper through their grid member, a few by proxy."""

    def __init__(
        self,
        session: AsyncSession,
        ballot: Ballot,
        members: dict[int, Account],
        rng: random.Random,
    ) -> None:
        self.session, self.ballot, self.members, self.rng = session, ballot, members, rng
        self.channels = set(ballot.definition["channels"])
        self.papers = 0
        self.cast = 0
        self.stopped = False

    async def vote(self, voter: _Voter, answers: dict[str, Any], holder: _Voter | None) -> None:
        if self.stopped:
            return
        try:
            if holder is not None and "proxy" in self.channels:
                await ballots.grant_proxy(
                    self.session, self.ballot, voter.code, holder.person, by_principal=voter.person
                )
                await ballots.cast_as_proxy(
                    self.session, self.ballot, holder.person, voter.code, answers
                )
            elif voter.elderly and "paper" in self.channels and self.rng.random() < 0.7:
                self.papers += 1
                serial = f"B{self.ballot.number}-{self.papers:05d}"
                member = self.members[voter.grid_id]
                await ballots.enter_paper(
                    self.session,
                    self.ballot,
                    member,
                    {voter.grid_id},
                    voter.code,
                    serial,
                    answers,
                )
            else:
                await ballots.cast_online(
                    self.session, self.ballot, voter.person, answers, voter.code
                )
        except ballots.BallotError as error:
            if error.code != "closed":
                raise
            self.stopped = True  # a slow machine ran past the window: the rest stayed home
            return
        self.cast += 1


def _turnout(buildings: list[str], rng: random.Random, low: float, high: float) -> dict[str, float]:
    """Each building's own readiness to vote: some stairwells organise, some never answer."""
    return {b: rng.uniform(low, high) for b in buildings}


async def load_demo_ballots(
    session: AsyncSession, settings: Settings, community: Community, *, seed: int = 2026
) -> None:
    """The demo's ballots, once: nothing is done if the community already has ballots."""
    have = await session.execute(
        select(func.count()).select_from(Ballot).where(Ballot.community_id == community.id)
    )
    if have.scalar_one():
        return
    rng = random.Random(seed + 278)
    now = utcnow()
    definitions = _definitions(now, rng)
    chair = (await session.execute(select(Account).where(Account.username == "chair"))).scalar_one()
    members = await _grid_members(session, community)
    people = {
        p.id: p
        for p in (
            await session.execute(select(Person).where(Person.community_id == community.id))
        ).scalars()
    }
    session.expunge_all()  # keep the identity map small: a refused action refreshes all of it
    session.add(community)
    session.add(chair)
    for member in members.values():
        session.add(member)

    async def opened(key: str) -> tuple[Ballot, list[_Voter]]:
        ballot = await ballots.create_ballot(session, community, chair, definitions[key])
        await ballots.open_ballot(session, ballot, chair)
        return ballot, await _voters(session, ballot, people, now.year)

    # The open consultation first: it has a fortnight, and it measures this machine's pace.
    started = time.perf_counter()
    parking, voters = await opened("parking")
    caster = _Caster(session, parking, members, rng)
    ready = _turnout(sorted({v.building for v in voters}), rng, 0.04, 0.3)
    plans = [p for p, _label in PARKING]
    for voter in voters:
        if rng.random() < ready[voter.building]:
            weights = (5, 3, 4, 2) if not voter.elderly else (3, 1, 2, 5)
            plan = rng.choices(plans, weights)[0]
            await caster.vote(voter, {"plan": plan}, None)
    rate = max(caster.cast / (time.perf_counter() - started), 20.0)

    # The owners' decision must run its whole window (art. 278 allows no early close): a window
    # sized to this machine's pace, with a margin; the casts fall inside it, and while it runs
    # out the election and the budget are cast, then closed early by the chair.
    lift_roll = len(await _electors(session, definitions["lift"], community))
    window = LIFT_TURNOUT * lift_roll * 1.04 / rate * 1.5 + 3  # a proxy is two actions
    lift_closes = utcnow() + timedelta(seconds=window)
    definitions["lift"]["closes_at"] = lift_closes.isoformat()
    lift, voters = await opened("lift")
    await _cast_lift(_Caster(session, lift, members, rng), voters, rng)
    election, voters = await opened("election")
    await _cast_election(_Caster(session, election, members, rng), voters, rng)
    budget, voters = await opened("budget")
    await _cast_budget(_Caster(session, budget, members, rng), voters, rng)
    for ballot in (election, budget):
        await ballots.close_ballot(session, ballot, chair)

    await asyncio.sleep(max((lift_closes - utcnow()).total_seconds(), 0) + 0.01)
    await ballots.run_due(session)  # close the owners' decision, publish the three
    await ballots.run_due(session)  # no objection period for two of them: final
    await log.integrate_all(session, settings)


async def _electors(
    session: AsyncSession, definition: dict[str, Any], community: Community
) -> list[Any]:
    electors, _rows = await ballots.build_roll(
        session, community.id, ballots.parse_definition(definition)
    )
    return electors


async def _cast_lift(caster: _Caster, voters: list[_Voter], rng: random.Random) -> None:
    """Most owners take part (the quorum of two thirds is met); ground-floor owners, who pay and
    gain nothing, vote no far more often; a few hand a proxy to a neighbour."""
    ready = _turnout(sorted({v.building for v in voters}), rng, 0.7, 0.98)
    taking_part = [v for v in voters if rng.random() < ready[v.building]]
    holders: dict[str, list[_Voter]] = defaultdict(list)
    for voter in taking_part:
        holders[voter.building].append(voter)
    load: dict[str, int] = defaultdict(int)
    for voter in taking_part:
        if voter.ground_floor:
            answer = rng.choices(("yes", "no", "abstain"), (45, 45, 10))[0]
        else:
            answer = rng.choices(("yes", "no", "abstain"), (90, 6, 4))[0]
        holder = None
        if rng.random() < 0.04:
            neighbours = [
                h
                for h in holders[voter.building]
                if h.person.id != voter.person.id and load[h.code] < 3 and not h.elderly
            ]
            if neighbours:
                holder = rng.choice(neighbours)
                load[holder.code] += 1
        await caster.vote(voter, {"q1": answer}, holder)


async def _cast_election(caster: _Caster, voters: list[_Voter], rng: random.Random) -> None:
    ready = _turnout(sorted({v.building for v in voters}), rng, 0.08, 0.3)
    candidates = [f"c{i + 1}" for i in range(len(CANDIDATES))]
    for voter in voters:
        if rng.random() >= ready[voter.building]:
            continue
        pull = list(CANDIDATE_PULL)
        if voter.elderly:  # the long-serving building heads do better with the elderly
            pull[3] += 5
        ranking: list[str] = []
        for _rank in range(rng.choice((1, 2, 3, 3, 4, 5, 7))):
            left = [c for c in candidates if c not in ranking]
            ranking.append(rng.choices(left, [pull[candidates.index(c)] for c in left])[0])
        await caster.vote(voter, {"committee": ranking}, None)


async def _cast_budget(caster: _Caster, voters: list[_Voter], rng: random.Random) -> None:
    ready = _turnout(sorted({v.building for v in voters}), rng, 0.06, 0.26)
    ids = [p for p, _label, _cost, _w in PROJECTS]
    for voter in voters:
        if rng.random() >= ready[voter.building]:
            continue
        weights = [w for _p, _label, _cost, w in PROJECTS]
        if voter.elderly:
            weights[ids.index("benches")] += 6
            weights[ids.index("lighting")] += 3
        picks: set[str] = set()
        for _pick in range(rng.choice((1, 2, 2, 3, 3, 4))):
            picks.add(rng.choices(ids, weights)[0])
        await caster.vote(voter, {"projects": sorted(picks)}, None)
