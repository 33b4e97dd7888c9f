"""Register pages: browse, search, edit, import, export, history and roles."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.response import Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app import accounts, register
from app.auth import Membership, community_guard
from app.models import GRANTED_ROLES, Account, Role
from app.register_import import ImportRejected, import_file
from app.settings import Settings
from app.web import page, page_number, redirect

READERS = (Role.admin, Role.chair, Role.auditor, Role.grid_member)
EXPORTERS = (Role.admin, Role.chair, Role.auditor)
AUDITED = (Role.admin, Role.auditor)
read_guard = community_guard(*READERS)
admin_guard = community_guard(Role.admin)


def visible_grids(m: Membership) -> set[int] | None:
    """A grid member sees the register of their own grid only; None means every grid."""
    return None if m.has(*EXPORTERS) else m.grid_ids


def _base(m: Membership) -> str:
    return f"/c/{m.community.slug}/register"


@get("/c/{slug:str}/register", guards=[read_guard])
async def overview(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Template:
    cid = membership.community.id
    grids = await register.grids_with_buildings(db, cid, visible_grids(membership))
    return page(
        request,
        "register/overview.html",
        m=membership,
        grids=grids,
        totals=await register.counts(db, cid),
    )


@get("/c/{slug:str}/register/people", guards=[read_guard])
async def people(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    q: str = "",
    p: str | None = None,
) -> Template:
    number = page_number(p)
    rows, total = await register.search_people(
        db, membership.community.id, q[:60], number, visible_grids(membership)
    )
    return page(
        request,
        "register/people.html",
        fragment="register/_people_results.html",
        m=membership,
        q=q,
        rows=rows,
        total=total,
        page_no=number,
        page_size=register.PAGE_SIZE,
    )


async def person_or_404(db: AsyncSession, m: Membership, person_id: int) -> register.PersonRow:
    """The person, if in this community and, for a grid member, in their grid."""
    row = await register.get_person(db, m.community.id, person_id)
    grids = visible_grids(m)
    if row is None or (
        grids is not None and not grids & await register.person_grid_ids(db, person_id)
    ):
        raise NotFoundException()
    return row


@get("/c/{slug:str}/register/people/{person_id:int}", guards=[read_guard])
async def person(
    request: Request[Any, Any, Any],
    slug: str,
    person_id: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    row = await person_or_404(db, membership, person_id)
    return page(
        request,
        "register/person.html",
        m=membership,
        row=row,
        error=None,
        error_field=None,
        code=None,
    )


@post("/c/{slug:str}/register/people/{person_id:int}", guards=[admin_guard])
async def edit_person(
    request: Request[Any, Any, Any],
    slug: str,
    person_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    row = await person_or_404(db, membership, person_id)
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in ("name", "phone", "birth_year")}
    try:
        changed = await register.update_person(db, row.person, account, **values)
    except register.RegisterError as error:
        return page(
            request,
            "register/person.html",
            400,
            m=membership,
            row=row,
            values=values,
            error=error.message,
            error_field=error.field,
            code=None,
        )
    return redirect(f"{_base(membership)}/people/{person_id}", "saved" if changed else "unchanged")


@post(
    "/c/{slug:str}/register/people/{person_id:int}/activation",
    guards=[community_guard(Role.admin, Role.grid_member)],
)
async def issue_activation(
    request: Request[Any, Any, Any],
    slug: str,
    person_id: int,
    db: AsyncSession,
    membership: Membership,
    settings: Settings,
) -> Template:
    """A new one-time code, shown once, to print or read out to the resident."""
    if not membership.has(Role.admin) and not membership.grid_ids & await register.person_grid_ids(
        db, person_id
    ):
        raise PermissionDeniedException()
    row = await person_or_404(db, membership, person_id)
    code = await accounts.issue_activation_code(db, settings.secret_key, row.person)
    return page(
        request,
        "register/person.html",
        m=membership,
        row=row,
        error=None,
        error_field=None,
        code=code,
    )


@get("/c/{slug:str}/register/buildings/{building_id:int}", guards=[read_guard])
async def building(
    request: Request[Any, Any, Any],
    slug: str,
    building_id: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    found = await register.get_building(db, membership.community.id, building_id)
    grids = visible_grids(membership)
    if found is None or (grids is not None and found[0].grid_id not in grids):
        raise NotFoundException()
    return page(
        request,
        "register/building.html",
        m=membership,
        building=found[0],
        grid=found[1],
        units=found[2],
    )


async def unit_or_404(db: AsyncSession, m: Membership, unit_id: int) -> tuple[Any, Any, Any]:
    """The unit with its building and people, if visible to this member (see person_or_404)."""
    found = await register.get_unit(db, m.community.id, unit_id)
    grids = visible_grids(m)
    if found is None or (grids is not None and found[1].grid_id not in grids):
        raise NotFoundException()
    return found


@get("/c/{slug:str}/register/units/{unit_id:int}", guards=[read_guard])
async def unit(
    request: Request[Any, Any, Any],
    slug: str,
    unit_id: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    found = await unit_or_404(db, membership, unit_id)
    return page(
        request,
        "register/unit.html",
        m=membership,
        unit=found[0],
        building=found[1],
        people=found[2],
        error=None,
    )


@post("/c/{slug:str}/register/units/{unit_id:int}", guards=[admin_guard])
async def edit_unit(
    request: Request[Any, Any, Any],
    slug: str,
    unit_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    found = await unit_or_404(db, membership, unit_id)
    form = await request.form()
    try:
        changed = await register.update_unit_area(
            db, found[0], account, str(form.get("floor_area", ""))
        )
    except register.RegisterError as error:
        return page(
            request,
            "register/unit.html",
            400,
            m=membership,
            unit=found[0],
            building=found[1],
            people=found[2],
            error=error.message,
            submitted=str(form.get("floor_area", "")),
        )
    return redirect(f"{_base(membership)}/units/{unit_id}", "saved" if changed else "unchanged")


@get("/c/{slug:str}/register/import", guards=[admin_guard])
async def import_form(
    request: Request[Any, Any, Any], slug: str, membership: Membership
) -> Template:
    return page(request, "register/import.html", m=membership, errors=None, report=None)


@post("/c/{slug:str}/register/import", guards=[admin_guard])
async def import_upload(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Template:
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return page(
            request,
            "register/import.html",
            400,
            m=membership,
            errors=[register.RegisterError("")],
            report=None,
            missing_file=True,
        )
    try:
        report = await import_file(
            db, membership.community, upload.filename, await upload.read(), account.id
        )
    except ImportRejected as rejected:
        return page(
            request,
            "register/import.html",
            400,
            m=membership,
            errors=rejected.errors,
            report=None,
            filename=upload.filename,
        )
    return page(
        request,
        "register/import.html",
        m=membership,
        errors=None,
        report=report,
        filename=upload.filename,
    )


def _csv_response(body: str, filename: str) -> Response[str]:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@get("/c/{slug:str}/register/export/households.csv", guards=[community_guard(*EXPORTERS)])
async def export_households(slug: str, db: AsyncSession, membership: Membership) -> Response[str]:
    return _csv_response(
        await register.export_households(db, membership.community.id), f"{slug}-households.csv"
    )


@get("/c/{slug:str}/register/export/buildings.csv", guards=[community_guard(*EXPORTERS)])
async def export_buildings(slug: str, db: AsyncSession, membership: Membership) -> Response[str]:
    return _csv_response(
        await register.export_buildings(db, membership.community.id), f"{slug}-buildings.csv"
    )


@get("/c/{slug:str}/register/changes", guards=[community_guard(*AUDITED)])
async def changes(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    p: str | None = None,
) -> Template:
    number = page_number(p)
    rows, total = await register.changes_page(db, membership.community.id, number)
    return page(
        request,
        "register/changes.html",
        m=membership,
        rows=rows,
        total=total,
        page_no=number,
        page_size=register.PAGE_SIZE,
    )


@get("/c/{slug:str}/roles", guards=[admin_guard])
async def roles(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Template:
    return await _roles_page(request, db, membership, 200, None, None)


async def _roles_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    status: int,
    error: str | None,
    field: str | None,
) -> Template:
    grants = await register.role_grants(db, m.community.id)
    grids = await register.grids_with_buildings(db, m.community.id, None)
    return page(
        request,
        "roles.html",
        status,
        m=m,
        grants=grants,
        grids=[g for g, _b in grids],
        roles=GRANTED_ROLES,
        error=error,
        error_field=field,
    )


@post("/c/{slug:str}/roles", guards=[admin_guard])
async def grant(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    form = await request.form()
    try:
        await register.grant_role(
            db,
            membership.community,
            account,
            str(form.get("account", "")),
            str(form.get("role", "")),
            str(form.get("grid", "")),
        )
    except register.RegisterError as error:
        return await _roles_page(request, db, membership, 400, error.message, error.field)
    return redirect(f"/c/{slug}/roles", "granted")


@post("/c/{slug:str}/roles/{grant_id:int}/revoke", guards=[admin_guard])
async def revoke(
    request: Request[Any, Any, Any],
    slug: str,
    grant_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    try:
        await register.revoke_role(db, membership.community, account, grant_id)
    except register.RegisterError as error:
        return await _roles_page(request, db, membership, 400, error.message, None)
    return redirect(f"/c/{slug}/roles", "revoked")


ROUTES = [
    overview,
    people,
    person,
    edit_person,
    issue_activation,
    building,
    unit,
    edit_unit,
    import_form,
    import_upload,
    export_households,
    export_buildings,
    changes,
    roles,
    grant,
    revoke,
]
