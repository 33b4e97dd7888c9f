"""Agenda item pages: the list, drafting (with attachments), the item with its history, and the
steps that move it: publish, co-sign, follow, and the chair's accept, decline, consultation,
ballot, decision and implementation forms.

Every step is a plain form that posts and redirects; co-signing and following also answer htmx
with the panel that changed. A refusal re-renders the page with a 4xx and the reason in words,
and nothing is stored (``app.items`` checks everything that counts)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import items as actions
from app.auth import Membership, community_guard, resident_guard
from app.controllers.ballot_views import local_input, local_time, parse_local
from app.controllers.ballot_views import status_label as ballot_status_label
from app.i18n import gettext as _
from app.items import DeliberationError, Upload
from app.models import (
    Account,
    AgendaItem,
    Amendment,
    Ballot,
    Building,
    Comment,
    Grid,
    Meeting,
    Role,
    utcnow,
)
from app.web import page, page_number, redirect
from deliberation.attachments import IMAGE_TYPES, MAX_BYTES, MAX_FILES
from deliberation.items import Category, Outcome, Progress, Status
from deliberation.text import BODY_MAX, TITLE_MAX, plain_summary

public = community_guard()
chair_guard = community_guard(Role.chair)
member_guard = community_guard(*Role)
# A form of a new item carries up to five files of up to 5 MB each.
UPLOAD_BODY_LIMIT = MAX_FILES * MAX_BYTES + 1024 * 1024


# --- words -------------------------------------------------------------------------------------


def status_label(status: str) -> str:
    labels: dict[str, str] = {
        Status.draft: _("Draft"),
        Status.collecting: _("Collecting co-signatures"),
        Status.submitted: _("Before the chair"),
        Status.declined: _("Declined"),
        Status.on_agenda: _("On the agenda"),
        Status.consultation: _("In consultation"),
        Status.deciding: _("Awaiting decision"),
        Status.decided: _("Decided"),
        Status.implementing: _("Being implemented"),
        Status.closed: _("Closed"),
    }
    return labels.get(status, status)


def category_label(category: str) -> str:
    labels: dict[str, str] = {
        Category.parking: _("Parking"),
        Category.security: _("Safety and security"),
        Category.greening: _("Greening"),
        Category.facilities: _("Facilities"),
        Category.budget: _("Budget"),
        Category.other: _("Other"),
    }
    return labels.get(category, category)


def action_label(action: str) -> str:
    labels = {
        "publish": _("Published and opened for co-signing"),
        "threshold_reached": _("Enough co-signatures: put before the chair"),
        "decline": _("Declined"),
        "accept": _("Put on the agenda"),
        "open_consultation": _("Consultation opened"),
        "close_consultation": _("Consultation closed"),
        "decide": _("Decided"),
        "progress": _("Implementation update"),
        "close": _("Closed"),
        "amend": _("Text changed by an accepted amendment"),
    }
    return labels.get(action, action)


def by_label(by: str) -> str:
    return {"author": _("author"), "chair": _("chair"), "system": _("automatic")}.get(by, by)


def outcome_label(outcome: str | None) -> str:
    labels: dict[str, str] = {Outcome.adopted: _("Adopted"), Outcome.rejected: _("Rejected")}
    return labels.get(outcome or "", "")


def progress_label(progress: str | None) -> str:
    labels: dict[str, str] = {
        Progress.in_progress: _("in progress"),
        Progress.done: _("done"),
        Progress.abandoned: _("abandoned"),
    }
    return labels.get(progress or "", "")


def field_label(field: str) -> str:
    return {
        "title": _("Title"),
        "body": _("Text"),
        "category": _("Category"),
        "scope": _("Concerns"),
        "attachments": _("Attachments"),
        "reason": _("Reason"),
        "progress": _("Progress report"),
        "state": _("State of the work"),
        "opens_at": _("Opens"),
        "closes_at": _("Closes"),
        "meeting": _("Meeting"),
    }.get(field, field)


_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "no_such_item": lambda d: _("There is no agenda item number %(number)s.", **d),
    "not_author": lambda d: _("Only the item's author may do this."),
    "not_chair": lambda d: _("Only the chair may do this."),
    "not_in_register": lambda d: _(
        "Only people in this community's register may draft and co-sign items."
    ),
    "not_draft": lambda d: _("This item is published: its text can no longer be edited here."),
    "wrong_status": lambda d: _(
        "This step is not possible while the item is “%(status)s”.",
        status=status_label(str(d.get("status", ""))),
    ),
    "empty": lambda d: _("%(field)s: please fill this in.", field=field_label(d["field"])),
    "too_long": lambda d: _(
        "%(field)s is too long: at most %(limit)s characters, you wrote %(length)s.",
        field=field_label(d["field"]),
        limit=d.get("limit"),
        length=d.get("length"),
    ),
    "bad_category": lambda d: _("Choose one of the categories."),
    "bad_scope": lambda d: _(
        "Choose a building or a grid of this community, or the whole community."
    ),
    "attachment_empty": lambda d: _("“%(filename)s” is empty.", **d),
    "attachment_too_large": lambda d: _(
        "“%(filename)s” is larger than 5 MB. Attach a smaller file.", **d
    ),
    "attachment_not_allowed": lambda d: _(
        "“%(filename)s” is not a picture (PNG, JPEG, WebP, GIF) or a PDF, whatever its name "
        "says. It was not attached.",
        **d,
    ),
    "attachment_damaged": lambda d: _(
        "“%(filename)s” is damaged or incomplete: it does not open as the picture or PDF it "
        "claims to be.",
        **d,
    ),
    "attachment_too_many_pixels": lambda d: _(
        "“%(filename)s” is too big a picture (more than 40 million pixels).", **d
    ),
    "attachment_too_many": lambda d: _("An item may have at most %(limit)s attachments.", **d),
    "own_item": lambda d: _("You cannot co-sign your own item."),
    "already_cosigned": lambda d: _("You have already co-signed this item."),
    "not_collecting": lambda d: _("This item is no longer collecting co-signatures."),
    "bad_time": lambda d: _(
        "%(field)s: enter a date and time (Beijing time).", field=field_label(d["field"])
    ),
    "closes_before_opens": lambda d: _("The closing time must come after the opening time."),
    "closes_in_past": lambda d: _("The closing time must lie in the future."),
    "no_ballot": lambda d: _("No ballot is linked to this item yet: prepare one first."),
    "amended_since_vote": lambda d: _(
        "The item's text was changed by an amendment after the vote began: the vote was on "
        "another text and cannot decide this one. Put the current text to a new vote."
    ),
    "ballot_not_final": lambda d: _(
        "Ballot #%(ballot)s has no final result yet: a preliminary result becomes final once "
        "its objection period is over.",
        **d,
    ),
    "no_decision": lambda d: _(
        "Ballot #%(ballot)s took no decision on its first question; decide by a meeting instead.",
        **d,
    ),
    "no_such_meeting": lambda d: _("Choose a meeting of this community."),
    "meeting_not_held": lambda d: _("Meeting #%(meeting)s has not been held yet.", **d),
    "no_meeting_vote": lambda d: _("Meeting #%(meeting)s took no vote on this item.", **d),
    "bad_progress": lambda d: _("Choose the state of the work."),
    "not_adopted": lambda d: _("Only an adopted item is implemented."),
    "not_rejected": lambda d: _(
        "Only a rejected item is closed this way; an adopted one closes with its last "
        "progress report."
    ),
    "busy": lambda d: _("Many people are saving at once; please try again."),
}
NOT_FOUND = frozenset({"no_such_item", "not_author", "no_such_attachment"})
FORBIDDEN = frozenset({"not_chair", "not_in_register"})
INVALID = frozenset({"empty", "too_long", "bad_category", "bad_scope", "bad_time", "bad_progress"})


def message(error: DeliberationError) -> str:
    make = _MESSAGES.get(error.code)
    if make is None:
        return _("This could not be done (%(code)s).", code=error.code)
    return make(dict(error.details))


def status_of(error: DeliberationError) -> int:
    if error.code in NOT_FOUND:
        return 404
    if error.code in FORBIDDEN:
        return 403
    if error.code in INVALID or error.code.startswith("attachment_") or "field" in error.details:
        return 400
    return 409


# --- reading -------------------------------------------------------------------------------------


def _base(m: Membership) -> str:
    return f"/c/{m.community.slug}/items"


async def item_or_404(
    db: AsyncSession, m: Membership, account: Account | None, number: int
) -> AgendaItem:
    """The item; a draft only for its author (to anyone else it does not exist)."""
    try:
        item = await actions.get_item(db, m.community.id, number)
    except DeliberationError:
        raise NotFoundException() from None
    if not actions.can_see(item, account):
        raise NotFoundException()
    return item


async def _scope_choices(db: AsyncSession, community_id: int) -> list[tuple[str, str]]:
    grids = (
        await db.execute(
            select(Grid).where(Grid.community_id == community_id).order_by(Grid.number)
        )
    ).scalars()
    buildings = list(
        (await db.execute(select(Building).where(Building.community_id == community_id))).scalars()
    )
    buildings.sort(key=lambda b: (len(b.number), b.number))
    choices = [("", _("The whole community"))]
    choices += [(f"grid:{g.id}", _("Grid: %(name)s", name=g.name)) for g in grids]
    choices += [(f"building:{b.id}", _("Building %(n)s", n=b.number)) for b in buildings]
    return choices


async def scope_label(db: AsyncSession, item: AgendaItem) -> str:
    if item.scope_building_id is not None:
        building = await db.get(Building, item.scope_building_id)
        return _("Building %(n)s", n=building.number) if building else ""
    if item.scope_grid_id is not None:
        grid = await db.get(Grid, item.scope_grid_id)
        return _("Grid: %(name)s", name=grid.name) if grid else ""
    return _("The whole community")


def _scope_value(item: AgendaItem) -> str:
    if item.scope_building_id is not None:
        return f"building:{item.scope_building_id}"
    if item.scope_grid_id is not None:
        return f"grid:{item.scope_grid_id}"
    return ""


MAIN_PATH = (
    Status.collecting,
    Status.submitted,
    Status.on_agenda,
    Status.consultation,
    Status.deciding,
    Status.decided,
    Status.implementing,
    Status.closed,
)


def life_cycle(item: AgendaItem, declined_from: str | None) -> list[dict[str, Any]]:
    """The steps of the item's life for the step indicator: done, current or to come."""
    if item.status == Status.draft:
        path: list[Status] = [Status.draft, *MAIN_PATH]
    elif item.status == Status.declined:
        before = Status(declined_from or Status.collecting)
        path = [*MAIN_PATH[: MAIN_PATH.index(before) + 1], Status.declined]
    else:
        path = list(MAIN_PATH)
    current = path.index(Status(item.status))
    return [
        {
            "status": s.value,
            "label": status_label(s),
            "state": "done" if i < current else "current" if i == current else "todo",
        }
        for i, s in enumerate(path)
    ]


