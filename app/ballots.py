"""Ballot actions: define, open (freezing the roll), cast on every channel, close, tally.

Each action checks state, writes its rows and appends its log entry in the caller's session and
commits once; on any refusal it raises ``BallotError`` before committing, so nothing is half
written. The counting itself is ``ballots.ballot`` — the same pure code the verifier replays.

Casting takes its lock through the participation row: inserting it takes the ballot row's
key-share lock (PostgreSQL) or the write lock (SQLite), and only then is the ballot's status read
again, so a close waits for casts in flight and no cast lands after ``ballot.closed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import hmac
import io
import json
import logging
import re
import secrets
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import log
from app.models import (
    Account,
    Ballot,
    BallotCaster,
    BallotElector,
    BallotPaper,
    BallotParticipation,
    BallotProxy,
    BallotStatus,
    Building,
    Community,
    Grid,
    LogEntry,
    Person,
    Unit,
    UnitLink,
    utcnow,
)
from app.notify import notify
from app.settings import Settings
from ballots.ballot import (
    Cast,
    Definition,
    DefinitionError,
    Elector,
    Problem,
    check_answers,
    counted_casts,
    problems,
    roll_digest,
    tally,
)
from ballots.methods import BallotInvalid
from ballots.rules import consultation

logger = logging.getLogger("yishi.ballots")
ADULT_AGE = 18


class BallotError(Exception):
    """A refused ballot action. ``code`` is stable (the pages word it); ``details`` name where."""

    def __init__(self, code: str, **details: Any) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details


class DefinitionProblems(BallotError):
    def __init__(self, found: Sequence[Problem]) -> None:
        super().__init__("definition_problems")
        self.problems = tuple(found)


async def _abort(session: AsyncSession) -> None:
    """Roll back a refused action and reload what the caller holds (a rollback expires every
    loaded object, and the pages still show the ballot and the voter)."""
    await session.rollback()
    for loaded in list(session.identity_map.values()):
        await session.refresh(loaded)


# --- definitions -------------------------------------------------------------------------------


def blank_definition(now: datetime | None = None) -> dict[str, Any]:
    """A new draft: one yes/no/abstain question, consultation rule, a week from tomorrow."""
    start = (now or utcnow()).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    return {
        "title": "",
        "description": "",
        "agenda_item": None,
        "questions": [
            {
                "id": "q1",
                "text": "",
                "method": "yes_no_abstain",
                "options": [
                    {"id": "yes", "label": "同意"},
                    {"id": "no", "label": "反对"},
                    {"id": "abstain", "label": "弃权"},
                ],
                "seats": 1,
                "max_picks": None,
                "budget": None,
            }
        ],
        "rule": consultation().to_dict(),
        "secrecy": "roll_call",
        "revoting": "last",
        "channels": ["online", "paper", "proxy"],
        "paper_double_entry": False,
        "proxy_limit": 3,
        "opens_at": start.isoformat(),
        "closes_at": (start + timedelta(days=7)).isoformat(),
        "early_close": False,
        "objection_days": 7,
        "electorate": "adults",
        "named": [],
        "seed": secrets.token_hex(16),
    }


def parse_definition(data: dict[str, Any]) -> Definition:
    try:
        return Definition.from_dict(data)
    except DefinitionError as error:
        raise DefinitionProblems(error.problems) from None


_frozen: dict[tuple[int, datetime, str], Definition] = {}


def frozen_definition(ballot: Ballot) -> Definition:
    """An opened ballot's definition, parsed once per process: it can no longer change, and
    every cast needs it."""
    if ballot.status == BallotStatus.draft or ballot.id is None or ballot.opened_at is None:
        return parse_definition(ballot.definition)
    # the moment of opening (to the microsecond) and the roll tell ballots apart even across
    # databases, as in the tests
    key = (ballot.id, ballot.opened_at, str(ballot.roll_digest))
    definition = _frozen.get(key)
    if definition is None:
        if len(_frozen) > 256:
            _frozen.clear()
        definition = _frozen[key] = parse_definition(ballot.definition)
    return definition


MAX_ID = 2**31 - 1  # a number beyond any stored id (or the database's integer) names nothing


async def get_ballot(session: AsyncSession, community_id: int, number: int) -> Ballot:
    if not 0 < number <= MAX_ID:
        raise BallotError("no_such_ballot", number=number)
    ballot = (
        await session.execute(
            select(Ballot).where(Ballot.community_id == community_id, Ballot.number == number)
        )
    ).scalar_one_or_none()
    if ballot is None:
        raise BallotError("no_such_ballot", number=number)
    return ballot


async def create_ballot(
    session: AsyncSession, community: Community, actor: Account, data: dict[str, Any]
) -> Ballot:
    """A draft. It may still have problems (they are listed to the chair); it must parse."""
    definition = parse_definition(data)
    for _attempt in range(5):
        number = (
            await session.execute(
                select(func.coalesce(func.max(Ballot.number), 0)).where(
                    Ballot.community_id == community.id
                )
            )
        ).scalar_one() + 1
        ballot = Ballot(
            community_id=community.id,
            number=number,
            title=definition.title[:200],
            definition=definition.to_dict(),
            created_by=actor.id,
            opens_at=definition.opens_at,
            closes_at=definition.closes_at,
        )
        session.add(ballot)
        try:
            await session.commit()
        except IntegrityError:  # another chair took the number
            await _abort(session)
            continue
        return ballot
    raise BallotError("busy")


async def update_draft(
    session: AsyncSession, ballot: Ballot, data: dict[str, Any], revision: int
) -> Ballot:
    """Replace a draft's definition; refused once the ballot has opened or if the form was
    read before another edit (``revision``)."""
    definition = parse_definition(data)
    changed = await session.execute(
        update(Ballot)
        .where(
            Ballot.id == ballot.id,
            Ballot.status == BallotStatus.draft,
            Ballot.revision == revision,
        )
        .values(
            definition=definition.to_dict(),
            title=definition.title[:200],
            opens_at=definition.opens_at,
            closes_at=definition.closes_at,
            revision=Ballot.revision + 1,
        )
    )
    if changed.rowcount != 1:
        await _abort(session)  # reloads the ballot as it now stands
        if ballot.status != BallotStatus.draft:
            raise BallotError("frozen")
        raise BallotError("stale_revision")
    await session.commit()
    await session.refresh(ballot)
    return ballot


async def check_ballot(session: AsyncSession, ballot: Ballot) -> list[Problem]:
    """What keeps the draft from opening, including an empty roll and unknown names."""
    found, _roll = await _check(session, ballot)
    return found


async def _check(
    session: AsyncSession, ballot: Ballot
) -> tuple[list[Problem], tuple[Definition, list[Elector], list[RollRow]] | None]:
    """The problems, and when there are none the definition with the roll it would freeze."""
    try:
        definition = parse_definition(ballot.definition)
    except DefinitionProblems as error:
        return list(error.problems), None
    found = []
    electors: list[Elector] = []
    rows: list[RollRow] = []
    try:
        electors, rows = await build_roll(session, ballot.community_id, definition)
    except BallotError as error:
        found.append(Problem(error.code, "named", {k: str(v) for k, v in error.details.items()}))
    found.extend(problems(definition, len(electors) if not found else None))
    if definition.closes_at <= utcnow():
        found.append(Problem("closes_in_past", "closes_at"))
    return found, None if found else (definition, electors, rows)


# --- the roll ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollRow:
    elector: Elector
    grid_id: int | None
    casters: frozenset[int]


def unit_code(building_number: str, entrance: str, number: str) -> str:
    """A unit's name in the log: building-entrance-number, as on the door."""
    return f"{building_number}-{entrance}-{number}"


