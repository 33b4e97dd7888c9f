"""Finding things (issue 5): search over items and their visible comments, the items' Atom
feed, and "my participation" (a resident's own items, co-signatures, comments, amendments and
ballots with their receipts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.exceptions import ClientException
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app import search
from app.auth import Membership, community_guard, person_guard
from app.controllers.amendments import status_label as amendment_status_label
from app.controllers.ballot_views import local_time
from app.controllers.ballot_views import status_label as ballot_status_label
from app.controllers.consultation import reason_label
from app.controllers.items import category_label, status_label
from app.i18n import current_language, html_lang
from app.i18n import gettext as _
from app.items import DeliberationError
from app.models import Account
from app.settings import Settings
from app.web import page, page_number

public = community_guard()


# --- words ---------------------------------------------------------------------------------------


def channel_words() -> dict[str, str]:
    return {
        "online": _("You voted online."),
        "paper": _("Your paper form was entered by a grid member."),
        "proxy": _("Your proxy voted for you."),
    }


_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "query_too_long": lambda d: _(
        "Search words: at most %(limit)s characters. Please shorten your search.", **d
    ),
    "too_many_terms": lambda d: _("Search words: at most %(limit)s words at a time.", **d),
    "unknown_status": lambda d: _("Status: choose one from the list."),
    "unknown_category": lambda d: _("Category: choose one from the list."),
    "unknown_grid": lambda d: _("Grid: there is no such grid in this community."),
}


def message(error: DeliberationError) -> str:
    make = _MESSAGES.get(error.code)
    return make(error.details) if make else error.code


# --- filters from the address ---------------------------------------------------------------------


async def filters(
    db: AsyncSession, community_id: int, status: str, category: str, grid: str
) -> tuple[str | None, str | None, int | None]:
    """The status, category and grid id the address asks for; a refusal names the field."""
    search.check_filters(status or None, category or None)
    grid_id = None
    if grid:
        if not (grid.isascii() and grid.isdecimal()) or len(grid) > 9:
            raise DeliberationError("unknown_grid", field="grid", value=grid)
        grid_id = await search.community_grid(db, community_id, int(grid))
    return status or None, category or None, grid_id


def filter_query(status: str, category: str, grid: str) -> str:
    """The filters as an address query, for the pages and the feed link."""
    return urlencode(
        {k: v for k, v in (("status", status), ("category", category), ("grid", grid)) if v}
    )


# --- pages -----------------------------------------------------------------------------------------


RESULTS = "finding/_results.html"


@get("/c/{slug:str}/search", guards=[public])
async def search_page(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    q: str = "",
    status: str = "",
    category: str = "",
    grid: str = "",
    p: str | None = None,
) -> Template:
    """Search the community's published items and visible comments. An empty query shows the
    form alone; a refused one shows it again (400) with the field named."""
    community_id = membership.community.id
    values = {"q": q, "status": status, "category": category, "grid": grid}
    error = None
    error_field = None
    result = search.SearchResult([], [], 0, 1)
    try:
        status_, category_, grid_id = await filters(db, community_id, status, category, grid)
        result = await search.search(
            db, community_id, q, status_, category_, grid_id, page_number(p)
        )
    except DeliberationError as refused:
        error, error_field = message(refused), str(refused.details.get("field", "q"))
    extra = (
        "&"
        + urlencode({"q": q})
        + ("&" + fq if (fq := filter_query(status, category, grid)) else "")
    )
    return page(
        request,
        "finding/search.html",
        400 if error else 200,
        # htmx restoring a page missing from its history cache needs the whole page
        fragment=None if request.headers.get("hx-history-restore-request") else RESULTS,
        m=membership,
        values=values,
        searched=bool(result.terms),
        result=result,
        error=error,
        error_field=error_field,
        statuses=[(s, status_label(s)) for s in search.PUBLIC_STATUSES],
        categories=[(c, category_label(c)) for c in search.CATEGORIES],
        grids=await search.grids(db, community_id),
        status_label=status_label,
        category_label=category_label,
        page_extra=extra,
        feed_query=filter_query(status, category, grid),
        local_time=local_time,
    )


ATOM_MEDIA_TYPE = "application/atom+xml; charset=utf-8"


@get("/c/{slug:str}/items.atom", guards=[public])
async def items_feed(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    settings: Settings,
    status: str = "",
    category: str = "",
    grid: str = "",
) -> Response[bytes]:
    """An Atom feed of the published items, newest-updated first, with the search's filters."""
    community = membership.community
    try:
        status_, category_, grid_id = await filters(db, community.id, status, category, grid)
    except DeliberationError as refused:
        raise ClientException(detail=message(refused)) from None
    entries = await search.feed_entries(db, community.id, status_, category_, grid_id)
    query = filter_query(status, category, grid)
    body = search.atom_feed(
        community,
        entries,
        base_url=settings.base_url,
        self_path=f"/c/{community.slug}/items.atom" + (f"?{query}" if query else ""),
        title=_("%(community)s: agenda items", community=community.name),
        language=html_lang(current_language()),
        category_label=category_label,
    )
    return Response(content=body, media_type=ATOM_MEDIA_TYPE)


@get("/c/{slug:str}/me", guards=[person_guard])
async def my_participation(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Template:
    """My items (drafts too), co-signatures, comments, amendments, and the ballots I may cast
    in: whether I took part, and where I voted, the receipt page the vote was given."""
    assert membership.person is not None and membership.person.id is not None
    mine = await search.participation(db, membership.community.id, account.id, membership.person.id)
    return page(
        request,
        "finding/me.html",
        m=membership,
        mine=mine,
        shown=search.SHOWN,
        status_label=status_label,
        category_label=category_label,
        amendment_status_label=amendment_status_label,
        reason_label=reason_label,
        channel_words=channel_words(),
        ballot_status_label=ballot_status_label,
        local_time=local_time,
    )


ROUTES: list[Any] = [search_page, items_feed, my_participation]
