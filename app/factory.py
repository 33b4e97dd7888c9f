"""The Litestar application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, MediaType, Request, Response, Router, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.stores.base import Store
from litestar.stores.file import FileStore
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.stores.registry import StoreRegistry
from litestar.template.config import TemplateConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app import ballots, i18n, log, notify, witness
from app.auth import IdentityMiddleware, Membership, membership_for
from app.controllers import (
    account,
    amendments,
    api,
    ballots_manage,
    ballots_vote,
    community,
    consultation,
    finding,
    items,
    meetings,
    notifications,
    register,
    rules,
    share,
)
from app.controllers import log as log_pages
from app.db import create_engine, create_sessionmaker
from app.logs import AccessLogMiddleware, SecurityHeadersMiddleware
from app.models import Account
from app.register import NotFound
from app.register import label as register_label
from app.settings import PROJECT_ROOT, Settings
from app.web import flash_message

WEB_DIR = PROJECT_ROOT / "web"
HTMX_FILE = "htmx-2.0.11.min.js"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
logger = logging.getLogger("yishi")


def create_app(
    settings: Settings,
    *,
    stores: dict[str, Store] | None = None,
    witness_client: httpx.AsyncClient | None = None,
) -> Litestar:
    """The application; tests pass in-memory stores and a client wired to in-process witnesses."""
    engine = create_engine(settings.database_url)

    sessionmaker = create_sessionmaker(engine)
    sessionmaker.configure(info={"base_url": settings.base_url})  # links in e-mails and SMS

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(log.run_sequencer(sessionmaker, settings, stop)),
            asyncio.create_task(witness.run_pusher(sessionmaker, settings, stop, witness_client)),
            asyncio.create_task(ballots.run_scheduler(sessionmaker, settings, stop)),
            asyncio.create_task(notify.run_outbox(sessionmaker, settings, stop)),
        ]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await engine.dispose()

    @get("/healthz", include_in_schema=False)
    async def health(state: State) -> dict[str, str]:
        async with state.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
        return {"status": "ok", "database": "ok"}

    return Litestar(
        route_handlers=[
            health,
            # Pages stay out of the OpenAPI schema, which describes the JSON API only.
            Router(
                path="/",
                route_handlers=[
                    *account.ROUTES,
                    *community.ROUTES,
                    *register.ROUTES,
                    *log_pages.ROUTES,
                    *ballots_vote.ROUTES,
                    *ballots_manage.ROUTES,
                    *items.ROUTES,
                    *consultation.ROUTES,
                    *amendments.ROUTES,
                    *meetings.ROUTES,
                    *notifications.ROUTES,
                    *finding.ROUTES,
                    *share.ROUTES,
                    *rules.ROUTES,
                ],
                include_in_schema=False,
            ),
            api.router,
            create_static_files_router(
                path="/static", directories=[WEB_DIR / "static"], include_in_schema=False
            ),
        ],
        state=State({"settings": settings, "engine": engine, "sessionmaker": sessionmaker}),
        dependencies={
            "db": Provide(provide_db, sync_to_thread=False),
            "account": Provide(provide_account, sync_to_thread=False),
            "membership": Provide(provide_membership),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        middleware=[
            DefineMiddleware(AccessLogMiddleware),
            DefineMiddleware(SecurityHeadersMiddleware),
            DefineMiddleware(IdentityMiddleware),
        ],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_secure=settings.secure_cookies,
            cookie_samesite="lax",
            cookie_httponly=False,  # htmx reads nothing from it, but API clients copy it into a header
        ),
        template_config=TemplateConfig(
            engine=JinjaTemplateEngine.from_environment(template_environment(settings.base_url)),
        ),
        stores=StoreRegistry(stores or default_stores(settings)),
        before_request=refuse_impossible_ids,
        exception_handlers={
            HTTPException: http_error,
            NotFound: not_found,
            Exception: server_error,
        },
        openapi_config=OpenAPIConfig(
            title="Yishi API", version="1", path="/schema", render_plugins=[ScalarRenderPlugin()]
        ),
        request_max_body_size=MAX_UPLOAD_BYTES,
        lifespan=[lifespan],
        logging_config=None,
    )


MAX_ID = 2**31 - 1  # the databases' integer: no stored id lies beyond it


async def refuse_impossible_ids(request: Request[Any, Any, Any]) -> None:
    """An id in the path beyond any the database can hold names nothing: 404 here, for every
    route, rather than the driver's overflow (a 500) wherever the id reaches a query."""
    for value in request.path_params.values():
        if isinstance(value, int) and not -MAX_ID <= value <= MAX_ID:
            raise NotFoundException()