async def build_roll(
    session: AsyncSession, community_id: int, definition: Definition, today: date | None = None
) -> tuple[list[Elector], list[RollRow]]:
    """The electors the register gives today for the definition's electorate, sorted by code."""
    today = today or utcnow().date()
    current = and_(
        UnitLink.community_id == community_id,
        or_(UnitLink.until.is_(None), UnitLink.until > today),
        or_(UnitLink.since.is_(None), UnitLink.since <= today),
    )
    rows = (
        await session.execute(
            select(
                UnitLink.person_id,
                UnitLink.relation,
                Unit.id,
                Unit.entrance,
                Unit.number,
                Unit.floor_area,
                Building.number,
                Grid.id,
                Grid.name,
                Person.ref,
                Person.birth_year,
                Person.is_organisation,
            )
            .join(Unit, Unit.id == UnitLink.unit_id)
            .join(Building, Building.id == Unit.building_id)
            .join(Grid, Grid.id == Building.grid_id)
            .join(Person, Person.id == UnitLink.person_id)
            .where(current)
            .order_by(Unit.id, UnitLink.person_id)
        )
    ).all()
    adult_year = today.year - ADULT_AGE

    def adult(birth_year: int | None, organisation: bool) -> bool:
        return not organisation and (birth_year is None or birth_year <= adult_year)

    result: list[RollRow] = []
    if definition.electorate == "owners":
        owners: dict[int, set[int]] = defaultdict(set)
        units: dict[int, tuple[str, Decimal, str, int, str]] = {}
        for pid, relation, uid, entrance, number, area, bnum, gid, gname, *_ in rows:
            if relation in ("owner", "co_owner"):
                owners[uid].add(pid)
                units[uid] = (unit_code(bnum, entrance, number), Decimal(area), bnum, gid, gname)
        groups: dict[frozenset[int], list[int]] = defaultdict(list)
        for uid, persons in owners.items():
            groups[frozenset(persons)].append(uid)
        for owner_set, uids in groups.items():
            codes = sorted(units[u][0] for u in uids)
            first = min(uids, key=lambda u: units[u][0])
            _, _, bnum, gid, gname = units[first]
            area = sum((units[u][1] for u in uids), Decimal(0))
            elector = Elector(codes[0], tuple(codes), area, bnum, gname)
            result.append(RollRow(elector, gid, owner_set))
    elif definition.electorate == "households":
        household: dict[int, set[int]] = defaultdict(set)
        representatives: dict[int, set[int]] = defaultdict(set)
        where: dict[int, tuple[str, str, int, str]] = {}
        for pid, _relation, uid, entrance, number, _area, bnum, gid, gname, _r, born, org in rows:
            where[uid] = (unit_code(bnum, entrance, number), bnum, gid, gname)
            if adult(born, org):
                household[uid].add(pid)
        for link in (
            await session.execute(
                select(UnitLink.unit_id, UnitLink.person_id).where(
                    current, UnitLink.is_representative.is_(True)
                )
            )
        ).all():
            representatives[link[0]].add(link[1])
        for uid, persons in household.items():
            code, bnum, gid, gname = where[uid]
            casters = frozenset(representatives.get(uid) or persons)
            result.append(RollRow(Elector(code, (code,), Decimal(0), bnum, gname), gid, casters))
    else:
        people: dict[int, tuple[str, str, int | None, str]] = {}
        for pid, _relation, _uid, _e, _n, _a, bnum, gid, gname, ref, born, org in rows:
            if pid not in people and (definition.electorate == "list" or adult(born, org)):
                people[pid] = (ref, bnum, gid, gname)
        if definition.electorate == "list":
            named = set(definition.named)
            found = {
                ref: pid
                for pid, ref in (
                    await session.execute(
                        select(Person.id, Person.ref).where(
                            Person.community_id == community_id, Person.ref.in_(named)
                        )
                    )
                ).all()
            }
            unknown = sorted(named - set(found))
            if unknown:
                raise BallotError("unknown_person", ref=unknown[0], count=len(unknown))
            chosen = {pid: people.get(pid, (ref, "", None, "")) for ref, pid in found.items()}
        else:
            chosen = people
        for pid, (ref, bnum, gid, gname) in chosen.items():
            elector = Elector(ref, (), Decimal(0), bnum, gname)
            result.append(RollRow(elector, gid, frozenset({pid})))
    result.sort(key=lambda r: r.elector.code)
    return [r.elector for r in result], result


