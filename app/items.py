"""Agenda items stored: drafting, attachments, publishing, co-signing, the chair's steps, the
decision and implementation. Each action checks state, writes its rows and appends its log entry
in one transaction, and writes nothing when refused. The life cycle itself is
``deliberation.items``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AgendaItem

MAX_ID = 2**31 - 1


class DeliberationError(Exception):
    """A refused deliberation action. ``code`` is stable (the pages word it); ``details`` say
    where (a field name, a limit)."""

    def __init__(self, code: str, **details: Any) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details


async def get_item(session: AsyncSession, community_id: int, number: int) -> AgendaItem:
    if not 0 < number <= MAX_ID:
        raise DeliberationError("no_such_item", number=number)
    item = (
        await session.execute(
            select(AgendaItem).where(
                AgendaItem.community_id == community_id, AgendaItem.number == number
            )
        )
    ).scalar_one_or_none()
    if item is None:
        raise DeliberationError("no_such_item", number=number)
    return item
