"""Sharing: the QR code of any community page, a printable notice with it (for the
noticeboard), and the share card image of every item, ballot and meeting (what a link pasted
into a WeChat group shows). All public; drafts are nobody's to share (404)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from litestar import Request, get
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Response, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import ballots, i18n, meetings, share
from app.auth import Membership, community_guard
from app.controllers.ballot_views import local_time
from app.controllers.meetings import kind_labels, meeting_summary
from app.i18n import gettext as _
from app.items import DeliberationError, get_item
from app.models import BallotStatus, Community
from app.settings import Settings
from app.web import page
from deliberation.items import Status
from deliberation.text import plain_summary

public = community_guard()
CARD_CACHE_CONTROL: Final = "public, max-age=600"
QR_CACHE_CONTROL: Final = "public, max-age=86400"
_SHARED_PAGE: Final = re.compile(
    r"/c/([a-z0-9][a-z0-9_-]{0,63})/(items|ballots|meetings)/(\d{1,10})"
)


@dataclass(frozen=True)
class Shared:
    """What a card or a notice shows of a page, and what it was made from (for the cache)."""

    kind: str  # items | ballots | meetings
    id: int
    stamp: str  # changes when what the card shows may have changed
    label: str  # "Agenda item #3"
    title: str
    summary: str
    community: str
    path: str


async def shared_page(db: AsyncSession, community: Community, kind: str, number: int) -> Shared:
    """The page of an item, ballot or meeting as shared; 404 for a draft or nothing."""
    base = f"/c/{community.slug}/{kind}/{number}"
    assert community.id is not None
    if kind == "items":
        try:
            item = await get_item(db, community.id, number)
        except DeliberationError:
            raise NotFoundException() from None
        if item.status == Status.draft or item.id is None:
            raise NotFoundException()
        return Shared(
            kind,
            item.id,
            f"{item.updated_at.isoformat()}/{item.revision}",
            _("Agenda item #%(n)s", n=number),
            item.title,
            plain_summary(item.body, 200),
            community.name,
            base,
        )
    if kind == "ballots":
        try:
            ballot = await ballots.get_ballot(db, community.id, number)
        except ballots.BallotError:
            raise NotFoundException() from None
        if ballot.status == BallotStatus.draft or ballot.id is None:
            raise NotFoundException()
        description = str(ballot.definition.get("description") or "")
        window = _(
            "Voting from %(opens)s to %(closes)s (Beijing time).",
            opens=local_time(ballot.opens_at),
            closes=local_time(ballot.closes_at),
        )
        return Shared(
            kind,
            ballot.id,
            str(ballot.opened_at),  # the definition is frozen from the opening on
            _("Ballot #%(n)s", n=number),
            ballot.title,
            plain_summary(f"{description}\n\n{window}" if description else window, 200),
            community.name,
            base,
        )
    try:
        meeting = await meetings.get_meeting(db, community.id, number)
    except DeliberationError:
        raise NotFoundException() from None
    assert meeting.id is not None
    label = f"{kind_labels().get(meeting.kind, meeting.kind)} #{number}"
    if meeting.status == "cancelled":
        label = _("%(meeting)s (cancelled)", meeting=label)
    return Shared(
        kind,
        meeting.id,
        meeting.status,
        label,
        meeting.title,
        meeting_summary(meeting),
        community.name,
        base,
    )


async def _card(settings: Settings, shown: Shared) -> Response[bytes]:
    url = settings.base_url + shown.path
    caption = _("Scan to take part")
    key = (shown.kind, shown.id, shown.stamp, i18n.current_language(), url)

    def draw() -> bytes:
        return share.card_png(
            shown.title, shown.summary, shown.community, shown.label, url, caption
        )

    png = await share.cached_card(key, draw)
    return Response(png, media_type="image/png", headers={"Cache-Control": CARD_CACHE_CONTROL})


@get("/c/{slug:str}/items/{number:int}/card.png", guards=[public])
async def item_card(
    slug: str, number: int, db: AsyncSession, membership: Membership, settings: Settings
) -> Response[bytes]:
    return await _card(settings, await shared_page(db, membership.community, "items", number))


@get("/c/{slug:str}/ballots/{number:int}/card.png", guards=[public])
async def ballot_card(
    slug: str, number: int, db: AsyncSession, membership: Membership, settings: Settings
) -> Response[bytes]:
    return await _card(settings, await shared_page(db, membership.community, "ballots", number))


@get("/c/{slug:str}/meetings/{number:int}/card.png", guards=[public])
async def meeting_card(
    slug: str, number: int, db: AsyncSession, membership: Membership, settings: Settings
) -> Response[bytes]:
    return await _card(settings, await shared_page(db, membership.community, "meetings", number))


@lru_cache(maxsize=256)
def _qr(url: str) -> str:
    return share.qr_svg(url)


def _path_or_400(request: Request[Any, Any, Any]) -> str:
    path = share.page_path(request.query_params.get("path"))
    if path is None:
        raise HTTPException(status_code=400, detail="not a page of this site")
    return path


@get("/share/qr.svg")
async def qr_code(request: Request[Any, Any, Any], settings: Settings) -> Response[str]:
    """The QR code of a page of this site (only paths under /c/: never someone else's)."""
    url = settings.base_url + _path_or_400(request)
    return Response(
        _qr(url),
        media_type="image/svg+xml",
        headers={"Cache-Control": QR_CACHE_CONTROL, "X-Content-Type-Options": "nosniff"},
    )


@get("/share/poster")
async def poster(request: Request[Any, Any, Any], db: AsyncSession, settings: Settings) -> Template:
    """A notice to print and pin up: big title, summary, the QR code and the address."""
    path = _path_or_400(request)
    found = _SHARED_PAGE.fullmatch(path)
    if found is None:
        raise NotFoundException()
    slug, kind, number = found.group(1), found.group(2), int(found.group(3))
    community = (
        await db.execute(select(Community).where(Community.slug == slug))
    ).scalar_one_or_none()
    if community is None or number > ballots.MAX_ID:
        raise NotFoundException()
    shown = await shared_page(db, community, kind, number)
    url = settings.base_url + shown.path
    return page(request, "share/poster.html", shown=shown, url=url, qr=_qr(url))


ROUTES: list[Any] = [item_card, ballot_card, meeting_card, qr_code, poster]