# --- opening -----------------------------------------------------------------------------------


async def open_ballot(session: AsyncSession, ballot: Ballot, actor: Account) -> int:
    """Freeze the roll and the definition and write ``ballot.opened``; returns its entry id."""
    if ballot.status != BallotStatus.draft:
        raise BallotError("frozen")
    found, roll = await _check(session, ballot)
    if roll is None:
        raise DefinitionProblems(found)
    _parsed, electors, rows = roll
    claimed = await session.execute(
        update(Ballot)
        .where(Ballot.id == ballot.id, Ballot.status == BallotStatus.draft)
        .values(status=BallotStatus.open)
    )
    if claimed.rowcount != 1:
        await _abort(session)
        raise BallotError("frozen")
    cid = ballot.community_id
    await _insert_many(
        session,
        BallotElector,
        [
            {
                "ballot_id": ballot.id,
                "code": r.elector.code,
                "community_id": cid,
                "units": list(r.elector.units),
                "area": r.elector.area,
                "building": r.elector.building,
                "grid": r.elector.grid,
                "grid_id": r.grid_id,
            }
            for r in rows
        ],
    )
    await _insert_many(
        session,
        BallotCaster,
        [
            {"ballot_id": ballot.id, "person_id": p, "code": r.elector.code, "community_id": cid}
            for r in rows
            for p in sorted(r.casters)
        ],
    )
    digest = roll_digest(electors)
    entry_id = await log.append(
        session,
        cid,
        "ballot.opened",
        {
            "ballot": ballot.number,
            "definition": ballot.definition,
            "roll": [e.to_dict() for e in electors],
            "roll_digest": digest,
            "roll_size": len(electors),
            "opened_by": actor.id,
        },
    )
    await session.execute(
        update(Ballot)
        .where(Ballot.id == ballot.id)
        .values(
            opened_at=utcnow(),
            opened_entry_id=entry_id,
            roll_digest=digest,
            roll_size=len(electors),
        )
    )
    await _tell_casters(session, ballot)
    await session.commit()
    await session.refresh(ballot)
    return entry_id


async def _tell_casters(session: AsyncSession, ballot: Ballot) -> None:
    """Everyone who may cast in the ballot and has an account hears that it opened, in the
    opening's transaction (the caster rows were just written by it)."""
    accounts = (
        await session.execute(
            select(Person.account_id)
            .distinct()
            .join(BallotCaster, BallotCaster.person_id == Person.id)
            .where(BallotCaster.ballot_id == ballot.id, Person.account_id.is_not(None))
        )
    ).scalars()
    slug = (
        await session.execute(select(Community.slug).where(Community.id == ballot.community_id))
    ).scalar_one()
    await notify(
        session,
        ballot.community_id,
        list(accounts),
        "ballot_opened",
        {"ballot": ballot.number, "title": ballot.title},
        f"/c/{slug}/ballots/{ballot.number}",
    )


async def _insert_many(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 2000):
        chunk = rows[start : start + 2000]
        if chunk:
            await session.execute(insert(table), chunk)


# --- casting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CastResult:
    entry_id: int
    elector: str
    channel: str


def window_state(ballot: Ballot, now: datetime | None = None) -> str | None:
    """Why casting is refused now (None: it is allowed). Pages say it before the voter fills
    in the form; the cast checks again under its lock."""
    return _refusal(ballot.status, ballot.opens_at, ballot.closes_at, now or utcnow())


def _refusal(
    status: str, opens_at: datetime | None, closes_at: datetime | None, now: datetime
) -> str | None:
    if status == BallotStatus.draft:
        return "not_open"
    if status != BallotStatus.open:
        return "closed"
    assert opens_at is not None and closes_at is not None
    if now < opens_at:
        return "not_yet_open"
    if now >= closes_at:
        return "closed"
    return None


