"""Accounts through the pages: sign-in and its throttling, sessions, CSRF, password hashing and
changes, activation codes. Pages are read in English (the language cookie)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher, extract_parameters
from sqlalchemy import select, update

from app import accounts
from app.auth import SESSION_COOKIE
from app.models import Account, ActivationCode, Community, Person, utcnow
from app.register_import import import_file
from app.settings import Settings
from tests.app.conftest import PASSWORD, Client, World

WRONG = "The phone number, username or password is not correct."
TOO_MANY = "Too many attempts. Please try again in 15 minutes."
NEW_PASSWORD = "a much better passphrase"


# ---------------------------------------------------------------- helpers


@pytest.fixture
def browser(client: Client) -> Callable[[], Client]:
    """Independent browsers (their own cookies, reading English) on the app of ``client``.

    They share its event loop: conftest's ``client_factory`` gives each browser a loop of its
    own, and the app's pooled engine hangs (SQLite) or aborts (PostgreSQL) at shutdown when its
    connections were opened on several loops.
    """

    def make() -> Client:
        other = Client(app=client.app, base_url=str(client.base_url))
        other.blocking_portal = client.blocking_portal
        other.cookies.set("yishi_lang", "en")
        return other

    return make


@pytest.fixture
def en(client: Client) -> Client:
    client.cookies.set("yishi_lang", "en")
    return client


def sign_in(client: Client, identifier: str, password: str = PASSWORD, next: str = "/") -> Any:
    return client.form("/signin", {"identifier": identifier, "password": password, "next": next})


def summary(response: Any) -> str:
    """The message of the page's error summary."""
    match = re.search(
        r'class="error-summary"[^>]*>\s*<p>(?:<a href="#f-\w+">)?(.*?)(?:</a>)?</p>',
        response.text,
        re.S,
    )
    assert match, "no error summary on the page"
    return html.unescape(match.group(1))


def field_error(response: Any, name: str) -> str | None:
    match = re.search(rf'id="f-{name}-error">(.*?)</p>', response.text, re.S)
    return html.unescape(match.group(1)) if match else None


def plant(client: Client, token: str) -> None:
    """Put a session cookie in a browser, as the server would have set it."""
    client.cookies.set(SESSION_COOKIE, token, domain="testserver.local")


def me(client: Client) -> Any:
    """The signed-in account's username, or None when the browser is anonymous."""
    response = client.get("/api/v1/me")
    if response.status_code == 401:
        return None
    assert response.status_code == 200, response.text
    return response.json()["username"]


def account_row(world: World, username: str) -> Account:
    async def work(session: Any) -> Account:
        return (
            await session.execute(select(Account).where(Account.username == username))
        ).scalar_one()

    return world.db.run(work)


