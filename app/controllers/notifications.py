"""The notification centre and the choice of notices: a signed-in account sees and marks only
its own notices, in the community of the path; preferences belong to the account."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app import notify
from app.auth import Membership, community_guard, signed_in_guard
from app.controllers.ballot_views import local_time
from app.i18n import gettext as _
from app.items import DeliberationError
from app.models import Account
from app.web import page, page_number, redirect, safe_next

PAGE_SIZE = 20
guards = [community_guard(), signed_in_guard]


def _base(m: Membership) -> str:
    return f"/c/{m.community.slug}/notifications"


@get("/c/{slug:str}/notifications", guards=guards)
async def centre(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    account: Account,
    p: str | None = None,
) -> Template:
    page_no = page_number(p)
    found, total = await notify.notices(db, membership.community.id, account.id, page_no, PAGE_SIZE)
    unread = await notify.unread_count(db, membership.community.id, account.id)
    return page(
        request,
        "notifications/centre.html",
        m=membership,
        notices=found,
        total=total,
        unread=unread,
        page_no=page_no,
        page_size=PAGE_SIZE,
        when=local_time,
    )


@get("/c/{slug:str}/notifications/count", guards=guards)
async def count(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Template:
    """The unread count for the navigation link, fetched by htmx once the page has loaded."""
    unread = await notify.unread_count(db, membership.community.id, account.id)
    response = page(request, "notifications/_count.html", m=membership, unread=unread)
    response.headers["cache-control"] = "no-store"
    return response


@post("/c/{slug:str}/notifications/{notification_id:int}/read", guards=guards)
async def read(
    slug: str,
    notification_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    """Open a notice: marked read, then off to what it points at."""
    try:
        link = await notify.mark_read(db, membership.community.id, account.id, notification_id)
    except DeliberationError:
        raise NotFoundException() from None
    return redirect(safe_next(link, _base(membership)))


@post("/c/{slug:str}/notifications/read-all", guards=guards)
async def read_all(db: AsyncSession, membership: Membership, account: Account) -> Response[Any]:
    await notify.mark_all_read(db, membership.community.id, account.id)
    return redirect(_base(membership))


# --- what I receive ------------------------------------------------------------------------------


def _messages(error: DeliberationError) -> str:
    return {
        "bad_email": lambda: _(
            "E-mail address: “%(value)s” is not an e-mail address. Write it like "
            "name@example.com (at most %(max)s characters), or leave it empty.",
            value=error.details.get("value", ""),
            max=notify.EMAIL_MAX,
        ),
        "email_needed": lambda: _(
            "E-mail address: to receive notices by e-mail, enter your e-mail address."
        ),
        "no_phone": lambda: _(
            "By SMS: your account has no phone number, so no notice can be sent by SMS."
        ),
    }.get(error.code, lambda: _("The settings could not be saved (%(code)s).", code=error.code))()


async def _settings_page(
    request: Request[Any, Any, Any],
    membership: Membership,
    account: Account,
    chosen: dict[tuple[str, str], bool],
    email: str,
    status_code: int = 200,
    error: DeliberationError | None = None,
) -> Template:
    return page(
        request,
        "notifications/settings.html",
        status_code,
        m=membership,
        kinds=[(k, notify.kind_label(k)) for k in notify.KINDS],
        channels=[(c, notify.channel_label(c)) for c in notify.CHANNELS],
        chosen=chosen,
        email=email,
        phone=account.phone,
        error=_messages(error) if error else None,
        error_field=error.details.get("field") if error else None,
    )


@get("/c/{slug:str}/notifications/settings", guards=guards)
async def settings_form(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Template:
    chosen = await notify.preferences(db, account.id)
    return await _settings_page(request, membership, account, chosen, account.email or "")


@post("/c/{slug:str}/notifications/settings", guards=guards)
async def settings_save(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    form = await request.form()
    wanted = {
        (kind, channel)
        for kind in notify.KINDS
        for channel in notify.CHANNELS
        if form.get(f"{kind}.{channel}")
    }
    email = str(form.get("email", ""))[:1000]
    try:
        await notify.save_preferences(db, account, wanted, email)
    except DeliberationError as error:
        shown = email.strip()
        error.details.setdefault("value", shown if len(shown) <= 80 else shown[:79] + "…")
        chosen = {(k, c): (k, c) in wanted for k in notify.KINDS for c in notify.CHANNELS}
        return await _settings_page(request, membership, account, chosen, email, 400, error)
    return redirect(f"{_base(membership)}/settings", "saved")


ROUTES: list[Any] = [centre, count, read, read_all, settings_form, settings_save]
