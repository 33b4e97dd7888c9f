"""A community's home page."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app import register
from app.auth import Membership, community_guard


@get("/c/{slug:str}", guards=[community_guard()])
async def community_home(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Template:
    totals = await register.counts(db, membership.community.id)
    return Template(template_name="community.html", context={"m": membership, "totals": totals})


ROUTES = [community_home]
