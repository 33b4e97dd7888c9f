"""Meeting pages: the list (upcoming and past), convening one (chairs), one meeting with its
agenda and, once held, its attendance, votes and minutes; recording the minutes and cancelling
(chairs). Plain forms, post/redirect/get; a refused form comes back with a 4xx and says which
field is wrong."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Response, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import meetings as actions
from app.auth import Membership, community_guard
from app.controllers.ballot_views import local_time, parse_local
from app.i18n import gettext as _
from app.items import DeliberationError
from app.models import Account, LogEntry, Meeting, Role, utcnow
from app.web import page, redirect
from deliberation.meetings import (
    AGENDA_MAX,
    MINUTES_MAX,
    PLACE_MAX,
    Kind,
    MeetingStatus,
    Problem,
    quorate,
)
from deliberation.text import TITLE_MAX

public = community_guard()
chair_guard = community_guard(Role.chair)
SIDES = ("for", "against", "abstain")


# --- words ---------------------------------------------------------------------------------------


def kind_labels() -> dict[str, str]:
    return {
        Kind.residents: _("Residents' meeting"),
        Kind.owners: _("Owners' meeting"),
        Kind.council: _("Residents' council"),
    }


def status_labels() -> dict[str, str]:
    return {
        MeetingStatus.convened: _("Convened"),
        MeetingStatus.held: _("Held: minutes published"),
        MeetingStatus.cancelled: _("Cancelled"),
    }


def field_label(name: str) -> str:
    vote = re.fullmatch(r"v(\d+)-(for|against|abstain)", name)
    if vote:
        side = {"for": _("for"), "against": _("against"), "abstain": _("abstaining")}
        return _("Item #%(n)s, %(side)s", n=vote.group(1), side=side[vote.group(2)])
    return {
        "title": _("Title"),
        "kind": _("Kind of meeting"),
        "place": _("Place"),
        "starts_at": _("Date and time"),
        "agenda": _("Agenda"),
        "attendance": _("People present"),
        "eligible": _("People entitled to attend"),
        "minutes": _("Minutes"),
    }.get(name, name)


_PROBLEMS: dict[str, Callable[[dict[str, Any]], str]] = {
    "empty": lambda d: _("%(field)s: please fill this in.", **d),
    "too_long": lambda d: _("%(field)s: at most %(limit)s characters.", **d),
    "unknown_kind": lambda d: _("Choose the kind of meeting."),
    "bad_time": lambda d: _(
        "%(field)s: enter a date and time in Beijing time, for example 2026-12-01 19:30.", **d
    ),
    "in_the_past": lambda d: _("%(field)s: the meeting must start in the future.", **d),
    "too_far_ahead": lambda d: _(
        "%(field)s: a meeting can be convened at most %(days)s days ahead.", **d
    ),
    "agenda_too_long": lambda d: _("At most %(limit)s items fit on one agenda.", **d),
    "agenda_repeated": lambda d: _("An item is on the agenda twice."),
    "not_on_agenda": lambda d: _(
        "Item #%(item)s cannot be taken up: a meeting takes items that are on the agenda, in "
        "consultation or being decided.",
        **d,
    ),
    "not_a_number": lambda d: _("%(field)s: enter a whole number.", **d),
    "negative": lambda d: _("%(field)s: a count cannot be negative.", **d),
    "too_large": lambda d: _("%(field)s: at most %(limit)s.", **d),
    "no_one_eligible": lambda d: _("%(field)s: at least one person must be entitled.", **d),
    "more_present_than_eligible": lambda d: _(
        "%(field)s: %(a)s present, but only %(e)s entitled to attend.", **d
    ),
    "more_votes_than_present": lambda d: _(
        "Item #%(item)s: %(votes)s votes counted, but only %(a)s people were present.", **d
    ),
}

_REFUSALS: dict[str, Callable[[dict[str, Any]], str]] = {
    "already_held": lambda d: _(
        "The record of this meeting is already published; it cannot be recorded twice."
    ),
    "cancelled": lambda d: _("This meeting was cancelled."),
    "not_chair": lambda d: _("Only the chair can do this."),
    "not_started": lambda d: _(
        "The meeting has not started yet: its record can be entered from %(t)s.", **d
    ),
    "not_on_this_agenda": lambda d: _("Item #%(item)s is not on this meeting's agenda.", **d),
    "busy": lambda d: _("Another meeting was being convened at the same moment. Please try again."),
}
CONFLICTS = frozenset({"already_held", "cancelled", "not_started", "busy"})


def problem_message(problem: Problem) -> str:
    details = {"field": field_label(problem.field), **problem.details}
    make = _PROBLEMS.get(problem.code)
    return make(details) if make else f"{details['field']}: {problem.code}"


def refusal_message(error: DeliberationError) -> str:
    details = dict(error.details)
    if "starts_at" in details:
        details["t"] = local_time(str(details["starts_at"]))
    make = _REFUSALS.get(error.code)
    return make(details) if make else error.code


def _problems(error: DeliberationError) -> list[Problem]:
    return list(error.details.get("problems", []))


def _errors(found: list[Problem]) -> dict[str, list[str]]:
    by_field: dict[str, list[str]] = {}
    for problem in found:
        by_field.setdefault(problem.field, []).append(problem_message(problem))
    return by_field


# --- reading -------------------------------------------------------------------------------------


def _base(m: Membership) -> str:
    return f"/c/{m.community.slug}/meetings"


async def meeting_or_404(db: AsyncSession, m: Membership, number: int) -> Meeting:
    try:
        return await actions.get_meeting(db, m.community.id, number)
    except DeliberationError:
        raise NotFoundException() from None


def meeting_summary(meeting: Meeting) -> str:
    """A line for share cards and link previews: when and where."""
    return _(
        "%(when)s (Beijing time), %(place)s",
        when=local_time(meeting.starts_at),
        place=meeting.place,
    )


@get("/c/{slug:str}/meetings", guards=[public])
async def meeting_list(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Template:
    now = utcnow()
    found = await actions.list_meetings(db, membership.community.id)
    convened = [x for x in found if x.status == MeetingStatus.convened]
    return page(
        request,
        "meetings/list.html",
        m=membership,
        upcoming=sorted((x for x in convened if x.starts_at > now), key=lambda x: x.starts_at),
        awaiting=[x for x in convened if x.starts_at <= now],
        past=[x for x in found if x.status != MeetingStatus.convened],
        kinds=kind_labels(),
        statuses=status_labels(),
        local_time=local_time,
    )


# --- convening -----------------------------------------------------------------------------------


async def _new_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    form: dict[str, Any],
    status: int = 200,
    found: list[Problem] | None = None,
    error: str | None = None,
) -> Template:
    return page(
        request,
        "meetings/new.html",
        status,
        m=m,
        form=form,
        errors=_errors(found or []),
        error=error,
        candidates=await actions.agenda_candidates(db, m.community.id),
        kinds=kind_labels(),
        limits={"title": TITLE_MAX, "place": PLACE_MAX, "agenda": AGENDA_MAX},
    )


@get("/c/{slug:str}/meetings/new", guards=[chair_guard])
async def new_meeting(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Template:
    blank = {"title": "", "kind": Kind.residents, "place": "", "starts_at": "", "agenda": []}
    return await _new_page(request, db, membership, blank)


def _item_numbers(values: list[str]) -> list[int] | None:
    numbers = []
    for value in values:
        if not value.isdecimal() or len(value) > 9:
            return None
        numbers.append(int(value))
    return numbers


@post("/c/{slug:str}/meetings/new", guards=[chair_guard])
async def convene(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    data = await request.form()
    agenda_values = [str(v) for v in data.getall("agenda", [])]
    form = {
        "title": str(data.get("title") or ""),
        "kind": str(data.get("kind") or ""),
        "place": str(data.get("place") or ""),
        "starts_at": str(data.get("starts_at") or ""),
        "agenda": agenda_values,
    }
    agenda = _item_numbers(agenda_values)
    if agenda is None:
        return await _new_page(
            request, db, membership, form, 400, [Problem("not_on_agenda", "agenda", {"item": "?"})]
        )
    starts_at = parse_local(form["starts_at"].strip().replace(" ", "T", 1))
    try:
        meeting = await actions.convene(
            db,
            membership.community,
            account,
            title=form["title"],
            kind=form["kind"],
            place=form["place"],
            starts_at=starts_at,
            agenda=agenda,
        )
    except DeliberationError as error:
        if error.code == "invalid_meeting":
            return await _new_page(request, db, membership, form, 400, _problems(error))
        return await _new_page(request, db, membership, form, 409, error=refusal_message(error))
    return redirect(f"{_base(membership)}/{meeting.number}", "convened")


# --- one meeting ---------------------------------------------------------------------------------


async def _entry_seqs(db: AsyncSession, meeting: Meeting) -> dict[int, int | None]:
    ids = [i for i in (meeting.convened_entry_id, meeting.minutes_entry_id) if i is not None]
    if not ids:
        return {}
    rows = await db.execute(select(LogEntry.id, LogEntry.seq).where(LogEntry.id.in_(ids)))
    return {entry_id: seq for entry_id, seq in rows.all()}


async def _meeting_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    meeting: Meeting,
    status: int = 200,
    form: dict[str, str] | None = None,
    found: list[Problem] | None = None,
    error: str | None = None,
) -> Template:
    now = utcnow()
    items = await actions.agenda_items(db, meeting)
    seqs = await _entry_seqs(db, meeting)
    may_record = (
        m.has(Role.chair) and meeting.status == MeetingStatus.convened and meeting.starts_at <= now
    )
    if form is None and may_record:
        entitled = await actions.entitled_count(db, m.community.id, meeting.kind)
        form = {"eligible": "" if entitled is None else str(entitled)}
    votes = {v["item"]: v for v in meeting.votes}
    held = meeting.status == MeetingStatus.held
    path = f"{_base(m)}/{meeting.number}"
    return page(
        request,
        "meetings/meeting.html",
        status,
        m=m,
        meeting=meeting,
        path=path,
        summary=meeting_summary(meeting),
        items=items,
        votes=votes,
        quorate=held and quorate(meeting.attendance or 0, meeting.eligible or 0),
        convened_seq=seqs.get(meeting.convened_entry_id or 0),
        minutes_seq=seqs.get(meeting.minutes_entry_id or 0),
        kind_label=kind_labels().get(meeting.kind, meeting.kind),
        status_label=status_labels().get(meeting.status, meeting.status),
        may_record=may_record,
        may_cancel=m.has(Role.chair) and meeting.status == MeetingStatus.convened,
        not_yet=meeting.status == MeetingStatus.convened and meeting.starts_at > now,
        form=form or {},
        errors=_errors(found or []),
        error_list=[(p.field, problem_message(p)) for p in found or []],
        error=error,
        sides=SIDES,
        minutes_max=MINUTES_MAX,
        local_time=local_time,
        done=request.query_params.get("done", ""),
    )


@get("/c/{slug:str}/meetings/{number:int}", guards=[public])
async def meeting_page(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    meeting = await meeting_or_404(db, membership, number)
    return await _meeting_page(request, db, membership, meeting)


def _count(value: object) -> int | None:
    """A count typed into the form: a whole number (a minus sign is kept, to be refused as
    negative); anything else is None."""
    text = str(value or "").strip()
    return int(text) if re.fullmatch(r"-?\d{1,9}", text) else None


@post("/c/{slug:str}/meetings/{number:int}/minutes", guards=[chair_guard])
async def record_minutes(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    meeting = await meeting_or_404(db, membership, number)
    data = await request.form()
    form = {key: str(value) for key, value in data.items() if key != "_csrf_token"}
    votes: dict[int, tuple[int | None, int | None, int | None]] = {}
    for item in meeting.agenda:
        entered = [str(data.get(f"v{item}-{side}") or "").strip() for side in SIDES]
        if any(entered):
            votes[item] = (_count(entered[0]), _count(entered[1]), _count(entered[2]))
    try:
        await actions.record_minutes(
            db,
            membership.community,
            meeting,
            account,
            attendance=_count(data.get("attendance")),
            eligible=_count(data.get("eligible")),
            votes=votes,
            minutes=data.get("minutes"),
        )
    except DeliberationError as error:
        if error.code == "invalid_record":
            return await _meeting_page(
                request, db, membership, meeting, 400, form=form, found=_problems(error)
            )
        return await _meeting_page(
            request,
            db,
            membership,
            meeting,
            409 if error.code in CONFLICTS else 400,
            form=form,
            error=refusal_message(error),
        )
    return redirect(f"{_base(membership)}/{number}", "recorded")


@post("/c/{slug:str}/meetings/{number:int}/cancel", guards=[chair_guard])
async def cancel(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    meeting = await meeting_or_404(db, membership, number)
    try:
        await actions.cancel(db, membership.community, meeting, account)
    except DeliberationError as error:
        return await _meeting_page(
            request, db, membership, meeting, 409, error=refusal_message(error)
        )
    return redirect(f"{_base(membership)}/{number}", "cancelled")


ROUTES: list[Any] = [
    meeting_list,
    new_meeting,
    convene,
    meeting_page,
    record_minutes,
    cancel,
]
