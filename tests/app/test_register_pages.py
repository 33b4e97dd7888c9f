"""Register pages: overview, search (with htmx fragments), person, building and unit pages, edits
recorded with their author, roles, and the history of changes. Read in English."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from app.models import Building, Community, Person, RegisterChange, RoleGrant, Unit
from tests.app.conftest import PASSWORD, Client, World

# ---------------------------------------------------------------- helpers


@pytest.fixture
def en(client: Client) -> Client:
    client.cookies.set("yishi_lang", "en")
    return client


@pytest.fixture
def admin(en: Client) -> Client:
    en.sign_in("admin")
    return en


def text(response: Any) -> str:
    return html.unescape(response.text)


def field_error(response: Any, name: str) -> str | None:
    match = re.search(rf'id="f-{name}-error">(.*?)</p>', response.text, re.S)
    return html.unescape(match.group(1)) if match else None


def summary(response: Any) -> str | None:
    match = re.search(
        r'class="error-summary"[^>]*>\s*<p>(?:<a href="#f-\w+">)?(.*?)(?:</a>)?</p>',
        response.text,
        re.S,
    )
    return html.unescape(match.group(1)) if match else None


def rows(world: World, model: Any, *where: Any) -> list[Any]:
    async def work(session: Any) -> list[Any]:
        query = select(model).where(*where).order_by(model.id)
        return list((await session.execute(query)).scalars())

    return world.db.run(work)


def z_changes(world: World) -> list[RegisterChange]:
    return rows(world, RegisterChange, RegisterChange.community_id == world.ids["z"])


def person(world: World, ref: str) -> Person:
    [found] = rows(world, Person, Person.ref == ref)
    return found


def building_id(world: World, slug: str, number: str) -> int:
    [found] = rows(
        world,
        Building,
        Building.number == number,
        Building.community_id == world.ids[slug],
    )
    return found.id  # type: ignore[no-any-return]


def unit(world: World, building: str, number: str, slug: str = "z") -> Unit:
    [found] = rows(
        world,
        Unit,
        Unit.building_id == building_id(world, slug, building),
        Unit.number == number,
    )
    return found  # type: ignore[no-any-return]


# ---------------------------------------------------------------- browsing


def test_overview_counts_and_grids(world: World, admin: Client) -> None:
    page = text(admin.get("/c/z/register"))
    assert "<h1>Register</h1>" in page
    assert "5 households, 7 people, 387.2 m² of exclusive floor area." in page
    assert "第一网格" in page and "第二网格" in page
    assert f'href="/c/z/register/buildings/{building_id(world, "z", "1")}">Building 1</a>' in page
    assert "2 households" in page  # building 1
    for link in (
        "/c/z/register/import",
        "/c/z/register/export/households.csv",
        "/c/z/register/changes",
    ):
        assert f'href="{link}"' in page


def test_a_grid_member_sees_only_their_grid(world: World, en: Client) -> None:
    en.sign_in("grid")
    page = text(en.get("/c/z/register"))
    assert "第二网格" in page and "第一网格" not in page
    assert "Building 3" in page and "Building 1<" not in page
    assert "/c/z/register/import" not in page
    assert en.get(f"/c/z/register/buildings/{building_id(world, 'z', '1')}").status_code == 404
    assert en.get(f"/c/z/register/buildings/{building_id(world, 'z', '3')}").status_code == 200
    assert en.get(f"/c/z/register/units/{unit(world, '1', '101').id}").status_code == 404
    assert en.get(f"/c/z/register/people/{world.ids['P001']}").status_code == 404
    people = text(en.get("/c/z/register/people"))
    assert "孙丽" in people and "王秀英" not in people


def test_people_search_full_page_and_htmx_fragment(world: World, admin: Client) -> None:
    full = admin.get("/c/z/register/people", params={"q": "秀"})
    assert full.status_code == 200
    assert "<html" in full.text
    assert 'value="秀"' in full.text
    assert "1 person found" in full.text
    assert "王秀英" in full.text and "张伟" not in full.text

    fragment = admin.get("/c/z/register/people", params={"q": "秀"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "<form" not in fragment.text
    assert "1 person found" in fragment.text
    assert f'href="/c/z/register/people/{world.ids["P001"]}"' in fragment.text
    assert "Building 1, entrance 1, unit 101 (owner)" in text(fragment)

    none = admin.get("/c/z/register/people", params={"q": "不存在"}, headers={"HX-Request": "true"})
    assert "0 people found" in none.text
    everyone = admin.get("/c/z/register/people", headers={"HX-Request": "true"})
    assert "7 people found" in everyone.text
    assert "周杰" not in everyone.text  # the other community's resident


def test_person_page(world: World, admin: Client) -> None:
    page = text(admin.get(f"/c/z/register/people/{world.ids['P001']}"))
    assert "<h1>王秀英</h1>" in page
    for fact in ("P001", "13800000001", "1948", "activated"):
        assert f"<dd>{fact}</dd>" in page
    assert "Building 1, entrance 1, unit 101" in page
    assert "owner · household representative" in page
    assert "86.45 m² · since 2001-05-01" in page
    assert f'action="/c/z/register/people/{world.ids["P001"]}"' in page  # the edit form
    assert "Issue a new activation code" in page
    unactivated = text(admin.get(f"/c/z/register/people/{world.ids['P002']}"))
    assert "<dd>not activated yet</dd>" in unactivated and "<dd>none</dd>" in unactivated


def test_readers_who_are_not_admins_get_no_edit_form(world: World, en: Client) -> None:
    en.sign_in("auditor")
    page = en.get(f"/c/z/register/people/{world.ids['P001']}").text
    assert "<h1>王秀英</h1>" in page
    assert f'action="/c/z/register/people/{world.ids["P001"]}"' not in page
    assert "/activation" not in page


def test_building_page(world: World, admin: Client) -> None:
    page = text(admin.get(f"/c/z/register/buildings/{building_id(world, 'z', '1')}"))
    assert "<h1>Building 1</h1>" in page
    assert "第一网格" in page
    assert "86.45 m²" in page and "60.00 m²" in page
    assert '王秀英</a> <span class="muted">(owner)</span>' in page
    assert "张伟" in page and "刘芳" in page
    vacant = text(admin.get(f"/c/z/register/buildings/{building_id(world, 'z', '3')}"))
    assert "vacant" in vacant
    other = building_id(world, "other", "A")
    assert admin.get(f"/c/z/register/buildings/{other}").status_code == 404


def test_unit_page(world: World, admin: Client) -> None:
    page = text(admin.get(f"/c/z/register/units/{unit(world, '1', '101').id}"))
    assert "<h1>Building 1, entrance 1, unit 101</h1>" in page
    assert "<dd>86.45 m²</dd>" in page
    assert "王秀英</a> <span>owner · household representative</span>" in page
    assert "李建国</a> <span>family member</span>" in page
    assert 'name="floor_area" type="text" value="86.45"' in page
    other = unit(world, "A", "101", slug="other")
    assert admin.get(f"/c/z/register/units/{other.id}").status_code == 404


# ---------------------------------------------------------------- editing a person


PERSON_ERRORS = [
    (
        {"name": "", "phone": "13800000001", "birth_year": "1948"},
        "name",
        "The name must have 1 to 60 characters.",
    ),
    (
        {"name": "王秀英", "phone": "12345", "birth_year": "1948"},
        "phone",
        "“12345” is not an 11-digit mobile number.",
    ),
    (
        {"name": "王秀英", "phone": "13800000003", "birth_year": "1948"},
        "phone",
        "Phone 13800000003 already belongs to 张伟 (P003) in the register.",
    ),
    (
        {"name": "王秀英", "phone": "13800000001", "birth_year": "1800"},
        "birth_year",
        "“1800” is not a year of birth.",
    ),
    (
        {"name": "王秀英", "phone": "13800000001", "birth_year": "去年"},
        "birth_year",
        "“去年” is not a year of birth.",
    ),
]


@pytest.mark.parametrize(("form", "field", "message"), PERSON_ERRORS)
def test_edit_person_refusals_re_render_with_the_message(
    world: World, admin: Client, form: dict[str, str], field: str, message: str
) -> None:
    before = len(z_changes(world))
    response = admin.form(f"/c/z/register/people/{world.ids['P001']}", form)
    assert response.status_code == 400
    assert field_error(response, field) == message
    assert summary(response) == message
    assert f'name="{field}"' in response.text and 'aria-invalid="true"' in response.text
    typed = html.escape(form[field], quote=True)
    assert (
        f'id="f-{field}" name="{field}" type="{"tel" if field == "phone" else "text"}" value="{typed}"'
        in response.text
    )
    p = person(world, "P001")
    assert (p.name, p.phone, p.birth_year) == ("王秀英", "13800000001", 1948)
    assert len(z_changes(world)) == before


def test_edit_person_saves_and_records_the_actor(world: World, admin: Client) -> None:
    person_id = world.ids["P007"]
    before = len(z_changes(world))
    response = admin.form(
        f"/c/z/register/people/{person_id}",
        {"name": "孙莉", "phone": "13800000007", "birth_year": "1961"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/c/z/register/people/{person_id}?done=saved"
    page = text(admin.get(response.headers["location"]))
    assert "Saved." in page and "<h1>孙莉</h1>" in page
    [change] = z_changes(world)[before:]
    assert (change.entity, change.entity_id, change.action, change.actor_id) == (
        "person",
        person_id,
        "update",
        world.ids["admin"],
    )
    assert change.changes == {"name": ["孙丽", "孙莉"], "birth_year": [1960, 1961]}

    same = admin.form(
        f"/c/z/register/people/{person_id}",
        {"name": "孙莉", "phone": "13800000007", "birth_year": "1961"},
    )
    assert same.headers["location"] == f"/c/z/register/people/{person_id}?done=unchanged"
    assert len(z_changes(world)) == before + 1


@pytest.mark.parametrize("username", ["chair", "auditor", "grid"])
def test_only_an_admin_may_edit(world: World, en: Client, username: str) -> None:
    en.sign_in(username)
    person_id = world.ids["P007"]
    response = en.form(
        f"/c/z/register/people/{person_id}", {"name": "改名", "phone": "", "birth_year": ""}
    )
    assert response.status_code == 403
    response = en.form(f"/c/z/register/units/{unit(world, '3', '301').id}", {"floor_area": "1"})
    assert response.status_code == 403
    assert person(world, "P007").name == "孙丽"
    assert unit(world, "3", "301").floor_area == 45


# ---------------------------------------------------------------- editing a unit


@pytest.mark.parametrize("area", ["-1", "0", "八十", "86.455", ""])
def test_edit_unit_refuses_a_bad_area(world: World, admin: Client, area: str) -> None:
    unit_id = unit(world, "1", "101").id
    response = admin.form(f"/c/z/register/units/{unit_id}", {"floor_area": area})
    assert response.status_code == 400
    message = (
        f"The floor area must be a positive number of m² with at most two decimals, not “{area}”."
    )
    assert field_error(response, "floor_area") == message
    assert f'value="{area}"' in response.text  # what was typed, to correct it
    assert str(unit(world, "1", "101").floor_area) == "86.45"


def test_edit_unit_saves_and_records_the_actor(world: World, admin: Client) -> None:
    unit_id = unit(world, "1", "101").id
    before = len(z_changes(world))
    response = admin.form(f"/c/z/register/units/{unit_id}", {"floor_area": " 90.5 "})
    assert response.status_code == 303
    assert response.headers["location"] == f"/c/z/register/units/{unit_id}?done=saved"
    assert str(unit(world, "1", "101").floor_area) == "90.50"
    [change] = z_changes(world)[before:]
    assert (change.entity, change.entity_id, change.action, change.actor_id) == (
        "unit",
        unit_id,
        "update",
        world.ids["admin"],
    )
    assert change.changes == {"floor_area": ["86.45", "90.5"]}
    assert "<dd>90.50 m²</dd>" in text(admin.get(response.headers["location"]))
    again = admin.form(f"/c/z/register/units/{unit_id}", {"floor_area": "90.50"})
    assert again.headers["location"].endswith("?done=unchanged")
    assert len(z_changes(world)) == before + 1


# ---------------------------------------------------------------- roles


def grants(world: World, username: str) -> list[RoleGrant]:
    return rows(world, RoleGrant, RoleGrant.account_id == world.ids[username])


def test_roles_page_lists_the_grants(world: World, admin: Client) -> None:
    page = text(admin.get("/c/z/roles"))
    for who in (
        '张伟 <span class="muted">(chair)</span>',
        "auditor",
        '孙丽 <span class="muted">(grid)</span>',
    ):
        assert who in page
    assert "第二网格" in page
    assert "周杰" not in page  # the other community's admin


def test_grant_a_role_by_username_or_phone(world: World, admin: Client) -> None:
    response = admin.form("/c/z/roles", {"account": "RESIDENT", "role": "chair", "grid": ""})
    assert response.status_code == 303
    assert response.headers["location"] == "/c/z/roles?done=granted"
    [grant] = grants(world, "resident")
    assert (grant.role, grant.grid_id, grant.granted_by) == ("chair", None, world.ids["admin"])
    change = z_changes(world)[-1]
    assert (change.entity, change.action, change.actor_id) == ("role", "grant", world.ids["admin"])
    assert change.changes == {
        "account": [None, "赵磊"],
        "role": [None, "chair"],
        "grid": [None, None],
    }

    assert (
        admin.form(
            "/c/z/roles", {"account": "138 0000 0001", "role": "auditor", "grid": ""}
        ).status_code
        == 303
    )
    assert [g.role for g in grants(world, "owner")] == ["auditor"]


def test_a_new_grid_member_sees_their_grid(world: World, admin: Client) -> None:
    assert admin.get("/c/z/register/people", follow_redirects=False).status_code == 200
    response = admin.form("/c/z/roles", {"account": "owner", "role": "grid_member", "grid": "1"})
    assert response.status_code == 303
    [grant] = grants(world, "owner")
    assert grant.grid_id is not None
    admin.form("/signout")
    admin.sign_in("owner")
    page = text(admin.get("/c/z/register"))
    assert "第一网格" in page and "第二网格" not in page


ROLE_ERRORS = [
    (
        {"account": "nobody", "role": "chair", "grid": ""},
        "account",
        "No account has this phone number or username.",
    ),
    ({"account": "resident", "role": "wizard", "grid": ""}, "role", "Choose a role."),
    (
        {"account": "resident", "role": "resident", "grid": ""},
        "role",
        "Choose a role.",
    ),  # derived, not granted
    (
        {"account": "resident", "role": "grid_member", "grid": ""},
        "grid",
        "A grid member needs a grid of this community.",
    ),
    (
        {"account": "resident", "role": "grid_member", "grid": "9"},
        "grid",
        "A grid member needs a grid of this community.",
    ),
    (
        {"account": "chair", "role": "chair", "grid": ""},
        "role",
        "This account already has this role.",
    ),
    (
        {"account": "grid", "role": "grid_member", "grid": "2"},
        "role",
        "This account already has this role.",
    ),
]


@pytest.mark.parametrize(("form", "field", "message"), ROLE_ERRORS)
def test_grant_refusals(
    world: World, admin: Client, form: dict[str, str], field: str, message: str
) -> None:
    before = rows(world, RoleGrant)
    response = admin.form("/c/z/roles", form)
    assert response.status_code == 400
    assert summary(response) == message
    assert f'class="field has-error">\n    <label for="f-{field}">' in response.text
    assert rows(world, RoleGrant) == before


def test_a_grid_member_may_hold_a_second_grid(world: World, admin: Client) -> None:
    assert (
        admin.form(
            "/c/z/roles", {"account": "grid", "role": "grid_member", "grid": "1"}
        ).status_code
        == 303
    )
    assert len(grants(world, "grid")) == 2


def test_revoke_a_role(world: World, admin: Client) -> None:
    [grant] = grants(world, "chair")
    response = admin.form(f"/c/z/roles/{grant.id}/revoke")
    assert response.status_code == 303
    assert response.headers["location"] == "/c/z/roles?done=revoked"
    assert grants(world, "chair") == []
    change = z_changes(world)[-1]
    assert (change.entity, change.entity_id, change.action, change.actor_id) == (
        "role",
        grant.id,
        "revoke",
        world.ids["admin"],
    )
    admin.form("/signout")
    admin.sign_in("chair")
    assert admin.get("/c/z/register").status_code == 403


def test_an_admin_cannot_remove_their_own_admin_role(world: World, admin: Client) -> None:
    [grant] = grants(world, "admin")
    response = admin.form(f"/c/z/roles/{grant.id}/revoke")
    assert response.status_code == 400
    assert summary(response) == "You cannot remove your own admin role."
    assert grants(world, "admin") == [grant]


def test_a_grant_of_another_community_cannot_be_revoked_here(world: World, admin: Client) -> None:
    [grant] = grants(world, "otheradmin")
    assert admin.form(f"/c/z/roles/{grant.id}/revoke").status_code == 404
    assert grants(world, "otheradmin") == [grant]


@pytest.mark.parametrize("username", ["chair", "auditor", "grid", "otheradmin"])
def test_only_an_admin_manages_roles(world: World, en: Client, username: str) -> None:
    en.sign_in(username)
    assert en.get("/c/z/roles").status_code == 403
    before = rows(world, RoleGrant)
    assert (
        en.form("/c/z/roles", {"account": "resident", "role": "admin", "grid": ""}).status_code
        == 403
    )
    [grant] = grants(world, "chair")
    assert en.form(f"/c/z/roles/{grant.id}/revoke").status_code == 403
    assert rows(world, RoleGrant) == before


# ---------------------------------------------------------------- history


def test_changes_page_shows_who_changed_what(world: World, admin: Client) -> None:
    admin.form(
        f"/c/z/register/people/{world.ids['P007']}",
        {"name": "孙莉", "phone": "13800000007", "birth_year": "1960"},
    )
    page = text(admin.get("/c/z/register/changes"))
    [row] = [r for r in re.findall(r"<tr>(.*?)</tr>", page, re.S) if "孙莉" in r]
    assert "<td>admin</td>" in row
    assert f"#{world.ids['P007']}" in row
    assert "孙丽 → 孙莉" in row
    assert "<td>system</td>" in page  # the seeded import had no actor
    assert "Q001" not in page and "周杰" not in page  # another community's history

    auditor_view = admin
    auditor_view.form("/signout")
    auditor_view.sign_in("auditor")
    assert "孙丽 → 孙莉" in text(auditor_view.get("/c/z/register/changes"))
    auditor_view.form("/signout")
    auditor_view.sign_in("chair")
    assert auditor_view.get("/c/z/register/changes").status_code == 403


def test_import_through_the_page_is_in_the_history_with_its_actor(
    world: World, admin: Client
) -> None:
    data = (
        "楼栋,单元,户号,面积,居民编号,姓名,手机号,关系\n3,2,302,75.25,P008,钱芳,13800000008,业主\n"
    )
    response = admin.post(
        "/c/z/register/import",
        files={"file": ("h.csv", data.encode(), "text/csv")},
        data={"_csrf_token": admin.csrf()},
    )
    assert response.status_code == 200
    page = text(admin.get("/c/z/register/changes"))
    [row] = [r for r in re.findall(r"<tr>(.*?)</tr>", page, re.S) if "钱芳" in r]
    assert "<td>admin</td>" in row


def test_community_scoping_of_the_history(world: World, en: Client) -> None:
    en.sign_in("otheradmin")
    page = text(en.get("/c/other/register/changes"))
    assert "周杰" in page and "王秀英" not in page
    assert en.get("/c/z/register/changes").status_code == 403
    assert rows(world, Community, Community.slug == "other")


def test_a_phone_corrected_in_the_register_is_the_phone_to_sign_in_with(
    world: World, client: Client
) -> None:
    client.sign_in("admin")
    owner = world.ids["P001"]  # 王秀英, whose account signs in with 13800000001
    response = client.form(
        f"/c/z/register/people/{owner}",
        {"name": "王秀英", "phone": "13911112222", "birth_year": "1948"},
    )
    assert response.status_code == 303
    client.form("/signout")
    assert (
        client.form(
            "/signin", {"identifier": "13911112222", "password": PASSWORD, "next": "/"}
        ).status_code
        == 303
    )


def test_a_grid_renamed_in_a_buildings_file_is_renamed(world: World, client: Client) -> None:
    client.sign_in("admin")
    renamed = "网格,网格名称,楼栋\n1,东区网格,1\n1,,2\n2,第二网格,3\n".encode()
    response = client.post(
        "/c/z/register/import",
        files={"file": ("b.csv", renamed)},
        headers={"x-csrftoken": client.csrf()},
    )
    assert response.status_code == 200
    assert "东区网格" in client.get("/c/z/register").text
    clash = "网格,网格名称,楼栋\n1,东区,1\n1,西区,2\n".encode()
    refused = client.post(
        "/c/z/register/import",
        files={"file": ("b.csv", clash)},
        headers={"x-csrftoken": client.csrf()},
    )
    assert refused.status_code == 400
