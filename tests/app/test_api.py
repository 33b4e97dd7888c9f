"""The JSON API under /api/v1: accounts, the register, validation errors as JSON, the schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from app import accounts
from app.auth import SESSION_COOKIE
from app.models import Building, Community, Person, RegisterChange, Unit
from app.settings import Settings
from tests.app.conftest import PASSWORD, Client, World

WRONG = "The phone number, username or password is not correct."
NEW_PASSWORD = "a much better passphrase"


# ---------------------------------------------------------------- helpers


@pytest.fixture
def api(client: Client) -> Client:
    client.cookies.set("yishi_lang", "en")
    return client


@pytest.fixture
def browser(client: Client) -> Callable[[], Client]:
    """More browsers on the app of ``client``, sharing its event loop (see test_accounts)."""

    def make() -> Client:
        other = Client(app=client.app, base_url=str(client.base_url))
        other.blocking_portal = client.blocking_portal
        other.cookies.set("yishi_lang", "en")
        return other

    return make


def sign_in(client: Client, identifier: str, password: str = PASSWORD) -> Any:
    return client.api(
        "POST", "/api/v1/session", json={"identifier": identifier, "password": password}
    )


def as_user(client: Client, username: str) -> Client:
    assert sign_in(client, username).status_code == 200
    return client


def changes(world: World) -> list[RegisterChange]:
    async def work(session: Any) -> list[RegisterChange]:
        query = select(RegisterChange).order_by(RegisterChange.id)
        return list((await session.execute(query)).scalars())

    return world.db.run(work)


def person(world: World, ref: str) -> Person:
    async def work(session: Any) -> Person:
        return (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()

    return world.db.run(work)


def unit_id(world: World, slug: str, building: str, number: str) -> int:
    async def work(session: Any) -> int:
        query = (
            select(Unit.id)
            .join(Building, Building.id == Unit.building_id)
            .join(Community, Community.id == Unit.community_id)
            .where(Community.slug == slug, Building.number == building, Unit.number == number)
        )
        return (await session.execute(query)).scalar_one()

    return world.db.run(work)


def unit_area(world: World, id_: int) -> str:
    async def work(session: Any) -> str:
        return str((await session.get(Unit, id_)).floor_area)

    return world.db.run(work)


# ---------------------------------------------------------------- accounts


def test_sign_in_me_and_sign_out(world: World, api: Client, browser: Callable[[], Client]) -> None:
    response = sign_in(api, "OWNER")
    assert response.status_code == 200
    assert response.json() == {
        "id": world.ids["owner"],
        "display_name": "王秀英",
        "username": "owner",
        "phone": "13800000001",
    }
    token = api.cookies[SESSION_COOKIE]
    me = api.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["communities"] == [
        {"slug": "z", "name": "Z社区", "person_id": world.ids["P001"]}
    ]

    assert api.api("DELETE", "/api/v1/session").status_code == 204
    anonymous = api.get("/api/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"status_code": 401, "detail": "Please sign in first."}
    replay = browser()
    replay.cookies.set(SESSION_COOKIE, token, domain="testserver.local")
    assert replay.get("/api/v1/me").status_code == 401


def test_sign_in_by_phone(world: World, api: Client) -> None:
    assert sign_in(api, "138 0000 0007").json()["username"] == "grid"


def test_wrong_password_and_unknown_account_get_the_same_answer(world: World, api: Client) -> None:
    answers = [sign_in(api, who, "guess") for who in ("owner", "nobody", "13999999999")]
    assert {(r.status_code, r.content) for r in answers} == {
        (
            400,
            json.dumps(
                {"status_code": 400, "detail": WRONG}, ensure_ascii=False, separators=(",", ":")
            ).encode(),
        )
    }  # byte for byte: nothing in the answer tells the cases apart
    assert SESSION_COOKIE not in api.cookies


def test_throttled_sign_in_answers_429_with_retry_after(world: World, api: Client) -> None:
    for _attempt in range(5):
        sign_in(api, "owner", "guess")
    response = sign_in(api, "owner")
    assert response.status_code == 429
    body = response.json()
    assert body["detail"] == "Too many attempts. Please try again in 15 minutes."
    assert 890 <= body["extra"]["retry_after"] <= 900
    assert api.get("/api/v1/me").status_code == 401


def test_sign_in_rotates_the_session(world: World, api: Client) -> None:
    sign_in(api, "owner")
    first = api.cookies[SESSION_COOKIE]
    sign_in(api, "admin")
    assert api.cookies[SESSION_COOKIE] != first
    assert api.get("/api/v1/me").json()["username"] == "admin"


def test_writes_without_the_csrf_header_are_refused(world: World, api: Client) -> None:
    body = {"identifier": "owner", "password": PASSWORD}
    assert api.post("/api/v1/session", json=body).status_code == 403
    assert SESSION_COOKIE not in api.cookies
    as_user(api, "admin")
    url = f"/api/v1/c/z/people/{world.ids['P001']}"
    assert api.patch(url, json={"name": "篡改"}).status_code == 403
    assert (
        api.patch(url, json={"name": "篡改"}, headers={"x-csrftoken": "0" * 64}).status_code == 403
    )
    assert person(world, "P001").name == "王秀英"
    assert api.delete("/api/v1/session").status_code == 403
    assert api.get("/api/v1/me").status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        (
            {"current": "guess", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
            "current",
            "The current password is not correct.",
        ),
        (
            {"current": PASSWORD, "password": "short", "confirm": "short"},
            "password",
            "The password must have at least 8 characters.",
        ),
        (
            {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": "other"},
            "confirm",
            "The two passwords do not match.",
        ),
    ],
    ids=["wrong-current", "too-short", "mismatch"],
)
def test_password_change_refusals(
    world: World, api: Client, body: dict[str, str], field: str, detail: str
) -> None:
    as_user(api, "owner")
    response = api.api("POST", "/api/v1/me/password", json=body)
    assert response.status_code == 400
    assert response.json() == {"status_code": 400, "detail": detail, "extra": {"field": field}}
    assert sign_in(api, "owner").status_code == 200  # the old password still works


def test_password_change_keeps_this_client_and_ends_the_others(
    world: World, api: Client, browser: Callable[[], Client]
) -> None:
    other = as_user(browser(), "owner")
    as_user(api, "owner")
    body = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    response = api.api("POST", "/api/v1/me/password", json=body)
    assert response.status_code == 200
    assert response.json()["username"] == "owner"
    assert api.get("/api/v1/me").status_code == 200
    assert other.get("/api/v1/me").status_code == 401
    assert sign_in(browser(), "owner").status_code == 400
    assert sign_in(browser(), "owner", NEW_PASSWORD).status_code == 200


def test_activation_through_the_api(
    world: World, api: Client, settings: Settings, browser: Callable[[], Client]
) -> None:
    async def issue(session: Any) -> str:
        target = (await session.execute(select(Person).where(Person.ref == "P005"))).scalar_one()
        return await accounts.issue_activation_code(session, settings.secret_key, target)

    code = world.db.run(issue)
    body = {"code": code, "username": "chenjing", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    response = api.api("POST", "/api/v1/activate", json=body)
    assert response.status_code == 200
    assert response.json()["display_name"] == "陈静"
    assert api.get("/api/v1/me").json()["communities"][0]["person_id"] == world.ids["P005"]
    again = browser().api("POST", "/api/v1/activate", json=body)
    assert again.status_code == 400
    assert again.json()["detail"] == "This activation code has already been used."
    assert again.json()["extra"] == {"field": "code"}


# ---------------------------------------------------------------- the register


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("秀", ["王秀英"]),
        ("王秀英", ["王秀英"]),
        ("13800000005", ["陈静"]),
        ("0000000", ["刘芳", "孙丽", "王秀英", "张伟", "赵磊", "陈静"]),  # everyone with a phone
        ("P003", ["张伟"]),
        ("P00", []),  # a reference matches whole, not by part
        ("%", []),  # LIKE wildcards are searched for literally
        ("_", []),
        ("周杰", []),  # another community's resident
    ],
)
def test_people_search(world: World, api: Client, query: str, found: list[str]) -> None:
    as_user(api, "admin")
    assert sorted(names(api.get("/api/v1/c/z/people", params={"q": query}))) == sorted(found)


def test_people_search_lists_units(world: World, api: Client) -> None:
    as_user(api, "auditor")
    body = api.get("/api/v1/c/z/people", params={"q": "秀"}).json()
    assert (body["total"], body["page"], body["page_size"]) == (1, 1, 50)
    [item] = body["items"]
    assert {k: item[k] for k in ("id", "ref", "phone", "birth_year", "has_account")} == {
        "id": world.ids["P001"],
        "ref": "P001",
        "phone": "13800000001",
        "birth_year": 1948,
        "has_account": True,
    }
    [unit] = item["units"]
    assert {k: v for k, v in unit.items() if k != "unit_id"} == {
        "building": "1",
        "entrance": "1",
        "number": "101",
        "floor_area": "86.45",
        "relation": "owner",
        "since": "2001-05-01",
        "until": None,
        "is_representative": True,
    }


def test_a_grid_member_sees_only_their_grid(world: World, api: Client) -> None:
    as_user(api, "grid")
    assert names(api.get("/api/v1/c/z/people")) == ["孙丽"]
    assert names(api.get("/api/v1/c/z/people", params={"q": "秀"})) == []
    assert api.get(f"/api/v1/c/z/people/{world.ids['P001']}").status_code == 404
    assert api.get(f"/api/v1/c/z/people/{world.ids['P007']}").json()["name"] == "孙丽"
    assert [g["number"] for g in api.get("/api/v1/c/z/grids").json()] == [2]
    assert api.get(f"/api/v1/c/z/units/{unit_id(world, 'z', '1', '101')}").status_code == 404
    assert api.get(f"/api/v1/c/z/units/{unit_id(world, 'z', '3', '301')}").status_code == 200


@pytest.mark.parametrize(
    ("username", "status"), [(None, 401), ("resident", 403), ("owner", 403), ("otheradmin", 403)]
)
def test_who_may_not_read_the_register(
    world: World, api: Client, username: str | None, status: int
) -> None:
    if username:
        as_user(api, username)
    response = api.get("/api/v1/c/z/people")
    assert response.status_code == status
    assert (
        response.json()["detail"]
        == {401: "Please sign in first.", 403: "You may not do this."}[status]
    )


def test_another_community_s_person_and_unit_are_not_found(world: World, api: Client) -> None:
    as_user(api, "admin")
    assert api.get(f"/api/v1/c/z/people/{world.ids['Q001']}").status_code == 404
    other_unit = unit_id(world, "other", "A", "101")
    assert api.get(f"/api/v1/c/z/units/{other_unit}").status_code == 404
    response = api.api("PATCH", f"/api/v1/c/z/units/{other_unit}", json={"floor_area": "1"})
    assert (response.status_code, response.json()["detail"]) == (404, "Not found.")
    assert unit_area(world, other_unit) == "70.00"


PERSON_ERRORS = [
    ({"name": ""}, "name", "The name must have 1 to 60 characters."),
    ({"name": "   "}, "name", "The name must have 1 to 60 characters."),
    ({"name": "王" * 61}, "name", "The name must have 1 to 60 characters."),
    ({"phone": "12345"}, "phone", "“12345” is not an 11-digit mobile number."),
    (
        {"phone": "13800000003"},
        "phone",
        "Phone 13800000003 already belongs to 张伟 (P003) in the register.",
    ),
    ({"birth_year": 1800}, "birth_year", "“1800” is not a year of birth."),
    ({"birth_year": 3000}, "birth_year", "“3000” is not a year of birth."),
]


@pytest.mark.parametrize(("body", "field", "detail"), PERSON_ERRORS)
def test_person_patch_validation_errors(
    world: World, api: Client, body: dict[str, Any], field: str, detail: str
) -> None:
    as_user(api, "admin")
    before = len(changes(world))
    response = api.api("PATCH", f"/api/v1/c/z/people/{world.ids['P001']}", json=body)
    assert response.status_code == 400
    assert response.json() == {"status_code": 400, "detail": detail, "extra": {"field": field}}
    p = person(world, "P001")
    assert (p.name, p.phone, p.birth_year) == ("王秀英", "13800000001", 1948)
    assert len(changes(world)) == before


def test_person_patch_with_a_wrong_type_is_a_400(world: World, api: Client) -> None:
    as_user(api, "admin")
    response = api.api(
        "PATCH", f"/api/v1/c/z/people/{world.ids['P001']}", json={"birth_year": "old"}
    )
    assert response.status_code == 400
    assert person(world, "P001").birth_year == 1948


def test_person_patch_saves_and_records_who_changed_what(world: World, api: Client) -> None:
    as_user(api, "admin")
    before = len(changes(world))
    url = f"/api/v1/c/z/people/{world.ids['P001']}"
    response = api.api("PATCH", url, json={"name": " 王秀珍 ", "phone": "139-0000-0009"})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["phone"], body["birth_year"]) == ("王秀珍", "13900000009", 1948)
    [change] = changes(world)[before:]
    assert (change.entity, change.entity_id, change.action, change.actor_id) == (
        "person",
        world.ids["P001"],
        "update",
        world.ids["admin"],
    )
    assert change.changes == {"name": ["王秀英", "王秀珍"], "phone": ["13800000001", "13900000009"]}
    # The same values again: nothing to record.
    assert api.api("PATCH", url, json={"name": "王秀珍"}).status_code == 200
    assert len(changes(world)) == before + 1


@pytest.mark.parametrize("username", ["chair", "auditor", "grid"])
def test_only_an_admin_may_patch(world: World, api: Client, username: str) -> None:
    as_user(api, username)
    person_id = world.ids["P007"]  # in the grid member's own grid
    assert (
        api.api("PATCH", f"/api/v1/c/z/people/{person_id}", json={"name": "改名"}).status_code
        == 403
    )
    unit = unit_id(world, "z", "3", "301")
    assert (
        api.api("PATCH", f"/api/v1/c/z/units/{unit}", json={"floor_area": "50"}).status_code == 403
    )
    assert person(world, "P007").name == "孙丽"
    assert unit_area(world, unit) == "45.00"


@pytest.mark.parametrize("area", ["-1", "0", "abc", "1.234", "10000", "NaN", ""])
def test_unit_patch_validation_errors(world: World, api: Client, area: str) -> None:
    as_user(api, "admin")
    unit = unit_id(world, "z", "1", "101")
    response = api.api("PATCH", f"/api/v1/c/z/units/{unit}", json={"floor_area": area})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        f"The floor area must be a positive number of m² with at most two decimals, not “{area}”."
    )
    assert response.json()["extra"] == {"field": "floor_area"}
    assert unit_area(world, unit) == "86.45"


def test_unit_patch_saves_and_is_listed_in_the_changes(
    world: World, api: Client, browser: Callable[[], Client]
) -> None:
    as_user(api, "admin")
    unit = unit_id(world, "z", "1", "101")
    response = api.api("PATCH", f"/api/v1/c/z/units/{unit}", json={"floor_area": "90.50"})
    assert response.status_code == 200
    assert response.json() == {"id": unit, "floor_area": "90.50"}
    assert unit_area(world, unit) == "90.50"
    assert api.get(f"/api/v1/c/z/units/{unit}").json()["floor_area"] == "90.50"

    auditor = as_user(browser(), "auditor")
    listing = auditor.get("/api/v1/c/z/register/changes")
    assert listing.status_code == 200
    body = listing.json()
    assert body["total"] == len([c for c in changes(world) if c.community_id == world.ids["z"]])
    latest = body["items"][0]
    assert {k: latest[k] for k in ("actor", "entity", "entity_id", "action", "changes")} == {
        "actor": "admin",
        "entity": "unit",
        "entity_id": unit,
        "action": "update",
        "changes": {"floor_area": ["86.45", "90.50"]},
    }
    # The seeded import was made by nobody in particular.
    assert body["items"][-1]["actor"] is None
    assert as_user(browser(), "chair").get("/api/v1/c/z/register/changes").status_code == 403


def test_unit_json(world: World, api: Client) -> None:
    as_user(api, "chair")
    unit = unit_id(world, "z", "1", "102")
    body = api.get(f"/api/v1/c/z/units/{unit}").json()
    assert (body["building"], body["entrance"], body["number"], body["floor_area"]) == (
        "1",
        "1",
        "102",
        "60.00",
    )
    assert sorted((p["name"], p["relation"], p["is_representative"]) for p in body["people"]) == [
        ("刘芳", "co_owner", False),
        ("张伟", "co_owner", True),
    ]


# ---------------------------------------------------------------- the schema


def test_the_openapi_schema_lists_the_api_and_no_html_route(world: World, api: Client) -> None:
    response = api.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = set(response.json()["paths"])
    assert {
        "/api/v1/session",
        "/api/v1/me",
        "/api/v1/me/password",
        "/api/v1/activate",
        "/api/v1/c/{slug}/people",
        "/api/v1/c/{slug}/people/{person_id}",
        "/api/v1/c/{slug}/units/{unit_id}",
        "/api/v1/c/{slug}/register/import",
        "/api/v1/c/{slug}/register/changes",
    } <= paths
    assert [p for p in paths if not p.startswith("/api/v1/")] == []
    for html_route in ("/signin", "/", "/c/{slug}", "/c/{slug}/register", "/healthz", "/activate"):
        assert html_route not in paths


def test_an_import_upload_may_carry_other_form_fields(world: World, client: Client) -> None:
    client.sign_in("admin")
    data = "网格,楼栋\n1,9\n".encode()
    response = client.api(
        "POST",
        "/api/v1/c/z/register/import",
        files={"file": ("b.csv", data)},
        data={"note": "from the committee"},
    )
    assert response.status_code == 200, response.text
    missing = client.api(
        "POST", "/api/v1/c/z/register/import", files={"attachment": ("x.txt", b"x")}
    )
    assert missing.status_code == 400 and missing.json()["extra"]["field"] == "file"
