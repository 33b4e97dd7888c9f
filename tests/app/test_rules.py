"""The community's rules for agenda items: anyone reads them, only the admin changes them, bad
numbers are refused by field with nothing stored."""

from __future__ import annotations

import html

from app.models import DeliberationSettings
from tests.app.conftest import Client, World


def stored(world: World) -> DeliberationSettings | None:
    async def work(session: object) -> DeliberationSettings | None:
        return await session.get(DeliberationSettings, world.ids["z"])  # type: ignore[attr-defined]

    return world.db.run(work)


def test_anyone_reads_the_rules_with_the_threshold_they_give(client: Client) -> None:
    client.cookies.set("yishi_lang", "en")
    response = client.get("/c/z/rules")
    assert response.status_code == 200
    text = html.unescape(response.text)
    assert "Support needed now" in text and "20 residents" in text
    assert "Save the rules" not in text  # the form is the admin's


def test_the_admin_sets_the_rules_and_the_threshold_follows(client: Client, world: World) -> None:
    client.cookies.set("yishi_lang", "en")
    client.sign_in("admin")
    response = client.form(
        "/c/z/rules",
        {"cosign_residents": "2", "cosign_household_permille": "0", "comments_per_hour": "30"},
    )
    assert response.status_code == 303
    rules = stored(world)
    assert rules is not None
    assert (rules.cosign_residents, rules.cosign_household_permille, rules.comments_per_hour) == (
        2,
        0,
        30,
    )
    assert "2 residents" in html.unescape(client.get("/c/z/rules").text)


def test_bad_numbers_are_refused_by_field_and_nothing_is_stored(
    client: Client, world: World
) -> None:
    client.cookies.set("yishi_lang", "en")
    client.sign_in("admin")
    for bad in ("", "-1", "0", "1.5", "ten", "100000", "²"):
        response = client.form(
            "/c/z/rules",
            {"cosign_residents": bad, "cosign_household_permille": "0", "comments_per_hour": "5"},
        )
        assert response.status_code == 400, bad
        assert 'id="f-cosign_residents-error"' in response.text
        assert "Enter a whole number from 1 to 10000." in html.unescape(response.text)
    assert stored(world) is None


def test_only_the_admin_changes_the_rules(client: Client, world: World) -> None:
    client.sign_in("chair")
    response = client.form(
        "/c/z/rules",
        {"cosign_residents": "1", "cosign_household_permille": "0", "comments_per_hour": "5"},
    )
    assert response.status_code == 403
    assert stored(world) is None
