"""Who is asking: server-side sessions, the request's account and language, roles and guards."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.stores.base import Store
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import i18n
from app.models import OWNING_RELATIONS, Account, Community, Person, Role, RoleGrant, UnitLink

SESSION_COOKIE = "yishi_session"
SESSION_LIFETIME = timedelta(days=30)


_RENEW_EVERY = 600.0  # seconds; a 30-day session loses nothing by being renewed this rarely
_renewed: dict[str, float] = {}


def _renewal_due(key: str) -> bool:
    """Renew a session's expiry at most every ten minutes per process: renewing rewrites the
    stored session (a file on the file store), and every request of a voter would pay for it."""
    now = time.monotonic()
    if now - _renewed.get(key, -_RENEW_EVERY) < _RENEW_EVERY:
        return False
    if len(_renewed) > 100_000:
        _renewed.clear()
    _renewed[key] = now
    return True


def _store_key(token: str) -> str:
    # Only a hash of the token is kept, so a leaked store does not leak usable session ids.
    return "session:" + hashlib.sha256(token.encode()).hexdigest()


async def start_session(store: Store, account: Account, old_token: str | None) -> str:
    """A new session id at every sign-in (never reuse the pre-sign-in id: session fixation)."""
    if old_token:
        await store.delete(_store_key(old_token))
    token = secrets.token_urlsafe(32)
    payload = {"account": account.id, "stamp": account.password_changed_at.isoformat()}
    await store.set(_store_key(token), json.dumps(payload), expires_in=SESSION_LIFETIME)
    return token


async def end_session(store: Store, token: str | None) -> None:
    if token:
        await store.delete(_store_key(token))


def session_cookie(token: str, secure: bool) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )


def expired_session_cookie(secure: bool) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE, value="", max_age=0, httponly=True, secure=secure, samesite="lax"
    )


class IdentityMiddleware:
    """Opens the request's database session and puts on it the signed-in account (or None) and
    the negotiated language. One session per request serves the guards and the handler alike."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request: Request[Any, Any, Any] = Request(scope)
        language = i18n.negotiate(
            request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
        i18n.set_language(language)
        state = scope.setdefault("state", {})
        state["language"] = language
        sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
        async with sessionmaker() as session:
            state["db"] = session
            state["account"] = await _load_account(request, session)
            await self.app(scope, receive, send)


async def _load_account(request: Request[Any, Any, Any], session: AsyncSession) -> Account | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    store: Store = request.app.stores.get("sessions")
    key = _store_key(token)
    raw = await store.get(key, renew_for=SESSION_LIFETIME if _renewal_due(key) else None)
    if raw is None:
        return None
    payload = json.loads(raw)
    account = await session.get(Account, payload["account"])
    # A password change ends every other session of the account.
    if (
        account is None
        or not account.is_active
        or account.password_changed_at.isoformat() != payload["stamp"]
    ):
        return None
    return account


@dataclass
class Membership:
    """What the current account may do in one community."""

    community: Community
    roles: set[Role] = field(default_factory=set)
    grid_ids: set[int] = field(default_factory=set)
    person: Person | None = None

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    def sees_names(self) -> bool:
        """Residents' names are for the community's own people, not for every passer-by."""
        return self.person is not None or bool(self.roles)


async def load_membership(
    session: AsyncSession, community: Community, account: Account | None
) -> Membership:
    membership = Membership(community=community)
    if account is None:
        return membership
    person = (
        await session.execute(
            select(Person).where(
                Person.community_id == community.id, Person.account_id == account.id
            )
        )
    ).scalar_one_or_none()
    if person is not None:
        membership.person = person
        relations = set(
            (
                await session.execute(
                    select(UnitLink.relation).where(
                        UnitLink.community_id == community.id,
                        UnitLink.person_id == person.id,
                        UnitLink.until.is_(None),
                    )
                )
            ).scalars()
        )
        if relations:
            membership.roles.add(Role.resident)
        if relations & OWNING_RELATIONS:
            membership.roles.add(Role.owner)
    grants = await session.execute(
        select(RoleGrant).where(
            RoleGrant.community_id == community.id, RoleGrant.account_id == account.id
        )
    )
    for grant in grants.scalars():
        membership.roles.add(Role(grant.role))
        if grant.grid_id is not None:
            membership.grid_ids.add(grant.grid_id)
    return membership


def community_guard(*roles: Role) -> Any:
    """Guard for routes under /c/{slug}: the community must exist, and with roles given, the
    signed-in account must hold one of them there. Anonymous callers get 401, others 403."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        membership = await membership_for(connection)
        if not roles:
            return
        if connection.scope["state"].get("account") is None:
            raise NotAuthorizedException()
        if not membership.has(*roles):
            raise PermissionDeniedException()

    guard.__name__ = "requires_" + "_or_".join(roles) if roles else "community_exists"
    guard.required_roles = frozenset(roles)
    return guard


async def person_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Signed in, with a person in this community's register: who may vote, draft, co-sign,
    comment and amend."""
    membership = await membership_for(connection)
    if connection.scope["state"].get("account") is None:
        raise NotAuthorizedException()
    if membership.person is None:
        raise PermissionDeniedException()


async def resident_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Signed in, and living in this community now (a current link to a unit): who may raise,
    co-sign, comment on and amend its agenda items. Someone who moved out keeps their person
    (a frozen ballot roll may still hold them) but no longer speaks for the community."""
    membership = await membership_for(connection)
    if connection.scope["state"].get("account") is None:
        raise NotAuthorizedException()
    if membership.person is None or Role.resident not in membership.roles:
        raise PermissionDeniedException()


def signed_in_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.scope["state"].get("account") is None:
        raise NotAuthorizedException()


async def membership_for(connection: ASGIConnection[Any, Any, Any, Any]) -> Membership:
    state = connection.scope["state"]
    if "membership" in state:
        return cast(Membership, state["membership"])
    slug = connection.path_params.get("slug")
    session: AsyncSession = state["db"]
    community = (
        await session.execute(select(Community).where(Community.slug == slug))
    ).scalar_one_or_none()
    if community is None:
        raise NotFoundException()
    state["membership"] = await load_membership(session, community, state.get("account"))
    return cast(Membership, state["membership"])
