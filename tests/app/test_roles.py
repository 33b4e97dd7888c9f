"""Every route against every role: who may, who may not, and tenants kept apart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app import ballots
from app.factory import create_app, memory_stores
from app.models import (
    Account,
    AgendaItem,
    Amendment,
    Building,
    Comment,
    Community,
    ItemAttachment,
    ItemRevision,
    Meeting,
    Notification,
    Person,
    RoleGrant,
    Unit,
    utcnow,
)
from app.settings import Settings
from tests.app.conftest import Client, World

PUBLIC = "public"
SIGNED_IN = "signed_in"
READERS = {"admin", "chair", "auditor", "grid"}
EXPORTERS = {"admin", "chair", "auditor"}
AUDITED = {"admin", "auditor"}
ADMIN = {"admin"}
CHAIR = {"chair"}
GRID = {"grid"}
VOTERS = {"resident", "owner", "grid", "chair"}  # the accounts with a person in the register
MEMBERS = {"resident", "owner", "grid", "chair", "auditor", "admin"}
ROLES = ["anonymous", "resident", "owner", "grid", "chair", "auditor", "admin", "otheradmin"]

# (method, route path) -> who may call it in community "z".
EXPECTED: dict[tuple[str, str], Any] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/signin"): PUBLIC,
    ("POST", "/signin"): PUBLIC,
    ("POST", "/signout"): PUBLIC,
    ("GET", "/activate"): PUBLIC,
    ("POST", "/activate"): PUBLIC,
    ("POST", "/language"): PUBLIC,
    ("GET", "/account"): SIGNED_IN,
    ("POST", "/account/password"): SIGNED_IN,
    ("GET", "/c/{slug:str}"): PUBLIC,
    ("GET", "/c/{slug:str}/register"): READERS,
    ("GET", "/c/{slug:str}/register/people"): READERS,
    ("GET", "/c/{slug:str}/register/people/{person_id:int}"): READERS,
    ("POST", "/c/{slug:str}/register/people/{person_id:int}"): ADMIN,
    ("POST", "/c/{slug:str}/register/people/{person_id:int}/activation"): {"admin", "grid"},
    ("GET", "/c/{slug:str}/register/buildings/{building_id:int}"): READERS,
    ("GET", "/c/{slug:str}/register/units/{unit_id:int}"): READERS,
    ("POST", "/c/{slug:str}/register/units/{unit_id:int}"): ADMIN,
    ("GET", "/c/{slug:str}/register/import"): ADMIN,
    ("POST", "/c/{slug:str}/register/import"): ADMIN,
    ("GET", "/c/{slug:str}/register/export/households.csv"): EXPORTERS,
    ("GET", "/c/{slug:str}/register/export/buildings.csv"): EXPORTERS,
    ("GET", "/c/{slug:str}/register/changes"): AUDITED,
    ("GET", "/c/{slug:str}/roles"): ADMIN,
    ("POST", "/c/{slug:str}/roles"): ADMIN,
    ("POST", "/c/{slug:str}/roles/{grant_id:int}/revoke"): ADMIN,
    ("GET", "/c/{slug:str}/rules"): PUBLIC,
    ("POST", "/c/{slug:str}/rules"): ADMIN,
    ("GET", "/c/{slug:str}/log"): PUBLIC,
    ("GET", "/c/{slug:str}/log/{seq:int}"): PUBLIC,
    ("GET", "/c/{slug:str}/log/{seq:int}/receipt.tlog-proof"): PUBLIC,
    ("GET", "/c/{slug:str}/log/checkpoint"): PUBLIC,
    ("GET", "/c/{slug:str}/log/checkpoint.txt"): PUBLIC,
    ("GET", "/c/{slug:str}/log/log.vkey"): PUBLIC,
    ("GET", "/c/{slug:str}/log/receipt"): PUBLIC,
    ("POST", "/c/{slug:str}/log/receipt"): PUBLIC,
    ("GET", "/c/{slug:str}/log/export.zip"): AUDITED,
    ("POST", "/api/v1/session"): PUBLIC,
    ("DELETE", "/api/v1/session"): PUBLIC,
    ("POST", "/api/v1/activate"): PUBLIC,
    ("GET", "/api/v1/me"): SIGNED_IN,
    ("POST", "/api/v1/me/password"): SIGNED_IN,
    ("GET", "/api/v1/c/{slug:str}/grids"): READERS,
    ("GET", "/api/v1/c/{slug:str}/people"): READERS,
    ("GET", "/api/v1/c/{slug:str}/people/{person_id:int}"): READERS,
    ("PATCH", "/api/v1/c/{slug:str}/people/{person_id:int}"): ADMIN,
    ("GET", "/api/v1/c/{slug:str}/units/{unit_id:int}"): READERS,
    ("PATCH", "/api/v1/c/{slug:str}/units/{unit_id:int}"): ADMIN,
    ("POST", "/api/v1/c/{slug:str}/register/import"): ADMIN,
    ("GET", "/api/v1/c/{slug:str}/register/changes"): AUDITED,
    ("GET", "/api/v1/c/{slug:str}/register/export/households.csv"): EXPORTERS,
    # ballots: chairs define, open and close; people of the register vote; grid members enter
    # paper forms; anyone reads results once tallied
    ("GET", "/c/{slug:str}/ballots"): PUBLIC,
    ("GET", "/c/{slug:str}/ballots/new"): CHAIR,
    ("POST", "/c/{slug:str}/ballots"): CHAIR,
    ("GET", "/c/{slug:str}/ballots/mine"): VOTERS,
    ("GET", "/c/{slug:str}/ballots/{number:int}"): PUBLIC,
    ("GET", "/c/{slug:str}/ballots/{number:int}/edit"): CHAIR,
    ("POST", "/c/{slug:str}/ballots/{number:int}/edit"): CHAIR,
    ("POST", "/c/{slug:str}/ballots/{number:int}/open"): CHAIR,
    ("POST", "/c/{slug:str}/ballots/{number:int}/close"): CHAIR,
    ("GET", "/c/{slug:str}/ballots/{number:int}/results"): PUBLIC,
    ("GET", "/c/{slug:str}/ballots/{number:int}/ballots.csv"): PUBLIC,
    ("GET", "/c/{slug:str}/ballots/{number:int}/participation"): MEMBERS,
    ("GET", "/c/{slug:str}/ballots/{number:int}/vote"): VOTERS,
    ("POST", "/c/{slug:str}/ballots/{number:int}/vote"): VOTERS,
    ("POST", "/c/{slug:str}/ballots/{number:int}/cast"): VOTERS,
    ("GET", "/c/{slug:str}/ballots/{number:int}/receipt/{entry_id:int}"): VOTERS,
    ("GET", "/c/{slug:str}/ballots/{number:int}/proxy"): VOTERS,
    ("POST", "/c/{slug:str}/ballots/{number:int}/proxy"): VOTERS,
    ("GET", "/c/{slug:str}/ballots/{number:int}/paper"): GRID,
    ("POST", "/c/{slug:str}/ballots/{number:int}/paper"): GRID,
    ("GET", "/api/v1/c/{slug:str}/ballots"): PUBLIC,
    ("POST", "/api/v1/c/{slug:str}/ballots"): CHAIR,
    ("GET", "/api/v1/c/{slug:str}/ballots/mine"): VOTERS,
    ("GET", "/api/v1/c/{slug:str}/ballots/{number:int}"): PUBLIC,
    ("PUT", "/api/v1/c/{slug:str}/ballots/{number:int}"): CHAIR,
    ("POST", "/api/v1/c/{slug:str}/ballots/{number:int}/open"): CHAIR,
    ("POST", "/api/v1/c/{slug:str}/ballots/{number:int}/close"): CHAIR,
    ("GET", "/api/v1/c/{slug:str}/ballots/{number:int}/results"): PUBLIC,
    ("POST", "/api/v1/c/{slug:str}/ballots/{number:int}/cast"): VOTERS,
    ("POST", "/api/v1/c/{slug:str}/ballots/{number:int}/paper"): GRID,
    ("POST", "/api/v1/c/{slug:str}/ballots/{number:int}/proxies"): VOTERS,
    # deliberation: people of the register draft, co-sign, comment and amend; the chair moves
    # items on; grid members and chairs moderate; anyone reads what is published
    ("GET", "/c/{slug:str}/items"): PUBLIC,
    ("GET", "/c/{slug:str}/items.atom"): PUBLIC,
    ("GET", "/c/{slug:str}/items/new"): VOTERS,
    ("POST", "/c/{slug:str}/items/new"): VOTERS,
    ("GET", "/c/{slug:str}/items/{number:int}"): PUBLIC,
    ("GET", "/c/{slug:str}/items/{number:int}/edit"): VOTERS,
    ("POST", "/c/{slug:str}/items/{number:int}/edit"): VOTERS,
    ("GET", "/c/{slug:str}/items/{number:int}/attachments/{attachment_id:int}"): PUBLIC,
    ("POST", "/c/{slug:str}/items/{number:int}/attachments/{attachment_id:int}/delete"): VOTERS,
    ("POST", "/c/{slug:str}/items/{number:int}/publish"): VOTERS,
    ("POST", "/c/{slug:str}/items/{number:int}/cosign"): VOTERS,
    ("POST", "/c/{slug:str}/items/{number:int}/follow"): MEMBERS,
    ("POST", "/c/{slug:str}/items/{number:int}/accept"): CHAIR,
    ("POST", "/c/{slug:str}/items/{number:int}/decline"): CHAIR,
    ("POST", "/c/{slug:str}/items/{number:int}/open-consultation"): CHAIR,
    ("POST", "/c/{slug:str}/items/{number:int}/close-consultation"): CHAIR,
    ("POST", "/c/{slug:str}/items/{number:int}/prepare-ballot"): CHAIR,
    ("POST", "/c/{slug:str}/items/{number:int}/decide"): CHAIR,
    ("POST", "/c/{slug:str}/items/{number:int}/progress"): CHAIR,
    ("POST", "/c/{slug:str}/items/{number:int}/close"): CHAIR,
    ("GET", "/c/{slug:str}/items/{number:int}/card.png"): PUBLIC,
    ("GET", "/c/{slug:str}/items/{number:int}/consultation"): PUBLIC,
    ("POST", "/c/{slug:str}/items/{number:int}/comments"): VOTERS,
    ("GET", "/c/{slug:str}/items/{number:int}/summary"): CHAIR,
    ("POST", "/c/{slug:str}/items/{number:int}/summary"): CHAIR,
    ("GET", "/c/{slug:str}/comments/{comment_id:int}"): PUBLIC,
    ("GET", "/c/{slug:str}/comments/{comment_id:int}/history"): PUBLIC,
    # the comment is the grid member's own: only its author edits it
    ("GET", "/c/{slug:str}/comments/{comment_id:int}/edit"): GRID,
    ("POST", "/c/{slug:str}/comments/{comment_id:int}/edit"): GRID,
    ("POST", "/c/{slug:str}/comments/{comment_id:int}/react"): VOTERS,
    ("GET", "/c/{slug:str}/comments/{comment_id:int}/report"): VOTERS,
    ("POST", "/c/{slug:str}/comments/{comment_id:int}/report"): VOTERS,
    ("POST", "/c/{slug:str}/comments/{comment_id:int}/hide"): {"grid", "chair"},
    ("POST", "/c/{slug:str}/comments/{comment_id:int}/restore"): {"grid", "chair"},
    ("GET", "/c/{slug:str}/moderation"): {"grid", "chair", "auditor"},
    ("GET", "/c/{slug:str}/items/{number:int}/amendments"): PUBLIC,
    ("GET", "/c/{slug:str}/items/{number:int}/amendments/new"): VOTERS,
    ("POST", "/c/{slug:str}/items/{number:int}/amendments/new"): VOTERS,
    ("GET", "/c/{slug:str}/items/{number:int}/amendments/{amendment:int}"): PUBLIC,
    # the item's author (the resident) decides on amendments
    ("POST", "/c/{slug:str}/items/{number:int}/amendments/{amendment:int}/accept"): {"resident"},
    ("POST", "/c/{slug:str}/items/{number:int}/amendments/{amendment:int}/reject"): {"resident"},
    ("POST", "/c/{slug:str}/items/{number:int}/amendments/{amendment:int}/vote"): CHAIR,
    ("POST", "/c/{slug:str}/items/{number:int}/amendments/{amendment:int}/settle"): CHAIR,
    ("GET", "/c/{slug:str}/items/{number:int}/revisions"): PUBLIC,
    ("GET", "/c/{slug:str}/search"): PUBLIC,
    ("GET", "/c/{slug:str}/me"): VOTERS,
    ("GET", "/c/{slug:str}/meetings"): PUBLIC,
    ("GET", "/c/{slug:str}/meetings/new"): CHAIR,
    ("POST", "/c/{slug:str}/meetings/new"): CHAIR,
    ("GET", "/c/{slug:str}/meetings/{number:int}"): PUBLIC,
    ("POST", "/c/{slug:str}/meetings/{number:int}/minutes"): CHAIR,
    ("POST", "/c/{slug:str}/meetings/{number:int}/cancel"): CHAIR,
    ("GET", "/c/{slug:str}/meetings/{number:int}/card.png"): PUBLIC,
    ("GET", "/c/{slug:str}/ballots/{number:int}/card.png"): PUBLIC,
    ("GET", "/share/qr.svg"): PUBLIC,
    ("GET", "/share/poster"): PUBLIC,
    # one's own notices, in any community one can reach
    ("GET", "/c/{slug:str}/notifications"): SIGNED_IN,
    ("GET", "/c/{slug:str}/notifications/count"): SIGNED_IN,
    ("POST", "/c/{slug:str}/notifications/{notification_id:int}/read"): SIGNED_IN,
    ("POST", "/c/{slug:str}/notifications/read-all"): SIGNED_IN,
    ("GET", "/c/{slug:str}/notifications/settings"): SIGNED_IN,
    ("POST", "/c/{slug:str}/notifications/settings"): SIGNED_IN,
}
NOT_OURS = ("/schema", "/static")


def app_routes(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings, stores=memory_stores())
    return {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if method not in {"HEAD", "OPTIONS"} and not route.path.startswith(NOT_OURS)
    }


def test_every_route_has_an_expectation(settings: Settings) -> None:
    assert app_routes(settings) == set(EXPECTED)


def _ids(world: World) -> dict[str, int]:
    async def work(session: Any) -> dict[str, int]:
        building = (
            await session.execute(
                select(Building).where(
                    Building.community_id == world.ids["z"], Building.number == "3"
                )
            )
        ).scalar_one()
        unit = (
            await session.execute(
                select(Unit).where(Unit.building_id == building.id, Unit.number == "301")
            )
        ).scalar_one()
        grant = (
            await session.execute(
                select(RoleGrant).where(RoleGrant.account_id == world.ids["grid"])
            )
        ).scalar_one()
        community = await session.get(Community, world.ids["z"])
        chair = (
            await session.execute(select(Account).where(Account.username == "chair"))
        ).scalar_one()
        ballot = await ballots.create_ballot(session, community, chair, open_definition())
        await ballots.open_ballot(session, ballot, chair)
        voter = (await session.execute(select(Person).where(Person.ref == "P006"))).scalar_one()
        cast = await ballots.cast_online(session, ballot, voter, {"q1": "yes"})
        _item, attachment, comment, notice = await _deliberation(session, world)
        return {
            "building_id": building.id,
            "unit_id": unit.id,
            "grant_id": grant.id,
            "number": ballot.number,
            "entry_id": cast.entry_id,
            "attachment_id": attachment,
            "comment_id": comment,
            "notification_id": notice,
            "amendment": 1,
        }

    # P007 lives in grid 2, the grid member's; seq numbers each community's own log.
    return {**world.db.run(work), "person_id": world.ids["P007"], "seq": 0}


async def _deliberation(session: Any, world: World) -> tuple[int, int, int, int]:
    """Item 1 in an open consultation (the resident's, with an attachment and the owner's
    amendment 1), a comment on it by the grid member (who lives in grid 2), meeting 1, and a
    notice for the resident."""
    now = utcnow()
    item = AgendaItem(
        community_id=world.ids["z"],
        number=1,
        title="测试议题",
        body="正文",
        body_html="<p>正文</p>",
        category="parking",
        author_id=world.ids["resident"],
        status="consultation",
        cosign_threshold=2,
        published_at=now,
        consultation_opens_at=now - timedelta(hours=1),
        consultation_closes_at=now + timedelta(days=3),
    )
    session.add(item)
    await session.flush()
    session.add(
        ItemRevision(
            community_id=item.community_id,
            item_id=item.id,
            revision=1,
            title=item.title,
            body=item.body,
            created_by=item.author_id,
        )
    )
    attachment = ItemAttachment(
        community_id=item.community_id,
        item_id=item.id,
        filename="a.pdf",
        media_type="application/pdf",
        size=14,
        sha256="0" * 64,
        data=b"%PDF-1.4\n%%EOF",
        uploaded_by=item.author_id,
    )
    comment = Comment(
        community_id=item.community_id,
        item_id=item.id,
        author_id=world.ids["grid"],
        body="评论",
        body_html="<p>评论</p>",
    )
    amendment = Amendment(
        community_id=item.community_id,
        item_id=item.id,
        number=1,
        author_id=world.ids["owner"],
        base_revision=1,
        body="改过的正文",
    )
    session.add_all([attachment, comment, amendment])
    await session.flush()
    comment.path = f"{comment.id:010d}"
    session.add(
        Meeting(
            community_id=item.community_id,
            number=1,
            title="居民会议",
            place="活动室",
            starts_at=now + timedelta(days=2),
            convened_by=world.ids["chair"],
        )
    )
    notice = Notification(
        community_id=item.community_id,
        account_id=world.ids["resident"],
        kind="item_status",
        params={"item": 1, "title": item.title, "status": "consultation"},
        link="/c/z/items/1",
    )
    session.add(notice)
    await session.commit()
    return item.id or 0, attachment.id or 0, comment.id or 0, notice.id or 0


def open_definition() -> dict[str, Any]:
    """An open consultation on ballot 1, so the ballot routes answer about access, not absence."""
    data = ballots.blank_definition()
    now = utcnow()
    data.update(
        title="测试表决",
        opens_at=(now - timedelta(minutes=1)).isoformat(),
        closes_at=(now + timedelta(days=1)).isoformat(),
    )
    data["questions"][0]["text"] = "是否同意?"
    return data


def _concrete(path: str, ids: dict[str, int], slug: str = "z") -> str:
    path = path.replace("{slug:str}", slug)
    for key, value in ids.items():
        path = path.replace("{" + key + ":int}", str(value))
    return path


# Well-formed bodies, so that the answer is about access and not about the body.
API_BODIES = {
    "/cast": {"answers": {"q1": "abstain"}},
    "/proxies": {"principal": None, "holder_phone": "13800000005"},
    "/paper": {"elector": "P007", "serial": "R-0001", "answers": {"q1": "yes"}},
    "/people/": {"name": "王秀英"},
    "/units/": {"floor_area": "45.00"},
    "/session": {"identifier": "nobody", "password": "wrong password"},
    "/activate": {"code": "AAAA-AAAA", "password": "x", "confirm": "x"},
    "/me/password": {"current": "x", "password": "y", "confirm": "y"},
}
# These end the session, so they run after every other route.
SESSION_ENDING = {("POST", "/signout"), ("DELETE", "/api/v1/session")}


def _call(client: Client, method: str, url: str) -> Any:
    if url.startswith("/api/"):
        if url.endswith("/register/import"):
            return client.api(method, url, files={"file": ("empty.csv", b"")})
        body = next((b for key, b in API_BODIES.items() if key in url), None)
        return client.api(
            method, url, json=body if method in {"POST", "PATCH"} else None, follow_redirects=False
        )
    if method == "GET":
        return client.get(url, follow_redirects=False)
    return client.form(url, {})


def _allowed(rule: Any, role: str) -> bool:
    if rule == PUBLIC:
        return True
    if rule == SIGNED_IN:
        return role != "anonymous"
    return role in rule


@pytest.mark.parametrize("role", ROLES)
def test_route_access_by_role(role: str, world: World, settings: Settings) -> None:
    ids = _ids(world)
    app = create_app(settings, stores=memory_stores())
    failures = []
    routes = sorted(EXPECTED.items(), key=lambda item: (item[0] in SESSION_ENDING, item[0]))
    with Client(app=app, base_url="http://testserver.local") as client:
        if role != "anonymous":
            client.sign_in(role)
        for (method, path), rule in routes:
            response = _call(client, method, _concrete(path, ids))
            failures.extend(_check(role, rule, method, path, response))
    assert not failures, f"{role}:\n" + "\n".join(failures)


def _check(role: str, rule: Any, method: str, path: str, response: Any) -> list[str]:
    failures = []
    denied = response.status_code in {401, 403} or response.headers.get("location", "").startswith(
        "/signin"
    )
    if _allowed(rule, role) == denied:
        failures.append(
            f"{method} {path}: {response.status_code} {response.headers.get('location', '')}"
        )
    if denied and role != "anonymous" and response.status_code != 403:
        failures.append(
            f"{method} {path}: a signed-in {role} should get 403, got {response.status_code}"
        )
    if denied and role == "anonymous" and path.startswith("/api/") and response.status_code != 401:
        failures.append(
            f"{method} {path}: anonymous API call should get 401, got {response.status_code}"
        )
    return failures


def test_admin_of_another_community_cannot_reach_into_z(world: World, settings: Settings) -> None:
    """Ids of community z used under community "other", by other's own admin: always 404 (or
    403 where an admin may not go at all, such as entering paper ballots)."""
    ids = _ids(world)
    app = create_app(settings, stores=memory_stores())
    failures = []
    with Client(app=app, base_url="http://testserver.local") as client:
        client.sign_in("otheradmin")
        for (method, path), rule in sorted(EXPECTED.items()):
            if "{slug:str}" in path and ":int}" in path and "{seq:int}" not in path:
                response = _call(client, method, _concrete(path, ids, slug="other"))
                answers = {404} if _allowed(rule, "admin") else {403, 404}
                if response.status_code not in answers:
                    failures.append(f"{method} {path}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_ids_beyond_the_database_are_404_not_500(world: World, settings: Settings) -> None:
    app = create_app(settings, stores=memory_stores())
    huge = {key: 10**20 for key in _ids(world)}
    failures = []
    with Client(app=app, base_url="http://testserver.local") as client:
        client.sign_in("admin")
        for (method, path), _rule in sorted(EXPECTED.items()):
            if method == "GET" and ":int}" in path:
                response = _call(client, method, _concrete(path, huge))
                if response.status_code not in {403, 404}:
                    failures.append(f"{path}: {response.status_code}")
    assert not failures, failures


def test_unknown_community_is_404(client: Client) -> None:
    assert client.get("/c/nowhere").status_code == 404
    client.sign_in("admin")
    assert client.get("/c/nowhere/register").status_code == 404
    assert client.api("GET", "/api/v1/c/nowhere/people").status_code == 404


def test_state_changing_handlers_refuse_get(client: Client) -> None:
    client.sign_in("admin")
    for path in ("/signout", "/language", "/account/password", "/c/z/roles/1/revoke"):
        assert client.get(path, follow_redirects=False).status_code == 405, path
