"""An admin keeps the register on a phone: search as you type, edit with errors, a rejected import."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.conftest import PASSWORD
from tests.e2e.conftest import PHONE, screenshot, serious_accessibility_violations

pytestmark = pytest.mark.browser


def test_admin_searches_edits_and_imports(browser, live_server: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(**PHONE, locale="zh-CN")
    context.set_default_timeout(5000)
    page = context.new_page()
    page.goto(f"{live_server}/signin?next=/c/z/register")
    page.get_by_label("手机号码或用户名").fill("admin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server}/c/z/register")
    assert page.get_by_role("heading", name="第一网格").is_visible()
    violations = {"overview": serious_accessibility_violations(page)}
    screenshot(page, "10-register-overview-zh")

    page.get_by_role("searchbox").fill("王")
    page.get_by_role("button", name="搜索").click()
    page.wait_for_url("**/register/people?q=*")
    search = page.get_by_role("searchbox")
    search.fill("秀英")  # htmx replaces the results as the admin types, without a reload
    page.wait_for_function("document.querySelector('#results').innerText.includes('找到1人')")
    assert page.get_by_role("link", name="王秀英").is_visible()
    violations["people"] = serious_accessibility_violations(page)
    screenshot(page, "11-people-search-zh")

    page.get_by_role("link", name="王秀英").click()
    page.get_by_label("手机号码").fill("12345")
    page.get_by_role("button", name="保存").click()
    alert = page.get_by_role("alert")
    assert "12345" in alert.inner_text()
    assert page.get_by_label("手机号码").get_attribute("aria-invalid") == "true"
    violations["person-error"] = serious_accessibility_violations(page)
    screenshot(page, "12-person-error-zh")
    page.get_by_label("手机号码").fill("13912345678")
    page.get_by_role("button", name="保存").click()
    assert page.get_by_role("status").is_visible()
    assert "13912345678" in page.locator(".facts").inner_text()

    bad = tmp_path / "households.csv"
    bad.write_text(
        "楼栋,单元,户号,面积,居民编号,姓名,关系\n9,1,101,80,X1,测试,业主\n1,1,103,-5,X2,,业主\n",
        encoding="utf-8",
    )
    page.goto(f"{live_server}/c/z/register/import")
    page.get_by_label("CSV").set_input_files(str(bad))
    page.get_by_role("button", name="检查并导入").click()
    errors = page.get_by_role("alert").inner_text()
    assert "第2行" in errors and "第3行" in errors
    violations["import-error"] = serious_accessibility_violations(page)
    screenshot(page, "13-import-rejected-zh")
    context.close()
    assert not any(violations.values()), violations