def person_row(world: World, ref: str) -> Person:
    async def work(session: Any) -> Person:
        return (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()

    return world.db.run(work)


def issue_code(world: World, settings: Settings, ref: str) -> str:
    async def work(session: Any) -> str:
        person = (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()
        return await accounts.issue_activation_code(session, settings.secret_key, person)

    return world.db.run(work)


def activation_rows(world: World, person_id: int) -> list[ActivationCode]:
    async def work(session: Any) -> list[ActivationCode]:
        query = select(ActivationCode).where(ActivationCode.person_id == person_id)
        return list((await session.execute(query.order_by(ActivationCode.id))).scalars())

    return world.db.run(work)


def activate(
    client: Client,
    code: str,
    username: str = "",
    password: str = NEW_PASSWORD,
    confirm: str | None = None,
) -> Any:
    return client.form(
        "/activate",
        {"code": code, "username": username, "password": password, "confirm": confirm or password},
    )


def add_grid2_person(world: World) -> int:
    """钱芳 (P008) in the vacant unit 3-2-302 of grid 2."""

    async def work(session: Any) -> int:
        community = (
            await session.execute(select(Community).where(Community.slug == "z"))
        ).scalar_one()
        data = "楼栋,单元,户号,面积,居民编号,姓名,手机号,关系\n3,2,302,75.25,P008,钱芳,13800000008,业主\n"
        await import_file(session, community, "h.csv", data.encode(), None)
        return (await session.execute(select(Person.id).where(Person.ref == "P008"))).scalar_one()

    return world.db.run(work)


# ---------------------------------------------------------------- signing in


@pytest.mark.parametrize(
    "identifier",
    ["owner", "OWNER", " Owner ", "13800000001", "138-0000-0001", "138 0000 0001"],
)
def test_sign_in_by_username_any_case_or_by_phone(
    world: World, en: Client, identifier: str
) -> None:
    response = sign_in(en, identifier, next="/c/z")
    assert response.status_code == 303
    assert response.headers["location"] == "/c/z"
    assert en.cookies.get(SESSION_COOKIE)
    assert me(en) == "owner"
    assert account_row(world, "owner").last_sign_in_at is not None


def test_wrong_password_and_unknown_account_look_the_same(world: World, en: Client) -> None:
    wrong_password = sign_in(en, "owner", "not the password")
    unknown_account = sign_in(en, "nobody", "not the password")
    unknown_phone = sign_in(en, "13999999999", "not the password")
    for response in (wrong_password, unknown_account, unknown_phone):
        assert response.status_code == 400
        assert summary(response) == WRONG
        assert SESSION_COOKIE not in en.cookies
    assert me(en) is None


def test_a_deactivated_account_cannot_sign_in(world: World, en: Client) -> None:
    async def deactivate(session: Any) -> None:
        await session.execute(
            update(Account).where(Account.username == "owner").values(is_active=False)
        )
        await session.commit()

    world.db.run(deactivate)
    response = sign_in(en, "owner")
    assert response.status_code == 400
    assert summary(response) == WRONG


def test_five_failures_lock_the_account_even_for_the_right_password(
    world: World, en: Client
) -> None:
    for _attempt in range(5):
        assert sign_in(en, "owner", "guess").status_code == 400
    refused = sign_in(en, "owner")
    assert refused.status_code == 429
    assert summary(refused) == TOO_MANY
    assert me(en) is None
    # Another account from the same address is not locked (30 failures lock an address).
    assert sign_in(en, "chair").status_code == 303


def test_the_lock_is_per_account_whichever_identifier_is_used(world: World, en: Client) -> None:
    """The owner's username and phone number name one account: failures under either count."""
    for identifier in ("owner", "13800000001", "OWNER", "138-0000-0001", "owner"):
        assert sign_in(en, identifier, "guess").status_code == 400
    for identifier in ("owner", "13800000001"):
        refused = sign_in(en, identifier)
        assert (refused.status_code, summary(refused)) == (429, TOO_MANY)


def test_a_successful_sign_in_clears_the_account_failures(world: World, en: Client) -> None:
    for _attempt in range(4):
        sign_in(en, "owner", "guess")
    assert sign_in(en, "owner").status_code == 303
    for _attempt in range(4):
        assert sign_in(en, "owner", "guess").status_code == 400
    assert sign_in(en, "owner").status_code == 303


def test_thirty_failures_lock_the_address_across_identifiers(world: World, en: Client) -> None:
    for n in range(30):
        response = sign_in(en, f"nobody{n}", "guess")
        assert (response.status_code, summary(response)) == (400, WRONG)
    refused = sign_in(en, "admin")  # right password, untouched account
    assert (refused.status_code, summary(refused)) == (429, TOO_MANY)
    assert me(en) is None


def test_unknown_and_known_accounts_cost_the_same_hash(world: World) -> None:
    """A miss verifies against a hash made with the hasher in use, so that a miss takes as
    long as a hit: the dummy hash must follow ``use_password_hasher``."""
    current = extract_parameters(accounts.password_hasher.hash("x"))
    assert extract_parameters(accounts._DUMMY_HASH) == current
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    cheap = accounts.password_hasher
    accounts.use_password_hasher(stronger)
    try:
        assert extract_parameters(accounts._DUMMY_HASH) == extract_parameters(stronger.hash("x"))
    finally:
        accounts.use_password_hasher(cheap)


# ---------------------------------------------------------------- sessions


def test_sign_in_rotates_the_session_id(world: World, browser: Callable[[], Client]) -> None:
    first = browser()
    sign_in(first, "owner")
    old_token = first.cookies[SESSION_COOKIE]
    sign_in(first, "admin")  # signing in again in the same browser
    new_token = first.cookies[SESSION_COOKIE]
    assert new_token != old_token
    assert me(first) == "admin"
    replay = browser()
    plant(replay, old_token)
    assert me(replay) is None  # the earlier session ended on the server


def test_a_planted_session_cookie_is_replaced_at_sign_in(
    world: World, browser: Callable[[], Client]
) -> None:
    """Session fixation: an attacker's own valid session id planted in the victim's browser."""
    attacker = browser()
    sign_in(attacker, "resident")
    planted = attacker.cookies[SESSION_COOKIE]
    victim = browser()
    plant(victim, planted)
    sign_in(victim, "admin")
    assert victim.cookies[SESSION_COOKIE] != planted
    assert me(victim) == "admin"
    assert me(attacker) is None  # the planted id never becomes the admin's session


def test_sign_out_ends_the_session_on_the_server(
    world: World, browser: Callable[[], Client]
) -> None:
    first = browser()
    sign_in(first, "owner")
    token = first.cookies[SESSION_COOKIE]
    response = first.form("/signout")
    assert response.status_code == 303
    assert response.headers["location"] == "/?done=signedout"
    assert not first.cookies.get(SESSION_COOKIE)
    assert me(first) is None
    replay = browser()
    plant(replay, token)
    assert me(replay) is None
    assert replay.get("/account", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("next_", "location"),
    [
        ("/c/z/register", "/c/z/register"),
        ("/c/z/register/people?q=P001&p=1", "/c/z/register/people?q=P001&p=1"),
        ("https://evil.example/phish", "/"),
        ("//evil.example/phish", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("", "/"),
    ],
)
def test_next_after_sign_in_only_accepts_same_site_paths(
    world: World, en: Client, next_: str, location: str
) -> None:
    response = sign_in(en, "owner", next=next_)
    assert response.status_code == 303
    assert response.headers["location"] == location


@pytest.mark.parametrize(
    "next_",
    [
        "/\\evil.example/phish",
        "/\t/evil.example",
        "/\n/evil.example",
        " //evil.example",
        "\\\\evil.example",
    ],
)
def test_next_tricks_browsers_read_as_another_host_stay_on_this_site(
    world: World, en: Client, next_: str
) -> None:
    """Browsers drop tabs and newlines and read a backslash as a slash in a Location."""
    location = sign_in(en, "owner", next=next_).headers["location"]
    normalised = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    assert normalised.startswith("/") and not normalised.startswith("//"), location


def test_the_sign_in_form_keeps_only_a_safe_next(world: World, en: Client) -> None:
    assert 'name="next" value="/c/z"' in en.get("/signin?next=/c/z").text
    assert 'name="next" value="/"' in en.get("/signin?next=https://evil.example/").text


# ---------------------------------------------------------------- CSRF


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(world: World, en: Client) -> None:
    refused = en.post(
        "/signin", data={"identifier": "owner", "password": PASSWORD}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert SESSION_COOKIE not in en.cookies

    en.sign_in("admin")
    before = account_row(world, "admin").password_hash
    data = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert en.post("/account/password", data=data, follow_redirects=False).status_code == 403
    forged = {**data, "_csrf_token": "0" * 64}
    assert en.post("/account/password", data=forged, follow_redirects=False).status_code == 403
    assert account_row(world, "admin").password_hash == before

    person_id = world.ids["P001"]
    edit = {"name": "篡改", "phone": "", "birth_year": ""}
    assert (
        en.post(f"/c/z/register/people/{person_id}", data=edit, follow_redirects=False).status_code
        == 403
    )
    assert (
        en.request("PATCH", f"/api/v1/c/z/people/{person_id}", json={"name": "篡改"}).status_code
        == 403
    )
    assert person_row(world, "P001").name == "王秀英"
    assert me(en) == "admin"  # the session itself is untouched


# ---------------------------------------------------------------- password hashing


def test_sign_in_rehashes_when_the_hasher_parameters_change(world: World, en: Client) -> None:
    old_hash = account_row(world, "owner").password_hash
    assert (extract_parameters(old_hash).time_cost, extract_parameters(old_hash).memory_cost) == (
        1,
        1024,
    )
    cheap = accounts.password_hasher
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=2)
    accounts.use_password_hasher(stronger)
    try:
        sign_in(en, "owner")
        new_hash = account_row(world, "owner").password_hash
        params = extract_parameters(new_hash)
        assert (params.time_cost, params.memory_cost, params.parallelism) == (2, 2048, 2)
        assert stronger.verify(new_hash, PASSWORD)
        # Unchanged parameters: the next sign-in keeps the hash.
        sign_in(en, "owner")
        assert account_row(world, "owner").password_hash == new_hash
        # A failed sign-in never rehashes.
        assert sign_in(en, "chair", "guess").status_code == 400
        assert account_row(world, "chair").password_hash == old_hash
    finally:
        accounts.use_password_hasher(cheap)


# ---------------------------------------------------------------- changing the password


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (
            {"current": "wrong", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
            "current",
            "The current password is not correct.",
        ),
        (
            {"current": PASSWORD, "password": "short", "confirm": "short"},
            "password",
            "The password must have at least 8 characters.",
        ),
        (
            {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"},
            "confirm",
            "The two passwords do not match.",
        ),
        (
            {"current": PASSWORD, "password": "x" * 201, "confirm": "x" * 201},
            "password",
            "The password is too long (at most 200 characters).",
        ),
    ],
    ids=["wrong-current", "too-short", "mismatch", "too-long"],
)
def test_password_change_refusals_name_the_field(
    world: World, en: Client, form: dict[str, str], field: str, message: str
) -> None:
    en.sign_in("owner")
    before = account_row(world, "owner")
    response = en.form("/account/password", form)
    assert response.status_code == 400
    assert field_error(response, field) == message
    assert summary(response) == message
    after = account_row(world, "owner")
    assert (after.password_hash, after.password_changed_at) == (
        before.password_hash,
        before.password_changed_at,
    )
    assert me(en) == "owner"


def test_password_change_keeps_this_browser_and_ends_the_others(
    world: World, browser: Callable[[], Client]
) -> None:
    here, elsewhere = browser(), browser()
    sign_in(here, "owner")
    sign_in(elsewhere, "owner")
    response = here.form(
        "/account/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account?done=password"
    assert "Your password has been changed." in here.get("/account?done=password").text
    assert me(here) == "owner"
    assert me(elsewhere) is None
    third = browser()
    assert sign_in(third, "owner").status_code == 400
    assert sign_in(third, "owner", NEW_PASSWORD).status_code == 303


# ---------------------------------------------------------------- activation


def code_on_page(response: Any) -> str:
    match = re.search(r'<p class="code">([2-9A-Z]{4}-[2-9A-Z]{4})</p>', response.text)
    assert match, "no activation code on the page"
    return match.group(1)


def test_admin_issues_a_code_and_the_resident_activates(
    world: World, browser: Callable[[], Client]
) -> None:
    admin = browser()
    sign_in(admin, "admin")
    person_id = world.ids["P005"]  # 陈静, phone 13800000005, no account yet
    response = admin.form(f"/c/z/register/people/{person_id}/activation")
    assert response.status_code == 200
    code = code_on_page(response)
    assert "Give this code to 陈静." in response.text

    resident = browser()
    assert resident.get(f"/activate?code={code}").status_code == 200
    response = activate(resident, code, username="ChenJing")
    assert response.status_code == 303, summary(response)
    assert response.headers["location"] == "/account?done=activated"
    assert me(resident) == "chenjing"
    body = resident.get("/api/v1/me").json()
    assert (body["display_name"], body["phone"]) == ("陈静", "13800000005")
    assert body["communities"] == [{"slug": "z", "name": "Z社区", "person_id": person_id}]
    assert person_row(world, "P005").account_id == body["id"]
    [row] = activation_rows(world, person_id)
    assert row.used_at is not None

    phone_browser = browser()
    assert sign_in(phone_browser, "13800000005", NEW_PASSWORD).status_code == 303
    assert me(phone_browser) == "chenjing"
    assert sign_in(browser(), "chenjing", NEW_PASSWORD).status_code == 303


def test_activation_without_a_username_signs_in_by_phone(
    world: World, settings: Settings, browser: Callable[[], Client]
) -> None:
    code = issue_code(world, settings, "P005")
    resident = browser()
    # Typed as elderly residents do: lower case, a space instead of the dash.
    assert activate(resident, code.lower().replace("-", " ")).status_code == 303
    assert resident.get("/api/v1/me").json()["username"] is None
    assert sign_in(browser(), "13800000005", NEW_PASSWORD).status_code == 303


def test_activation_resets_the_password_of_an_existing_account(
    world: World, settings: Settings, browser: Callable[[], Client]
) -> None:
    code = issue_code(world, settings, "P001")  # 王秀英 has the account "owner"
    assert activate(browser(), code).status_code == 303
    assert account_row(world, "owner").id == world.ids["owner"]  # the same account, username kept
    assert sign_in(browser(), "owner").status_code == 400
    assert sign_in(browser(), "owner", NEW_PASSWORD).status_code == 303


USED = "This activation code has already been used."
EXPIRED = "This activation code has expired. Ask your grid member for a new letter."
INVALID = "This activation code is not valid. Check the letter and try again."


def test_a_used_code_is_refused(
    world: World, settings: Settings, browser: Callable[[], Client]
) -> None:
    code = issue_code(world, settings, "P005")
    assert activate(browser(), code).status_code == 303
    again = browser()
    response = activate(again, code, password="another passphrase")
    assert response.status_code == 400
    assert (summary(response), field_error(response, "code")) == (USED, USED)
    assert me(again) is None
    assert sign_in(browser(), "13800000005", "another passphrase").status_code == 400


def test_an_expired_code_is_refused(world: World, settings: Settings, en: Client) -> None:
    code = issue_code(world, settings, "P005")

    async def expire(session: Any) -> None:
        await session.execute(
            update(ActivationCode).values(expires_at=utcnow() - timedelta(minutes=1))
        )
        await session.commit()

    world.db.run(expire)
    response = activate(en, code)
    assert response.status_code == 400
    assert field_error(response, "code") == EXPIRED
    assert person_row(world, "P005").account_id is None


def test_a_wrong_code_is_refused(world: World, settings: Settings, en: Client) -> None:
    issue_code(world, settings, "P005")
    response = activate(en, "2345-6789")
    assert response.status_code == 400
    assert field_error(response, "code") == INVALID
    assert 'value="2345-6789"' in response.text  # kept in the form; passwords are not
    assert NEW_PASSWORD not in response.text


def test_a_new_code_replaces_the_earlier_one(
    world: World, settings: Settings, browser: Callable[[], Client]
) -> None:
    first = issue_code(world, settings, "P005")
    second = issue_code(world, settings, "P005")
    assert first != second
    response = activate(browser(), first)
    assert (response.status_code, field_error(response, "code")) == (400, EXPIRED)
    assert activate(browser(), second).status_code == 303


@pytest.mark.parametrize(
    ("username", "password", "confirm", "field", "message"),
    [
        (
            "admin",
            NEW_PASSWORD,
            NEW_PASSWORD,
            "username",
            "This username is taken; please choose another.",
        ),
        (
            "9lives",
            NEW_PASSWORD,
            NEW_PASSWORD,
            "username",
            "A username has 3 to 40 letters, digits, dots, dashes or underscores and starts with a letter.",
        ),
        ("", "short", "short", "password", "The password must have at least 8 characters."),
        ("", NEW_PASSWORD, "different", "confirm", "The two passwords do not match."),
    ],
    ids=["username-taken", "username-malformed", "password-short", "password-mismatch"],
)
def test_a_refused_activation_leaves_the_code_usable(
    world: World,
    settings: Settings,
    browser: Callable[[], Client],
    username: str,
    password: str,
    confirm: str,
    field: str,
    message: str,
) -> None:
    code = issue_code(world, settings, "P005")
    response = activate(browser(), code, username=username, password=password, confirm=confirm)
    assert response.status_code == 400
    assert field_error(response, field) == message
    [row] = activation_rows(world, world.ids["P005"])
    assert row.used_at is None
    assert person_row(world, "P005").account_id is None
    assert activate(browser(), code).status_code == 303


def test_a_grid_member_issues_codes_in_their_own_grid_only(
    world: World, browser: Callable[[], Client]
) -> None:
    in_grid = add_grid2_person(world)
    grid = browser()
    sign_in(grid, "grid")
    response = grid.form(f"/c/z/register/people/{in_grid}/activation")
    assert response.status_code == 200
    code = code_on_page(response)
    assert activate(browser(), code).status_code == 303

    outside = world.ids["P001"]  # grid 1
    assert grid.form(f"/c/z/register/people/{outside}/activation").status_code == 403
    assert activation_rows(world, outside) == []


@pytest.mark.parametrize("username", ["resident", "owner", "chair", "auditor"])
def test_other_roles_may_not_issue_codes(world: World, en: Client, username: str) -> None:
    en.sign_in(username)
    assert en.form(f"/c/z/register/people/{world.ids['P005']}/activation").status_code == 403
    assert activation_rows(world, world.ids["P005"]) == []


def test_an_admin_cannot_issue_a_code_for_another_community(world: World, en: Client) -> None:
    en.sign_in("admin")
    assert en.form(f"/c/z/register/people/{world.ids['Q001']}/activation").status_code == 404
    assert activation_rows(world, world.ids["Q001"]) == []