_BALLOT = Ballot.__table__
_STATE = select(_BALLOT.c.status, _BALLOT.c.opens_at, _BALLOT.c.closes_at).where(
    _BALLOT.c.id == bindparam("ballot")
)
_STATE_LOCKED = _STATE.with_for_update(read=True, key_share=True)


async def _refusal_now(session: AsyncSession, ballot: Ballot) -> str | None:
    """The ballot's state read afresh under a key-share lock (PostgreSQL; on SQLite this
    transaction already holds the write lock), so a close waits for this transaction."""
    query = _STATE_LOCKED if session.bind.dialect.name == "postgresql" else _STATE
    status, opens_at, closes_at = (await session.execute(query, {"ballot": ballot.id})).one()
    return _refusal(status, opens_at, closes_at, utcnow())


async def _definition(ballot: Ballot, channel: str, now: datetime) -> Definition:
    refused = window_state(ballot, now)
    if refused:
        raise BallotError(refused)
    definition = frozen_definition(ballot)
    if channel not in definition.channels:
        raise BallotError("channel_not_allowed", channel=channel)
    return definition


def _answers(definition: Definition, answers: object) -> dict[str, Any]:
    try:
        return check_answers(definition, answers)
    except BallotInvalid as invalid:
        raise BallotError(invalid.code, **invalid.details) from None


_CASTERS = BallotCaster.__table__
_ELECTORS_OF = (
    select(_CASTERS.c.code)
    .where(_CASTERS.c.ballot_id == bindparam("ballot"), _CASTERS.c.person_id == bindparam("person"))
    .order_by(_CASTERS.c.code)
)


async def electors_of(session: AsyncSession, ballot: Ballot, person_id: int) -> list[str]:
    """The electors this person may cast for themselves (not as a proxy)."""
    found = await session.execute(_ELECTORS_OF, {"ballot": ballot.id, "person": person_id})
    return list(found.scalars())


async def elector(session: AsyncSession, ballot: Ballot, code: str) -> BallotElector:
    row = await session.get(BallotElector, (ballot.id, code))
    if row is None:
        raise BallotError("not_on_roll", elector=code)
    return row


_PARTICIPATION = BallotParticipation.__table__
_LINK = (
    update(_PARTICIPATION)
    .where(
        _PARTICIPATION.c.ballot_id == bindparam("ballot"),
        _PARTICIPATION.c.elector == bindparam("code"),
    )
    .values(entry_id=bindparam("entry"))
)
_claims: dict[tuple[str, bool, bool, bool], Any] = {}
_sqlite_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _one_writer(session: AsyncSession) -> contextlib.AbstractAsyncContextManager[Any]:
    """On SQLite, casts of this process take the database's write lock one at a time: queued
    here they wait their turn, where SQLite's busy handler would make them sleep and retry
    (the tail latency of 64 voters at once went from seconds to milliseconds). PostgreSQL
    needs no queue: its row locks are waited on, not polled."""
    if session.bind.dialect.name != "sqlite":
        return contextlib.nullcontext()
    loop = asyncio.get_running_loop()
    lock = _sqlite_writers.get(loop)
    if lock is None:
        lock = _sqlite_writers[loop] = asyncio.Lock()
    return lock


def _claim_statement(dialect_name: str, via_proxy: bool, replaces_proxy: bool, revote: bool) -> Any:
    """INSERT the participation row, or take over an existing one where the policy allows:
    a voter's own ballot replaces a proxy's (``replaces_proxy``); under "last counts"
    (``revote``) a proxy's replaces the proxy's, and an own ballot the own ballot of the same
    channel or a paper form. ``ballots.ballot.counted_casts`` says the same. Built once: this
    runs on every cast."""
    key = (dialect_name, via_proxy, replaces_proxy, revote)
    statement = _claims.get(key)
    if statement is not None:
        return statement
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    existing = _PARTICIPATION.c
    statement = dialect.insert(_PARTICIPATION).values(
        ballot_id=bindparam("ballot"),
        elector=bindparam("code"),
        community_id=bindparam("community"),
        channel=bindparam("channel"),
        via_proxy=via_proxy,
    )
    replaceable = []
    if replaces_proxy:
        replaceable.append(existing.via_proxy.is_(True))
    if revote and via_proxy:
        replaceable.append(existing.via_proxy.is_(True))
    elif revote:
        # a voter's own online ballot replaces a paper form entered for them, never the reverse:
        # a grid member cannot overwrite what the voter cast themselves
        incoming = statement.excluded.channel
        replaceable.append(
            and_(
                existing.via_proxy.is_(False),
                or_(
                    existing.channel == incoming,
                    and_(existing.channel == "paper", incoming == "online"),
                ),
            )
        )
    if replaceable:
        statement = statement.on_conflict_do_update(
            index_elements=["ballot_id", "elector"],
            set_={"channel": statement.excluded.channel, "via_proxy": statement.excluded.via_proxy},
            where=or_(*replaceable),
        )
    else:
        statement = statement.on_conflict_do_nothing()
    statement = statement.returning(existing.ballot_id)
    _claims[key] = statement
    return statement