def default_stores(settings: Settings) -> dict[str, Store]:
    """Redis when configured (shared by all workers), else files under var/ (shared by the
    processes of one machine and kept across restarts)."""
    if settings.redis_url:
        root = RedisStore.with_client(settings.redis_url, namespace="yishi")
        return {
            "sessions": root.with_namespace("sessions"),
            "ratelimit": root.with_namespace("ratelimit"),
        }
    stores: dict[str, Store] = {}
    for name in ("sessions", "ratelimit"):
        path = settings.var_dir / "stores" / name
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        stores[name] = FileStore(path)
    return stores


def memory_stores() -> dict[str, Store]:
    return {"sessions": MemoryStore(), "ratelimit": MemoryStore()}


def template_environment(base_url: str = "http://127.0.0.1:8000") -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(WEB_DIR / "templates")),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(
        gettext=lambda message: i18n.catalogue(i18n.current_language()).gettext(message),
        ngettext=lambda s, p, n: i18n.catalogue(i18n.current_language()).ngettext(s, p, n),
        newstyle=True,
    )
    env.globals.update(
        current_language=i18n.current_language,
        html_lang=i18n.html_lang,
        format_number=i18n.format_number,
        flash_message=flash_message,
        register_label=register_label,
        entry_type_label=log_pages.entry_type_label,
        entry_time=log_pages.entry_time,
        entry_summary=log_pages.entry_summary,
        htmx_file=HTMX_FILE,
        # share cards and feeds need whole addresses; the configured base URL, never the Host
        absolute_url=lambda path: base_url + path,
        languages=(("zh_CN", "中文"), ("en", "English")),
    )
    return env


def provide_settings(state: State) -> Settings:
    return cast(Settings, state.settings)


def provide_db(request: Request[Any, Any, Any]) -> AsyncSession:
    """The request's session, opened by IdentityMiddleware and closed after the response."""
    return cast(AsyncSession, request.scope["state"]["db"])


def provide_account(request: Request[Any, Any, Any]) -> Account | None:
    return request.scope["state"].get("account")


async def provide_membership(request: Request[Any, Any, Any]) -> Membership:
    return await membership_for(request)


def _is_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/")


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if _is_api(request):
        body: dict[str, Any] = {"status_code": exc.status_code, "detail": _api_detail(exc)}
        if exc.extra:
            body["extra"] = exc.extra
        return Response(
            body, status_code=exc.status_code, media_type=MediaType.JSON, headers=exc.headers
        )
    if isinstance(exc, NotAuthorizedException) and request.method in {"GET", "HEAD"}:
        return Redirect(path=f"/signin?next={request.url.path}", status_code=303)
    return error_page(request, exc.status_code)


def not_found(request: Request[Any, Any, Any], exc: NotFound) -> Response[Any]:
    return http_error(request, NotFoundException())


def _api_detail(exc: HTTPException) -> str:
    messages = {
        401: i18n.gettext("Please sign in first."),
        403: i18n.gettext("You may not do this."),
        404: i18n.gettext("Not found."),
        413: i18n.gettext("The upload is too large (at most 5 MB)."),
    }
    return messages.get(exc.status_code, exc.detail)


def error_page(request: Request[Any, Any, Any], status_code: int) -> Response[Any]:
    titles = {
        400: i18n.gettext("The request could not be understood."),
        401: i18n.gettext("Please sign in first."),
        403: i18n.gettext("You may not do this."),
        404: i18n.gettext("This page does not exist."),
        405: i18n.gettext("This action is not allowed here."),
        413: i18n.gettext("The upload is too large (at most 5 MB)."),
        429: i18n.gettext("Too many requests. Please wait a moment."),
    }
    title = titles.get(status_code, i18n.gettext("Something went wrong on our side."))
    return Template(
        template_name="error.html",
        context={"status_code": status_code, "title": title},
        status_code=status_code,
    )


def server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unhandled error", exc_info=exc)
    if _is_api(request):
        return Response(
            {"status_code": 500, "detail": i18n.gettext("Something went wrong on our side.")},
            status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return error_page(request, HTTP_500_INTERNAL_SERVER_ERROR)
