"""Ballot pages and API for chairs and auditors: define, check, open, close; results with
turnout and charts; participation list and exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, get, post, put
from litestar.exceptions import NotFoundException
from litestar.response import Response, Template
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import ballots as actions
from app.auth import Membership, community_guard
from app.charts import percent_bar_svg
from app.controllers.ballot_views import (
    apply_action,
    ballot_error_message,
    channel_labels,
    decision_view,
    definition_from_form,
    describe,
    electorate_labels,
    form_field,
    form_from_definition,
    form_from_post,
    local_time,
    method_labels,
    problem_message,
    problems_by_field,
    results_view,
    rule_choices,
    status_label,
)
from app.i18n import gettext as _
from app.models import Account, Ballot, BallotParticipation, BallotStatus, LogEntry, Role
from app.web import page, redirect
from ballots.ballot import MAX_QUESTIONS, Problem, iso_utc

CHAIRS = (Role.chair,)
READERS = (Role.chair, Role.auditor, Role.admin)  # see every participation list
public = community_guard()
chair_guard = community_guard(*CHAIRS)
member_guard = community_guard(*Role)
PUBLISHED = (BallotStatus.tallied, BallotStatus.final)


# --- reading ---------------------------------------------------------------------------------------


async def ballot_or_404(db: AsyncSession, m: Membership, number: int) -> Ballot:
    """The ballot; a draft only for chairs (nobody else has anything to see yet)."""
    try:
        ballot = await actions.get_ballot(db, m.community.id, number)
    except actions.BallotError:
        raise NotFoundException() from None
    if ballot.status == BallotStatus.draft and not m.has(*CHAIRS):
        raise NotFoundException()
    return ballot


async def published_or_404(db: AsyncSession, m: Membership, number: int) -> Ballot:
    ballot = await ballot_or_404(db, m, number)
    if ballot.status not in PUBLISHED or ballot.tally is None:
        raise NotFoundException()
    return ballot


async def participation_count(db: AsyncSession, ballot: Ballot) -> int:
    return int(
        (
            await db.execute(
                select(func.count())
                .select_from(BallotParticipation)
                .where(BallotParticipation.ballot_id == ballot.id)
            )
        ).scalar_one()
    )


# --- pages -----------------------------------------------------------------------------------------


def _base(m: Membership) -> str:
    return f"/c/{m.community.slug}/ballots"


@get("/c/{slug:str}/ballots", guards=[public])
async def ballot_list(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Template:
    found = await actions.list_ballots(db, membership.community.id)
    groups = []
    for status in (
        BallotStatus.open,
        BallotStatus.closed,
        BallotStatus.tallied,
        BallotStatus.final,
        BallotStatus.draft,
    ):
        if status == BallotStatus.draft and not membership.has(*CHAIRS):
            continue
        groups.append((status, status_label(status), [b for b in found if b.status == status]))
    return page(request, "ballots/list.html", m=membership, groups=groups, local_time=local_time)


def _edit_page(
    request: Request[Any, Any, Any],
    m: Membership,
    model: dict[str, Any],
    status: int = 200,
    ballot: Ballot | None = None,
    found: list[Problem] | None = None,
    error: str | None = None,
) -> Template:
    return page(
        request,
        "ballots/edit.html",
        status,
        m=m,
        ballot=ballot,
        model=model,
        problems=problems_by_field(found or []),
        error=error,
        rules=[(k, v[1]) for k, v in rule_choices().items()],
        methods=method_labels(),
        electorates=electorate_labels(),
        channels=channel_labels(),
        max_questions=MAX_QUESTIONS,
    )


@get("/c/{slug:str}/ballots/new", guards=[chair_guard])
async def new_ballot(
    request: Request[Any, Any, Any], slug: str, membership: Membership
) -> Template:
    return _edit_page(request, membership, form_from_definition(actions.blank_definition()))


@post("/c/{slug:str}/ballots", guards=[chair_guard])
async def create(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    model, action = form_from_post(await request.form())
    if apply_action(model, action):
        return _edit_page(request, membership, model)
    data, found = definition_from_form(model, actions.blank_definition())
    if found:
        return _edit_page(request, membership, model, 400, found=found)
    try:
        ballot = await actions.create_ballot(db, membership.community, account, data)
    except actions.DefinitionProblems as error:
        return _edit_page(request, membership, model, 400, found=list(error.problems))
    except actions.BallotError as error:
        return _edit_page(request, membership, model, 409, error=ballot_error_message(error.code))
    return redirect(f"{_base(membership)}/{ballot.number}", "saved")


@get("/c/{slug:str}/ballots/{number:int}/edit", guards=[chair_guard])
async def edit_form(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    ballot = await ballot_or_404(db, membership, number)
    if ballot.status != BallotStatus.draft:
        return await _ballot_page(request, db, membership, ballot, 409, "frozen")
    found = await actions.check_ballot(db, ballot)
    model = form_from_definition(ballot.definition)
    return _edit_page(request, membership, model, ballot=ballot, found=found)


@post("/c/{slug:str}/ballots/{number:int}/edit", guards=[chair_guard])
async def edit(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
) -> Response[Any]:
    ballot = await ballot_or_404(db, membership, number)
    form = await request.form()
    model, action = form_from_post(form)
    if ballot.status != BallotStatus.draft:
        return await _ballot_page(request, db, membership, ballot, 409, "frozen")
    if apply_action(model, action):
        return _edit_page(request, membership, model, ballot=ballot)
    data, found = definition_from_form(model, ballot.definition)
    if found:
        return _edit_page(request, membership, model, 400, ballot=ballot, found=found)
    revision = str(form.get("revision", ""))
    try:
        await actions.update_draft(db, ballot, data, int(revision) if revision.isdecimal() else -1)
    except actions.DefinitionProblems as error:
        return _edit_page(
            request, membership, model, 400, ballot=ballot, found=list(error.problems)
        )
    except actions.BallotError as error:
        if error.code == "frozen":
            return await _ballot_page(request, db, membership, ballot, 409, "frozen")
        message = ballot_error_message(error.code)
        return _edit_page(request, membership, model, 409, ballot=ballot, error=message)
    return redirect(f"{_base(membership)}/{number}", "saved")


async def _ballot_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    ballot: Ballot,
    status: int = 200,
    error: str | None = None,
    found: list[Problem] | None = None,
) -> Template:
    if found is None and ballot.status == BallotStatus.draft and m.has(*CHAIRS):
        found = await actions.check_ballot(db, ballot)
    taking_part = None
    if ballot.status != BallotStatus.draft:
        count = await participation_count(db, ballot)
        size = ballot.roll_size or 0
        share = 100.0 * count / size if size else 0.0
        taking_part = {
            "count": count,
            "size": size,
            "percent": f"{share:.1f}%",
            "svg": percent_bar_svg(
                _("%(count)s of %(size)s electors have taken part", count=count, size=size), share
            ),
        }
    definition = ballot.definition
    return page(
        request,
        "ballots/ballot.html",
        status,
        m=m,
        ballot=ballot,
        words=describe(definition),
        status_label=status_label(ballot.status),
        problems=[(problem_message(p), form_field(p.field)) for p in found or []],
        error=ballot_error_message(error) if error else None,
        taking_part=taking_part,
        early_close=bool(definition.get("early_close")),
        local_time=local_time,
        done=request.query_params.get("done", ""),
    )


@get("/c/{slug:str}/ballots/{number:int}", guards=[public])
async def ballot_page(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    ballot = await ballot_or_404(db, membership, number)
    return await _ballot_page(request, db, membership, ballot)


@post("/c/{slug:str}/ballots/{number:int}/open", guards=[chair_guard])
async def open_(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    ballot = await ballot_or_404(db, membership, number)
    try:
        await actions.open_ballot(db, ballot, account)
    except actions.DefinitionProblems as error:
        found = list(error.problems)
        return await _ballot_page(request, db, membership, ballot, 409, error.code, found)
    except actions.BallotError as error:
        return await _ballot_page(request, db, membership, ballot, 409, error.code)
    return redirect(f"{_base(membership)}/{number}", "opened")


@post("/c/{slug:str}/ballots/{number:int}/close", guards=[chair_guard])
async def close(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    ballot = await ballot_or_404(db, membership, number)
    try:
        await actions.close_ballot(db, ballot, account)
    except actions.BallotError as error:
        return await _ballot_page(request, db, membership, ballot, 409, error.code)
    return redirect(f"{_base(membership)}/{number}", "closed")


@get("/c/{slug:str}/ballots/{number:int}/results", guards=[public])
async def results(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    ballot = await published_or_404(db, membership, number)
    return page(
        request,
        "ballots/results.html",
        m=membership,
        ballot=ballot,
        r=await results_view(db, ballot),
        final=ballot.status == BallotStatus.final,
        objection_until=local_time(ballot.objection_until),
        words=describe(ballot.definition),
    )


@get("/c/{slug:str}/ballots/{number:int}/ballots.csv", guards=[public])
async def ballots_csv(
    slug: str, number: int, db: AsyncSession, membership: Membership
) -> Response[str]:
    ballot = await published_or_404(db, membership, number)
    return Response(
        await actions.counted_csv(db, ballot),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="ballot-{number}.csv"'},
    )


@dataclass(frozen=True)
class Participant:
    elector: str
    channel: str
    proxy: bool


async def participants(db: AsyncSession, ballot: Ballot) -> list[Participant] | None:
    """Who took part. A secret ballot's list is what its close published (None before)."""
    if ballot.definition.get("secrecy") != "secret":
        return [
            Participant(p.elector, p.channel, p.via_proxy)
            for p in await actions.participation(db, ballot)
        ]
    if ballot.closed_entry_id is None:
        return None
    closed = await db.get(LogEntry, ballot.closed_entry_id)
    assert closed is not None
    return [
        Participant(p["elector"], p["channel"], bool(p.get("proxy")))
        for p in closed.payload["participation"]
    ]