async def _record_cast(
    session: AsyncSession,
    ballot: Ballot,
    definition: Definition,
    code: str,
    answers: dict[str, Any],
    channel: str,
    extra: dict[str, Any],
    writer_held: bool = False,
) -> CastResult:
    """Claim the elector's participation under the revoting policy, re-read the ballot's state
    under its lock, then append the cast. Commits.

    The claim comes first so that parallel casts for one elector queue on its row: their
    entries then reach the log in the order they commit, and the last in the log is the one
    the participation row names."""
    via_proxy = channel == "proxy"
    secret = definition.secrecy == "secret"
    statement = _claim_statement(
        session.bind.dialect.name,
        via_proxy,
        replaces_proxy=not secret and not via_proxy,
        revote=definition.revoting == "last",
    )
    params = {
        "ballot": ballot.id,
        "code": code,
        "community": ballot.community_id,
        "channel": channel,
    }
    async with contextlib.nullcontext() if writer_held else _one_writer(session):
        claimed = (await session.execute(statement, params)).first()
        refused = await _refusal_now(session, ballot)
        if refused is None and claimed is None:
            prior = await session.get(BallotParticipation, (ballot.id, code))
            if prior is not None and prior.via_proxy and not via_proxy:
                refused = "proxy_already_voted"  # secret: the proxy's ballot cannot be found again
            elif prior is not None and not prior.via_proxy and via_proxy:
                refused = "voted_in_person"
            else:
                refused = "already_voted"
        if refused:
            await _abort(session)
            raise BallotError(refused, elector=code)
        # A secret cast carries the answers alone: its channel would single out the few who
        # voted on paper or by proxy, whom the participation list names.
        payload: dict[str, Any] = {"ballot": ballot.number, "answers": answers}
        if not secret:
            payload |= {"channel": channel, "elector": code, **extra}
        entry_id = await log.append(session, ballot.community_id, "ballot.cast", payload)
        if not secret:
            await session.execute(_LINK, {"ballot": ballot.id, "code": code, "entry": entry_id})
        await session.commit()
    return CastResult(entry_id, code, channel)


async def cast_online(
    session: AsyncSession,
    ballot: Ballot,
    person: Person | None,
    answers: object,
    code: str | None = None,
) -> CastResult:
    """A voter casts for themselves (or, for an owner of several unit groups, for one of them)."""
    now = utcnow()
    definition = await _definition(ballot, "online", now)
    clean = _answers(definition, answers)
    mine = await electors_of(session, ballot, person.id) if person and person.id else []
    if not mine:
        raise BallotError("not_on_roll")
    if code is None:
        code = mine[0]
    elif code not in mine:
        raise BallotError("not_your_elector", elector=code)
    return await _record_cast(session, ballot, definition, code, clean, "online", {})


async def cast_as_proxy(
    session: AsyncSession, ballot: Ballot, holder: Person | None, principal: str, answers: object
) -> CastResult:
    """A proxy holder casts for a principal who authorised them."""
    now = utcnow()
    definition = await _definition(ballot, "proxy", now)
    clean = _answers(definition, answers)
    proxy = (
        await session.execute(
            select(BallotProxy).where(
                BallotProxy.ballot_id == ballot.id, BallotProxy.principal == principal
            )
        )
    ).scalar_one_or_none()
    if holder is None or proxy is None or proxy.holder_id != holder.id:
        raise BallotError("not_your_proxy", elector=principal)
    extra = {"holder": holder.ref}
    return await _record_cast(session, ballot, definition, principal, clean, "proxy", extra)


async def proxies_held(session: AsyncSession, ballot: Ballot, person_id: int) -> list[str]:
    return list(
        (
            await session.execute(
                select(BallotProxy.principal)
                .where(BallotProxy.ballot_id == ballot.id, BallotProxy.holder_id == person_id)
                .order_by(BallotProxy.principal)
            )
        ).scalars()
    )


async def grant_proxy(
    session: AsyncSession,
    ballot: Ballot,
    principal: str,
    holder: Person,
    *,
    by_principal: Person | None = None,
    grid_member: tuple[Account, set[int]] | None = None,
    serial: str | None = None,
) -> int:
    """Record a proxy (``ballot.proxy``): online by the principal, or by a grid member of the
    principal's grid from the written form with its serial. Returns the entry id."""
    now = utcnow()
    await _definition(ballot, "proxy", now)
    row = await elector(session, ballot, principal)
    entered_by = None
    if grid_member is not None:
        account, grid_ids = grid_member
        if row.grid_id not in grid_ids:
            raise BallotError("not_your_grid", elector=principal)
        if holder.account_id is not None and holder.account_id == account.id:
            # the grid member who enters a written proxy may not be the one it empowers
            raise BallotError("proxy_to_self", elector=principal)
        serial = _serial(serial)
        entered_by = account.id
    elif by_principal is None or principal not in await electors_of(
        session, ballot, by_principal.id or 0
    ):
        raise BallotError("not_your_elector", elector=principal)
    if holder.community_id != ballot.community_id:
        raise BallotError("unknown_person")
    if principal in await electors_of(session, ballot, holder.id or 0):
        raise BallotError("proxy_to_self", elector=principal)
    definition = frozen_definition(ballot)
    if await session.get(BallotParticipation, (ballot.id, principal)) is not None:
        raise BallotError("already_voted", elector=principal)
    # The slot is the holder's n-th proxy: a unique key, so parallel grants to one holder
    # cannot pass the limit. A slot taken meanwhile means: try the next one.
    async with _one_writer(session):
        for _attempt in range(definition.proxy_limit + 1):
            held = await session.execute(
                select(func.count())
                .select_from(BallotProxy)
                .where(BallotProxy.ballot_id == ballot.id, BallotProxy.holder_id == holder.id)
            )
            slot = held.scalar_one() + 1
            if slot > definition.proxy_limit:
                break
            proxy = BallotProxy(
                community_id=ballot.community_id,
                ballot_id=ballot.id,
                principal=principal,
                holder_id=holder.id,
                slot=slot,
                serial=serial,
                entered_by=entered_by,
            )
            session.add(proxy)
            try:
                await session.flush()  # the first write of this transaction: nothing else is lost
            except IntegrityError:
                await _abort(session)
                await _proxy_clash(session, ballot, principal, serial)
                continue
            refused = await _refusal_now(session, ballot)
            if refused:
                await _abort(session)
                raise BallotError(refused)
            payload: dict[str, Any] = {
                "ballot": ballot.number,
                "principal": principal,
                "holder": holder.ref,
            }
            if serial is not None:
                payload |= {"serial": serial, "entered_by": entered_by}
            entry_id = await log.append(session, ballot.community_id, "ballot.proxy", payload)
            proxy.entry_id = entry_id
            await session.commit()
            return entry_id
    raise BallotError("proxy_limit", limit=definition.proxy_limit)