async def _author_name(db: AsyncSession, item: AgendaItem) -> str:
    author = await db.get(Account, item.author_id)
    return author.display_name if author else ""


async def _counts(db: AsyncSession, item: AgendaItem) -> tuple[int, int]:
    comments = (
        await db.execute(
            select(func.count())
            .select_from(Comment)
            .where(Comment.item_id == item.id, Comment.hidden_reason.is_(None))
        )
    ).scalar_one()
    amendments = (
        await db.execute(
            select(func.count()).select_from(Amendment).where(Amendment.item_id == item.id)
        )
    ).scalar_one()
    return int(comments), int(amendments)


def consultation_defaults() -> dict[str, str]:
    start = (utcnow() + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return {
        "opens_at": local_input(start.isoformat()),
        "closes_at": local_input((start + timedelta(days=14)).isoformat()),
    }


async def item_context(
    db: AsyncSession,
    m: Membership,
    account: Account | None,
    item: AgendaItem,
    *,
    error: DeliberationError | None = None,
    form: dict[str, str] | None = None,
    done: str | None = None,
) -> dict[str, Any]:
    """Everything the item page shows, for whoever is looking."""
    steps = await actions.history(db, item)
    declined_from = next((s.event.from_status for s in steps if s.event.action == "decline"), None)
    is_chair = m.has(Role.chair)
    ballot = await db.get(Ballot, item.decision_ballot_id) if item.decision_ballot_id else None
    meeting = await db.get(Meeting, item.decision_meeting_id) if item.decision_meeting_id else None
    meetings = (
        await actions.decision_meetings(db, item)
        if is_chair and item.status == Status.deciding
        else []
    )
    comments, amendments = await _counts(db, item)
    person = m.person
    context: dict[str, Any] = {
        "m": m,
        "item": item,
        "base": f"{_base(m)}/{item.number}",
        "path": f"{_base(m)}/{item.number}",
        "summary": plain_summary(item.body),
        "status_label": status_label,
        "category_label": category_label,
        "action_label": action_label,
        "by_label": by_label,
        "outcome_label": outcome_label,
        "progress_label": progress_label,
        "local_time": local_time,
        "ballot_status_label": ballot_status_label,
        "life_cycle": life_cycle(item, declined_from),
        "scope": await scope_label(db, item),
        # names are for the community's own people; a passer-by sees that residents took part
        "author_name": await _author_name(db, item) if m.sees_names() else _("a resident"),
        "attachments": await actions.attachments_of(db, item),
        "image_types": IMAGE_TYPES,
        "cosigners": await actions.cosigner_names(db, item) if m.sees_names() else [],
        "has_cosigned": bool(person and await actions.has_cosigned(db, item, person.id)),
        "is_author": account is not None and account.id == item.author_id,
        "is_chair": is_chair,
        "can_cosign": person is not None,
        "signed_in": account is not None,
        "is_member": bool(m.roles),
        "following": bool(account and await actions.is_following(db, item, account.id)),
        "history": steps,
        "ballot": ballot,
        "ballot_outcome": actions.ballot_outcome(ballot) if ballot else None,
        "meeting": meeting,
        "meeting_vote": actions.meeting_vote(meeting, item.number) if meeting else None,
        "meetings": [(mt, actions.meeting_vote(mt, item.number)) for mt in meetings],
        "comment_count": comments,
        "amendment_count": amendments,
        "error": message(error) if error else None,
        "error_field": error.details.get("field") if error else None,
        "form": {**consultation_defaults(), **(form or {})},
        "done": done,
        "progress_states": [(p.value, progress_label(p)) for p in Progress],
    }
    return context


async def _item_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    account: Account | None,
    item: AgendaItem,
    status: int = 200,
    *,
    error: DeliberationError | None = None,
    form: dict[str, str] | None = None,
    fragment: str | None = None,
) -> Template:
    context = await item_context(
        db, m, account, item, error=error, form=form, done=request.query_params.get("done")
    )
    return page(request, "items/item.html", status, fragment=fragment, **context)


