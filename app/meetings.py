"""Meetings stored: convening one (with its agenda), recording what it decided (attendance,
each agenda item's vote, the minutes) and cancelling one that has not been held.

Each action checks first, then writes its rows, its log entry and its notices in one
transaction, and writes nothing when refused. The meeting rule itself is
``deliberation.meetings``.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import log
from app.ballots import ADULT_AGE
from app.items import MAX_ID, DeliberationError, is_chair
from app.models import (
    OWNING_RELATIONS,
    Account,
    AgendaItem,
    Community,
    ItemFollow,
    Meeting,
    Person,
    UnitLink,
    utcnow,
)
from app.notify import notify
from ballots.ballot import iso_utc
from deliberation.meetings import (
    AGENDA_STATUSES,
    MINUTES_MAX,
    PLACE_MAX,
    Kind,
    MeetingStatus,
    Problem,
    Vote,
    check_notice,
    check_record,
    votes_record,
)
from deliberation.text import TITLE_MAX, TextError, clean_line, clean_text, render_markdown


async def _abort(session: AsyncSession) -> None:
    """Roll back a refused action and reload what the caller holds (a rollback expires every
    loaded object, and the page that re-renders still shows them)."""
    await session.rollback()
    for loaded in list(session.identity_map.values()):
        await session.refresh(loaded)


def _text(value: object, field: str, limit: int, found: list[Problem], *, line: bool) -> str:
    try:
        if line:
            return clean_line(value, field, limit)
        return clean_text(value, field, limit)
    except TextError as error:
        found.append(Problem(error.code, field, {"limit": error.limit}))
        return ""


# --- reading -------------------------------------------------------------------------------------


async def get_meeting(session: AsyncSession, community_id: int, number: int) -> Meeting:
    if not 0 < number <= MAX_ID:
        raise DeliberationError("no_such_meeting", number=number)
    meeting = (
        await session.execute(
            select(Meeting).where(Meeting.community_id == community_id, Meeting.number == number)
        )
    ).scalar_one_or_none()
    if meeting is None:
        raise DeliberationError("no_such_meeting", number=number)
    return meeting


async def list_meetings(session: AsyncSession, community_id: int) -> list[Meeting]:
    found = await session.execute(
        select(Meeting)
        .where(Meeting.community_id == community_id)
        .order_by(Meeting.starts_at.desc(), Meeting.number.desc())
    )
    return list(found.scalars())


async def agenda_candidates(session: AsyncSession, community_id: int) -> list[AgendaItem]:
    """Items a meeting may take up: on the agenda, in consultation or being decided."""
    found = await session.execute(
        select(AgendaItem)
        .where(
            AgendaItem.community_id == community_id,
            AgendaItem.status.in_([str(s) for s in AGENDA_STATUSES]),
        )
        .order_by(AgendaItem.number)
    )
    return list(found.scalars())


async def agenda_items(session: AsyncSession, meeting: Meeting) -> dict[int, AgendaItem]:
    """The meeting's agenda items by number (an item's title and status as they now stand)."""
    if not meeting.agenda:
        return {}
    found = await session.execute(
        select(AgendaItem).where(
            AgendaItem.community_id == meeting.community_id,
            AgendaItem.number.in_(meeting.agenda),
        )
    )
    return {item.number: item for item in found.scalars()}


async def entitled_count(
    session: AsyncSession, community_id: int, kind: str, today: date | None = None
) -> int | None:
    """Those entitled to attend, as the register has them today: adult residents for a
    residents' meeting (counted as ``app.ballots.build_roll`` counts adults), owners by head
    for an owners' meeting; a council's membership is not in the register (None)."""
    today = today or utcnow().date()
    current = and_(
        UnitLink.community_id == community_id,
        or_(UnitLink.until.is_(None), UnitLink.until > today),
        or_(UnitLink.since.is_(None), UnitLink.since <= today),
    )
    query = select(func.count(func.distinct(Person.id))).join(
        UnitLink, UnitLink.person_id == Person.id
    )
    if kind == Kind.residents:
        adult_year = today.year - ADULT_AGE
        query = query.where(
            current,
            Person.is_organisation.is_(False),
            or_(Person.birth_year.is_(None), Person.birth_year <= adult_year),
        )
    elif kind == Kind.owners:
        query = query.where(current, UnitLink.relation.in_([str(r) for r in OWNING_RELATIONS]))
    else:
        return None
    return int((await session.execute(query)).scalar_one())


async def _audience(session: AsyncSession, community_id: int, agenda: list[int]) -> list[int]:
    """Everyone to tell about a meeting, in one query: every account linked to a person of the
    community, and the followers of its agenda items."""
    people = select(Person.account_id.label("account_id")).where(
        Person.community_id == community_id, Person.account_id.is_not(None)
    )
    if not agenda:
        query: Any = people
    else:
        followers = (
            select(ItemFollow.account_id.label("account_id"))
            .join(AgendaItem, AgendaItem.id == ItemFollow.item_id)
            .where(AgendaItem.community_id == community_id, AgendaItem.number.in_(agenda))
        )
        query = union(people, followers)
    return [row[0] for row in (await session.execute(query)).all() if row[0] is not None]


async def _require_chair(session: AsyncSession, community: Community, actor: Account) -> None:
    # The pages' guards already ask; the action asks again so that no other caller skips it.
    if not await is_chair(session, community.id, actor.id):
        raise DeliberationError("not_chair")


def _link(community: Community, meeting: Meeting) -> str:
    return f"/c/{community.slug}/meetings/{meeting.number}"


def _params(meeting: Meeting, status: str) -> dict[str, Any]:
    """What a notice about the meeting is worded from; ``status`` is the meeting's new one
    (convened, held: the minutes are out, cancelled)."""
    return {
        "meeting": meeting.number,
        "title": meeting.title,
        "starts_at": iso_utc(meeting.starts_at),
        "status": str(status),
    }


# --- convening -----------------------------------------------------------------------------------


async def convene(
    session: AsyncSession,
    community: Community,
    actor: Account,
    *,
    title: object,
    kind: object,
    place: object,
    starts_at: datetime | None,
    agenda: list[int],
    now: datetime | None = None,
) -> Meeting:
    """Convene a meeting: ``meeting.convened`` in the log, a notice to the community and to the
    followers of its agenda items. Refused with ``invalid_meeting`` (``problems`` in details)."""
    await _require_chair(session, community, actor)
    now = now or utcnow()
    found: list[Problem] = []
    clean_title = _text(title, "title", TITLE_MAX, found, line=True)
    clean_place = _text(place, "place", PLACE_MAX, found, line=True)
    kind_text = str(kind or "")
    found += [
        p
        for p in check_notice(clean_title, kind_text, clean_place, starts_at, agenda, now)
        if p.field not in {"title", "place"} or not any(q.field == p.field for q in found)
    ]
    if agenda and not any(p.field == "agenda" for p in found):
        allowed = {item.number for item in await agenda_candidates(session, community.id)}
        for number in agenda:
            if number not in allowed:
                found.append(Problem("not_on_agenda", "agenda", {"item": number}))
    if found:
        raise DeliberationError("invalid_meeting", problems=found)
    assert starts_at is not None
    for _attempt in range(5):
        number = (
            await session.execute(
                select(func.coalesce(func.max(Meeting.number), 0)).where(
                    Meeting.community_id == community.id
                )
            )
        ).scalar_one() + 1
        meeting = Meeting(
            community_id=community.id,
            number=number,
            title=clean_title,
            kind=kind_text,
            place=clean_place,
            starts_at=starts_at,
            agenda=list(agenda),
            status=MeetingStatus.convened,
            convened_by=actor.id,
        )
        session.add(meeting)
        try:
            await session.flush()
        except IntegrityError:  # another chair took the number
            await _abort(session)
            continue
        meeting.convened_entry_id = await log.append(
            session,
            community.id,
            "meeting.convened",
            {
                "meeting": number,
                "title": clean_title,
                "kind": kind_text,
                "starts_at": iso_utc(starts_at),
                "place": clean_place,
                "agenda": list(agenda),
            },
        )
        await notify(
            session,
            community.id,
            await _audience(session, community.id, agenda),
            "meeting",
            _params(meeting, MeetingStatus.convened),
            _link(community, meeting),
            exclude=actor.id,
        )
        await session.commit()
        return meeting
    raise DeliberationError("busy")


# --- the record ----------------------------------------------------------------------------------


async def record_minutes(
    session: AsyncSession,
    community: Community,
    meeting: Meeting,
    actor: Account,
    *,
    attendance: int | None,
    eligible: int | None,
    votes: dict[int, tuple[int | None, int | None, int | None]],
    minutes: object,
    now: datetime | None = None,
) -> Meeting:
    """Record a meeting that took place: attendance, each agenda item's vote with the outcome
    the meeting rule gives it, and the minutes; one ``meeting.minutes`` entry. ``votes`` maps
    agenda item numbers to (for, against, abstain); all three None means no vote was taken."""
    await _require_chair(session, community, actor)
    now = now or utcnow()
    if meeting.status == MeetingStatus.held:
        raise DeliberationError("already_held", number=meeting.number)
    if meeting.status == MeetingStatus.cancelled:
        raise DeliberationError("cancelled", number=meeting.number)
    if meeting.starts_at > now:
        raise DeliberationError("not_started", starts_at=iso_utc(meeting.starts_at))
    unknown = sorted(set(votes) - set(meeting.agenda))
    if unknown:
        raise DeliberationError("not_on_this_agenda", item=unknown[0])
    found = check_record(attendance, eligible, votes)
    text = _text(minutes, "minutes", MINUTES_MAX, found, line=False)
    if found:
        raise DeliberationError("invalid_record", problems=found)
    assert attendance is not None and eligible is not None
    taken = [
        Vote(item, int(c[0] or 0), int(c[1] or 0), int(c[2] or 0))
        for item in meeting.agenda
        if (c := votes.get(item, (None, None, None))) and any(x is not None for x in c)
    ]
    record = votes_record(attendance, eligible, taken)
    entry_id = await log.append(
        session,
        community.id,
        "meeting.minutes",
        {
            "meeting": meeting.number,
            "attendance": attendance,
            "eligible": eligible,
            "minutes_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "votes": record,
        },
    )
    # Only a meeting still convened: a second chair recording the same meeting gets a refusal.
    changed = await session.execute(
        update(Meeting)
        .where(Meeting.id == meeting.id, Meeting.status == MeetingStatus.convened)
        .values(
            status=MeetingStatus.held,
            attendance=attendance,
            eligible=eligible,
            votes=record,
            minutes=text,
            minutes_html=render_markdown(text),
            minutes_entry_id=entry_id,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        await _abort(session)
        raise DeliberationError(
            "already_held" if meeting.status == MeetingStatus.held else "cancelled",
            number=meeting.number,
        )
    await log.append(session, community.id, "meeting.cancelled", {"meeting": meeting.number})
    await notify(
        session,
        community.id,
        await _audience(session, community.id, meeting.agenda),
        "meeting",
        _params(meeting, MeetingStatus.held),
        _link(community, meeting),
        exclude=actor.id,
    )
    await session.commit()
    await session.refresh(meeting)
    return meeting


async def cancel(
    session: AsyncSession, community: Community, meeting: Meeting, actor: Account
) -> Meeting:
    """Call off a meeting that has not been held: ``meeting.cancelled`` in the log (so that its
    convening entry does not stand there as if it were still to come), the community told."""
    await _require_chair(session, community, actor)
    if meeting.status == MeetingStatus.held:
        raise DeliberationError("already_held", number=meeting.number)
    if meeting.status == MeetingStatus.cancelled:
        raise DeliberationError("cancelled", number=meeting.number)
    changed = await session.execute(
        update(Meeting)
        .where(Meeting.id == meeting.id, Meeting.status == MeetingStatus.convened)
        .values(status=MeetingStatus.cancelled)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        await _abort(session)
        raise DeliberationError(
            "already_held" if meeting.status == MeetingStatus.held else "cancelled",
            number=meeting.number,
        )
    await log.append(session, community.id, "meeting.cancelled", {"meeting": meeting.number})
    await notify(
        session,
        community.id,
        await _audience(session, community.id, meeting.agenda),
        "meeting",
        _params(meeting, MeetingStatus.cancelled),
        _link(community, meeting),
        exclude=actor.id,
    )
    await session.commit()
    await session.refresh(meeting)
    return meeting
