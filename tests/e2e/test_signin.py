"""A resident on a phone signs in in Chinese, switches to English and signs out."""

from __future__ import annotations

import pytest

from tests.app.conftest import PASSWORD
from tests.e2e.conftest import PHONE, screenshot, serious_accessibility_violations

pytestmark = pytest.mark.browser


def test_resident_signs_in_on_a_phone_switches_language_and_signs_out(
    browser, live_server: str
) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(**PHONE, locale="zh-CN")
    context.set_default_timeout(5000)
    page = context.new_page()
    violations: dict[str, list[str]] = {}

    page.goto(f"{live_server}/c/z")
    assert page.locator("h1").inner_text() == "Z社区"
    violations["community"] = serious_accessibility_violations(page)
    screenshot(page, "01-community-zh")

    page.get_by_role("link", name="登录").first.click()
    page.wait_for_url("**/signin**")
    violations["signin"] = serious_accessibility_violations(page)
    page.get_by_label("手机号码或用户名").fill("13800000006")  # the tenant 赵磊 signs in by phone
    page.get_by_label("密码").fill(PASSWORD)
    screenshot(page, "02-signin-zh")
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    screenshot(page, "03a-after-signin")
    page.wait_for_url(f"{live_server}/c/z")
    assert page.get_by_role("link", name="赵磊").is_visible()
    assert page.get_by_text("居民").first.is_visible()
    screenshot(page, "03-signed-in-zh")

    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_text("Your roles here").is_visible()
    violations["community-en"] = serious_accessibility_violations(page)
    screenshot(page, "04-signed-in-en")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server}/?done=signedout")
    assert page.get_by_role("status").inner_text() == "You have signed out."
    assert page.get_by_role("link", name="Sign in").is_visible()
    violations["signed-out-en"] = serious_accessibility_violations(page)
    screenshot(page, "05-signed-out-en")

    page.goto(f"{live_server}/account")
    assert "/signin" in page.url  # the session really ended
    context.close()
    assert not any(violations.values()), violations


def test_wrong_password_is_announced_and_keyboard_only_sign_in_works(
    browser, live_server: str
) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(**PHONE, locale="zh-CN")
    context.set_default_timeout(5000)
    page = context.new_page()
    page.goto(f"{live_server}/signin?next=/account")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "跳到正文"
    page.get_by_label("手机号码或用户名").fill("owner")
    page.get_by_label("密码").fill("not the password")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    alert = page.get_by_role("alert")
    assert "不正确" in alert.inner_text()
    screenshot(page, "06-signin-error-zh")
    page.get_by_label("密码").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/account")
    assert page.get_by_role("heading", name="我的账号").is_visible()
    context.close()
