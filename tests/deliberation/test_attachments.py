"""Attachments are judged by their bytes: images that Pillow decodes completely and PDFs with a
header and a trailer. Names lie; the content decides."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from deliberation.attachments import (
    FILENAME_MAX,
    MAX_BYTES,
    MAX_FILES,
    AttachmentRefused,
    check_attachment,
    check_count,
    clean_filename,
    sniff,
)


def image(kind: str, size: tuple[int, int] = (16, 12), **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, kind, **options)
    return buffer.getvalue()


def animated_gif(frames: int) -> bytes:
    pictures = [Image.new("P", (8, 8), i) for i in range(frames)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, "GIF", save_all=True, append_images=pictures[1:])
    return buffer.getvalue()


PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200 + b"This program"
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="1"/></svg>'


@pytest.mark.parametrize(
    ("kind", "media_type", "name"),
    [
        ("PNG", "image/png", "照片.png"),
        ("JPEG", "image/jpeg", "东门.jpg"),
        ("WEBP", "image/webp", "a.webp"),
        ("GIF", "image/gif", "b.gif"),
    ],
)
def test_images_are_recognised_by_content(kind: str, media_type: str, name: str) -> None:
    data = image(kind)
    checked = check_attachment(name, data)
    assert (checked.media_type, checked.filename, checked.size) == (media_type, name, len(data))
    assert checked.is_image and checked.data == data and len(checked.sha256) == 64
    assert sniff(data) == media_type


def test_a_pdf_with_header_and_trailer() -> None:
    checked = check_attachment("方案.pdf", PDF)
    assert (checked.media_type, checked.is_image) == ("application/pdf", False)


def test_an_animated_gif_is_decoded_frame_by_frame() -> None:
    assert check_attachment("动图.gif", animated_gif(5)).media_type == "image/gif"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notice.png", HTML),  # HTML dressed as a picture
        ("plan.pdf", EXE),  # a Windows program dressed as a PDF
        ("logo.png", SVG),  # SVG can carry script: never taken
        ("readme.pdf", "停车方案".encode()),
        ("x.jpg", b"\x00\x01\x02\x03" * 10),
    ],
)
def test_other_content_is_refused_whatever_the_name(name: str, data: bytes) -> None:
    with pytest.raises(AttachmentRefused) as refused:
        check_attachment(name, data)
    assert (refused.value.code, refused.value.filename) == ("not_allowed", name)


def test_a_png_header_glued_to_html_is_damaged() -> None:
    with pytest.raises(AttachmentRefused) as refused:
        check_attachment("x.png", b"\x89PNG\r\n\x1a\n" + HTML)
    assert refused.value.code == "damaged"


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "WEBP", "GIF"])
def test_a_truncated_image_is_damaged(kind: str) -> None:
    data = image(kind, (64, 64))
    with pytest.raises(AttachmentRefused) as refused:
        check_attachment("cut." + kind.lower(), data[: len(data) * 2 // 3])
    assert refused.value.code == "damaged"


def test_a_pdf_without_its_trailer_is_damaged() -> None:
    with pytest.raises(AttachmentRefused) as refused:
        check_attachment("cut.pdf", PDF[:-8] + b"\x00" * 2000)
    assert refused.value.code == "damaged"


def test_size_limits() -> None:
    big = image("PNG")
    big += b"\x00" * (MAX_BYTES + 1 - len(big))
    with pytest.raises(AttachmentRefused) as refused:
        check_attachment("大图.png", big)
    assert (refused.value.code, refused.value.filename, refused.value.limit) == (
        "too_large",
        "大图.png",
        MAX_BYTES,
    )
    with pytest.raises(AttachmentRefused) as refused:
        check_attachment("empty.png", b"")
    assert refused.value.code == "empty"
    exactly = PDF[:-6] + b" " * (MAX_BYTES - len(PDF)) + b"%%EOF\n"
    assert len(exactly) == MAX_BYTES
    assert check_attachment("max.pdf", exactly).size == MAX_BYTES


def test_a_picture_with_too_many_pixels_is_refused() -> None:
    # a tiny file that would decode to 100 megapixels: a decompression bomb
    data = image("PNG", (10_000, 10_000))
    assert len(data) < MAX_BYTES
    with pytest.raises(AttachmentRefused) as refused:
        check_attachment("bomb.png", data)
    assert refused.value.code == "too_many_pixels"


def test_at_most_five_files_an_item() -> None:
    check_count(0, MAX_FILES)
    check_count(3, 2)
    with pytest.raises(AttachmentRefused) as refused:
        check_count(4, 2, "six.png")
    assert (refused.value.code, refused.value.limit) == ("too_many", MAX_FILES)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("C:\\Users\\王\\Desktop\\照片.png", "照片.png"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("a\x00b\x1fc\x7f.pdf", "abc.pdf"),
        ("invoice\u202egnp.exe.pdf", "invoicegnp.exe.pdf"),  # no right-to-left override
        ("  停车  方案 .pdf  ", "停车 方案 .pdf"),
        ("", "attachment"),
        ("...", "attachment"),
        ("e\u0301te.png", "\u00e9te.png"),  # NFC
    ],
)
def test_file_names_are_cleaned_for_display(raw: str, clean: str) -> None:
    assert clean_filename(raw) == clean


def test_long_names_keep_their_extension() -> None:
    name = clean_filename("长" * 300 + ".pdf")
    assert len(name) == FILENAME_MAX and name.endswith("长.pdf")


def test_a_name_gets_the_extension_of_its_content() -> None:
    assert check_attachment("scan.pdf", image("PNG")).filename == "scan.pdf.png"
    assert check_attachment("photo.JPEG", image("JPEG")).filename == "photo.JPEG"
    assert check_attachment("", PDF).filename == "attachment.pdf"
