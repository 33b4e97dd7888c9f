"""Attachments to agenda items: images and PDFs, judged by what the bytes are, never by the name.

A file named ``notice.png`` that holds HTML, or ``plan.pdf`` that is a Windows program, is
refused: the type comes from the content's signature and, for images, from Pillow opening and
decoding the whole picture (which also catches a truncated upload). The name is only for
display, cleaned of path parts and control characters.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Final

from PIL import Image, UnidentifiedImageError

MAX_BYTES: Final = 5 * 1024 * 1024
MAX_FILES: Final = 5  # per item
FILENAME_MAX: Final = 200
MAX_PIXELS: Final = 40_000_000  # a phone photo is ~12 MP; more is a decompression bomb

PNG: Final = "image/png"
JPEG: Final = "image/jpeg"
WEBP: Final = "image/webp"
GIF: Final = "image/gif"
PDF: Final = "application/pdf"
IMAGE_TYPES: Final = frozenset({PNG, JPEG, WEBP, GIF})
EXTENSIONS: Final = {
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    WEBP: (".webp",),
    GIF: (".gif",),
    PDF: (".pdf",),
}
_PILLOW_FORMATS: Final = {PNG: "PNG", JPEG: "JPEG", WEBP: "WEBP", GIF: "GIF"}
# Path separators are dropped with the path; these go too: C0/C1 controls, and the invisible
# marks (zero-width, bidirectional overrides) that can make "exe.png" read as "gnp.exe".
_UNWANTED = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


class AttachmentRefused(ValueError):
    """A file refused. ``code``: ``empty``, ``too_large``, ``not_allowed`` (not an image or a
    PDF, whatever its name says), ``damaged`` (claims a type but does not open as one),
    ``too_many_pixels`` or ``too_many`` (files on one item). ``filename`` is the cleaned name."""

    def __init__(self, code: str, filename: str, limit: int = 0) -> None:
        super().__init__(f"{filename}: {code}")
        self.code = code
        self.filename = filename
        self.limit = limit


@dataclass(frozen=True)
class Checked:
    filename: str
    media_type: str
    size: int
    sha256: str
    data: bytes

    @property
    def is_image(self) -> bool:
        return self.media_type in IMAGE_TYPES


def sniff(data: bytes) -> str | None:
    """The media type the content's signature claims, if it is one we take."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def clean_filename(name: object, media_type: str | None = None) -> str:
    """The name as shown: Unicode kept (NFC), path parts and control characters dropped, at
    most ``FILENAME_MAX`` characters with the extension kept. With ``media_type``, an
    extension that does not fit the content gets the right one added."""
    text = unicodedata.normalize("NFC", "" if name is None else str(name))
    text = re.split(r"[/\\]", text)[-1]
    text = " ".join(_UNWANTED.sub("", text).split()).strip(" .")
    if media_type is not None:
        suffixes = EXTENSIONS.get(media_type, ())
        if suffixes and not text.lower().endswith(suffixes):
            text = (text or "attachment") + suffixes[0]
    if not text:
        text = "attachment"
    if len(text) > FILENAME_MAX:
        stem, dot, extension = text.rpartition(".")
        if dot and stem and len(extension) <= 10:
            text = stem[: FILENAME_MAX - len(extension) - 1].rstrip() + "." + extension
        else:
            text = text[:FILENAME_MAX]
    return text


def _check_image(data: bytes, media_type: str, filename: str) -> None:
    formats = [_PILLOW_FORMATS[media_type]]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=formats) as image:
                frames = getattr(image, "n_frames", 1)
                if image.width * image.height * frames > MAX_PIXELS:
                    raise AttachmentRefused("too_many_pixels", filename, MAX_PIXELS)
                image.verify()  # the structure and checksums
            # verify() leaves the image unusable and misses cut-off pixel data: decode it all
            with Image.open(io.BytesIO(data), formats=formats) as image:
                for frame in range(frames):
                    image.seek(frame)
                    image.load()
    except AttachmentRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise AttachmentRefused("too_many_pixels", filename, MAX_PIXELS) from None
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        IndexError,
        TypeError,
        struct.error,
    ):  # Pillow's decoders raise any of these on malformed or cut-off data
        raise AttachmentRefused("damaged", filename) from None


def _check_pdf(data: bytes, filename: str) -> None:
    # A PDF ends with %%EOF (perhaps followed by a line end or some padding); a file cut off in
    # transfer, or another file with a PDF header glued on, does not.
    if b"%%EOF" not in data[-1024:]:
        raise AttachmentRefused("damaged", filename)


def check_attachment(filename: object, data: bytes) -> Checked:
    """The file as it will be stored, or ``AttachmentRefused``."""
    shown = clean_filename(filename)
    if not data:
        raise AttachmentRefused("empty", shown)
    if len(data) > MAX_BYTES:
        raise AttachmentRefused("too_large", shown, MAX_BYTES)
    media_type = sniff(data)
    if media_type is None:
        raise AttachmentRefused("not_allowed", shown)
    if media_type == PDF:
        _check_pdf(data, shown)
    else:
        _check_image(data, media_type, shown)
    return Checked(
        filename=clean_filename(filename, media_type),
        media_type=media_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )


def check_count(existing: int, adding: int, filename: str = "") -> None:
    """At most ``MAX_FILES`` on one item."""
    if existing + adding > MAX_FILES:
        raise AttachmentRefused("too_many", filename, MAX_FILES)