@get("/c/{slug:str}/ballots/{number:int}/participation", guards=[member_guard])
async def participation_page(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    ballot = await ballot_or_404(db, membership, number)
    if ballot.status == BallotStatus.draft:
        raise NotFoundException()
    everyone = await participants(db, ballot)
    mine = []
    if membership.person is not None and membership.person.id is not None:
        codes = await actions.electors_of(db, ballot, membership.person.id)
        voted = {p.elector for p in everyone or []}
        if everyone is None:  # secret and still open: only the voter's own rows
            voted = {p.elector for p in await actions.participation(db, ballot)} & set(codes)
        mine = [(code, code in voted) for code in codes]
    return page(
        request,
        "ballots/participation.html",
        m=membership,
        ballot=ballot,
        rows=everyone if membership.has(*READERS) else None,
        privileged=membership.has(*READERS),
        mine=mine,
        secret=ballot.definition.get("secrecy") == "secret",
        channels=channel_labels(),
    )


ROUTES: list[Any] = [
    ballot_list,
    new_ballot,
    create,
    edit_form,
    edit,
    ballot_page,
    open_,
    close,
    results,
    ballots_csv,
    participation_page,
]


# --- JSON API ------------------------------------------------------------------------------------------


def api_error(message: str, status_code: int = 400, **extra: Any) -> Exception:
    # imported here: app.controllers.api imports this module while it is being set up
    from app.controllers.api import ApiError

    return ApiError(message, status_code=status_code, **extra)


def problems_json(found: list[Problem] | tuple[Problem, ...]) -> list[dict[str, Any]]:
    return [
        {"code": p.code, "field": p.field, "details": p.details, "message": problem_message(p)}
        for p in found
    ]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


def ballot_summary(ballot: Ballot) -> dict[str, Any]:
    return {
        "number": ballot.number,
        "title": ballot.title,
        "status": ballot.status,
        "opens_at": _iso(ballot.opens_at),
        "closes_at": _iso(ballot.closes_at),
        "objection_until": _iso(ballot.objection_until),
    }


async def ballot_json(db: AsyncSession, m: Membership, ballot: Ballot) -> dict[str, Any]:
    body = {
        **ballot_summary(ballot),
        "revision": ballot.revision,
        "opened_at": _iso(ballot.opened_at),
        "closed_at": _iso(ballot.closed_at),
        "roll_size": ballot.roll_size,
        "roll_digest": ballot.roll_digest,
        "definition": ballot.definition,
    }
    if ballot.status == BallotStatus.draft and m.has(*CHAIRS):
        body["problems"] = problems_json(await actions.check_ballot(db, ballot))
    return body


async def _api_ballot(db: AsyncSession, m: Membership, number: int) -> Ballot:
    try:
        return await ballot_or_404(db, m, number)
    except NotFoundException:
        raise api_error(_("Not found."), 404) from None


def _refused(error: actions.BallotError) -> Exception:
    if isinstance(error, actions.DefinitionProblems):
        return api_error(
            ballot_error_message(error.code), 409, problems=problems_json(error.problems)
        )
    return api_error(ballot_error_message(error.code), 409, code=error.code)


@get("/c/{slug:str}/ballots", guards=[public], summary="Ballots (drafts for chairs only)")
async def api_list(slug: str, db: AsyncSession, membership: Membership) -> list[dict[str, Any]]:
    found = await actions.list_ballots(db, membership.community.id)
    return [
        ballot_summary(b)
        for b in found
        if b.status != BallotStatus.draft or membership.has(*CHAIRS)
    ]


@get(
    "/c/{slug:str}/ballots/{number:int}",
    guards=[public],
    summary="One ballot: definition, state, and (chairs, drafts) what keeps it from opening",
)
async def api_ballot(
    slug: str, number: int, db: AsyncSession, membership: Membership
) -> dict[str, Any]:
    return await ballot_json(db, membership, await _api_ballot(db, membership, number))


@post("/c/{slug:str}/ballots", guards=[chair_guard], summary="Create a draft ballot")
async def api_create(
    slug: str,
    data: dict[str, Any],
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> dict[str, Any]:
    blank = actions.blank_definition()
    # the tie-breaking seed is the server's: a chair who chose it could grind a favourable one
    definition = {**blank, **data, "seed": blank["seed"]}
    try:
        ballot = await actions.create_ballot(db, membership.community, account, definition)
    except actions.DefinitionProblems as error:
        raise api_error(
            _("The definition is not well formed."), problems=problems_json(error.problems)
        ) from None
    except actions.BallotError as error:
        raise _refused(error) from None
    return await ballot_json(db, membership, ballot)


@put(
    "/c/{slug:str}/ballots/{number:int}",
    guards=[chair_guard],
    summary="Replace a draft's definition ({definition, revision})",
)
async def api_update(
    slug: str,
    number: int,
    data: dict[str, Any],
    db: AsyncSession,
    membership: Membership,
) -> dict[str, Any]:
    ballot = await _api_ballot(db, membership, number)
    definition, revision = data.get("definition"), data.get("revision")
    if not isinstance(definition, dict):
        raise api_error(_("Send the definition as an object."), field="definition")
    if not isinstance(revision, int) or isinstance(revision, bool):
        raise api_error(_("Send the revision you read, as a number."), field="revision")
    definition = {**definition, "seed": ballot.definition.get("seed")}  # never the client's
    try:
        await actions.update_draft(db, ballot, definition, revision)
    except actions.DefinitionProblems as error:
        raise api_error(
            _("The definition is not well formed."), problems=problems_json(error.problems)
        ) from None
    except actions.BallotError as error:
        raise _refused(error) from None
    return await ballot_json(db, membership, ballot)


@post(
    "/c/{slug:str}/ballots/{number:int}/open",
    guards=[chair_guard],
    status_code=200,
    summary="Open a draft: freeze its roll and definition",
)
async def api_open(
    slug: str, number: int, db: AsyncSession, membership: Membership, account: Account
) -> dict[str, Any]:
    ballot = await _api_ballot(db, membership, number)
    try:
        await actions.open_ballot(db, ballot, account)
    except actions.BallotError as error:
        raise _refused(error) from None
    return await ballot_json(db, membership, ballot)


@post(
    "/c/{slug:str}/ballots/{number:int}/close",
    guards=[chair_guard],
    status_code=200,
    summary="Close a ballot early (only where its definition allows)",
)
async def api_close(
    slug: str, number: int, db: AsyncSession, membership: Membership, account: Account
) -> dict[str, Any]:
    ballot = await _api_ballot(db, membership, number)
    try:
        await actions.close_ballot(db, ballot, account)
    except actions.BallotError as error:
        raise _refused(error) from None
    return await ballot_json(db, membership, ballot)


@get(
    "/c/{slug:str}/ballots/{number:int}/results",
    guards=[public],
    summary="The published tally (preliminary or final) with each decision in words",
)
async def api_results(
    slug: str, number: int, db: AsyncSession, membership: Membership
) -> dict[str, Any]:
    try:
        ballot = await published_or_404(db, membership, number)
    except NotFoundException:
        raise api_error(_("Not found."), 404) from None
    tally = ballot.tally or {}
    rule = ballot.definition["rule"]
    methods = {q["id"]: q["method"] for q in ballot.definition["questions"]}
    decisions = {}
    for q in tally.get("questions", []):
        view = decision_view(
            q.get("decision"), rule, methods.get(q["question"]) == "yes_no_abstain"
        )
        if view is not None:
            decisions[q["question"]] = {
                "outcome": view["outcome"],
                "words": [
                    *view["reasons"],
                    *(t["words"] for t in view["thresholds"]),
                    view["outcome_words"],
                ],
            }
    return {
        **ballot_summary(ballot),
        "final": ballot.status == BallotStatus.final,
        "tally": tally,
        "decisions": decisions,
    }


API_ROUTES: list[Any] = [
    api_list,
    api_ballot,
    api_create,
    api_update,
    api_open,
    api_close,
    api_results,
]
