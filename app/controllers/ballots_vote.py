"""Ballot pages and API for voters, proxy holders and grid members: my open ballots, vote,
confirm, receipt; paper entry and proxies.

Every page works as a plain form: the vote form posts to a confirmation page that carries the
answers as JSON in a hidden field, and only "Confirm and cast" records anything. The domain
(``app.ballots``) makes every check that counts; the few checks here only word a refusal early.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Template
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import ballots as actions
from app.auth import Membership, community_guard, membership_for, person_guard
from app.ballots import BallotError
from app.controllers.ballot_views import local_time
from app.i18n import gettext as _
from app.i18n import ngettext
from app.models import (
    Account,
    Ballot,
    BallotCaster,
    BallotElector,
    BallotParticipation,
    BallotProxy,
    BallotStatus,
    Community,
    LogEntry,
    Person,
    Role,
)
from app.settings import Settings
from app.web import page, redirect
from ballots.ballot import RANKED, SETS, Definition, check_answers
from ballots.methods import BallotInvalid

# --- who may ----------------------------------------------------------------------------------


async def proxy_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A voter granting their own proxy, or a grid member recording a written one."""
    membership = await membership_for(connection)
    if connection.scope["state"].get("account") is None:
        raise NotAuthorizedException()
    if membership.person is None and not membership.has(Role.grid_member):
        raise PermissionDeniedException()


grid_guard = community_guard(Role.grid_member)


