"""Languages: Simplified Chinese by default, English second.

Catalogues are the ``.po`` files under ``web/translations``; they are compiled in memory at start-up
so a stale ``.mo`` can never be served. The language of the current request (or CLI run) lives in a
context variable that ``gettext`` reads.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "web" / "translations"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGE_COOKIE = "yishi_lang"

_current: ContextVar[str] = ContextVar("yishi_language", default=DEFAULT_LANGUAGE)


@cache
def catalogue(language: str) -> NullTranslations:
    po_path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def set_language(language: str) -> None:
    _current.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


def current_language() -> str:
    return _current.get()


def gettext(message: str, **params: object) -> str:
    text = catalogue(_current.get()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    text = catalogue(_current.get()).ngettext(singular, plural, n)
    return text % {"num": n, **params}


_ = gettext


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The cookie wins; otherwise the first acceptable language in Accept-Language."""
    if cookie in LANGUAGES:
        return cookie
    for item in (accept_language or "").split(","):
        tag = item.split(";", 1)[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


def html_lang(language: str | None = None) -> str:
    return "zh-CN" if (language or _current.get()) == "zh_CN" else "en"


def format_number(value: int | Decimal) -> str:
    return format_decimal(value, locale=Locale.parse(_current.get()))
