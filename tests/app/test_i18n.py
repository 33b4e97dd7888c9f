"""Every user-facing string is translated, and the language follows the cookie or the browser."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app import i18n
from app.settings import PROJECT_ROOT
from tests.app.conftest import Client

PLACEHOLDER = re.compile(r"%\((\w+)\)")


def _catalog(language: str):  # type: ignore[no-untyped-def]
    path = i18n.TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def _extracted(tmp_path: Path) -> set[str | tuple[str, ...]]:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-o",
            str(pot),
            "--no-location",
            "--omit-header",
            "-k",
            "_",
            "-k",
            "gettext",
            "-k",
            "ngettext:1,2",
            ".",
        ],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


def test_every_message_in_the_code_has_a_chinese_translation(tmp_path: Path) -> None:
    zh = _catalog("zh_CN")
    missing = [
        m
        for m in _extracted(tmp_path)
        if m not in zh or not (zh[m].string if isinstance(zh[m].string, str) else all(zh[m].string))
    ]
    assert not missing, f"run `make translations` and translate: {missing}"


def test_translations_keep_their_placeholders() -> None:
    for message in _catalog("zh_CN"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == wanted, message.id


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, None, "zh_CN"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "fr-FR,zh-TW;q=0.8", "zh_CN"),
        (None, "fr-FR", "zh_CN"),
        ("en", "zh-CN", "en"),
        ("zh_CN", "en", "zh_CN"),
        ("klingon", "en", "en"),
    ],
)
def test_language_negotiation(cookie: str | None, accept: str | None, expected: str) -> None:
    assert i18n.negotiate(cookie, accept) == expected


def test_pages_are_chinese_by_default_and_english_on_the_switch(client: Client) -> None:
    page = client.get("/signin")
    assert '<html lang="zh-CN">' in page.text
    assert "登录" in page.text
    response = client.form("/language", {"language": "en", "next": "/signin"})
    assert response.status_code == 303
    assert response.headers["location"] == "/signin"
    page = client.get("/signin")
    assert '<html lang="en">' in page.text
    assert "Phone number or username" in page.text
    client.cookies.set("yishi_lang", "zh_CN")  # the chosen language beats an English browser
    english_browser = client.get("/signin", headers={"accept-language": "en"})
    assert "登录" in english_browser.text


def test_language_switch_never_redirects_off_site(client: Client) -> None:
    response = client.form("/language", {"language": "en", "next": "https://evil.example/"})
    assert response.headers["location"] == "/"


def test_numbers_are_formatted_for_the_language() -> None:
    i18n.set_language("en")
    assert i18n.format_number(10569) == "10,569"
    i18n.set_language("zh_CN")
    assert i18n.format_number(10569) == "10,569"