async def cast_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The casting API's guard, in one query (it is the hot path): the community, the caller's
    person in it and the ballot. The full membership (roles, grids) is not needed to cast."""
    if not 0 < connection.path_params["number"] <= actions.MAX_ID:
        # guards run before the app's id check (factory.refuse_impossible_ids), and this one
        # queries with the number
        raise NotFoundException()
    account = connection.scope["state"].get("account")
    found = (
        await connection.scope["state"]["db"].execute(
            select(Community.id, Person, Ballot)
            .select_from(Community)
            .outerjoin(
                Person,
                and_(
                    Person.community_id == Community.id,
                    Person.account_id == (account.id if account else -1),
                ),
            )
            .outerjoin(
                Ballot,
                and_(
                    Ballot.community_id == Community.id,
                    Ballot.number == connection.path_params["number"],
                ),
            )
            .where(Community.slug == connection.path_params["slug"])
        )
    ).first()
    if found is None:
        raise NotFoundException()
    if account is None:
        raise NotAuthorizedException()
    if found[1] is None:
        raise PermissionDeniedException()
    connection.scope["state"]["voter"] = found[1]
    connection.scope["state"]["ballot"] = found[2]


# --- words -------------------------------------------------------------------------------------

CONFLICTS = frozenset(
    {
        "not_open",
        "not_yet_open",
        "closed",
        "already_voted",
        "proxy_already_voted",
        "voted_in_person",
        "proxy_limit",
        "proxy_exists",
        "serial_used",
        "paper_mismatch",
        "second_entry_same_person",
        "busy",
    }
)
FORBIDDEN = frozenset(
    {"not_on_roll", "not_your_elector", "not_your_proxy", "not_your_grid", "not_grid_member"}
)


def status_of(code: str) -> int:
    if code == "no_such_ballot":
        return 404
    if code in CONFLICTS:
        return 409
    if code in FORBIDDEN:
        return 403
    return 400


def when(moment: Any) -> str:
    """Beijing time, as the community reads its clocks."""
    return local_time(moment)


def question_text(definition: Definition | None, question_id: object) -> str:
    if definition is not None:
        for q in definition.questions:
            if q.id == question_id:
                return q.text
    return str(question_id)


def option_text(definition: Definition | None, question_id: object, option_id: object) -> str:
    if definition is not None:
        for q in definition.questions:
            if q.id == question_id:
                return next((o.label for o in q.options if o.id == option_id), str(option_id))
    return str(option_id)


_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "no_such_ballot": lambda d: _("There is no ballot number %(number)s.", **d),
    "not_open": lambda d: _("This ballot is not open for voting."),
    "not_yet_open": lambda d: _("Voting has not started yet. It opens at %(opens)s.", **d),
    "closed": lambda d: _("This ballot is closed: no more votes can be recorded."),
    "not_on_roll": lambda d: (
        _("%(elector)s is not on this ballot's list of voters.", **d)
        if d.get("elector")
        else _("You are not on this ballot's list of voters.")
    ),
    "not_your_elector": lambda d: _("You may not vote for %(elector)s.", **d),
    "already_voted": lambda d: _(
        "A vote for %(elector)s is already recorded, and this ballot does not allow changing it.",
        **d,
    ),
    "proxy_already_voted": lambda d: _(
        "Your proxy has already voted for you in this secret ballot; that vote stands."
    ),
    "voted_in_person": lambda d: _(
        "%(elector)s has already voted in person; a proxy's vote cannot replace it.", **d
    ),
    "not_your_proxy": lambda d: _("You do not hold a proxy for %(elector)s in this ballot.", **d),
    "proxy_limit": lambda d: ngettext(
        "That person already holds %(num)s proxy, the most this ballot allows.",
        "That person already holds %(num)s proxies, the most this ballot allows.",
        int(d.get("limit") or 0),
    ),
    "proxy_exists": lambda d: _("%(elector)s has already given a proxy in this ballot.", **d),
    "proxy_to_self": lambda d: _(
        "That person already votes for %(elector)s themselves: choose someone else.", **d
    ),
    "unknown_person": lambda d: _("Nobody in this community's register has that phone number."),
    "holder_phone_required": lambda d: _(
        "Enter the phone number of the person who will vote for you."
    ),
    "elector_required": lambda d: _("Enter the voter's code, as on the form or in the list."),
    "serial_used": lambda d: _("Form number %(serial)s has already been entered.", **d),
    "serial_required": lambda d: _("Enter the number printed on the paper form."),
    "serial_invalid": lambda d: _(
        "“%(serial)s” is not a form number: use letters, digits and dashes (at most 40).", **d
    ),
    "paper_mismatch": lambda d: _(
        "This reading of form %(serial)s differs from the first entry. Check the form again; "
        "if it still differs, tell the chair. Nothing was recorded.",
        **d,
    ),
    "second_entry_same_person": lambda d: _(
        "You made the first entry of form %(serial)s: another grid member must make the second.",
        **d,
    ),
    "not_your_grid": lambda d: _("%(elector)s is not in your grid.", **d),
    "not_grid_member": lambda d: _("Only a grid member may record a written proxy form."),
    "unanswered": lambda d: _("Answer the question “%(question)s”.", **d),
    "unknown_option": lambda d: _("“%(question)s”: that choice is not on the ballot.", **d),
    "repeated_option": lambda d: _(
        "“%(question)s”: you chose “%(option)s” more than once. Choose each at most once.", **d
    ),
    "too_many_approvals": lambda d: _(
        "“%(question)s”: you chose %(picks)s; choose at most %(max_picks)s.", **d
    ),
    "empty_approval": lambda d: _("“%(question)s”: choose at least one.", **d),
    "empty_ranking": lambda d: _("“%(question)s”: choose at least your first choice.", **d),
    "one_option_expected": lambda d: _("“%(question)s”: choose one option.", **d),
    "list_expected": lambda d: _("“%(question)s”: give a list of choices.", **d),
    "unknown_question": lambda d: _("This ballot has no question “%(question)s”.", **d),
    "not_an_answer_map": lambda d: _("The answers could not be read. Please fill in the ballot."),
}
_CHANNEL_REFUSED = {
    "online": lambda: _("This ballot does not take votes online."),
    "paper": lambda: _("This ballot does not take paper forms."),
    "proxy": lambda: _("This ballot does not take proxies."),
}


def message(error: BallotError, definition: Definition | None, ballot: Ballot | None) -> str:
    """The refusal in plain words, naming the question, option, voter or form concerned."""
    details: dict[str, Any] = {k: v for k, v in error.details.items() if v is not None}
    if "question" in details:
        details["option"] = option_text(definition, details["question"], details.get("option"))
        details["question"] = question_text(definition, details["question"])
    details.setdefault("elector", "")
    details.setdefault("serial", "")
    details.setdefault("picks", "")
    details.setdefault("max_picks", "")
    details.setdefault("limit", "")
    details.setdefault("number", ballot.number if ballot else "")
    details["opens"] = when(ballot.opens_at) if ballot else ""
    if error.code == "channel_not_allowed":
        return _CHANNEL_REFUSED.get(str(details.get("channel")), _CHANNEL_REFUSED["online"])()
    make = _MESSAGES.get(error.code)
    if make is None:
        return _("The vote could not be recorded (%(code)s).", code=error.code)
    return make(details)


# --- answers between form, words and JSON -----------------------------------------------------


def answers_from_form(definition: Definition, form: Any) -> dict[str, Any]:
    """Form fields ``q.<id>`` (one value, or several for approval) and ``q.<id>.<rank>`` (ranked
    methods, one select per position) as an answer map; blank ranks close up."""
    answers: dict[str, Any] = {}
    for q in definition.questions:
        name = f"q.{q.id}"
        if q.method in RANKED:
            ranking = [str(form.get(f"{name}.{i}") or "") for i in range(1, len(q.options) + 1)]
            answers[q.id] = [r for r in ranking if r]
        elif q.method in SETS:
            answers[q.id] = [str(v) for v in form.getall(name, []) if v]
        else:
            answers[q.id] = str(form.get(name) or "")
    return answers


def answers_from_json(text: str) -> Any:
    """The confirmation page's hidden answers; anything malformed (or absurdly long or deep)
    reads as no answers, which the form then asks for again."""
    if len(text) > 100_000:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def chosen_of(answers: Any) -> dict[str, list[str]]:
    """What the form shows as picked: per question a list of option ids (in rank order)."""
    if not isinstance(answers, dict):
        return {}
    return {
        str(k): [v] if isinstance(v, str) else [x for x in v if isinstance(x, str)]
        for k, v in answers.items()
        if isinstance(v, str | list)
    }


@dataclass(frozen=True)
class AnswerWords:
    question: str
    method: str
    lines: list[str]


def in_words(definition: Definition, answers: Mapping[str, Any]) -> list[AnswerWords]:
    """Each answer as the voter reads it: option labels, ranks numbered, project costs shown."""
    words = []
    for q in definition.questions:
        value = answers.get(q.id)
        picks = [value] if isinstance(value, str) else list(value or [])
        labels = {o.id: o for o in q.options}
        lines = []
        for i, pick in enumerate(picks, 1):
            option = labels.get(pick)
            label = option.label if option else str(pick)
            if q.method in RANKED:
                label = f"{ordinal(i)}: {label}"
            elif option is not None and option.cost is not None:
                label = _("%(label)s (costs %(cost)s yuan)", label=label, cost=option.cost)
            lines.append(label)
        words.append(AnswerWords(q.text, q.method, lines))
    return words


def ordinal(n: int) -> str:
    if n == 1:
        return _("1st choice")
    if n == 2:
        return _("2nd choice")
    if n == 3:
        return _("3rd choice")
    return _("%(n)sth choice", n=n)


def field_of(definition: Definition | None, error: BallotError) -> str | None:
    """The form field a refusal points at (the error summary links to it)."""
    question = error.details.get("question")
    if question is not None and definition is not None:
        for i, q in enumerate(definition.questions, 1):
            if q.id == question:
                return f"q{i}"
    return {
        "serial_used": "serial",
        "serial_required": "serial",
        "serial_invalid": "serial",
        "unknown_person": "holder_phone",
        "holder_phone_required": "holder_phone",
        "proxy_limit": "holder_phone",
        "proxy_to_self": "holder_phone",
        "elector_required": "elector",
        "not_your_grid": "elector",
        "proxy_exists": "elector",
    }.get(error.code)


# --- shared reading ----------------------------------------------------------------------------


async def open_ballot_or_404(db: AsyncSession, community_id: int, number: int) -> Ballot:
    """A ballot voters may see: any but a draft."""
    try:
        ballot = await actions.get_ballot(db, community_id, number)
    except BallotError:
        raise NotFoundException() from None
    if ballot.status == BallotStatus.draft:
        raise NotFoundException()
    return ballot


async def voted(db: AsyncSession, ballot: Ballot, codes: list[str]) -> dict[str, str]:
    """Which of these electors took part, and by which channel."""
    if not codes:
        return {}
    rows = await db.execute(
        select(BallotParticipation.elector, BallotParticipation.channel).where(
            BallotParticipation.ballot_id == ballot.id, BallotParticipation.elector.in_(codes)
        )
    )
    return {code: channel for code, channel in rows.all()}


def phone_digits(text: str) -> str:
    return re.sub(r"[\s-]", "", text or "")


async def person_by_phone(db: AsyncSession, community_id: int, phone: str) -> Person:
    digits = phone_digits(phone)
    if not digits:
        raise BallotError("holder_phone_required")
    found = (
        await db.execute(
            select(Person).where(Person.community_id == community_id, Person.phone == digits)
        )
    ).scalar_one_or_none()
    if found is None:
        raise BallotError("unknown_person")
    return found


@dataclass(frozen=True)
class MyBallot:
    ballot: Ballot
    definition: Definition
    refusal: str | None
    notice: str | None  # the refusal in words
    electors: list[tuple[str, str | None]]  # code, channel it was voted by (None: not yet)
    proxies: list[tuple[str, str | None]]


async def my_ballots(db: AsyncSession, m: Membership) -> list[MyBallot]:
    assert m.person is not None and m.person.id is not None
    found = []
    for ballot in await actions.list_ballots(db, m.community.id, [BallotStatus.open]):
        mine = await actions.electors_of(db, ballot, m.person.id)
        held = await actions.proxies_held(db, ballot, m.person.id)
        if not mine and not held and not m.has(Role.grid_member):
            continue
        done = await voted(db, ballot, mine + held)
        definition = actions.frozen_definition(ballot)
        refusal = actions.window_state(ballot)
        found.append(
            MyBallot(
                ballot,
                definition,
                refusal,
                message(BallotError(refusal), definition, ballot) if refusal else None,
                [(c, done.get(c)) for c in mine],
                [(c, done.get(c)) for c in held],
            )
        )
    return found


# --- pages: my ballots, vote, confirm, cast, receipt -------------------------------------------


def _base(m: Membership, number: int) -> str:
    return f"/c/{m.community.slug}/ballots/{number}"


@get("/c/{slug:str}/ballots/mine", guards=[person_guard])
async def mine(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Template:
    return page(
        request,
        "ballots/vote_mine.html",
        m=membership,
        items=await my_ballots(db, membership),
        when=when,
    )


@dataclass
class VoteContext:
    ballot: Ballot
    definition: Definition
    electors: list[str]  # the codes this person may vote for (one: the principal, by proxy)
    proxy: str | None
    done: dict[str, str]


async def vote_context(
    db: AsyncSession, m: Membership, number: int, proxy: str | None
) -> VoteContext:
    assert m.person is not None and m.person.id is not None
    ballot = await open_ballot_or_404(db, m.community.id, number)
    definition = actions.frozen_definition(ballot)
    proxy = (proxy or "").strip() or None
    if proxy is not None:
        held = await actions.proxies_held(db, ballot, m.person.id)
        electors = [proxy] if proxy in held else []
    else:
        electors = await actions.electors_of(db, ballot, m.person.id)
    return VoteContext(ballot, definition, electors, proxy, await voted(db, ballot, electors))


def vote_page(
    request: Request[Any, Any, Any],
    m: Membership,
    ctx: VoteContext,
    status_code: int = 200,
    *,
    chosen: dict[str, list[str]] | None = None,
    elector: str | None = None,
    error: str | None = None,
    error_field: str | None = None,
) -> Template:
    refusal = actions.window_state(ctx.ballot)
    if not ctx.electors and error is None:
        refusal = refusal or ("not_your_proxy" if ctx.proxy else "not_on_roll")
    state_message = (
        message(BallotError(refusal, elector=ctx.proxy), ctx.definition, ctx.ballot)
        if refusal
        else None
    )
    # with "first" revoting, a voter who has voted for every elector has nothing left to do
    finished = ctx.definition.revoting == "first" and all(c in ctx.done for c in ctx.electors)
    return page(
        request,
        "ballots/vote.html",
        status_code,
        m=m,
        ballot=ctx.ballot,
        definition=ctx.definition,
        electors=ctx.electors,
        proxy=ctx.proxy,
        done=ctx.done,
        finished=finished and bool(ctx.electors),
        state_message=state_message,
        chosen=chosen or {},
        elector=elector or (ctx.electors[0] if ctx.electors else ""),
        error=error,
        error_field=error_field,
        when=when,
    )


@get("/c/{slug:str}/ballots/{number:int}/vote", guards=[person_guard])
async def vote_form(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    proxy: str | None = None,
) -> Template:
    ctx = await vote_context(db, membership, number, proxy)
    return vote_page(request, membership, ctx)


@post("/c/{slug:str}/ballots/{number:int}/vote", guards=[person_guard])
async def vote_check(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    """Check the filled-in form and show it back in words; nothing is recorded yet. With
    ``change`` set (the confirmation page's "Change"), show the form again as filled in."""
    form = await request.form()
    ctx = await vote_context(db, membership, number, str(form.get("proxy") or ""))
    elector = str(form.get("elector") or "") or (ctx.electors[0] if ctx.electors else "")
    if form.get("change"):
        answers = answers_from_json(str(form.get("answers") or ""))
        return vote_page(request, membership, ctx, chosen=chosen_of(answers), elector=elector)
    answers = answers_from_form(ctx.definition, form)
    try:
        refused = actions.window_state(ctx.ballot)
        if refused:
            raise BallotError(refused)
        clean = check_answers(ctx.definition, answers)
        if not ctx.electors:
            raise BallotError("not_your_proxy" if ctx.proxy else "not_on_roll", elector=ctx.proxy)
        if elector not in ctx.electors:
            raise BallotError("not_your_elector", elector=elector)
    except BallotInvalid as invalid:
        error = BallotError(invalid.code, **invalid.details)
        return vote_page(
            request,
            membership,
            ctx,
            400,
            chosen=chosen_of(answers),
            elector=elector,
            error=message(error, ctx.definition, ctx.ballot),
            error_field=field_of(ctx.definition, error),
        )
    except BallotError as error:
        return vote_page(
            request,
            membership,
            ctx,
            status_of(error.code),
            chosen=chosen_of(answers),
            elector=elector,
            error=message(error, ctx.definition, ctx.ballot),
        )
    return page(
        request,
        "ballots/vote_confirm.html",
        m=membership,
        ballot=ctx.ballot,
        definition=ctx.definition,
        words=in_words(ctx.definition, clean),
        answers_json=json.dumps(clean, ensure_ascii=False, sort_keys=True),
        elector=elector,
        several=len(ctx.electors) > 1,
        proxy=ctx.proxy,
    )


@post("/c/{slug:str}/ballots/{number:int}/cast", guards=[person_guard])
async def cast(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
) -> Response[Any]:
    """Record the confirmed answers (online, or for a principal by proxy), then show the
    receipt. A refusal shows the form again with the answers as they were, and records nothing."""
    form = await request.form()
    ctx = await vote_context(db, membership, number, str(form.get("proxy") or ""))
    answers = answers_from_json(str(form.get("answers") or ""))
    elector = str(form.get("elector") or "") or None
    try:
        if ctx.proxy:
            result = await actions.cast_as_proxy(
                db, ctx.ballot, membership.person, ctx.proxy, answers
            )
        else:
            result = await actions.cast_online(db, ctx.ballot, membership.person, answers, elector)
    except BallotError as error:
        ctx.done = await voted(db, ctx.ballot, ctx.electors)
        return vote_page(
            request,
            membership,
            ctx,
            status_of(error.code),
            chosen=chosen_of(answers),
            elector=elector,
            error=message(error, ctx.definition, ctx.ballot),
            error_field=field_of(ctx.definition, error),
        )
    return redirect(f"{_base(membership, number)}/receipt/{result.entry_id}")


async def cast_entry_or_404(
    db: AsyncSession, m: Membership, number: int, entry_id: int
) -> tuple[Ballot, LogEntry]:
    """Only this community's ``ballot.cast`` entries of this ballot have a receipt page."""
    ballot = await open_ballot_or_404(db, m.community.id, number)
    entry = await db.get(LogEntry, entry_id)
    if (
        entry is None
        or entry.community_id != m.community.id
        or entry.type != "ballot.cast"
        or entry.payload.get("ballot") != number
    ):
        raise NotFoundException()
    return ballot, entry


@get("/c/{slug:str}/ballots/{number:int}/receipt/{entry_id:int}", guards=[person_guard])
async def receipt(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    entry_id: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    """What was recorded, and where it is sealed in the public log. While the sequencer has not
    integrated it yet, the status fragment polls itself every second."""
    ballot, entry = await cast_entry_or_404(db, membership, number, entry_id)
    definition = actions.frozen_definition(ballot)
    return page(
        request,
        "ballots/receipt.html",
        fragment="ballots/_vote_receipt_status.html",
        m=membership,
        ballot=ballot,
        definition=definition,
        entry=entry,
        words=in_words(definition, entry.payload.get("answers") or {}),
        secret=definition.secrecy == "secret",
        url=request.url.path,
    )


# --- proxies ------------------------------------------------------------------------------------


async def proxy_context(db: AsyncSession, m: Membership, ballot: Ballot) -> dict[str, Any]:
    mine: list[str] = []
    given: list[tuple[str, str]] = []
    held: list[str] = []
    if m.person is not None and m.person.id is not None:
        mine = await actions.electors_of(db, ballot, m.person.id)
        held = await actions.proxies_held(db, ballot, m.person.id)
        if mine:
            rows = await db.execute(
                select(BallotProxy.principal, Person.name)
                .join(Person, Person.id == BallotProxy.holder_id)
                .where(BallotProxy.ballot_id == ballot.id, BallotProxy.principal.in_(mine))
                .order_by(BallotProxy.principal)
            )
            given = [(code, name) for code, name in rows.all()]
    definition = actions.frozen_definition(ballot)
    return {
        "m": m,
        "ballot": ballot,
        "definition": definition,
        "mine": mine,
        "given": given,
        "held": held,
        "grid_member": m.has(Role.grid_member),
        "state_message": (
            message(BallotError(refused), definition, ballot)
            if (refused := actions.window_state(ballot))
            else None
        ),
    }


async def record_proxy(
    db: AsyncSession,
    m: Membership,
    account: Account,
    ballot: Ballot,
    principal: str | None,
    holder_phone: str,
    serial: str | None,
) -> int:
    """A written form (with its serial) by a grid member, else the voter's own authorisation."""
    holder = await person_by_phone(db, m.community.id, holder_phone)
    if serial is not None:
        if not m.has(Role.grid_member):
            raise BallotError("not_grid_member")
        if not principal:
            raise BallotError("elector_required")
        return await actions.grant_proxy(
            db, ballot, principal, holder, grid_member=(account, m.grid_ids), serial=serial
        )
    if m.person is None or m.person.id is None:
        raise BallotError("not_on_roll")
    if not principal:
        mine = await actions.electors_of(db, ballot, m.person.id)
        if not mine:
            raise BallotError("not_on_roll")
        principal = mine[0]
    return await actions.grant_proxy(db, ballot, principal, holder, by_principal=m.person)


@get("/c/{slug:str}/ballots/{number:int}/proxy", guards=[proxy_guard])
async def proxy_form(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    recorded: str | None = None,
) -> Template:
    ballot = await open_ballot_or_404(db, membership.community.id, number)
    context = await proxy_context(db, membership, ballot)
    return page(
        request,
        "ballots/proxy.html",
        **context,
        recorded=recorded,
        values={},
        kind=None,
        error=None,
        error_field=None,
    )


@post("/c/{slug:str}/ballots/{number:int}/proxy", guards=[proxy_guard])
async def proxy_record(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    ballot = await open_ballot_or_404(db, membership.community.id, number)
    form = await request.form()
    kind = "written" if form.get("kind") == "written" else "mine"
    values = {k: str(form.get(k) or "").strip() for k in ("elector", "holder_phone", "serial")}
    try:
        await record_proxy(
            db,
            membership,
            account,
            ballot,
            values["elector"] or None,
            values["holder_phone"],
            values["serial"] if kind == "written" else None,
        )
    except BallotError as error:
        context = await proxy_context(db, membership, ballot)
        return page(
            request,
            "ballots/proxy.html",
            status_of(error.code),
            **context,
            recorded=None,
            values=values,
            kind=kind,
            error=message(error, context["definition"], ballot),
            error_field=field_of(None, error),
        )
    recorded = quote(values["elector"] or "-")
    return redirect(f"{_base(membership, number)}/proxy?recorded={recorded}")


# --- paper ----------------------------------------------------------------------------------------

ELECTORS_SHOWN = 50


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def grid_electors(
    db: AsyncSession, ballot: Ballot, grid_ids: set[int], q: str
) -> list[tuple[str, list[str], str | None, list[str]]]:
    """Electors of these grids whose code or caster's name matches: code, units, the channel
    they voted by (None: not yet) and the names of who may cast for them."""
    query = (
        select(BallotElector.code, BallotElector.units, BallotParticipation.channel)
        .outerjoin(
            BallotParticipation,
            and_(
                BallotParticipation.ballot_id == BallotElector.ballot_id,
                BallotParticipation.elector == BallotElector.code,
            ),
        )
        .where(BallotElector.ballot_id == ballot.id, BallotElector.grid_id.in_(grid_ids))
        .order_by(BallotElector.code)
        .limit(ELECTORS_SHOWN)
    )
    if q:
        by_name = (
            select(BallotCaster.code)
            .join(Person, Person.id == BallotCaster.person_id)
            .where(BallotCaster.ballot_id == ballot.id, Person.name.like(_like(q), escape="\\"))
        )
        query = query.where(
            or_(BallotElector.code.like(_like(q), escape="\\"), BallotElector.code.in_(by_name))
        )
    rows = (await db.execute(query)).all()
    names: dict[str, list[str]] = {}
    if rows:
        for code, name in (
            await db.execute(
                select(BallotCaster.code, Person.name)
                .join(Person, Person.id == BallotCaster.person_id)
                .where(
                    BallotCaster.ballot_id == ballot.id,
                    BallotCaster.code.in_([r[0] for r in rows]),
                )
                .order_by(Person.name)
            )
        ).all():
            names.setdefault(code, []).append(name)
    return [(code, list(units), channel, names.get(code, [])) for code, units, channel in rows]


async def paper_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    ballot: Ballot,
    status_code: int = 200,
    *,
    q: str = "",
    values: dict[str, str] | None = None,
    chosen: dict[str, list[str]] | None = None,
    entered: dict[str, str] | None = None,
    error: str | None = None,
    error_field: str | None = None,
) -> Template:
    definition = actions.frozen_definition(ballot)
    q = q[:60]
    refused = actions.window_state(ballot)
    if refused is None and "paper" not in definition.channels:
        refused = "channel_not_allowed"
    state_message = (
        message(BallotError(refused, channel="paper"), definition, ballot) if refused else None
    )
    return page(
        request,
        "ballots/paper.html",
        status_code,
        fragment="ballots/_vote_electors.html",
        m=m,
        ballot=ballot,
        definition=definition,
        q=q,
        electors=await grid_electors(db, ballot, m.grid_ids, q),
        state_message=state_message,
        values=values or {},
        chosen=chosen or {},
        entered=entered,
        error=error,
        error_field=error_field,
    )


@get("/c/{slug:str}/ballots/{number:int}/paper", guards=[grid_guard])
async def paper_form(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    q: str = "",
    elector: str = "",
    entered: str | None = None,
    serial: str = "",
) -> Template:
    ballot = await open_ballot_or_404(db, membership.community.id, number)
    done = {"state": entered, "serial": serial[:40]} if entered in ("counted", "waiting") else None
    return await paper_page(
        request, db, membership, ballot, q=q, values={"elector": elector[:60]}, entered=done
    )


@post("/c/{slug:str}/ballots/{number:int}/paper", guards=[grid_guard])
async def paper_enter(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
    settings: Settings,
) -> Response[Any]:
    """One reading of a paper form. With double entry the first reading waits (unpublished)
    for a second grid member's; the form counts when both agree."""
    ballot = await open_ballot_or_404(db, membership.community.id, number)
    definition = actions.frozen_definition(ballot)
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("elector", "serial")}
    answers = answers_from_form(definition, form)
    try:
        if not values["elector"]:
            raise BallotError("elector_required")
        result = await actions.enter_paper(
            db,
            ballot,
            account,
            membership.grid_ids,
            values["elector"],
            values["serial"],
            answers,
            actions.paper_reading_key(settings),
        )
    except BallotError as error:
        return await paper_page(
            request,
            db,
            membership,
            ballot,
            status_of(error.code),
            values=values,
            chosen=chosen_of(answers),
            error=message(error, definition, ballot),
            error_field=field_of(definition, error),
        )
    state = "waiting" if result.counted is None else "counted"
    serial = quote(values["serial"])
    return redirect(f"{_base(membership, number)}/paper?entered={state}&serial={serial}")


# --- JSON API --------------------------------------------------------------------------------------


def ballot_error_json(request: Request[Any, Any, Any], error: BallotError) -> Response[Any]:
    """``{"error": code, "message": words, "details": {...}}`` with 400, 403, 404 or 409."""
    definition = None
    ballot = request.scope["state"].get("ballot")
    if ballot is not None:
        try:
            definition = actions.frozen_definition(ballot)
        except BallotError:
            definition = None
    return Response(
        {
            "error": error.code,
            "message": message(error, definition, ballot),
            "details": {k: v for k, v in error.details.items() if v is not None},
        },
        status_code=status_of(error.code),
    )


def invalid_body_json(request: Request[Any, Any, Any], error: ValidationException) -> Response[Any]:
    return Response(
        {
            "error": "invalid_body",
            "message": _("The request body could not be read."),
            "details": {"problems": error.extra} if error.extra else {},
        },
        status_code=400,
    )


API_ERRORS: Any = {BallotError: ballot_error_json, ValidationException: invalid_body_json}


@dataclass
class CastBody:
    answers: dict[str, Any]
    elector: str | None = None
    proxy_for: str | None = None


@dataclass
class PaperBody:
    elector: str
    serial: str
    answers: dict[str, Any]


@dataclass
class ProxyBody:
    holder_phone: str
    principal: str | None = None
    serial: str | None = None


@get(
    "/c/{slug:str}/ballots/mine",
    guards=[person_guard],
    summary="Open ballots I may vote in, for myself and as a proxy, and whether I have voted",
)
async def api_mine(slug: str, db: AsyncSession, membership: Membership) -> dict[str, Any]:
    def electors(rows: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
        return [{"code": c, "voted": ch is not None, "channel": ch} for c, ch in rows]

    return {
        "ballots": [
            {
                "number": b.ballot.number,
                "title": b.ballot.title,
                "opens_at": b.ballot.opens_at,
                "closes_at": b.ballot.closes_at,
                "accepting": b.refusal is None,
                "refusal": b.refusal,
                "secrecy": b.definition.secrecy,
                "revoting": b.definition.revoting,
                "channels": list(b.definition.channels),
                "electors": electors(b.electors),
                "proxies": electors(b.proxies),
                "vote": f"/c/{slug}/ballots/{b.ballot.number}/vote",
            }
            for b in await my_ballots(db, membership)
        ]
    }


@post(
    "/c/{slug:str}/ballots/{number:int}/cast",
    guards=[cast_guard],
    status_code=201,
    exception_handlers=API_ERRORS,
    summary="Cast a ballot (for myself, one of my electors, or a principal as their proxy)",
)
async def api_cast(
    request: Request[Any, Any, Any], slug: str, number: int, data: CastBody, db: AsyncSession
) -> dict[str, Any]:
    state = request.scope["state"]
    person, ballot = state["voter"], state["ballot"]
    if ballot is None or ballot.status == BallotStatus.draft:
        raise BallotError("no_such_ballot", number=number)
    if data.proxy_for is not None:
        result = await actions.cast_as_proxy(db, ballot, person, data.proxy_for, data.answers)
    else:
        result = await actions.cast_online(db, ballot, person, data.answers, data.elector)
    return {
        "entry_id": result.entry_id,
        "elector": result.elector,
        "channel": result.channel,
        "receipt": f"/c/{slug}/ballots/{number}/receipt/{result.entry_id}",
    }


async def _api_ballot(
    request: Request[Any, Any, Any], db: AsyncSession, m: Membership, number: int
) -> Ballot:
    try:
        ballot = await actions.get_ballot(db, m.community.id, number)
    except BallotError:
        raise BallotError("no_such_ballot", number=number) from None
    if ballot.status == BallotStatus.draft:
        raise BallotError("no_such_ballot", number=number)
    request.scope["state"]["ballot"] = ballot  # the error handler words refusals with it
    return ballot


@post(
    "/c/{slug:str}/ballots/{number:int}/paper",
    guards=[grid_guard],
    status_code=201,
    exception_handlers=API_ERRORS,
    summary="Enter a paper form for a voter of my grid (grid members)",
)
async def api_paper(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    data: PaperBody,
    db: AsyncSession,
    membership: Membership,
    account: Account,
    settings: Settings,
) -> dict[str, Any]:
    ballot = await _api_ballot(request, db, membership, number)
    result = await actions.enter_paper(
        db,
        ballot,
        account,
        membership.grid_ids,
        data.elector,
        data.serial,
        data.answers,
        actions.paper_reading_key(settings),
    )
    return {
        "counted": result.counted is not None,
        "entry_id": result.counted.entry_id if result.counted else None,
    }


@post(
    "/c/{slug:str}/ballots/{number:int}/proxies",
    guards=[proxy_guard],
    status_code=201,
    exception_handlers=API_ERRORS,
    summary="Authorise a proxy (voters), or record a written proxy form with its serial "
    "(grid members)",
)
async def api_proxy(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    data: ProxyBody,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> dict[str, Any]:
    ballot = await _api_ballot(request, db, membership, number)
    entry_id = await record_proxy(
        db, membership, account, ballot, data.principal, data.holder_phone, data.serial
    )
    return {"entry_id": entry_id}


ROUTES: list[Any] = [
    mine,
    vote_form,
    vote_check,
    cast,
    receipt,
    proxy_form,
    proxy_record,
    paper_form,
    paper_enter,
]
API_ROUTES: list[Any] = [api_mine, api_cast, api_paper, api_proxy]