async def _proxy_clash(
    session: AsyncSession, ballot: Ballot, principal: str, serial: str | None
) -> None:
    """Say why a proxy could not be stored, unless it was only the holder's slot."""
    same_principal = BallotProxy.principal == principal
    clash = or_(same_principal, BallotProxy.serial == serial) if serial else same_principal
    known = (
        await session.execute(
            select(BallotProxy.principal).where(BallotProxy.ballot_id == ballot.id, clash)
        )
    ).first()
    if known is not None and known[0] == principal:
        raise BallotError("proxy_exists", elector=principal)
    if known is not None:
        raise BallotError("serial_used", serial=serial)


def _serial(serial: str | None) -> str:
    text = (serial or "").strip()
    if not text:
        raise BallotError("serial_required")
    if len(text) > 40 or not text.replace("-", "").isalnum():
        raise BallotError("serial_invalid", serial=text[:40])
    return text


@dataclass(frozen=True)
class PaperResult:
    counted: CastResult | None  # None: the first of two entries, waiting for the second


async def enter_paper(
    session: AsyncSession,
    ballot: Ballot,
    grid_member: Account,
    grid_ids: set[int],
    code: str,
    serial: str | None,
    answers: object,
    reading_key: bytes = b"",
) -> PaperResult:
    """A grid member enters a paper form for a voter of their grid. With double entry the form
    counts when a second grid member enters the same serial with the same reading; the first
    reading waits as an HMAC under ``reading_key`` (``paper_reading_key``), so the database
    never holds a voter's answers beside their code."""
    now = utcnow()
    definition = await _definition(ballot, "paper", now)
    clean = _answers(definition, answers)
    serial = _serial(serial)
    row = await elector(session, ballot, code)
    if row.grid_id not in grid_ids:
        raise BallotError("not_your_grid", elector=code)
    async with _one_writer(session):  # its first write comes before the cast's
        reading = _reading(reading_key, serial, code, clean)
        return await _enter_paper(
            session, ballot, definition, grid_member, code, serial, clean, reading
        )


def paper_reading_key(settings: Settings) -> bytes:
    """The key of first readings' digests, derived from the application secret (kept apart from
    the database, so a copy of the database cannot test guesses against a digest)."""
    return hashlib.sha256(b"yishi paper reading\0" + settings.secret_key.encode()).digest()


def _reading(key: bytes, serial: str, code: str, answers: dict[str, Any]) -> str:
    text = json.dumps([serial, code, answers], sort_keys=True, separators=(",", ":"))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


async def _enter_paper(
    session: AsyncSession,
    ballot: Ballot,
    definition: Definition,
    grid_member: Account,
    code: str,
    serial: str,
    clean: dict[str, Any],
    reading: str,
) -> PaperResult:
    known = await session.get(BallotPaper, (ballot.id, serial))
    if known is None:
        paper = BallotPaper(
            ballot_id=ballot.id,
            serial=serial,
            community_id=ballot.community_id,
            elector=code,
            first_by=grid_member.id,
            counted=not definition.paper_double_entry,
            reading=reading if definition.paper_double_entry else None,
        )
        session.add(paper)
        try:
            await session.flush()
        except IntegrityError:
            await _abort(session)
            raise BallotError("serial_used", serial=serial) from None
        if definition.paper_double_entry:
            refused = await _refusal_now(session, ballot)
            if refused:
                await _abort(session)
                raise BallotError(refused)
            await session.commit()
            return PaperResult(None)
        extra = {"serial": serial, "entered_by": [grid_member.id]}
        return PaperResult(
            await _record_cast(
                session, ballot, definition, code, clean, "paper", extra, writer_held=True
            )
        )
    if known.counted or not definition.paper_double_entry:
        raise BallotError("serial_used", serial=serial)
    if known.first_by == grid_member.id:
        raise BallotError("second_entry_same_person", serial=serial)
    if known.reading is None or not hmac.compare_digest(known.reading, reading):
        raise BallotError("paper_mismatch", serial=serial)
    confirmed = await session.execute(
        update(BallotPaper)
        .where(
            BallotPaper.ballot_id == ballot.id,
            BallotPaper.serial == serial,
            BallotPaper.counted.is_(False),
        )
        .values(counted=True, second_by=grid_member.id, reading=None)
    )
    if confirmed.rowcount != 1:
        await _abort(session)
        raise BallotError("serial_used", serial=serial)
    extra = {"serial": serial, "entered_by": [known.first_by, grid_member.id]}
    return PaperResult(
        await _record_cast(
            session, ballot, definition, code, clean, "paper", extra, writer_held=True
        )
    )