# --- the list ----------------------------------------------------------------------------------


@get("/c/{slug:str}/items", guards=[public])
async def item_list(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    account: Account | None,
) -> Template:
    params = request.query_params
    status = params.get("status", "")
    category = params.get("category", "")
    grid = params.get("grid", "")
    grids = list(
        (
            await db.execute(
                select(Grid)
                .where(Grid.community_id == membership.community.id)
                .order_by(Grid.number)
            )
        ).scalars()
    )
    grid_id = next((g.id for g in grids if str(g.id) == grid), None)
    where = actions.ItemFilter(
        status=status if status in set(Status) and status != Status.draft else None,
        category=category if category in set(Category) else None,
        grid_id=grid_id,
    )
    page_no = page_number(params.get("p"))
    found, total = await actions.list_items(db, membership.community.id, where, page_no)
    chosen = {
        k: v
        for k, v in {
            "status": where.status or "",
            "category": where.category or "",
            "grid": str(grid_id) if grid_id else "",
        }.items()
        if v
    }
    drafts = (
        await actions.drafts_of(db, membership.community.id, account.id)
        if account is not None
        else []
    )
    return page(
        request,
        "items/list.html",
        m=membership,
        items=found,
        total=total,
        page_no=page_no,
        page_size=actions.PAGE_SIZE,
        extra="".join(f"&{k}={quote(v)}" for k, v in chosen.items()),
        chosen=chosen,
        drafts=drafts,
        grids=grids,
        statuses=[(s.value, status_label(s)) for s in Status if s != Status.draft],
        categories=[(c.value, category_label(c)) for c in Category],
        status_label=status_label,
        category_label=category_label,
        local_time=local_time,
        can_draft=membership.person is not None,
        fragment="items/_rows.html",
    )


