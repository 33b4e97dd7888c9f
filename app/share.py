"""Sharing where residents already talk: QR codes for the noticeboard and share cards (the image
a link shows when pasted into a WeChat group).

A card is a 1200×630 PNG drawn with Pillow: the kind of page and its number, the title wrapped
for Chinese (by measured width, character by character, since Chinese has no spaces to break
at), a few lines of summary, the community's name and a QR code of the page's address. Drawing
takes tens of milliseconds, so callers run it on a worker thread and keep recent cards in a
small in-memory cache keyed by what the card shows.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import cache
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

import anyio.to_thread
import qrcode
import qrcode.constants
import qrcode.image.svg
from PIL import Image, ImageDraw, ImageFont

CARD_SIZE: Final = (1200, 630)
QR_BORDER: Final = 2  # modules of quiet zone around the code
QR_ERROR_CORRECTION: Final = qrcode.constants.ERROR_CORRECT_M  # survives a smudged printout

# The site's colours (web/static/yishi.css: --ink, --muted, --brand, --line).
INK: Final = "#1b1f24"
MUTED: Final = "#4a5360"
BRAND: Final = "#0b5563"
LINE: Final = "#d5d0c4"
BACKGROUND: Final = "#ffffff"

# Fonts that carry Chinese, in order of preference; fc-list finds any other.
CJK_FONTS: Final = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)

# Closing punctuation never starts a line (禁则): it hangs at the end of the line it closes.
_CLOSING: Final = frozenset("，。、；：！？）》」』】〕〉”’…,.;:!?)]}%")
# Only same-site pages of a community: no scheme or host, no "//", nothing but URL-safe text.
_PAGE_PATH: Final = re.compile(r"/c/[A-Za-z0-9._~%/?=&#-]{1,500}")


# --- QR codes ------------------------------------------------------------------------------------


def qr_code(url: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=QR_ERROR_CORRECTION, border=QR_BORDER)
    code.add_data(url)
    code.make(fit=True)
    return code


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as an SVG document (one path on white, one unit per module), fit to
    serve on its own or to put inline in a page."""
    image = qrcode.make(
        url,
        image_factory=qrcode.image.svg.SvgPathFillImage,
        box_size=10,  # the factory's unit: 10 makes one module one unit of the viewBox
        border=QR_BORDER,
        error_correction=QR_ERROR_CORRECTION,
    )
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]  # no XML declaration: it would be invalid inline


def page_path(value: str | None) -> str | None:
    """``value`` if it is a page of this site under /c/ (what a QR code may point to), else
    None: never another site (``//evil``, ``https://…``), a script URL or a stray character."""
    if not value or not _PAGE_PATH.fullmatch(value) or "//" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "/../" in parts.path + "/" or "/./" in parts.path + "/":
        return None
    return value


# --- fonts ---------------------------------------------------------------------------------------


@cache
def find_cjk_font() -> str | None:
    """A font file with Chinese glyphs: a known path, else whatever fontconfig has for zh."""
    for path in CJK_FONTS:
        if Path(path).is_file():
            return path
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        listed = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(
        {line.split(":", 1)[0].strip() for line in listed.splitlines() if ":" in line},
        key=lambda p: (not re.search(r"(SC|CN|wqy|Hei)", p, re.I), p),
    )
    return next((f for f in files if Path(f).is_file()), None)


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@cache
def _font_index(path: str) -> int:
    """In a collection (.ttc), the face for Simplified Chinese where the faces differ."""
    if not path.lower().endswith(".ttc"):
        return 0
    for index in range(10):
        try:
            family = ImageFont.truetype(path, 12, index=index).getname()[0] or ""
        except OSError:
            break
        if family.endswith(" SC") or ("WenQuanYi" in family and "Mono" not in family):
            return index
    return 0


def load_font(path: str | None, size: int) -> Font:
    """The font at ``size``; Pillow's own when there is no CJK font (Chinese then shows as
    boxes, but the card is still drawn)."""
    if path is not None:
        try:
            return ImageFont.truetype(path, size, index=_font_index(path))
        except OSError:
            pass
    return ImageFont.load_default(size=size)


# --- cards ---------------------------------------------------------------------------------------


def _latin(character: str) -> bool:
    return character.isascii() and (character.isalnum() or character in "-'_")


