"""Notices to residents: in the app's notification centre and, where they chose it, by e-mail
or SMS through an outbox that a sender drains. ``notify`` is called inside the action that
causes the notice, so the notice exists exactly when the action committed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Notification, NotificationPreference, utcnow

# What a resident can be told about.
KINDS: Final = (
    "reply",  # a reply to my comment
    "item_status",  # an item I follow changed status or has news
    "amendment",  # an amendment to my item, or a decision on mine
    "moderation",  # my comment was hidden, and why
    "ballot_opened",  # a ballot I may vote in has opened
    "meeting",  # a meeting was convened, or its minutes published
)
CHANNELS: Final = ("inapp", "email", "sms")
DEFAULT_ON: Final = {"inapp"}  # e-mail and SMS only when the resident asks for them


async def notify(
    session: AsyncSession,
    community_id: int,
    account_ids: Iterable[int],
    kind: str,
    params: dict[str, Any],
    link: str,
    *,
    exclude: int | None = None,
) -> int:
    """Tell these accounts (but not ``exclude``, usually the actor) about something; returns how
    many in-app notices were written. ``params`` are plain JSON values the notice is worded
    from; ``link`` is the page it points to."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    recipients = sorted({a for a in account_ids if a != exclude})
    if not recipients:
        return 0
    choices = await _choices(session, recipients, kind)
    now = utcnow()
    rows = [
        {
            "community_id": community_id,
            "account_id": account_id,
            "kind": kind,
            "params": params,
            "link": link,
            "created_at": now,
        }
        for account_id in recipients
        if choices.get((account_id, "inapp"), "inapp" in DEFAULT_ON)
    ]
    if rows:
        await session.execute(insert(Notification), rows)
    return len(rows)


async def _choices(
    session: AsyncSession, account_ids: list[int], kind: str
) -> dict[tuple[int, str], bool]:
    found = await session.execute(
        select(
            NotificationPreference.account_id,
            NotificationPreference.channel,
            NotificationPreference.enabled,
        ).where(
            NotificationPreference.account_id.in_(account_ids),
            NotificationPreference.kind == kind,
        )
    )
    return {(account_id, channel): enabled for account_id, channel, enabled in found}
