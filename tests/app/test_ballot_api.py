"""The voting API under /api/v1: my ballots, cast (the benchmark's contract), paper forms and
proxies; refusals as {"error", "message", "details"} with 400/403/404/409, nothing recorded."""

from __future__ import annotations

from typing import Any

from app.models import BallotProxy
from app.settings import Settings
from tests.app.conftest import Client, World, settle
from tests.app.test_ballot_vote_pages import (
    ELECTION,
    casts,
    count,
    make_grid_member,
    open_ballot,
    participation,
)


def api_user(client: Client, username: str) -> Client:
    client.cookies.set("yishi_lang", "en")
    client.sign_in(username)
    return client


def other(client: Client, username: str) -> Client:
    second = Client(app=client.app, base_url=str(client.base_url))
    second.blocking_portal = client.blocking_portal
    return api_user(second, username)


def cast(client: Client, number: int, body: dict[str, Any]) -> Any:
    return client.api("POST", f"/api/v1/c/z/ballots/{number}/cast", json=body)


def test_cast_contract_and_receipt(world: World, client: Client, settings: Settings) -> None:
    number = open_ballot(world)
    api_user(client, "resident")
    mine = client.get("/api/v1/c/z/ballots/mine")
    assert mine.status_code == 200
    [listed] = mine.json()["ballots"]
    assert listed["number"] == number and listed["accepting"] is True
    assert listed["electors"] == [{"code": "P006", "voted": False, "channel": None}]
    assert listed["proxies"] == []
    assert listed["vote"] == f"/c/z/ballots/{number}/vote"

    done = cast(client, number, {"answers": {"q1": "yes"}})
    assert done.status_code == 201, done.text
    body = done.json()
    assert set(body) == {"entry_id", "elector", "channel", "receipt"}
    assert (body["elector"], body["channel"]) == ("P006", "online")
    assert body["receipt"] == f"/c/z/ballots/{number}/receipt/{body['entry_id']}"
    assert client.get("/api/v1/c/z/ballots/mine").json()["ballots"][0]["electors"] == [
        {"code": "P006", "voted": True, "channel": "online"}
    ]
    settle(world, settings)
    receipt = client.get(body["receipt"])
    assert receipt.status_code == 200 and "/c/z/log/" in receipt.text
    # revoting "last": a second cast replaces the first
    assert cast(client, number, {"answers": {"q1": "no"}, "elector": "P006"}).status_code == 201
    assert len(casts(world)) == 2


def test_cast_refusals_as_json(world: World, client: Client) -> None:
    number = open_ballot(world, revoting="first", questions=[ELECTION])
    api_user(client, "resident")
    too_many = cast(client, number, {"answers": {"council": ["wang", "li", "zhang"]}})
    assert too_many.status_code == 400
    assert too_many.json() == {
        "error": "too_many_approvals",
        "message": "“Who should sit on the residents' council?”: you chose 3; choose at most 2.",
        "details": {"question": "council", "picks": 3, "max_picks": 2},
    }
    unknown = cast(client, number, {"answers": {"council": ["nobody"]}})
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_option"
    not_mine = cast(client, number, {"answers": {"council": ["wang"]}, "elector": "P001"})
    assert not_mine.status_code == 403 and not_mine.json()["error"] == "not_your_elector"
    no_proxy = cast(client, number, {"answers": {"council": ["wang"]}, "proxy_for": "P001"})
    assert no_proxy.status_code == 403 and no_proxy.json()["error"] == "not_your_proxy"
    malformed = cast(client, number, {"answers": ["wang"]})
    assert malformed.status_code == 400 and malformed.json()["error"] == "invalid_body"
    missing = cast(client, number + 1, {"answers": {"council": ["wang"]}})
    assert missing.status_code == 404 and missing.json()["error"] == "no_such_ballot"
    assert casts(world) == []

    assert cast(client, number, {"answers": {"council": ["wang"]}}).status_code == 201
    twice = cast(client, number, {"answers": {"council": ["li"]}})
    assert twice.status_code == 409
    assert twice.json()["error"] == "already_voted"
    assert twice.json()["details"] == {"elector": "P006"}
    assert "P006" in twice.json()["message"]
    assert [c["answers"] for c in casts(world)] == [{"council": ["wang"]}]