def wrap_text(
    text: str, measure: Callable[[str], float], width: float, max_lines: int
) -> list[str]:
    """``text`` in at most ``max_lines`` lines no wider than ``width`` as ``measure`` reckons:
    broken between any two characters (Chinese), except inside a Latin word when the line has
    a space to break at; closing punctuation stays on its line. Text that does not fit ends
    in an ellipsis."""
    words = " ".join(text.split())
    lines: list[str] = []
    line = ""
    i = 0
    while i < len(words) and len(lines) < max_lines:
        character = words[i]
        if not line and character == " ":
            i += 1
            continue
        if not line or measure(line + character) <= width:
            line += character
            i += 1
            continue
        if character in _CLOSING:
            lines.append(line + character)
            line = ""
            i += 1
        elif _latin(character) and _latin(line[-1]) and " " in line:
            cut = line.rindex(" ")
            lines.append(line[:cut].rstrip())
            line = line[cut + 1 :]
        else:
            lines.append(line.rstrip())
            line = ""
    if line and len(lines) < max_lines:
        lines.append(line)
        line = ""
    if line or words[i:].strip():
        last = lines[-1]
        while last and measure(last + "…") > width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines


def _draw_qr(image: Image.Image, url: str, left: int, top: int, size: int) -> None:
    matrix = qr_code(url).get_matrix()
    module = max(1, size // len(matrix))
    offset = (size - module * len(matrix)) // 2
    draw = ImageDraw.Draw(image)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                x0, y0 = left + offset + x * module, top + offset + y * module
                draw.rectangle((x0, y0, x0 + module - 1, y0 + module - 1), fill=INK)


def card_png(
    title: str,
    summary: str,
    community: str,
    kind_label: str,
    url: str,
    caption: str = "",
    font_path: str | Literal["auto"] | None = "auto",
) -> bytes:
    """The share card of a page, as PNG bytes (1200×630). ``caption`` goes under the QR code."""
    path = find_cjk_font() if font_path == "auto" else font_path
    width, height = CARD_SIZE
    margin = 72
    image = Image.new("RGB", CARD_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 14), fill=BRAND)

    label_font, title_font = load_font(path, 32), load_font(path, 60)
    text_font, small_font = load_font(path, 32), load_font(path, 24)

    draw.text((margin, 52), kind_label, font=label_font, fill=BRAND)
    y = 112
    for line in wrap_text(title, title_font.getlength, width - 2 * margin, 3):
        draw.text((margin, y), line, font=title_font, fill=INK)
        y += 78

    qr_size = 190  # below the title's third line, above the caption
    qr_left, qr_top = width - margin - qr_size, height - 48 - qr_size - 28
    text_width = qr_left - 48 - margin
    footer_top = height - 64 - 36
    y += 18
    room = max(0, min(3, (footer_top - 24 - y) // 46))
    if summary and room:
        for line in wrap_text(summary, text_font.getlength, text_width, room):
            draw.text((margin, y), line, font=text_font, fill=MUTED)
            y += 46

    draw.line((margin, footer_top - 14, qr_left - 48, footer_top - 14), fill=LINE, width=2)
    name = wrap_text(community, text_font.getlength, text_width, 1)
    draw.text((margin, footer_top), name[0] if name else "", font=text_font, fill=INK)

    _draw_qr(image, url, qr_left, qr_top, qr_size)
    if caption:
        caption_width = small_font.getlength(caption)
        draw.text(
            (qr_left + (qr_size - caption_width) / 2, qr_top + qr_size + 4),
            caption,
            font=small_font,
            fill=MUTED,
        )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# --- the cache -----------------------------------------------------------------------------------

CACHE_SIZE: Final = 64
_cards: OrderedDict[Hashable, bytes] = OrderedDict()


async def cached_card(key: Hashable, draw: Callable[[], bytes]) -> bytes:
    """The card for ``key`` (kind, id, when it last changed, language …), drawn on a worker
    thread the first time; the least recently used card goes when the cache is full."""
    found = _cards.get(key)
    if found is not None:
        _cards.move_to_end(key)
        return found
    made = await anyio.to_thread.run_sync(draw)
    _cards[key] = made
    while len(_cards) > CACHE_SIZE:
        _cards.popitem(last=False)
    return made


def clear_cache() -> None:
    _cards.clear()
