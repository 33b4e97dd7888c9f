"""Sharing: QR codes that encode the page's address, share cards drawn for Chinese titles,
the printable notice, and the link-preview tags on item, ballot and meeting pages."""

from __future__ import annotations

import html
import io
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
import qrcode
import qrcode.constants
from PIL import Image, ImageFont

from app import ballots as ballot_actions
from app import share
from app.models import Account, Community, utcnow
from tests.app.conftest import TEST_BASE_URL, Client, World
from tests.app.test_meetings import XSS, convene, english, make_item

SVG = "{http://www.w3.org/2000/svg}"
MODULE = re.compile(r"M(\d+),(\d+)H(\d+)V(\d+)H(\d+)z")


def svg_modules(svg: str) -> tuple[int, set[tuple[int, int]]]:
    """The size of the drawn grid and its dark modules, read back from the SVG's one path."""
    root = ET.fromstring(svg)  # noqa: S314 (our own SVG) -- well-formed, or this raises
    assert root.tag == f"{SVG}svg"
    size = int(root.attrib["viewBox"].split()[2])
    (path,) = root.iter(f"{SVG}path")
    d = path.attrib["d"]
    found = MODULE.findall(d)
    assert "".join(f"M{x},{y}H{a}V{b}H{c}z" for x, y, a, b, c in found) == d
    modules = set()
    for x, y, right, bottom, left in found:
        assert (int(right), int(bottom), int(left)) == (int(x) + 1, int(y) + 1, int(x))
        modules.add((int(x), int(y)))
    return size, modules


