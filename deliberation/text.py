"""Residents' text: checked, then rendered from Markdown to HTML that is safe to show.

Markdown is rendered with raw HTML switched off, and the result goes through an allow-list
sanitiser (nh3, the Rust ammonia library) as a second wall: only formatting tags survive, links
keep only http(s) and mailto targets and are marked ``nofollow ugc`` with no referrer.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Final

import nh3
from markdown_it import MarkdownIt

TITLE_MAX: Final = 120
BODY_MAX: Final = 20_000
COMMENT_MAX: Final = 5_000
REASON_MAX: Final = 2_000

_ALLOWED_TAGS: Final = {
    "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ALLOWED_ATTRIBUTES: Final = {"a": {"href", "title"}, "ol": {"start"}}
# Control characters other than tab and newline have no place in residents' text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable("table").enable("strikethrough")


class TextError(ValueError):
    """Text refused: ``code`` is one of ``empty``, ``too_long``; ``field`` names the input."""

    def __init__(self, code: str, field: str, limit: int = 0, length: int = 0) -> None:
        super().__init__(f"{field}: {code}")
        self.code = code
        self.field = field
        self.limit = limit
        self.length = length


def clean_text(value: object, field: str, limit: int, *, required: bool = True) -> str:
    """The text as it will be stored: NFC, without control characters or trailing space on
    lines, trimmed. Refuses empty (when required) and over-long text, counting characters."""
    text = "" if value is None else str(value)
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip()
    if required and not text:
        raise TextError("empty", field, limit)
    if len(text) > limit:
        raise TextError("too_long", field, limit, len(text))
    return text


def clean_line(value: object, field: str, limit: int, *, required: bool = True) -> str:
    """A one-line text such as a title: as ``clean_text`` with runs of whitespace made one."""
    return " ".join(clean_text(value, field, limit, required=required).split())


def render_markdown(source: str) -> str:
    """Safe HTML for a Markdown text."""
    rendered = _markdown.render(source)
    # Headings below the page's own: a comment's "# x" must not outrank the item's title.
    rendered = re.sub(r"<(/?)h[12]>", r"<\1h3>", rendered)
    return nh3.clean(
        rendered,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow ugc noopener noreferrer",
        strip_comments=True,
    )


def plain_summary(source: str, limit: int = 160) -> str:
    """A short plain-text summary (share cards, feeds, notices): the text without markup."""
    text = nh3.clean(_markdown.render(source), tags=set())
    text = " ".join(html.unescape(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