def test_cast_who_may(world: World, client: Client) -> None:
    from ballots.rules import civil_code_278

    number = open_ballot(world, electorate="owners", rule=civil_code_278("ordinary").to_dict())
    anonymous = client.api("POST", f"/api/v1/c/z/ballots/{number}/cast", json={"answers": {}})
    assert anonymous.status_code == 401
    api_user(client, "resident")  # a tenant, on no owners' roll
    refused = cast(client, number, {"answers": {"q1": "yes"}})
    assert refused.status_code == 403 and refused.json()["error"] == "not_on_roll"
    assert client.get("/api/v1/c/z/ballots/mine").json() == {"ballots": []}
    auditor = other(client, "auditor")  # no person in the register
    assert cast(auditor, number, {"answers": {"q1": "yes"}}).status_code == 403
    assert auditor.get("/api/v1/c/z/ballots/mine").status_code == 403
    owner = other(client, "owner")
    done = cast(owner, number, {"answers": {"q1": "yes"}})
    assert done.status_code == 201 and done.json()["elector"] == "1-1-101"
    assert (
        client.api("POST", "/api/v1/c/nowhere/ballots/1/cast", json={"answers": {}}).status_code
        == 404
    )


def test_proxy_by_api_then_principal_overrides(world: World, client: Client) -> None:
    number = open_ballot(world, proxy_limit=1)
    owner = api_user(client, "owner")
    url = f"/api/v1/c/z/ballots/{number}/proxies"
    given = owner.api("POST", url, json={"principal": None, "holder_phone": "13800000006"})
    assert given.status_code == 201 and set(given.json()) == {"entry_id"}
    again = owner.api("POST", url, json={"principal": "P001", "holder_phone": "13800000005"})
    assert again.status_code == 409 and again.json()["error"] == "proxy_exists"
    chair = other(client, "chair")
    over = chair.api("POST", url, json={"holder_phone": "13800000006"})
    assert over.status_code == 409
    assert over.json() == {
        "error": "proxy_limit",
        "message": "That person already holds 1 proxy, the most this ballot allows.",
        "details": {"limit": 1},
    }
    written = chair.api(
        "POST", url, json={"principal": "P007", "holder_phone": "13800000005", "serial": "F-1"}
    )
    assert written.status_code == 403 and written.json()["error"] == "not_grid_member"
    nobody = chair.api("POST", url, json={"holder_phone": "13900000000"})
    assert nobody.status_code == 400 and nobody.json()["error"] == "unknown_person"
    assert count(world, BallotProxy) == 1

    holder = other(client, "resident")
    [listed] = holder.get("/api/v1/c/z/ballots/mine").json()["ballots"]
    assert listed["proxies"] == [{"code": "P001", "voted": False, "channel": None}]
    by_proxy = cast(holder, number, {"answers": {"q1": "yes"}, "proxy_for": "P001"})
    assert by_proxy.status_code == 201
    assert (by_proxy.json()["elector"], by_proxy.json()["channel"]) == ("P001", "proxy")
    assert cast(owner, number, {"answers": {"q1": "no"}}).status_code == 201
    assert participation(world)["P001"] == ("online", False)
    late = cast(holder, number, {"answers": {"q1": "yes"}, "proxy_for": "P001"})
    assert late.status_code == 409 and late.json()["error"] == "voted_in_person"


def test_grid_member_written_proxy(world: World, client: Client) -> None:
    number = open_ballot(world)
    grid = api_user(client, "grid")
    url = f"/api/v1/c/z/ballots/{number}/proxies"
    done = grid.api(
        "POST", url, json={"principal": "P007", "holder_phone": "13800000005", "serial": "F-1"}
    )
    assert done.status_code == 201, done.text
    outside = grid.api(
        "POST", url, json={"principal": "P001", "holder_phone": "13800000005", "serial": "F-2"}
    )
    assert outside.status_code == 403 and outside.json()["error"] == "not_your_grid"
    make_grid_member(world, "grid", grid=1)  # now P001's grid too
    reused = grid.api(
        "POST", url, json={"principal": "P001", "holder_phone": "13800000003", "serial": "F-1"}
    )
    assert reused.status_code == 409 and reused.json()["error"] == "serial_used"
    assert reused.json()["message"] == "Form number F-1 has already been entered."
    assert count(world, BallotProxy) == 1


