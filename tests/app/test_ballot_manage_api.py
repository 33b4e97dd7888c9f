"""The ballot API for chairs and auditors: create, edit, check, open, close, results."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from app import ballots as actions
from app.models import Ballot, BallotStatus, Person, utcnow
from app.settings import Settings
from ballots.rules import civil_code_278
from tests.app.conftest import Client, World, settle

API = "/api/v1/c/z/ballots"


def definition(**changes: Any) -> dict[str, Any]:
    data = actions.blank_definition()
    now = utcnow()
    data.update(
        title="更换小区大门",
        opens_at=(now - timedelta(minutes=5)).isoformat(),
        closes_at=(now + timedelta(days=1)).isoformat(),
    )
    data["questions"][0]["text"] = "是否同意?"
    data.update(changes)
    return data


def test_chair_creates_edits_opens_closes_and_reads_results(
    world: World, client: Client, settings: Settings
) -> None:
    client.sign_in("chair")
    client.cookies.set("yishi_lang", "en")
    # a shape error is refused with every problem named
    bad = client.api("POST", API, json={**definition(), "questions": [{"id": "q1"}]})
    assert bad.status_code == 400
    fields = {p["field"] for p in bad.json()["extra"]["problems"]}
    assert "questions[0].text" in fields

    created = client.api(
        "POST",
        API,
        json=definition(
            electorate="adults", early_close=True, rule=civil_code_278("major").to_dict()
        ),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["number"] == 1 and body["status"] == "draft" and body["revision"] == 1
    codes = {p["code"] for p in body["problems"]}
    assert {"rule_needs_owners", "early_close_not_allowed"} <= codes
    assert all(p["message"] for p in body["problems"])

    refused = client.api("POST", f"{API}/1/open")
    assert refused.status_code == 409
    assert refused.json()["extra"]["problems"]

    stale = client.api("PUT", f"{API}/1", json={"definition": definition(), "revision": 7})
    assert stale.status_code == 409
    assert stale.json()["extra"]["code"] == "stale_revision"
    unseeded = definition(early_close=True)
    del unseeded["seed"]
    edited = client.api("PUT", f"{API}/1", json={"definition": unseeded, "revision": 1})
    assert edited.status_code == 200, edited.text
    assert edited.json()["revision"] == 2
    assert edited.json()["problems"] == []
    # the seed is kept when an edit leaves it out
    assert edited.json()["definition"]["seed"] == body["definition"]["seed"]

    opened = client.api("POST", f"{API}/1/open")
    assert opened.status_code == 200, opened.text
    assert opened.json()["status"] == "open" and opened.json()["roll_size"] == 7
    frozen = client.api("PUT", f"{API}/1", json={"definition": definition(), "revision": 2})
    assert frozen.status_code == 409
    assert frozen.json()["extra"]["code"] == "frozen"
    assert client.api("GET", f"{API}/1/results").status_code == 404

    async def vote(session: Any) -> None:
        ballot = await actions.get_ballot(session, world.ids["z"], 1)
        for ref, answer in (("P001", "yes"), ("P006", "no"), ("P007", "yes")):
            voter = (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()
            await actions.cast_online(session, ballot, voter, {"q1": answer})

    world.db.run(vote)
    closed = client.api("POST", f"{API}/1/close")
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    world.db.run(actions.run_due)
    settle(world, settings)

    results = client.api("GET", f"{API}/1/results")
    assert results.status_code == 200
    data = results.json()
    assert data["final"] is False and data["objection_until"]
    question = data["tally"]["questions"][0]
    assert question["counts"] == {"yes": "2", "no": "1", "abstain": "0"}
    assert data["decisions"]["q1"]["outcome"] == "passed"
    assert any("Yes votes: 2" in w for w in data["decisions"]["q1"]["words"])
    listing = client.api("GET", API).json()
    assert [b["status"] for b in listing] == ["tallied"]


def test_early_close_refused_where_not_allowed(world: World, client: Client) -> None:
    client.sign_in("chair")
    assert client.api("POST", API, json=definition()).status_code == 201
    assert client.api("POST", f"{API}/1/open").status_code == 200
    refused = client.api("POST", f"{API}/1/close")
    assert refused.status_code == 409
    assert refused.json()["extra"]["code"] == "early_close_not_allowed"

    async def due(session: Any) -> None:
        await session.execute(update(Ballot).values(closes_at=utcnow()))
        await session.commit()

    world.db.run(due)
    # at the closing time the scheduler closes it; a chair may close it too
    assert client.api("POST", f"{API}/1/close").status_code == 200


def test_only_chairs_write_and_see_drafts(world: World, client: Client) -> None:
    client.sign_in("chair")
    assert client.api("POST", API, json=definition()).status_code == 201
    client.api("DELETE", "/api/v1/session")
    assert client.api("POST", API, json=definition()).status_code == 401
    client.sign_in("resident")
    assert client.api("POST", API, json=definition()).status_code == 403
    assert (
        client.api("PUT", f"{API}/1", json={"definition": definition(), "revision": 1}).status_code
        == 403
    )
    assert client.api("POST", f"{API}/1/open").status_code == 403
    assert client.api("POST", f"{API}/1/close").status_code == 403
    assert client.api("GET", f"{API}/1").status_code == 404
    assert client.api("GET", API).json() == []

    async def status(session: Any) -> str:
        return (await session.execute(select(Ballot.status))).scalar_one()

    assert world.db.run(status) == BallotStatus.draft
