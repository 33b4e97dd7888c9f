"""Public pages and the account: sign in and out, activation, password, language."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Response, Template
from litestar.stores.base import Store
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import accounts, auth, i18n
from app.auth import signed_in_guard
from app.models import Account, Community, Person
from app.settings import Settings
from app.web import page, redirect, safe_next


@get("/")
async def home(
    request: Request[Any, Any, Any], db: AsyncSession, account: Account | None
) -> Template:
    communities = list((await db.execute(select(Community).order_by(Community.name))).scalars())
    mine: set[int] = set()
    if account is not None:
        mine = set(
            (
                await db.execute(select(Person.community_id).where(Person.account_id == account.id))
            ).scalars()
        )
    return page(request, "index.html", communities=communities, mine=mine)


@get("/signin")
async def signin_form(request: Request[Any, Any, Any], next: str | None = None) -> Template:
    return page(request, "signin.html", next=safe_next(next), identifier="", error=None)


def _address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


@post("/signin")
async def signin(
    request: Request[Any, Any, Any], db: AsyncSession, settings: Settings
) -> Response[Any]:
    form = await request.form()
    identifier = str(form.get("identifier", ""))
    target = safe_next(str(form.get("next", "")))
    try:
        account = await accounts.sign_in(
            db,
            request.app.stores.get("ratelimit"),
            identifier,
            str(form.get("password", "")),
            _address(request),
        )
    except accounts.AccountError as error:
        status = 429 if error.retry_after else 400
        return page(
            request, "signin.html", status, next=target, identifier=identifier, error=error.message
        )
    return await _signed_in(request, account, settings, Redirect(path=target, status_code=303))


async def _signed_in(
    request: Request[Any, Any, Any], account: Account, settings: Settings, response: Response[Any]
) -> Response[Any]:
    store: Store = request.app.stores.get("sessions")
    token = await auth.start_session(store, account, request.cookies.get(auth.SESSION_COOKIE))
    response.set_cookie(auth.session_cookie(token, settings.secure_cookies))
    return response


@post("/signout")
async def signout(request: Request[Any, Any, Any], settings: Settings) -> Redirect:
    await auth.end_session(
        request.app.stores.get("sessions"), request.cookies.get(auth.SESSION_COOKIE)
    )
    response = redirect("/", "signedout")
    response.set_cookie(auth.expired_session_cookie(settings.secure_cookies))
    return response


@get("/activate")
async def activate_form(request: Request[Any, Any, Any], code: str = "") -> Template:
    return page(request, "activate.html", values={"code": code}, error=None, error_field=None)


@post("/activate")
async def activate(
    request: Request[Any, Any, Any], db: AsyncSession, settings: Settings
) -> Response[Any]:
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in ("code", "username", "password", "confirm")}
    try:
        account = await accounts.activate(db, settings.secret_key, **values)
    except accounts.AccountError as error:
        values.pop("password"), values.pop("confirm")
        return page(
            request,
            "activate.html",
            400,
            values=values,
            error=error.message,
            error_field=error.field,
        )
    return await _signed_in(request, account, settings, redirect("/account", "activated"))


@get("/account", guards=[signed_in_guard])
async def account_page(
    request: Request[Any, Any, Any], db: AsyncSession, account: Account
) -> Template:
    rows = await db.execute(
        select(Community, Person)
        .join(Person, Person.community_id == Community.id)
        .where(Person.account_id == account.id)
    )
    return page(request, "account.html", memberships=list(rows.all()), error=None, error_field=None)


@post("/account/password", guards=[signed_in_guard])
async def change_password(
    request: Request[Any, Any, Any], db: AsyncSession, account: Account, settings: Settings
) -> Response[Any]:
    form = await request.form()
    try:
        await accounts.change_password(
            db,
            account,
            str(form.get("current", "")),
            str(form.get("password", "")),
            str(form.get("confirm", "")),
        )
    except accounts.AccountError as error:
        return page(
            request,
            "account.html",
            400,
            memberships=[],
            error=error.message,
            error_field=error.field,
        )
    # The stamp in every session changed with the password; keep this one signed in.
    return await _signed_in(request, account, settings, redirect("/account", "password"))


@post("/language")
async def choose_language(request: Request[Any, Any, Any], settings: Settings) -> Redirect:
    form = await request.form()
    language = str(form.get("language", ""))
    response = Redirect(path=safe_next(str(form.get("next", ""))), status_code=303)
    if language in i18n.LANGUAGES:
        response.set_cookie(
            Cookie(
                key=i18n.LANGUAGE_COOKIE,
                value=language,
                max_age=365 * 24 * 3600,
                samesite="lax",
                secure=settings.secure_cookies,
            )
        )
    return response


ROUTES = [
    home,
    signin_form,
    signin,
    signout,
    activate_form,
    activate,
    account_page,
    change_password,
    choose_language,
]