def test_paper_by_api(world: World, client: Client) -> None:
    number = open_ballot(world)
    url = f"/api/v1/c/z/ballots/{number}/paper"
    resident = api_user(client, "resident")
    body = {"elector": "P007", "serial": "A-1", "answers": {"q1": "yes"}}
    assert resident.api("POST", url, json=body).status_code == 403
    grid = other(client, "grid")
    done = grid.api("POST", url, json=body)
    assert done.status_code == 201
    assert done.json()["counted"] is True and isinstance(done.json()["entry_id"], int)
    reused = grid.api("POST", url, json=body)
    assert reused.status_code == 409 and reused.json()["error"] == "serial_used"
    assert reused.json()["details"] == {"serial": "A-1"}
    outside = grid.api("POST", url, json={**body, "elector": "P001", "serial": "A-2"})
    assert outside.status_code == 403 and outside.json()["error"] == "not_your_grid"
    bad = grid.api("POST", url, json={**body, "serial": "A 3!"})
    assert bad.status_code == 400 and bad.json()["error"] == "serial_invalid"
    assert [c["serial"] for c in casts(world)] == ["A-1"]


def test_paper_double_entry_by_api(world: World, client: Client) -> None:
    number = open_ballot(world, paper_double_entry=True)
    make_grid_member(world, "chair")
    url = f"/api/v1/c/z/ballots/{number}/paper"
    body = {"elector": "P007", "serial": "B-1", "answers": {"q1": "yes"}}
    grid = api_user(client, "grid")
    first = grid.api("POST", url, json=body)
    assert first.status_code == 201 and first.json() == {"counted": False, "entry_id": None}
    same = grid.api("POST", url, json=body)
    assert same.status_code == 409 and same.json()["error"] == "second_entry_same_person"
    chair = other(client, "chair")
    differs = chair.api("POST", url, json={**body, "answers": {"q1": "no"}})
    assert differs.status_code == 409 and differs.json()["error"] == "paper_mismatch"
    assert casts(world) == []
    agrees = chair.api("POST", url, json=body)
    assert agrees.status_code == 201 and agrees.json()["counted"] is True
    assert len(casts(world)) == 1


def test_schema_describes_the_voting_api(client: Client) -> None:
    schema = client.get("/schema/openapi.json").json()
    paths = schema["paths"]
    assert paths["/api/v1/c/{slug}/ballots/{number}/cast"]["post"]["summary"].startswith("Cast")
    for path in (
        "/api/v1/c/{slug}/ballots/mine",
        "/api/v1/c/{slug}/ballots/{number}/paper",
        "/api/v1/c/{slug}/ballots/{number}/proxies",
    ):
        assert path in paths
    assert not any(p.startswith("/c/") for p in paths)  # pages stay out of the schema


def test_a_grid_member_cannot_enter_a_written_proxy_to_themselves(
    world: World, client: Client
) -> None:
    number = open_ballot(world)
    make_grid_member(world, "grid", grid=1)
    grid = api_user(client, "grid")  # P007, phone 13800000007
    refused = grid.api(
        "POST",
        f"/api/v1/c/z/ballots/{number}/proxies",
        json={"principal": "P001", "holder_phone": "13800000007", "serial": "F-9"},
    )
    assert refused.json()["error"] == "proxy_to_self", refused.text
    assert count(world, BallotProxy) == 0


def test_out_of_range_numbers_and_absurd_answers_are_refused_cleanly(
    world: World, client: Client
) -> None:
    number = open_ballot(world)
    voter = api_user(client, "resident")
    huge = 10**20
    assert voter.get(f"/c/z/ballots/{huge}").status_code == 404
    assert voter.get(f"/c/z/ballots/{huge}/vote").status_code == 404
    assert voter.get(f"/c/z/ballots/{number}/receipt/{huge}").status_code == 404
    assert cast(voter, huge, {"answers": {"q1": "yes"}}).status_code == 404
    deep = "[" * 50_000 + "]" * 50_000
    confirm = voter.form(f"/c/z/ballots/{number}/cast", {"answers": deep})
    assert confirm.status_code == 400
    assert count(world, BallotProxy) == 0 and casts(world) == []


def test_the_api_never_takes_the_tie_breaking_seed_from_the_chair(client: Client) -> None:
    chair = api_user(client, "chair")
    definition = {"title": "t", "seed": "0" * 32}
    made = chair.api("POST", "/api/v1/c/z/ballots", json=definition)
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    shown = chair.api("GET", f"/api/v1/c/z/ballots/{number}").json()
    assert shown["definition"]["seed"] != "0" * 32
    revision = shown["revision"]
    chair.api(
        "PUT",
        f"/api/v1/c/z/ballots/{number}",
        json={"definition": {**shown["definition"], "seed": "1" * 32}, "revision": revision},
    )
    again = chair.api("GET", f"/api/v1/c/z/ballots/{number}").json()
    assert again["definition"]["seed"] == shown["definition"]["seed"]
