"""The verifier's translations: every message the code can show has a Simplified Chinese
translation, and each committed .mo matches its .po (run `uv run pybabel compile -D
yishi-verify -d audit/locale` after editing a .po)."""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from audit.verify import DOMAIN, LOCALE_DIR, translator

AUDIT_DIR = LOCALE_DIR.parent


def catalog_path(lang: str, ext: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.{ext}"


def messages_in_code() -> set[str]:
    found = extract_from_dir(str(AUDIT_DIR), method_map=[("**.py", "python")])
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def test_code_has_messages_to_translate() -> None:
    assert "Result: every check holds." in messages_in_code()


def test_every_message_has_a_chinese_translation() -> None:
    with catalog_path("zh_CN", "po").open("rb") as f:
        catalog = read_po(f)
    missing = sorted(m for m in messages_in_code() if m not in catalog or not catalog[m].string)
    assert not missing, f"add zh_CN translations for: {missing}"
    fuzzy = sorted(str(m.id) for m in catalog if m.id and m.fuzzy)
    assert not fuzzy, f"fuzzy zh_CN translations: {fuzzy}"


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_compiled_catalogs_are_up_to_date(lang: str) -> None:
    with catalog_path(lang, "po").open("rb") as f:
        po = read_po(f)
    expected = {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}
    with catalog_path(lang, "mo").open("rb") as f:
        mo = gettext.GNUTranslations(f)
    compiled = {k: v for k, v in mo._catalog.items() if k}  # type: ignore[attr-defined]
    assert compiled == expected, f"recompile {catalog_path(lang, 'mo')}"


def test_translator_picks_the_language() -> None:
    assert translator("zh").gettext("Result: every check holds.") == "结果：全部检查通过。"
    assert translator("en").gettext("Result: every check holds.") == "Result: every check holds."