# --- closing and counting ----------------------------------------------------------------------


async def close_ballot(session: AsyncSession, ballot: Ballot, actor: Account | None) -> int:
    """Stop casting and publish the participation list (``ballot.closed``). ``actor`` None is
    the scheduler at the closing time; a chair may close early only where the definition says."""
    definition = parse_definition(ballot.definition)
    now = utcnow()
    if ballot.status != BallotStatus.open:
        raise BallotError("not_open" if ballot.status == BallotStatus.draft else "closed")
    assert ballot.closes_at is not None
    if actor is not None and now < ballot.closes_at and not definition.early_close:
        raise BallotError("early_close_not_allowed")
    if actor is None and now < ballot.closes_at:
        raise BallotError("not_due")
    async with _one_writer(session):
        query = select(Ballot).where(Ballot.id == ballot.id, Ballot.status == BallotStatus.open)
        if session.bind.dialect.name == "postgresql":
            # waits for casts in flight: each holds a key-share lock on this row
            query = query.with_for_update()
        else:
            await session.execute(update(Ballot).where(Ballot.id == ballot.id).values(id=Ballot.id))
        locked = (await session.execute(query)).scalar_one_or_none()
        if locked is None:
            await _abort(session)
            raise BallotError("closed")
        listed = [
            {"elector": p.elector, "channel": p.channel} | ({"proxy": True} if p.via_proxy else {})
            for p in await participation(session, ballot)
        ]
        entry_id = await log.append(
            session,
            ballot.community_id,
            "ballot.closed",
            {
                "ballot": ballot.number,
                "by": "schedule" if actor is None else "chair",
                "participation": listed,
            },
        )
        await session.execute(
            update(Ballot)
            .where(Ballot.id == ballot.id)
            .values(
                status=BallotStatus.closed,
                closed_at=now,
                closed_by=None if actor is None else actor.id,
                closed_entry_id=entry_id,
            )
        )
        # a secret ballot's pending double-entry readings die with it
        await session.execute(
            update(BallotPaper)
            .where(BallotPaper.ballot_id == ballot.id, BallotPaper.counted.is_(False))
            .values(reading=None)
        )
        await session.commit()
        await session.refresh(ballot)
    return entry_id


async def cast_entries(session: AsyncSession, ballot: Ballot) -> list[dict[str, Any]]:
    """The ballot's ``ballot.cast`` payloads, in log order."""
    assert ballot.opened_entry_id is not None
    upper = ballot.closed_entry_id
    query = select(LogEntry.payload).where(
        LogEntry.community_id == ballot.community_id,
        LogEntry.type == "ballot.cast",
        LogEntry.id > ballot.opened_entry_id,
    )
    if upper is not None:
        query = query.where(LogEntry.id < upper)
    # log order; a cast still pending (none is, once the close is sealed) follows by id
    query = query.order_by(LogEntry.seq.is_(None), LogEntry.seq, LogEntry.id)
    return [p for p in (await session.execute(query)).scalars() if p.get("ballot") == ballot.number]


async def casts_of(session: AsyncSession, ballot: Ballot) -> list[Cast]:
    """The ballot's casts as the count reads them, in log order."""
    return [
        Cast(p.get("elector"), p["answers"], p.get("channel", ""))
        for p in await cast_entries(session, ballot)
    ]


async def roll_of(session: AsyncSession, ballot: Ballot) -> list[Elector]:
    """The roll as ``ballot.opened`` froze it: the count reads the log, not a copy."""
    opened = await session.get(LogEntry, ballot.opened_entry_id)
    if opened is None:
        raise BallotError("not_open")
    return [Elector.from_dict(e) for e in opened.payload["roll"]]


async def compute_tally(session: AsyncSession, ballot: Ballot) -> dict[str, Any]:
    """Count from the log entries themselves, with the verifier's code."""
    definition = parse_definition(ballot.definition)
    casts = await casts_of(session, ballot)
    counted = counted_casts(definition, casts)
    closed = await session.get(LogEntry, ballot.closed_entry_id)
    assert closed is not None
    participants = [p["elector"] for p in closed.payload["participation"]]
    return tally(definition, await roll_of(session, ballot), counted, participants)


