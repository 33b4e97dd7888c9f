"""Pages for amendments (issue 5): propose a change to an item's text, read the proposals with
their diffs, the author's accept and reject, the chair's vote and its settlement, and the item's
text history.

Every page works as a plain form; htmx only previews the diff of a proposal in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import (
    NotFoundException,
)
from litestar.response import Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app import amendments as actions
from app.auth import Membership, community_guard, resident_guard
from app.controllers.ballot_views import local_time
from app.controllers.ballot_views import status_label as ballot_status_label
from app.i18n import gettext as _
from app.items import DeliberationError, get_item
from app.models import Account, AgendaItem, Amendment, Ballot, ItemRevision, Role
from app.web import page, redirect
from deliberation import amendments as rules
from deliberation.amendments import Segment, Status
from deliberation.items import Status as ItemStatus
from deliberation.text import BODY_MAX, REASON_MAX, TextError, clean_text

public = community_guard()
chair_guard = community_guard(Role.chair)
CONTEXT = 200  # characters of unchanged text kept around each change on an amendment's page
LIST_CONTEXT = 40


# --- words ---------------------------------------------------------------------------------------


def status_label(status: str) -> str:
    labels: dict[str, str] = {
        Status.proposed: _("Proposed"),
        Status.accepted: _("Accepted"),
        Status.rejected: _("Rejected"),
        Status.put_to_vote: _("Put to a vote"),
    }
    return labels.get(status, status)


def field_label(field: str) -> str:
    return {
        "body": _("The proposed text"),
        "rationale": _("The reason for the change"),
        "note": _("The note"),
    }.get(field, field)


def settled_reason(code: str | None) -> str | None:
    return {
        rules.VOTE_FAILED: _("The vote did not pass, so the text stays as it was."),
        rules.STALE_BASE: _(
            "The vote passed, but the item's text had changed since the amendment was written, "
            "so it could not be applied as it stands."
        ),
        rules.ITEM_DECIDED: _(
            "The vote passed, but the item had been decided by then and its text can no longer "
            "change."
        ),
    }.get(code or "")


def error_message(error: DeliberationError) -> str:
    code, details = error.code, error.details
    if code == "empty":
        return _("%(field)s is empty: please write something.", field=field_label(details["field"]))
    if code == "too_long":
        return _(
            "%(field)s is too long: %(length)s characters, at most %(limit)s.",
            field=field_label(details["field"]),
            length=details.get("length", 0),
            limit=details.get("limit", 0),
        )
    return {
        "consultation_closed": _(
            "The consultation on this item is not open: amendments can be proposed and accepted "
            "only while it is."
        ),
        "stale_base": _(
            "The item's text changed after this amendment was written, so it is out of date and "
            "cannot be applied as it stands. It can be proposed again for the current text."
        ),
        "unchanged": _(
            "The proposed text is the same as the item's current text: change something first."
        ),
        "bad_revision": _("The form was incomplete. Please open it again."),
        "not_author": _("Only the item's author may accept or reject an amendment."),
        "not_chair": _("Only the chair may do this."),
        "not_proposed": _("This amendment has already been decided."),
        "not_put_to_vote": _("This amendment has not been put to a vote."),
        "text_fixed": _("The item has been decided: its text can no longer change."),
        "ballot_not_counted": _(
            "The ballot on this amendment has no final result yet: its result can be applied "
            "once the objection period after the preliminary result is over."
        ),
        "busy": _("Someone else was doing the same at that moment. Please try again."),
    }.get(code, code)


def error_status(code: str) -> int:
    if code in ("no_such_item", "no_such_amendment"):
        return 404
    if code in ("not_author", "not_chair"):
        return 403
    if code in ("empty", "too_long", "unchanged", "bad_revision"):
        return 400
    return 409


# --- lookups -------------------------------------------------------------------------------------


async def item_or_404(
    db: AsyncSession, m: Membership, number: int, account: Account | None
) -> AgendaItem:
    """The item; a draft only for its author (nobody else has anything to see yet)."""
    try:
        item = await get_item(db, m.community.id, number)
    except DeliberationError:
        raise NotFoundException() from None
    if item.status == ItemStatus.draft and (account is None or account.id != item.author_id):
        raise NotFoundException()
    return item


async def amendment_or_404(db: AsyncSession, item: AgendaItem, number: int) -> Amendment:
    try:
        return await actions.get_amendment(db, item, number)
    except DeliberationError:
        raise NotFoundException() from None


def _paths(m: Membership, item: AgendaItem) -> dict[str, str]:
    item_path = f"/c/{m.community.slug}/items/{item.number}"
    return {
        "item_path": item_path,
        "list_path": f"{item_path}/amendments",
        "revisions_path": f"{item_path}/revisions",
    }


# --- the list ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    amendment: Amendment
    status: str
    author: str | None
    out_of_date: bool
    diff: list[Segment] | None


@get("/c/{slug:str}/items/{number:int}/amendments", guards=[public])
async def amendment_list(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account | None,
) -> Template:
    item = await item_or_404(db, membership, number, account)
    found = await actions.list_amendments(db, item)
    names = (
        await actions.display_names(db, {a.author_id for a in found})
        if membership.sees_names()
        else {}
    )
    bases: dict[int, str | None] = {}
    rows = []
    for a in found:
        if a.base_revision not in bases:
            bases[a.base_revision] = await actions.revision_body(db, item, a.base_revision)
        base = bases[a.base_revision]
        rows.append(
            Row(
                amendment=a,
                status=status_label(a.status),
                author=names.get(a.author_id),
                out_of_date=rules.out_of_date(a.status, a.base_revision, item.revision),
                diff=None
                if base is None
                else rules.compact(rules.diff_texts(base, a.body), LIST_CONTEXT),
            )
        )
    return page(
        request,
        "amendments/list.html",
        m=membership,
        item=item,
        rows=rows,
        open=actions.is_open(item),
        may_propose=membership.person is not None or account is None,
        local_time=local_time,
        **_paths(membership, item),
    )


# --- proposing -----------------------------------------------------------------------------------


def _form_page(
    request: Request[Any, Any, Any],
    m: Membership,
    item: AgendaItem,
    status: int = 200,
    **context: Any,
) -> Template:
    values: dict[str, Any] = {
        "body": item.body,
        "rationale": "",
        "base_revision": item.revision,
        "error": None,
        "field": None,
        "stale": False,
        "changes": None,
        "mine": None,
        "preview": None,
        "closed": not actions.is_open(item),
        "body_max": BODY_MAX,
        "reason_max": REASON_MAX,
    }
    values.update(context)
    return page(
        request,
        "amendments/new.html",
        status,
        m=m,
        item=item,
        local_time=local_time,
        **values,
        **_paths(m, item),
    )


@get("/c/{slug:str}/items/{number:int}/amendments/new", guards=[resident_guard])
async def new_amendment(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Template:
    item = await item_or_404(db, membership, number, account)
    if not actions.is_open(item):
        message = error_message(DeliberationError("consultation_closed"))
        return _form_page(request, membership, item, 409, error=message)
    return _form_page(request, membership, item)


def _revision(value: object) -> int | None:
    text = str(value or "")
    return int(text) if text.isdecimal() and 0 < int(text) <= actions.MAX_NUMBER else None


@post("/c/{slug:str}/items/{number:int}/amendments/new", guards=[resident_guard])
async def propose(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    item = await item_or_404(db, membership, number, account)
    form = await request.form()
    body = str(form.get("body", ""))
    rationale = str(form.get("rationale", ""))
    base_revision = _revision(form.get("base_revision"))
    kept: dict[str, Any] = {"body": body, "rationale": rationale}
    if base_revision is None:
        error = DeliberationError("bad_revision")
        return _form_page(request, membership, item, 400, error=error_message(error), **kept)
    kept["base_revision"] = base_revision
    if form.get("action") == "preview":
        return await _preview(request, db, membership, item, base_revision, kept)
    try:
        amendment = await actions.propose(
            db, membership.community, item, account, body, rationale, base_revision
        )
    except DeliberationError as error:
        if error.code == "stale_base":
            return _form_page(
                request,
                membership,
                item,
                409,
                error=_(
                    "The item's text changed while you were editing it. Nothing has been saved: "
                    "see below what changed, and make your change again on the current text."
                ),
                stale=True,
                changes=await _changes(db, item, base_revision),
                mine=body,
                rationale=rationale,
            )
        return _form_page(
            request,
            membership,
            item,
            error_status(error.code),
            error=error_message(error),
            field=error.details.get("field"),
            **kept,
        )
    path = actions.amendment_path(membership.community.slug, item.number, amendment.number)
    return redirect(path, "proposed")


async def _changes(db: AsyncSession, item: AgendaItem, revision: int) -> list[Segment] | None:
    found = await actions.changes_since(db, item, revision)
    return None if found is None else rules.compact(found, CONTEXT)


async def _preview(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    item: AgendaItem,
    base_revision: int,
    kept: dict[str, Any],
) -> Template:
    """The diff of the text as typed against the text the form was opened on; nothing stored."""
    base = await actions.revision_body(db, item, base_revision)
    try:
        text = clean_text(kept["body"], "body", BODY_MAX, required=False)
    except TextError as error:
        failed = DeliberationError(
            error.code, field=error.field, limit=error.limit, length=error.length
        )
        # htmx swaps only a 2xx answer into the page: the in-place preview says what is wrong
        # with 200; the whole page, without JavaScript, answers 400
        htmx = request.headers.get("hx-request") == "true"
        return _form_page(
            request,
            m,
            item,
            200 if htmx else 400,
            error=error_message(failed),
            field="body",
            fragment="amendments/_preview.html",
            **kept,
        )
    preview = rules.compact(
        rules.diff_texts(base if base is not None else item.body, text), CONTEXT
    )
    return _form_page(
        request,
        m,
        item,
        preview=preview,
        preview_changed=rules.changed(preview),
        preview_stale=base_revision != item.revision,
        fragment="amendments/_preview.html",
        **kept,
    )


# --- one amendment -------------------------------------------------------------------------------


async def _amendment_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    account: Account | None,
    item: AgendaItem,
    amendment: Amendment,
    status: int = 200,
    error: str | None = None,
) -> Template:
    diff = await actions.amendment_diff(db, item, amendment)
    ballot = None if amendment.ballot_id is None else await db.get(Ballot, amendment.ballot_id)
    names = (
        await actions.display_names(
            db, {amendment.author_id} | ({amendment.decided_by} if amendment.decided_by else set())
        )
        if m.sees_names()
        else {}
    )
    out_of_date = rules.out_of_date(amendment.status, amendment.base_revision, item.revision)
    is_author = account is not None and account.id == item.author_id
    is_chair = m.has(Role.chair)
    proposed = amendment.status == Status.proposed
    consultation_open = actions.is_open(item)
    by_vote = amendment.ballot_id is not None
    added, removed = rules.change_counts(diff or [])
    return page(
        request,
        "amendments/amendment.html",
        status,
        m=m,
        item=item,
        a=amendment,
        status_label=status_label(amendment.status),
        author=names.get(amendment.author_id),
        decider=names.get(amendment.decided_by) if amendment.decided_by else None,
        diff=None if diff is None else rules.compact(diff, CONTEXT),
        added=added,
        removed=removed,
        out_of_date=out_of_date,
        ballot=ballot,
        ballot_status=ballot_status_label(ballot.status) if ballot else None,
        counted=actions.ballot_counted(ballot),
        # a vote's outcome keeps a reason code; the author's note is their own words
        settled_reason=settled_reason(amendment.decision_note) if by_vote else None,
        author_note=None if by_vote else amendment.decision_note,
        may_decide=is_author and proposed,
        may_accept=is_author and proposed and consultation_open and not out_of_date,
        consultation_open=consultation_open,
        may_vote=is_chair and proposed and item.status in rules.TEXT_OPEN and not out_of_date,
        may_settle=is_chair
        and amendment.status == Status.put_to_vote
        and actions.ballot_counted(ballot),
        is_chair=is_chair,
        error=error,
        done=request.query_params.get("done", ""),
        local_time=local_time,
        reason_max=REASON_MAX,
        **_paths(m, item),
    )


@get("/c/{slug:str}/items/{number:int}/amendments/{amendment:int}", guards=[public])
async def amendment_page(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    amendment: int,
    db: AsyncSession,
    membership: Membership,
    account: Account | None,
) -> Template:
    item = await item_or_404(db, membership, number, account)
    found = await amendment_or_404(db, item, amendment)
    return await _amendment_page(request, db, membership, account, item, found)


async def _decision(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    account: Account,
    number: int,
    amendment: int,
    action: str,
) -> Response[Any]:
    item = await item_or_404(db, m, number, account)
    found = await amendment_or_404(db, item, amendment)
    path = actions.amendment_path(m.community.slug, item.number, found.number)
    try:
        if action == "accept":
            await actions.accept(db, m.community, item, found, account)
        elif action == "reject":
            note = (await request.form()).get("note", "")
            await actions.reject(db, m.community, item, found, account, note)
        elif action == "vote":
            ballot = await actions.put_to_vote(db, m.community, item, found, account)
            return redirect(f"/c/{m.community.slug}/ballots/{ballot.number}/edit")
        else:
            settled = await actions.settle(db, m.community, item, found, account)
            return redirect(path, f"settled_{settled.status}")
    except DeliberationError as error:
        return await _amendment_page(
            request,
            db,
            m,
            account,
            item,
            found,
            error_status(error.code),
            error_message(error),
        )
    return redirect(path, "accepted" if action == "accept" else "rejected")


@post("/c/{slug:str}/items/{number:int}/amendments/{amendment:int}/accept", guards=[resident_guard])
async def accept(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    amendment: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    return await _decision(request, db, membership, account, number, amendment, "accept")


@post("/c/{slug:str}/items/{number:int}/amendments/{amendment:int}/reject", guards=[resident_guard])
async def reject(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    amendment: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    return await _decision(request, db, membership, account, number, amendment, "reject")


@post("/c/{slug:str}/items/{number:int}/amendments/{amendment:int}/vote", guards=[chair_guard])
async def put_to_vote(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    amendment: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    return await _decision(request, db, membership, account, number, amendment, "vote")


@post("/c/{slug:str}/items/{number:int}/amendments/{amendment:int}/settle", guards=[chair_guard])
async def settle(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    amendment: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    return await _decision(request, db, membership, account, number, amendment, "settle")


# --- the text's history --------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    revision: ItemRevision
    author: str | None
    amendment: int | None  # the number of the amendment it came from
    old_title: str | None  # when the title changed too
    diff: list[Segment] | None  # against the version before; None for the first


@get("/c/{slug:str}/items/{number:int}/revisions", guards=[public])
async def revisions(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account | None,
) -> Template:
    item = await item_or_404(db, membership, number, account)
    found = await actions.item_revisions(db, item)
    numbers = {a.id: a.number for a in await actions.list_amendments(db, item)}
    names = (
        await actions.display_names(db, {r.created_by for r in found})
        if membership.sees_names()
        else {}
    )
    versions = []
    previous: ItemRevision | None = None
    for r in found:
        diff = None
        if previous is not None:  # an empty list: the text did not change (the title may have)
            segments = rules.diff_texts(previous.body, r.body)
            diff = rules.compact(segments, 80) if rules.changed(segments) else []
        versions.append(
            Version(
                revision=r,
                author=names.get(r.created_by),
                amendment=numbers.get(r.amendment_id) if r.amendment_id else None,
                old_title=previous.title
                if previous is not None and previous.title != r.title
                else None,
                diff=diff,
            )
        )
        previous = r
    versions.reverse()  # newest first
    return page(
        request,
        "amendments/revisions.html",
        m=membership,
        item=item,
        versions=versions,
        local_time=local_time,
        **_paths(membership, item),
    )


ROUTES: list[Any] = [
    amendment_list,
    new_amendment,
    propose,
    amendment_page,
    accept,
    reject,
    put_to_vote,
    settle,
    revisions,
]
