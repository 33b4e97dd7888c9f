"""Shared pieces of the HTML controllers: rendering, redirects, forms and pagination."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.response import Redirect, Template

from app.i18n import gettext as _


def page(
    request: Request[Any, Any, Any], template: str, status_code: int = 200, **context: Any
) -> Template:
    """Render a page, or only its fragment (``_<name>``) when htmx asks for one."""
    fragment = context.pop("fragment", None)
    if fragment and request.headers.get("hx-request") == "true":
        template = fragment
    return Template(template_name=template, context=context, status_code=status_code)


def redirect(path: str, flash: str | None = None) -> Redirect:
    """303 so that a browser follows a POST with a GET (post/redirect/get)."""
    if flash:
        separator = "&" if "?" in path else "?"
        path = f"{path}{separator}done={flash}"
    return Redirect(path=path, status_code=303)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths: an open redirect after sign-in would help phishing."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def page_number(value: str | None) -> int:
    return int(value) if value and value.isdecimal() and 0 < int(value) < 100_000 else 1


FLASH_MESSAGES = {
    "saved": lambda: _("Saved."),
    "unchanged": lambda: _("Nothing was changed."),
    "password": lambda: _("Your password has been changed."),
    "activated": lambda: _("Your account is ready. Welcome!"),
    "signedout": lambda: _("You have signed out."),
    "granted": lambda: _("The role has been granted."),
    "revoked": lambda: _("The role has been removed."),
}


def flash_message(request: Request[Any, Any, Any]) -> str | None:
    make = FLASH_MESSAGES.get(request.query_params.get("done", ""))
    return make() if make else None