async def publish_tally(session: AsyncSession, ballot: Ballot) -> int:
    """``tally.published``: the preliminary result, open to objections until the period ends."""
    if ballot.status != BallotStatus.closed:
        raise BallotError("not_closed")
    definition = parse_definition(ballot.definition)
    result = await compute_tally(session, ballot)
    until = utcnow() + timedelta(days=definition.objection_days)
    entry_id = await log.append(
        session,
        ballot.community_id,
        "tally.published",
        {
            "ballot": ballot.number,
            "result": result,
            "objection_until": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    done = await session.execute(
        update(Ballot)
        .where(Ballot.id == ballot.id, Ballot.status == BallotStatus.closed)
        .values(
            status=BallotStatus.tallied,
            tally=result,
            tally_entry_id=entry_id,
            objection_until=until,
        )
    )
    if done.rowcount != 1:
        await _abort(session)
        raise BallotError("not_closed")
    await session.commit()
    await session.refresh(ballot)
    return entry_id


async def finalise(session: AsyncSession, ballot: Ballot) -> int:
    """After the objection period the preliminary result becomes final (``tally.final``)."""
    if ballot.status != BallotStatus.tallied:
        raise BallotError("not_tallied")
    assert ballot.objection_until is not None
    if utcnow() < ballot.objection_until:
        raise BallotError("objection_period")
    entry_id = await log.append(
        session, ballot.community_id, "tally.final", {"ballot": ballot.number}
    )
    done = await session.execute(
        update(Ballot)
        .where(Ballot.id == ballot.id, Ballot.status == BallotStatus.tallied)
        .values(status=BallotStatus.final, final_entry_id=entry_id)
    )
    if done.rowcount != 1:
        await _abort(session)
        raise BallotError("not_tallied")
    await session.commit()
    await session.refresh(ballot)
    return entry_id


async def run_due(session: AsyncSession) -> int:
    """Close ballots past their closing time, tally closed ones, finalise those past the
    objection period. Every step is conditional on the status, so several app processes (or a
    restart half-way) never do one twice. Returns how many steps were taken."""
    now = utcnow()
    due = (
        await session.execute(
            select(Ballot).where(
                or_(
                    and_(Ballot.status == BallotStatus.open, Ballot.closes_at <= now),
                    Ballot.status == BallotStatus.closed,
                    and_(Ballot.status == BallotStatus.tallied, Ballot.objection_until <= now),
                )
            )
        )
    ).scalars()
    steps = 0
    for ballot in list(due):
        try:
            if ballot.status == BallotStatus.open:
                await close_ballot(session, ballot, None)
                steps += 1
            if ballot.status == BallotStatus.closed:
                await publish_tally(session, ballot)
                steps += 1
            elif ballot.status == BallotStatus.tallied:
                await finalise(session, ballot)
                steps += 1
        except BallotError as error:  # another process got there first
            await _abort(session)
            logger.info("ballot %s: %s", ballot.id, error.code)
    return steps


async def run_scheduler(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event,
    interval: float = 5.0,
) -> None:
    """Close, tally and finalise on time, in every app process. State lives in the database, so
    a restart simply finds what is due."""
    while not stop.is_set():
        try:
            async with sessionmaker() as session:
                await run_due(session)
        except Exception:  # keep the scheduler alive; the next round retries
            logger.exception("ballot scheduler round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


# --- reading -----------------------------------------------------------------------------------


async def list_ballots(
    session: AsyncSession, community_id: int, statuses: Iterable[str] | None = None
) -> list[Ballot]:
    query = select(Ballot).where(Ballot.community_id == community_id)
    if statuses is not None:
        query = query.where(Ballot.status.in_(list(statuses)))
    return list((await session.execute(query.order_by(Ballot.number.desc()))).scalars())


async def participation(session: AsyncSession, ballot: Ballot) -> list[BallotParticipation]:
    return list(
        (
            await session.execute(
                select(BallotParticipation)
                .where(BallotParticipation.ballot_id == ballot.id)
                .order_by(BallotParticipation.elector)
            )
        ).scalars()
    )


@dataclass(frozen=True)
class Turnout:
    name: str
    voted: int
    electors: int

    @property
    def percent(self) -> float:
        return 100.0 * self.voted / self.electors if self.electors else 0.0


async def turnout_by(session: AsyncSession, ballot: Ballot, level: str) -> list[Turnout]:
    """Electors and participants per building or per grid, so grid members know which doors
    to knock on."""
    column = BallotElector.building if level == "building" else BallotElector.grid
    rows = await session.execute(
        select(column, func.count(), func.count(BallotParticipation.elector))
        .select_from(BallotElector)
        .outerjoin(
            BallotParticipation,
            and_(
                BallotParticipation.ballot_id == BallotElector.ballot_id,
                BallotParticipation.elector == BallotElector.code,
            ),
        )
        .where(BallotElector.ballot_id == ballot.id)
        .group_by(column)
    )
    found = [Turnout(name or "-", int(voted), int(total)) for name, total, voted in rows.all()]
    return sorted(found, key=lambda t: _natural(t.name))


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(
        (0, int(p), "") if p.isdecimal() else (1, 0, p) for p in re.split(r"(\d+)", text) if p
    )


CSV_HEADER = ("elector", "units", "area", "channel", "question", "answer")


async def counted_csv(session: AsyncSession, ballot: Ballot) -> str:
    """The counted ballots as CSV, one row per ballot and question, in the format
    ``yishi tally`` reads (README, "Recounting"). Secret ballots have no elector column value."""
    definition = parse_definition(ballot.definition)
    casts = await casts_of(session, ballot)
    by_code = {e.code: e for e in await roll_of(session, ballot)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for c in counted_casts(definition, casts):
        e = by_code.get(c.elector or "")
        for q in definition.questions:
            answer = c.answers[q.id]
            writer.writerow(
                [
                    c.elector or "",
                    " ".join(e.units) if e else "",
                    str(e.area) if e else "",
                    c.channel,
                    q.id,
                    answer if isinstance(answer, str) else " ".join(answer),
                ]
            )
    return out.getvalue()