def expected_modules(data: str) -> tuple[int, set[tuple[int, int]]]:
    """The QR matrix for ``data``, made afresh with qrcode's own encoder."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    return len(matrix), {
        (x, y) for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark
    }


# ---------------------------------------------------------------- QR codes


@pytest.mark.parametrize(
    "url", [f"{TEST_BASE_URL}/c/z/items/3", f"{TEST_BASE_URL}/c/z/meetings/12?x=1#agenda"]
)
def test_qr_svg_encodes_the_address(url: str) -> None:
    svg = share.qr_svg(url)
    assert svg.startswith("<svg") and "<?xml" not in svg
    assert svg_modules(svg) == expected_modules(url)
    assert svg_modules(svg) != expected_modules(url + "x")


@pytest.mark.parametrize(
    "path",
    ["/c/z/items/3", "/c/z/ballots/1", "/c/z/meetings/2", "/c/z/items/3?sort=new#c12", "/c/z"],
)
def test_page_paths_of_this_site_are_shared(path: str) -> None:
    assert share.page_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        None,
        "",
        "javascript:alert(1)",
        "https://evil.example/c/z/items/1",
        "//evil.example/c/z",
        "/c//evil.example",
        "/c/z/../../admin",
        "/c/z/./items",
        "/share/qr.svg",
        "/c/z/items/1\nX-Injected: 1",
        "/c/z/<script>",
        "/c/z/items/1 onload=alert(1)",
        "\\\\evil.example/c/z",
        "/c/" + "a" * 600,
    ],
)
def test_other_paths_are_refused(path: str | None) -> None:
    assert share.page_path(path) is None


def test_qr_route(client: Client) -> None:
    response = client.get("/share/qr.svg", params={"path": "/c/z/items/1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "max-age" in response.headers["cache-control"]
    assert svg_modules(response.text) == expected_modules(f"{TEST_BASE_URL}/c/z/items/1")
    for bad in ("https://evil.example/", "//evil.example/c/z", "javascript:alert(1)", ""):
        assert client.get("/share/qr.svg", params={"path": bad}).status_code == 400, bad
    assert client.get("/share/qr.svg").status_code == 400


# ---------------------------------------------------------------- cards


def fixed(text: str) -> float:
    """Every character one unit wide."""
    return float(len(text))


def test_wrap_breaks_chinese_between_any_two_characters() -> None:
    assert share.wrap_text("一二三四五六七八九十", fixed, 4, 3) == ["一二三四", "五六七八", "九十"]
    assert share.wrap_text("短标题", fixed, 10, 3) == ["短标题"]


def test_wrap_ends_what_does_not_fit_with_an_ellipsis() -> None:
    lines = share.wrap_text("一二三四五六七八九十", fixed, 4, 2)
    assert lines == ["一二三四", "五六七…"]
    assert all(fixed(line) <= 4 for line in lines)


def test_wrap_keeps_closing_punctuation_and_latin_words() -> None:
    assert share.wrap_text("一二三四，五六", fixed, 4, 3) == ["一二三四，", "五六"]
    assert share.wrap_text("add a parcel locker", fixed, 12, 3) == ["add a parcel", "locker"]
    assert share.wrap_text("安装Wi-Fi热点", fixed, 4, 3) == ["安装Wi", "-Fi热", "点"]


def test_wrap_measures_with_the_real_font() -> None:
    path = share.find_cjk_font()
    if path is None:
        pytest.skip("no CJK font installed (make system-deps installs one)")
    font = ImageFont.truetype(path, 60)
    title = "关于在3号楼与5号楼之间安装智能快递柜并规划电动自行车充电桩的提议"
    lines = share.wrap_text(title, font.getlength, 1056, 3)
    assert "".join(lines) == title  # nothing lost, nothing added
    assert len(lines) == 2 and all(font.getlength(line) <= 1056 for line in lines)
    # the first line is full: the next character would not have fitted
    assert font.getlength(lines[0] + lines[1][0]) > 1056


def open_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_card_is_a_1200_by_630_png() -> None:
    card = share.card_png(
        "加装电梯", "三号楼居民提议加装电梯。", "Z社区", "议题 #3", f"{TEST_BASE_URL}/c/z/items/3"
    )
    image = open_png(card)
    assert (image.format, image.size) == ("PNG", (1200, 630))
    assert image.getpixel((600, 5)) == (11, 85, 99)  # the site's brand colour across the top
    other = share.card_png(
        "加装电梯？", "三号楼居民提议加装电梯。", "Z社区", "议题 #3", f"{TEST_BASE_URL}/c/z/items/3"
    )
    assert other != card  # the title is drawn


def test_card_without_a_cjk_font(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(share, "CJK_FONTS", ())
    monkeypatch.setattr(share.shutil, "which", lambda name: None)
    share.find_cjk_font.cache_clear()
    try:
        assert share.find_cjk_font() is None
        card = share.card_png("Lift", "Summary", "Z", "Item #1", f"{TEST_BASE_URL}/c/z/items/1")
        assert open_png(card).size == (1200, 630)
    finally:
        share.find_cjk_font.cache_clear()
    card = share.card_png("电梯", "", "Z社区", "议题", "x", font_path=None)
    assert open_png(card).size == (1200, 630)


def create_ballot(world: World, title: str, *, opened: bool) -> int:
    async def run(session: Any) -> int:
        community = await session.get(Community, world.ids["z"])
        chair = await session.get(Account, world.ids["chair"])
        data = ballot_actions.blank_definition()
        now = utcnow()
        data.update(
            title=title,
            description="Should building 1 get a lift?",
            opens_at=(now - timedelta(minutes=5)).isoformat(),
            closes_at=(now + timedelta(days=1)).isoformat(),
        )
        data["questions"][0]["text"] = "Lift?"
        ballot = await ballot_actions.create_ballot(session, community, chair, data)
        if opened:
            await ballot_actions.open_ballot(session, ballot, chair)
        return int(ballot.number)

    return world.db.run(run)


def test_card_routes(world: World, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    share.clear_cache()
    drawn: list[str] = []
    real = share.card_png

    def counting(title: str, *args: Any, **kwargs: Any) -> bytes:
        drawn.append(title)
        return real(title, *args, **kwargs)

    monkeypatch.setattr(share, "card_png", counting)
    make_item(world, 1, "collecting", "Parcel lockers")
    make_item(world, 2, "draft", "Not yet")
    opened = create_ballot(world, "Lift vote", opened=True)
    draft = create_ballot(world, "Draft vote", opened=False)
    english(client, "chair")
    convene(client)

    for url in (
        "/c/z/items/1/card.png",
        f"/c/z/ballots/{opened}/card.png",
        "/c/z/meetings/1/card.png",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == "image/png"
        assert "max-age" in response.headers["cache-control"]
        assert open_png(response.content).size == (1200, 630)
    assert drawn == ["Parcel lockers", "Lift vote", "Parking in the north yard"]
    again = client.get("/c/z/items/1/card.png")
    assert again.status_code == 200 and len(drawn) == 3  # from the cache

    for url in (
        "/c/z/items/2/card.png",  # a draft: nobody's to share, not even the chair's
        f"/c/z/ballots/{draft}/card.png",
        "/c/z/items/99/card.png",
        "/c/z/meetings/9/card.png",
        "/c/other/items/1/card.png",
        "/c/nowhere/items/1/card.png",
    ):
        assert client.get(url).status_code == 404, url


# ---------------------------------------------------------------- the printable notice


def test_poster(world: World, client: Client) -> None:
    make_item(world, 1, "consultation", XSS)
    make_item(world, 2, "draft")
    english(client, None)
    response = client.get("/share/poster", params={"path": "/c/z/items/1"})
    assert response.status_code == 200
    assert "<script>alert" not in response.text and "&lt;script&gt;" in response.text
    assert f"{TEST_BASE_URL}/c/z/items/1" in response.text
    assert "Scan to take part" in response.text
    svg = re.search(r"<svg.*?</svg>", response.text, re.S)
    assert svg is not None
    assert svg_modules(svg.group(0)) == expected_modules(f"{TEST_BASE_URL}/c/z/items/1")
    for path, status in (
        ("/c/z/items/2", 404),
        ("/c/z/items/99", 404),
        ("/c/z/log", 404),
        ("/c/z/items/1/card.png", 404),
        ("/c/nowhere/items/1", 404),
        ("https://evil.example/c/z/items/1", 400),
        ("//evil.example", 400),
        ("javascript:alert(1)", 400),
    ):
        assert client.get("/share/poster", params={"path": path}).status_code == status, path


def test_printing_leaves_the_menus_off() -> None:
    from app.settings import PROJECT_ROOT

    css = (PROJECT_ROOT / "web/static/yishi.css").read_text()
    section = css[css.index("@media print") :]
    assert ".site-header" in section and "size: A4" in section


# ---------------------------------------------------------------- link previews


def og(page: Any, name: str) -> str | None:
    found = re.search(rf'<meta property="og:{name}" content="([^"]*)">', page.text)
    return html.unescape(found.group(1)) if found else None


def test_ballot_page_has_a_share_card(world: World, client: Client) -> None:
    opened = create_ballot(world, XSS, opened=True)
    draft = create_ballot(world, "Draft", opened=False)
    english(client, "chair")
    page = client.get(f"/c/z/ballots/{opened}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert og(page, "title") == XSS
    assert og(page, "url") == f"{TEST_BASE_URL}/c/z/ballots/{opened}"
    assert og(page, "image") == f"{TEST_BASE_URL}/c/z/ballots/{opened}/card.png"
    assert og(page, "description") == "Should building 1 get a lift?"
    assert f"/share/qr.svg?path=/c/z/ballots/{opened}" in page.text
    drafted = client.get(f"/c/z/ballots/{draft}")
    assert drafted.status_code == 200 and og(drafted, "title") is None


def test_meeting_page_has_a_share_card(world: World, client: Client) -> None:
    english(client, "chair")
    convene(client, title=XSS)
    page = client.get("/c/z/meetings/1")
    assert og(page, "title") == XSS
    assert og(page, "image") == f"{TEST_BASE_URL}/c/z/meetings/1/card.png"
    assert "Residents' committee hall" in (og(page, "description") or "")
    assert "/share/poster?path=/c/z/meetings/1" in page.text


def test_item_page_has_a_share_card(world: World, client: Client) -> None:
    make_item(world, 1, "collecting", XSS)
    make_item(world, 2, "draft", "Mine alone")
    english(client, None)
    page = client.get("/c/z/items/1")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert og(page, "title") == XSS
    assert og(page, "image") == f"{TEST_BASE_URL}/c/z/items/1/card.png"
    assert og(page, "url") == f"{TEST_BASE_URL}/c/z/items/1"
    client.sign_in("owner")  # the author sees the draft, which has nothing to share
    drafted = client.get("/c/z/items/2")
    assert drafted.status_code == 200 and og(drafted, "title") is None