# --- drafting ----------------------------------------------------------------------------------


async def _edit_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    values: dict[str, str],
    status: int = 200,
    item: AgendaItem | None = None,
    error: DeliberationError | None = None,
) -> Template:
    return page(
        request,
        "items/edit.html",
        status,
        m=m,
        item=item,
        values=values,
        error=message(error) if error else None,
        error_field=(error.details.get("field") if error else None),
        categories=[(c.value, category_label(c)) for c in Category],
        scopes=await _scope_choices(db, m.community.id),
        attachments=await actions.attachments_of(db, item) if item else [],
        title_max=TITLE_MAX,
        body_max=BODY_MAX,
        max_files=MAX_FILES,
    )


async def _draft_form(request: Request[Any, Any, Any]) -> tuple[dict[str, str], list[Upload]]:
    form = await request.form()
    values = {k: str(form.get(k, "") or "") for k in ("title", "body", "category", "scope")}
    uploads = []
    for upload in form.getall("attachments") if "attachments" in form else []:
        if isinstance(upload, UploadFile) and (upload.filename or upload.size):
            uploads.append(Upload(upload.filename or "", await upload.read()))
    return values, uploads


@get("/c/{slug:str}/items/new", guards=[resident_guard])
async def new_item(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Template:
    values = {"title": "", "body": "", "category": "", "scope": ""}
    return await _edit_page(request, db, membership, values)


@post(
    "/c/{slug:str}/items/new",
    guards=[resident_guard],
    request_max_body_size=UPLOAD_BODY_LIMIT,
)
async def create_item(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    values, uploads = await _draft_form(request)
    try:
        item = await actions.create_draft(
            db,
            membership.community.id,
            account,
            membership.person,
            title=values["title"],
            body=values["body"],
            category=values["category"],
            scope=values["scope"],
            uploads=uploads,
        )
    except DeliberationError as error:
        return await _edit_page(request, db, membership, values, status_of(error), error=error)
    return redirect(f"{_base(membership)}/{item.number}?done=drafted")


async def _own_draft(db: AsyncSession, m: Membership, account: Account, number: int) -> AgendaItem:
    item = await item_or_404(db, m, account, number)
    if item.author_id != account.id:
        raise NotFoundException()  # published items of others: nothing to edit here either
    return item


@get("/c/{slug:str}/items/{number:int}/edit", guards=[resident_guard])
async def edit_item_form(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Template:
    item = await _own_draft(db, membership, account, number)
    if item.status != Status.draft:
        return await _item_page(
            request, db, membership, account, item, 409, error=DeliberationError("not_draft")
        )
    values = {
        "title": item.title,
        "body": item.body,
        "category": item.category,
        "scope": _scope_value(item),
    }
    return await _edit_page(request, db, membership, values, item=item)


@post(
    "/c/{slug:str}/items/{number:int}/edit",
    guards=[resident_guard],
    request_max_body_size=UPLOAD_BODY_LIMIT,
)
async def edit_item(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    item = await _own_draft(db, membership, account, number)
    values, uploads = await _draft_form(request)
    if item.status != Status.draft:
        return await _item_page(
            request, db, membership, account, item, 409, error=DeliberationError("not_draft")
        )
    try:
        await actions.update_draft(
            db,
            item,
            account,
            title=values["title"],
            body=values["body"],
            category=values["category"],
            scope=values["scope"],
            uploads=uploads,
        )
    except DeliberationError as error:
        return await _edit_page(
            request, db, membership, values, status_of(error), item=item, error=error
        )
    return redirect(f"{_base(membership)}/{number}?done=saved")


@post(
    "/c/{slug:str}/items/{number:int}/attachments/{attachment_id:int}/delete",
    guards=[resident_guard],
)
async def delete_attachment(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    attachment_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    item = await _own_draft(db, membership, account, number)
    try:
        await actions.delete_attachment(db, item, account, attachment_id)
    except DeliberationError as error:
        if status_of(error) == 404:
            raise NotFoundException() from None
        return await _item_page(
            request, db, membership, account, item, status_of(error), error=error
        )
    return redirect(f"{_base(membership)}/{number}/edit")


# --- attachments -------------------------------------------------------------------------------


def content_disposition(filename: str, inline: bool) -> str:
    """RFC 6266 with the RFC 5987 ``filename*`` for the real (Unicode) name, and a plain ASCII
    fallback for old clients."""
    fallback = (
        "".join(c if 32 <= ord(c) < 127 and c not in '"\\;%' else "_" for c in filename).strip()
        or "attachment"
    )
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@get("/c/{slug:str}/items/{number:int}/attachments/{attachment_id:int}", guards=[public])
async def attachment(
    slug: str,
    number: int,
    attachment_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account | None,
) -> Response[bytes]:
    item = await item_or_404(db, membership, account, number)
    try:
        found = await actions.get_attachment(db, item, attachment_id)
    except DeliberationError:
        raise NotFoundException() from None
    inline = found.media_type in IMAGE_TYPES
    return Response(
        content=found.data,
        media_type=found.media_type,
        headers={
            "Content-Disposition": content_disposition(found.filename, inline),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            # a draft's files are its author's alone; published ones never change
            "Cache-Control": "private, no-store" if item.status == Status.draft else "max-age=3600",
        },
    )


# --- the item ----------------------------------------------------------------------------------


@get("/c/{slug:str}/items/{number:int}", guards=[public])
async def item_page(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account | None,
) -> Template:
    item = await item_or_404(db, membership, account, number)
    return await _item_page(request, db, membership, account, item)


async def _step(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    account: Account,
    number: int,
    run: Callable[[AgendaItem], Any],
    done: str,
    *,
    form: dict[str, str] | None = None,
    fragment: str | None = None,
) -> Response[Any]:
    """Run one action on the item; on success go back to the item (or answer htmx with the
    panel that changed), on refusal show the item with the reason."""
    item = await item_or_404(db, m, account, number)
    try:
        await run(item)
    except DeliberationError as error:
        if status_of(error) == 404:
            raise NotFoundException() from None
        return await _item_page(
            request, db, m, account, item, status_of(error), error=error, form=form,
            fragment=fragment,
        )  # fmt: skip
    if fragment and request.headers.get("hx-request") == "true":
        return await _item_page(request, db, m, account, item, fragment=fragment)
    return redirect(f"{_base(m)}/{number}?{urlencode({'done': done})}")


@post("/c/{slug:str}/items/{number:int}/publish", guards=[resident_guard])
async def publish(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    return await _step(
        request,
        db,
        membership,
        account,
        number,
        lambda item: actions.publish(db, item, account),
        "published",
    )


@post("/c/{slug:str}/items/{number:int}/cosign", guards=[resident_guard])
async def cosign(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    return await _step(
        request,
        db,
        membership,
        account,
        number,
        lambda item: actions.cosign(db, item, account, membership.person),
        "cosigned",
        fragment="items/_cosign.html",
    )


@post("/c/{slug:str}/items/{number:int}/follow", guards=[member_guard])
async def follow(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    form = await request.form()
    stop = form.get("follow") == "no"

    async def run(item: AgendaItem) -> None:
        if stop:
            await actions.unfollow(db, item, account)
        else:
            await actions.follow(db, item, account)

    return await _step(
        request,
        db,
        membership,
        account,
        number,
        run,
        "unfollowed" if stop else "followed",
        fragment="items/_follow.html",
    )


# --- the chair's steps -------------------------------------------------------------------------


async def _form(request: Request[Any, Any, Any], *keys: str) -> dict[str, str]:
    form = await request.form()
    return {k: str(form.get(k, "") or "") for k in keys}


@post("/c/{slug:str}/items/{number:int}/accept", guards=[chair_guard])
async def accept(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    return await _step(
        request,
        db,
        membership,
        account,
        number,
        lambda item: actions.accept(db, item, account),
        "accepted",
    )


@post("/c/{slug:str}/items/{number:int}/decline", guards=[chair_guard])
async def decline(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    form = await _form(request, "reason")
    return await _step(
        request,
        db,
        membership,
        account,
        number,
        lambda item: actions.decline(db, item, account, form["reason"]),
        "declined",
        form=form,
    )


@post("/c/{slug:str}/items/{number:int}/open-consultation", guards=[chair_guard])
async def open_consultation(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    form = await _form(request, "opens_at", "closes_at")
    return await _step(
        request,
        db,
        membership,
        account,
        number,
        lambda item: actions.open_consultation(
            db, item, account, parse_local(form["opens_at"]), parse_local(form["closes_at"])
        ),
        "consultation_opened",
        form=form,
    )


@post("/c/{slug:str}/items/{number:int}/close-consultation", guards=[chair_guard])
async def close_consultation(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    return await _step(
        request,
        db,
        membership,
        account,
        number,
        lambda item: actions.close_consultation(db, item, account),
        "consultation_closed",
    )


@post("/c/{slug:str}/items/{number:int}/prepare-ballot", guards=[chair_guard])
async def prepare_ballot(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    item = await item_or_404(db, membership, account, number)
    try:
        ballot = await actions.prepare_ballot(db, membership.community, item, account)
    except DeliberationError as error:
        return await _item_page(
            request, db, membership, account, item, status_of(error), error=error
        )
    ballots = f"/c/{membership.community.slug}/ballots/{ballot.number}"
    return redirect(f"{ballots}/edit" if ballot.status == "draft" else ballots)


@post("/c/{slug:str}/items/{number:int}/decide", guards=[chair_guard])
async def decide(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    form = await _form(request, "by")

    async def run(item: AgendaItem) -> int:
        # "ballot", or "meeting:<number>" for a held meeting's vote
        kind, _colon, raw = form["by"].partition(":")
        if kind == "meeting":
            number = int(raw) if raw.isdecimal() and len(raw) < 10 else 0
            return await actions.decide_by_meeting(db, item, account, number)
        return await actions.decide_by_ballot(db, item, account)

    return await _step(request, db, membership, account, number, run, "decided", form=form)


@post("/c/{slug:str}/items/{number:int}/progress", guards=[chair_guard])
async def progress(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    form = await _form(request, "progress", "state")
    return await _step(
        request,
        db,
        membership,
        account,
        number,
        lambda item: actions.post_progress(db, item, account, form["progress"], form["state"]),
        "progress",
        form=form,
    )


@post("/c/{slug:str}/items/{number:int}/close", guards=[chair_guard])
async def close(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    return await _step(
        request,
        db,
        membership,
        account,
        number,
        lambda item: actions.close_rejected(db, item, account),
        "closed",
    )


ROUTES: list[Any] = [
    item_list,
    new_item,
    create_item,
    edit_item_form,
    edit_item,
    delete_attachment,
    attachment,
    item_page,
    publish,
    cosign,
    follow,
    accept,
    decline,
    open_consultation,
    close_consultation,
    prepare_ballot,
    decide,
    progress,
    close,
]
