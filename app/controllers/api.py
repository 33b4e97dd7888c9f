"""JSON API under /api/v1 for accounts and the register (described at /schema).

It uses the same session cookie as the pages; writes need the CSRF cookie's value in the
``X-CSRFToken`` header, like every other write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException
from litestar.params import Body
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import accounts, auth, register
from app.auth import Membership, community_guard, signed_in_guard
from app.controllers import ballots_manage, ballots_vote
from app.controllers.register import (
    AUDITED,
    EXPORTERS,
    READERS,
    person_or_404,
    unit_or_404,
    visible_grids,
)
from app.i18n import gettext as _
from app.models import Account, Community, Person, Role
from app.register_import import ImportRejected, import_file
from app.settings import Settings
from app.web import page_number

read_guard = community_guard(*READERS)
admin_guard = community_guard(Role.admin)


class ApiError(ClientException):
    """400 with the translated message and the offending field."""

    def __init__(
        self, message: str, field: str | None = None, status_code: int = 400, **extra: Any
    ):
        super().__init__(
            detail=message,
            status_code=status_code,
            extra={"field": field, **extra} if field or extra else None,
        )


@dataclass
class SignIn:
    identifier: str
    password: str


@dataclass
class Activation:
    code: str
    password: str
    confirm: str
    username: str = ""


@dataclass
class PasswordChange:
    current: str
    password: str
    confirm: str


@dataclass
class PersonPatch:
    name: str | None = None
    phone: str | None = None
    birth_year: int | None = None


@dataclass
class UnitPatch:
    floor_area: str


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "display_name": account.display_name,
        "username": account.username,
        "phone": account.phone,
    }


def person_json(row: register.PersonRow) -> dict[str, Any]:
    p = row.person
    return {
        "id": p.id,
        "ref": p.ref,
        "name": p.name,
        "phone": p.phone,
        "birth_year": p.birth_year,
        "is_organisation": p.is_organisation,
        "has_account": p.account_id is not None,
        "units": [
            {
                "unit_id": u.id,
                "building": b.number,
                "entrance": u.entrance,
                "number": u.number,
                "floor_area": str(u.floor_area),
                "relation": link.relation,
                "since": link.since,
                "until": link.until,
                "is_representative": link.is_representative,
            }
            for link, u, b in row.links
        ],
    }


async def _start(
    request: Request[Any, Any, Any], account: Account, settings: Settings
) -> Response[dict[str, Any]]:
    token = await auth.start_session(
        request.app.stores.get("sessions"), account, request.cookies.get(auth.SESSION_COOKIE)
    )
    response = Response(account_json(account))
    response.set_cookie(auth.session_cookie(token, settings.secure_cookies))
    return response


@post("/session", status_code=200, summary="Sign in with phone number or username")
async def sign_in(
    request: Request[Any, Any, Any], data: SignIn, db: AsyncSession, settings: Settings
) -> Response[dict[str, Any]]:
    address = request.client.host if request.client else "unknown"
    try:
        account = await accounts.sign_in(
            db, request.app.stores.get("ratelimit"), data.identifier, data.password, address
        )
    except accounts.AccountError as error:
        if error.retry_after:
            raise ApiError(error.message, status_code=429, retry_after=error.retry_after) from None
        raise ApiError(error.message) from None
    return await _start(request, account, settings)


@delete("/session", summary="Sign out")
async def sign_out(request: Request[Any, Any, Any], settings: Settings) -> Response[None]:
    await auth.end_session(
        request.app.stores.get("sessions"), request.cookies.get(auth.SESSION_COOKIE)
    )
    response = Response(None, status_code=204)
    response.set_cookie(auth.expired_session_cookie(settings.secure_cookies))
    return response


@post("/activate", status_code=200, summary="Redeem an activation code and set a password")
async def activate(
    request: Request[Any, Any, Any], data: Activation, db: AsyncSession, settings: Settings
) -> Response[dict[str, Any]]:
    try:
        account = await accounts.activate(
            db, settings.secret_key, data.code, data.username, data.password, data.confirm
        )
    except accounts.AccountError as error:
        raise ApiError(error.message, error.field) from None
    return await _start(request, account, settings)


@get("/me", guards=[signed_in_guard], summary="The signed-in account and its communities")
async def me(db: AsyncSession, account: Account) -> dict[str, Any]:
    rows = await db.execute(
        select(Community.slug, Community.name, Person.id)
        .join(Person, Person.community_id == Community.id)
        .where(Person.account_id == account.id)
    )
    return {
        **account_json(account),
        "communities": [{"slug": s, "name": n, "person_id": p} for s, n, p in rows.all()],
    }


@post("/me/password", guards=[signed_in_guard], status_code=200, summary="Change the password")
async def change_password(
    request: Request[Any, Any, Any],
    data: PasswordChange,
    db: AsyncSession,
    account: Account,
    settings: Settings,
) -> Response[dict[str, Any]]:
    try:
        await accounts.change_password(db, account, data.current, data.password, data.confirm)
    except accounts.AccountError as error:
        raise ApiError(error.message, error.field) from None
    return await _start(request, account, settings)


@get("/c/{slug:str}/grids", guards=[read_guard], summary="Grids and their buildings")
async def grids(slug: str, db: AsyncSession, membership: Membership) -> list[dict[str, Any]]:
    found = await register.grids_with_buildings(
        db, membership.community.id, visible_grids(membership)
    )
    return [
        {
            "id": g.id,
            "number": g.number,
            "name": g.name,
            "buildings": [{"id": b.id, "number": b.number, "units": n} for b, n in buildings],
        }
        for g, buildings in found
    ]


@get(
    "/c/{slug:str}/people", guards=[read_guard], summary="Search people by name, phone or reference"
)
async def people(
    slug: str, db: AsyncSession, membership: Membership, q: str = "", page: str | None = None
) -> dict[str, Any]:
    number = page_number(page)
    rows, total = await register.search_people(
        db, membership.community.id, q[:60], number, visible_grids(membership)
    )
    return {
        "total": total,
        "page": number,
        "page_size": register.PAGE_SIZE,
        "items": [person_json(r) for r in rows],
    }


@get(
    "/c/{slug:str}/people/{person_id:int}",
    guards=[read_guard],
    summary="One person with their units",
)
async def person(
    slug: str, person_id: int, db: AsyncSession, membership: Membership
) -> dict[str, Any]:
    return person_json(await person_or_404(db, membership, person_id))


@patch(
    "/c/{slug:str}/people/{person_id:int}",
    guards=[admin_guard],
    summary="Edit a person (recorded in the register history)",
)
async def edit_person(
    slug: str,
    person_id: int,
    data: PersonPatch,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> dict[str, Any]:
    row = await person_or_404(db, membership, person_id)
    p = row.person
    try:
        await register.update_person(
            db,
            p,
            account,
            name=p.name if data.name is None else data.name,
            phone=(p.phone or "") if data.phone is None else data.phone,
            birth_year=str(p.birth_year or "") if data.birth_year is None else str(data.birth_year),
        )
    except register.RegisterError as error:
        raise ApiError(error.message, error.field) from None
    return person_json(await person_or_404(db, membership, person_id))


@get(
    "/c/{slug:str}/units/{unit_id:int}",
    guards=[read_guard],
    summary="One unit with the people linked to it",
)
async def unit(slug: str, unit_id: int, db: AsyncSession, membership: Membership) -> dict[str, Any]:
    found = await unit_or_404(db, membership, unit_id)
    u, b, linked = found
    return {
        "id": u.id,
        "building": b.number,
        "entrance": u.entrance,
        "number": u.number,
        "floor_area": str(u.floor_area),
        "people": [
            {
                "person_id": p.id,
                "name": p.name,
                "relation": link.relation,
                "is_representative": link.is_representative,
            }
            for link, p in linked
        ],
    }


@patch(
    "/c/{slug:str}/units/{unit_id:int}", guards=[admin_guard], summary="Correct a unit's floor area"
)
async def edit_unit(
    slug: str,
    unit_id: int,
    data: UnitPatch,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> dict[str, Any]:
    found = await unit_or_404(db, membership, unit_id)
    try:
        await register.update_unit_area(db, found[0], account, data.floor_area)
    except register.RegisterError as error:
        raise ApiError(error.message, error.field) from None
    return {"id": unit_id, "floor_area": str(found[0].floor_area)}


@post(
    "/c/{slug:str}/register/import",
    guards=[admin_guard],
    status_code=200,
    summary="Import a buildings or households CSV/XLSX file",
)
async def import_register(
    slug: str,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> dict[str, Any]:
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ApiError(_("Choose a CSV or Excel file to import."), "file")
    try:
        report = await import_file(
            db, membership.community, upload.filename, await upload.read(), account.id
        )
    except ImportRejected as rejected:
        raise ApiError(
            rejected.errors[0].message,
            "file",
            errors=[
                {"line": e.line, "column": e.column, "message": e.message} for e in rejected.errors
            ],
        ) from None
    return {
        "kind": report.kind,
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
    }


@get(
    "/c/{slug:str}/register/changes",
    guards=[community_guard(*AUDITED)],
    summary="History of register changes",
)
async def changes(
    slug: str, db: AsyncSession, membership: Membership, page: str | None = None
) -> dict[str, Any]:
    number = page_number(page)
    rows, total = await register.changes_page(db, membership.community.id, number)
    return {
        "total": total,
        "page": number,
        "items": [
            {
                "id": c.id,
                "at": c.at,
                "actor": actor,
                "entity": c.entity,
                "entity_id": c.entity_id,
                "action": c.action,
                "changes": c.changes,
            }
            for c, actor in rows
        ],
    }


@get(
    "/c/{slug:str}/register/export/households.csv",
    guards=[community_guard(*EXPORTERS)],
    summary="Households CSV (the import format)",
    media_type="text/csv",
)
async def export_households(slug: str, db: AsyncSession, membership: Membership) -> str:
    return await register.export_households(db, membership.community.id)


router = Router(
    path="/api/v1",
    route_handlers=[
        sign_in,
        sign_out,
        activate,
        me,
        change_password,
        grids,
        people,
        person,
        edit_person,
        unit,
        edit_unit,
        import_register,
        changes,
        export_households,
        *ballots_vote.API_ROUTES,
        *ballots_manage.API_ROUTES,
    ],
)
