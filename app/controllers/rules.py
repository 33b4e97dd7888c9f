"""The community's rules for agenda items: public to read, the admin sets them."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app import rules
from app.auth import Membership, community_guard
from app.i18n import gettext as _
from app.models import Role
from app.web import page, redirect


async def _page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    status: int = 200,
    error: rules.RulesError | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    current = await rules.rules_of(db, m.community.id)
    low, high = rules.LIMITS[error.field] if error else (0, 0)
    return page(
        request,
        "rules.html",
        status,
        m=m,
        rules=current,
        values=values or {name: str(getattr(current, name)) for name in rules.LIMITS},
        households=await rules.households(db, m.community.id),
        threshold=await rules.current_threshold(db, m.community.id),
        error=_("Enter a whole number from %(low)s to %(high)s.", low=low, high=high)
        if error
        else None,
        error_field=error.field if error else None,
    )


@get("/c/{slug:str}/rules", guards=[community_guard()])
async def rules_page(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Template:
    return await _page(request, db, membership)


@post("/c/{slug:str}/rules", guards=[community_guard(Role.admin)])
async def set_rules(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Response[Any]:
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in rules.LIMITS}
    try:
        await rules.update_rules(db, membership.community.id, values)
    except rules.RulesError as error:
        return await _page(request, db, membership, 400, error, values)
    return redirect(f"/c/{slug}/rules", "saved")


ROUTES = [rules_page, set_rules]
