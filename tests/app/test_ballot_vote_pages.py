"""Voting pages: my ballots, the form, confirmation, casting, the receipt; proxies and paper forms
entered by grid members. Every refusal re-renders with a 4xx and a clear message, and records
nothing."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from app import ballots as actions
from app.models import (
    Account,
    Ballot,
    BallotParticipation,
    BallotProxy,
    Community,
    Grid,
    LogEntry,
    Role,
    RoleGrant,
    utcnow,
)
from app.settings import Settings
from tests.app.conftest import Client, World, settle

ELECTION = {
    "id": "council",
    "text": "Who should sit on the residents' council?",
    "method": "approval",
    "options": [
        {"id": "wang", "label": "Wang Xiuying"},
        {"id": "li", "label": "Li Jianguo"},
        {"id": "zhang", "label": "Zhang Wei"},
    ],
    "seats": 2,
    "max_picks": 2,
    "budget": None,
}
RANKING = {
    "id": "chair",
    "text": "Rank the candidates for chair",
    "method": "instant_runoff",
    "options": [
        {"id": "chen", "label": "Chen Jing"},
        {"id": "sun", "label": "Sun Li"},
        {"id": "zhao", "label": "Zhao Lei"},
    ],
    "seats": 1,
    "max_picks": None,
    "budget": None,
}
BUDGET = {
    "id": "projects",
    "text": "Which projects should the budget pay for?",
    "method": "equal_shares",
    "options": [
        {"id": "benches", "label": "Benches by the gate", "cost": "3000"},
        {"id": "lights", "label": "Stairwell lights", "cost": "8000"},
    ],
    "seats": 1,
    "max_picks": None,
    "budget": "10000",
}
LIFT = "Add a lift to building 1?"


def definition(**changes: Any) -> dict[str, Any]:
    data = actions.blank_definition()
    now = utcnow()
    data.update(
        title="Lift for building 1",
        opens_at=(now - timedelta(minutes=5)).isoformat(),
        closes_at=(now + timedelta(days=1)).isoformat(),
    )
    data["questions"][0]["text"] = LIFT
    data["questions"][0]["options"] = [
        {"id": "yes", "label": "Agree"},
        {"id": "no", "label": "Disagree"},
        {"id": "abstain", "label": "Abstain"},
    ]
    data.update(changes)
    return data


def open_ballot(world: World, **changes: Any) -> int:
    """A ballot opened by the chair of community z; returns its number."""

    async def run(session: Any) -> int:
        community = await session.get(Community, world.ids["z"])
        chair = await session.get(Account, world.ids["chair"])
        ballot = await actions.create_ballot(session, community, chair, definition(**changes))
        await actions.open_ballot(session, ballot, chair)
        return ballot.number

    return world.db.run(run)


def set_window(world: World, number: int, **times: Any) -> None:
    async def run(session: Any) -> None:
        await session.execute(
            update(Ballot)
            .where(Ballot.community_id == world.ids["z"], Ballot.number == number)
            .values(**times)
        )
        await session.commit()

    world.db.run(run)


def casts(world: World) -> list[dict[str, Any]]:
    async def run(session: Any) -> list[dict[str, Any]]:
        query = select(LogEntry.payload).where(LogEntry.type == "ballot.cast").order_by(LogEntry.id)
        return list((await session.execute(query)).scalars())

    return world.db.run(run)


def participation(world: World) -> dict[str, tuple[str, bool]]:
    async def run(session: Any) -> dict[str, tuple[str, bool]]:
        rows = (await session.execute(select(BallotParticipation))).scalars()
        return {r.elector: (r.channel, r.via_proxy) for r in rows}

    return world.db.run(run)


def count(world: World, model: Any) -> int:
    async def run(session: Any) -> int:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())

    return world.db.run(run)


def make_grid_member(world: World, username: str, grid: int = 2) -> None:
    """Grant grid membership (double entry needs a second reader for grid 2)."""

    async def run(session: Any) -> None:
        grid_id = (
            await session.execute(
                select(Grid.id).where(Grid.community_id == world.ids["z"], Grid.number == grid)
            )
        ).scalar_one()
        session.add(
            RoleGrant(
                community_id=world.ids["z"],
                account_id=world.ids[username],
                role=Role.grid_member,
                grid_id=grid_id,
            )
        )
        await session.commit()

    world.db.run(run)


def text(response: Any) -> str:
    """The page's text with tags dropped and entities decoded, for plain-words assertions."""
    return html.unescape(re.sub(r"<[^>]+>", " ", response.text))


def hidden(response: Any, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', response.text)
    assert found, f"no hidden field {name}"
    return html.unescape(found.group(1))


def english(client: Client, username: str) -> Client:
    client.cookies.set("yishi_lang", "en")
    client.sign_in(username)
    return client


def vote(client: Client, number: int, fields: dict[str, Any]) -> Any:
    return client.post(
        f"/c/z/ballots/{number}/vote",
        data={**fields, "_csrf_token": client.csrf()},
        follow_redirects=False,
    )


def confirm(client: Client, number: int, page: Any) -> Any:
    data = {"answers": hidden(page, "answers"), "elector": hidden(page, "elector")}
    if 'name="proxy"' in page.text:
        data["proxy"] = hidden(page, "proxy")
    return client.form(f"/c/z/ballots/{number}/cast", data)


# ---------------------------------------------------------------- pages by role


def test_voting_pages_render_for_the_right_roles(world: World, client: Client) -> None:
    number = open_ballot(
        world, questions=[ELECTION, RANKING, BUDGET], channels=["online", "paper", "proxy"]
    )
    english(client, "resident")
    mine = client.get("/c/z/ballots/mine")
    assert mine.status_code == 200
    assert "Lift for building 1" in mine.text and "not voted yet" in text(mine)
    form = client.get(f"/c/z/ballots/{number}/vote")
    assert form.status_code == 200
    page = text(form)
    assert "<legend>" in form.text and str(ELECTION["text"]) in html.unescape(form.text)
    assert "choose at most 2" in page
    assert 'type="checkbox" name="q.council" value="wang"' in form.text
    assert "1st choice" in page and "2nd choice" in page and "3rd choice" in page
    assert 'name="q.chair.1"' in form.text and 'name="q.chair.3"' in form.text
    assert "3000 yuan" in page and "The budget is 10000 yuan" in page
    assert 'name="_csrf_token"' in form.text
    proxy = client.get(f"/c/z/ballots/{number}/proxy")
    assert proxy.status_code == 200 and "Ask someone to vote for you" in proxy.text
    assert "Record a written proxy form" not in proxy.text
    assert client.get(f"/c/z/ballots/{number}/paper").status_code == 403
    assert client.get(f"/c/z/ballots/{number + 1}/vote").status_code == 404

    grid = Client(app=client.app, base_url=str(client.base_url))
    grid.blocking_portal = client.blocking_portal
    english(grid, "grid")
    paper = grid.get(f"/c/z/ballots/{number}/paper")
    assert paper.status_code == 200
    assert "P007" in paper.text and "P001" not in paper.text  # grid 2 only
    assert "not voted yet" in text(paper)
    found = grid.get(f"/c/z/ballots/{number}/paper?q=孙", headers={"HX-Request": "true"})
    assert found.status_code == 200 and "<html" not in found.text and "P007" in found.text
    assert "Record a written proxy form" in grid.get(f"/c/z/ballots/{number}/proxy").text
    assert "Enter paper forms" in grid.get("/c/z/ballots/mine").text

    auditor = Client(app=client.app, base_url=str(client.base_url))
    auditor.blocking_portal = client.blocking_portal
    auditor.sign_in("auditor")  # no person in the register: nothing to vote with
    assert auditor.get("/c/z/ballots/mine").status_code == 403
    assert auditor.get(f"/c/z/ballots/{number}/vote").status_code == 403
    assert auditor.get(f"/c/z/ballots/{number}/paper").status_code == 403

    anonymous = Client(app=client.app, base_url=str(client.base_url))
    anonymous.blocking_portal = client.blocking_portal
    away = anonymous.get("/c/z/ballots/mine", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith("/signin")
    assert anonymous.form(f"/c/z/ballots/{number}/cast", {}).status_code == 401


def test_draft_ballots_are_not_shown_to_voters(world: World, client: Client) -> None:
    async def run(session: Any) -> int:
        community = await session.get(Community, world.ids["z"])
        chair = await session.get(Account, world.ids["chair"])
        return (await actions.create_ballot(session, community, chair, definition())).number

    number = world.db.run(run)
    english(client, "resident")
    assert client.get(f"/c/z/ballots/{number}/vote").status_code == 404
    assert "Lift for building 1" not in client.get("/c/z/ballots/mine").text


# ---------------------------------------------------------------- the whole online vote


def test_vote_confirm_cast_and_receipt(world: World, client: Client, settings: Settings) -> None:
    number = open_ballot(world, questions=[definition()["questions"][0], RANKING])
    english(client, "resident")
    checked = vote(
        client, number, {"elector": "P006", "q.q1": "yes", "q.chair.1": "sun", "q.chair.2": "chen"}
    )
    assert checked.status_code == 200, checked.text
    words = text(checked)
    assert "Check your choices" in words and "Agree" in words
    assert "1st choice: Sun Li" in words and "2nd choice: Chen Jing" in words
    assert "Confirm and cast" in words and "Change" in words
    assert casts(world) == []  # nothing recorded before confirming

    change = vote(
        client, number, {"change": "1", "answers": hidden(checked, "answers"), "elector": "P006"}
    )
    assert change.status_code == 200
    assert 'value="yes" checked' in change.text
    assert re.search(r'<option value="sun" selected>', change.text.split('name="q.chair.1"')[1])

    done = confirm(client, number, checked)
    assert done.status_code == 303
    location = done.headers["location"]
    entry_id = int(location.rsplit("/", 1)[1])
    assert location == f"/c/z/ballots/{number}/receipt/{entry_id}"
    assert casts(world) == [
        {
            "ballot": number,
            "channel": "online",
            "answers": {"q1": "yes", "chair": ["sun", "chen"]},
            "elector": "P006",
        }
    ]
    settle(world, settings)
    receipt = client.get(location)
    assert receipt.status_code == 200
    page = text(receipt)
    assert "Lift for building 1" in page and "Agree" in page and "1st choice: Sun Li" in page
    seq = world.db.run(lambda s: _seq(s, entry_id))
    assert f'href="/c/z/log/{seq}"' in receipt.text
    assert 'hx-trigger="every' not in receipt.text
    assert client.get(f"/c/z/log/{seq}").status_code == 200
    fragment = client.get(location, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and f"/c/z/log/{seq}" in fragment.text
    mine = text(client.get("/c/z/ballots/mine"))
    assert "voted" in mine and "Change my vote" in mine  # revoting "last" by default


async def _seq(session: Any, entry_id: int) -> int:
    entry = await session.get(LogEntry, entry_id)
    return int(entry.seq)


def test_receipt_polls_while_being_sealed_and_warns_in_a_secret_ballot(
    world: World, client: Client
) -> None:
    number = open_ballot(world, secrecy="secret", revoting="first")
    english(client, "resident")

    checked = vote(client, number, {"q.q1": "no"})
    done = confirm(client, number, checked)
    assert done.status_code == 303
    receipt = client.get(done.headers["location"])
    page = text(receipt)
    assert "only link between you and your receipt" in page
    assert "Disagree" in page and "P006" not in page  # a secret ballot names nobody
    # the sequencer may or may not have sealed it yet; either state is worded
    assert ('hx-trigger="every 1s"' in receipt.text and "Refresh this page" in page) or (
        "/c/z/log/" in receipt.text
    )


def test_receipt_only_for_cast_entries_of_this_ballot(world: World, client: Client) -> None:
    number = open_ballot(world)
    english(client, "resident")
    opened = world.db.run(lambda s: _opened_entry(s, world.ids["z"], number))
    assert client.get(f"/c/z/ballots/{number}/receipt/{opened}").status_code == 404
    assert client.get(f"/c/z/ballots/{number}/receipt/999999").status_code == 404
    entry_id = int(
        confirm(client, number, vote(client, number, {"q.q1": "yes"}))
        .headers["location"]
        .rsplit("/", 1)[1]
    )
    assert client.get(f"/c/z/ballots/{number}/receipt/{entry_id}").status_code == 200
    second = open_ballot(world)
    assert client.get(f"/c/z/ballots/{second}/receipt/{entry_id}").status_code == 404


async def _opened_entry(session: Any, community_id: int, number: int) -> int:
    ballot = await actions.get_ballot(session, community_id, number)
    return int(ballot.opened_entry_id)


# ---------------------------------------------------------------- refusals


def test_second_vote_refused_where_the_first_counts(world: World, client: Client) -> None:
    number = open_ballot(world, revoting="first")
    english(client, "resident")
    first = vote(client, number, {"q.q1": "yes"})
    assert confirm(client, number, first).status_code == 303
    again = confirm(client, number, vote(client, number, {"q.q1": "no"}))
    assert again.status_code == 409
    assert "A vote for P006 is already recorded" in text(again)
    assert [c["answers"] for c in casts(world)] == [{"q1": "yes"}]
    form = client.get(f"/c/z/ballots/{number}/vote")
    assert "keeps the first vote" in text(form) and "Check my choices" not in form.text


def test_outside_the_window_nothing_is_recorded(world: World, client: Client) -> None:
    later = utcnow() + timedelta(hours=2)
    number = open_ballot(
        world, opens_at=later.isoformat(), closes_at=(later + timedelta(days=1)).isoformat()
    )
    english(client, "resident")
    early = client.get(f"/c/z/ballots/{number}/vote")
    assert early.status_code == 200 and "Voting has not started yet" in text(early)
    assert "Check my choices" not in early.text
    refused = client.form(
        f"/c/z/ballots/{number}/cast", {"answers": '{"q1": "yes"}', "elector": "P006"}
    )
    assert refused.status_code == 409 and "Voting has not started yet" in text(refused)
    assert vote(client, number, {"q.q1": "yes"}).status_code == 409

    closed = open_ballot(world)
    set_window(world, closed, closes_at=utcnow() - timedelta(minutes=1))
    late = client.form(
        f"/c/z/ballots/{closed}/cast", {"answers": '{"q1": "yes"}', "elector": "P006"}
    )
    assert late.status_code == 409 and "This ballot is closed" in text(late)
    assert casts(world) == []


def test_not_on_the_roll(world: World, client: Client) -> None:
    from ballots.rules import civil_code_278

    number = open_ballot(world, electorate="owners", rule=civil_code_278("ordinary").to_dict())
    english(client, "resident")  # a tenant: not an owner
    form = client.get(f"/c/z/ballots/{number}/vote")
    assert "You are not on this ballot's list of voters" in text(form)
    assert "Check my choices" not in form.text
    refused = client.form(f"/c/z/ballots/{number}/cast", {"answers": '{"q1": "yes"}'})
    assert refused.status_code == 403
    assert "You are not on this ballot's list of voters" in text(refused)
    assert "Lift for building 1" not in client.get("/c/z/ballots/mine").text
    assert casts(world) == []


def test_bad_answers_name_the_question(world: World, client: Client) -> None:
    number = open_ballot(world, questions=[ELECTION, RANKING])
    english(client, "resident")
    too_many = vote(
        client,
        number,
        {"q.council": ["wang", "li", "zhang"], "q.chair.1": "sun"},
    )
    assert too_many.status_code == 400
    words = text(too_many)
    assert "“Who should sit on the residents' council?”: you chose 3; choose at most 2." in words
    assert 'href="#f-q1"' in too_many.text and 'id="f-q1"' in too_many.text
    assert 'value="zhang" checked' in too_many.text  # the form keeps what was chosen

    repeated = vote(client, number, {"q.council": "wang", "q.chair.1": "sun", "q.chair.2": "sun"})
    assert repeated.status_code == 400
    assert "“Rank the candidates for chair”: you chose “Sun Li” more than once" in text(repeated)
    assert 'href="#f-q2"' in repeated.text

    missing = vote(client, number, {"q.council": "wang"})
    assert missing.status_code == 400
    assert "Answer the question “Rank the candidates for chair”." in text(missing)

    forged = client.form(
        f"/c/z/ballots/{number}/cast",
        {"answers": '{"council": ["wang", "nobody"], "chair": ["sun"]}', "elector": "P006"},
    )
    assert forged.status_code == 400 and "that choice is not on the ballot" in text(forged)
    garbled = client.form(f"/c/z/ballots/{number}/cast", {"answers": "{not json"})
    assert garbled.status_code == 400 and "could not be read" in text(garbled)
    assert casts(world) == []


# ---------------------------------------------------------------- proxies


def test_proxy_cast_then_overridden_by_the_principal(world: World, client: Client) -> None:
    number = open_ballot(world)  # roll-call, revoting "last"
    english(client, "owner")  # P001
    given = client.form(
        f"/c/z/ballots/{number}/proxy",
        {"kind": "mine", "elector": "P001", "holder_phone": "138 0000 0006"},
    )
    assert given.status_code == 303, given.text
    assert "The proxy is recorded" in client.get(given.headers["location"]).text
    assert "赵磊 holds the proxy for P001" in text(client.get(f"/c/z/ballots/{number}/proxy"))

    holder = Client(app=client.app, base_url=str(client.base_url))
    holder.blocking_portal = client.blocking_portal
    english(holder, "resident")  # P006, phone 13800000006
    mine = text(holder.get("/c/z/ballots/mine"))
    assert "For P001, as their proxy" in mine
    form = holder.get(f"/c/z/ballots/{number}/vote?proxy=P001")
    assert "You are voting for P001, who gave you their proxy" in text(form)
    checked = vote(holder, number, {"proxy": "P001", "elector": "P001", "q.q1": "yes"})
    assert checked.status_code == 200
    cast = confirm(holder, number, checked)
    assert cast.status_code == 303
    assert participation(world)["P001"] == ("proxy", True)
    assert casts(world)[-1]["channel"] == "proxy" and casts(world)[-1]["holder"] == "P006"

    assert confirm(client, number, vote(client, number, {"q.q1": "no"})).status_code == 303
    assert participation(world)["P001"] == ("online", False)  # the principal's own vote wins
    late = confirm(holder, number, vote(holder, number, {"proxy": "P001", "q.q1": "yes"}))
    assert late.status_code == 409
    assert "P001 has already voted in person" in text(late)

    stranger = holder.get(f"/c/z/ballots/{number}/vote?proxy=P003")
    assert "You do not hold a proxy for P003" in text(stranger)


def test_proxy_refusals(world: World, client: Client) -> None:
    number = open_ballot(world, proxy_limit=1)
    english(client, "owner")
    url = f"/c/z/ballots/{number}/proxy"
    unknown = client.form(url, {"kind": "mine", "holder_phone": "13900000000"})
    assert unknown.status_code == 400
    assert "Nobody in this community's register has that phone number" in text(unknown)
    assert 'href="#f-holder_phone"' in unknown.text
    assert client.form(url, {"kind": "mine", "holder_phone": "13800000006"}).status_code == 303

    chair = Client(app=client.app, base_url=str(client.base_url))
    chair.blocking_portal = client.blocking_portal
    english(chair, "chair")  # P003
    over = chair.form(url, {"kind": "mine", "holder_phone": "13800000006"})
    assert over.status_code == 409
    assert "That person already holds 1 proxy, the most this ballot allows." in text(over)
    forged = chair.form(
        url, {"kind": "written", "elector": "P007", "holder_phone": "13800000005", "serial": "F-1"}
    )
    assert forged.status_code == 403  # only a grid member records written forms
    assert count(world, BallotProxy) == 1


def test_grid_member_records_a_written_proxy_form(world: World, client: Client) -> None:
    number = open_ballot(world)
    english(client, "grid")  # grid 2: P007
    url = f"/c/z/ballots/{number}/proxy"
    done = client.form(
        url,
        {"kind": "written", "elector": "P007", "holder_phone": "13800000005", "serial": "F-001"},
    )
    assert done.status_code == 303, done.text
    outside = client.form(
        url,
        {"kind": "written", "elector": "P001", "holder_phone": "13800000005", "serial": "F-002"},
    )
    assert outside.status_code == 403 and "P001 is not in your grid" in text(outside)
    no_serial = client.form(
        url, {"kind": "written", "elector": "P007", "holder_phone": "13800000005", "serial": ""}
    )
    assert no_serial.status_code == 400
    assert "Enter the number printed on the paper form" in text(no_serial)
    assert count(world, BallotProxy) == 1


# ---------------------------------------------------------------- paper forms


def test_paper_form_counts_once_and_only_in_the_grid(world: World, client: Client) -> None:
    number = open_ballot(world)
    english(client, "grid")
    url = f"/c/z/ballots/{number}/paper"
    entered = client.form(url, {"elector": "P007", "serial": "A-001", "q.q1": "yes"})
    assert entered.status_code == 303, entered.text
    assert entered.headers["location"] == f"{url}?entered=counted&serial=A-001"
    after = client.get(entered.headers["location"])
    assert "Form A-001 is counted" in text(after)
    assert re.search(r"P007.*?voted", text(after), re.S)
    again = client.form(url, {"elector": "P007", "serial": "A-001", "q.q1": "no"})
    assert again.status_code == 409 and "Form number A-001 has already been entered" in text(again)
    outside = client.form(url, {"elector": "P001", "serial": "A-002", "q.q1": "yes"})
    assert outside.status_code == 403 and "P001 is not in your grid" in text(outside)
    unanswered = client.form(url, {"elector": "P007", "serial": "A-003"})
    assert unanswered.status_code == 400 and f"Answer the question “{LIFT}”" in text(unanswered)
    assert [(c["channel"], c["serial"]) for c in casts(world)] == [("paper", "A-001")]


def test_paper_double_entry(world: World, client: Client) -> None:
    number = open_ballot(world, paper_double_entry=True)
    make_grid_member(world, "chair")
    english(client, "grid")
    url = f"/c/z/ballots/{number}/paper"
    first = client.form(url, {"elector": "P007", "serial": "B-1", "q.q1": "yes"})
    assert first.headers["location"] == f"{url}?entered=waiting&serial=B-1"
    assert "a second grid member" in text(client.get(first.headers["location"]))
    same = client.form(url, {"elector": "P007", "serial": "B-1", "q.q1": "yes"})
    assert same.status_code == 409 and "another grid member must make the second" in text(same)
    assert casts(world) == []

    second = Client(app=client.app, base_url=str(client.base_url))
    second.blocking_portal = client.blocking_portal
    english(second, "chair")
    differs = second.form(url, {"elector": "P007", "serial": "B-1", "q.q1": "no"})
    assert differs.status_code == 409
    assert "differs from the first entry" in text(differs)
    assert casts(world) == []
    agrees = second.form(url, {"elector": "P007", "serial": "B-1", "q.q1": "yes"})
    assert agrees.headers["location"] == f"{url}?entered=counted&serial=B-1"
    assert [c["answers"] for c in casts(world)] == [{"q1": "yes"}]


def test_an_owner_with_two_electors_chooses_which_one(world: World, client: Client) -> None:
    """P001 owns 1-1-101 alone and 3-2-302 with P005: two owner groups, two votes."""
    from app.models import Building, Unit, UnitLink
    from ballots.rules import civil_code_278

    async def co_own(session: Any) -> None:
        unit = (
            await session.execute(
                select(Unit)
                .join(Building, Building.id == Unit.building_id)
                .where(Building.community_id == world.ids["z"], Unit.number == "302")
            )
        ).scalar_one()
        for ref in ("P001", "P005"):
            session.add(
                UnitLink(
                    community_id=world.ids["z"],
                    unit_id=unit.id,
                    person_id=world.ids[ref],
                    relation="co_owner",
                )
            )
        await session.commit()

    world.db.run(co_own)
    number = open_ballot(world, electorate="owners", rule=civil_code_278("ordinary").to_dict())
    english(client, "owner")
    form = client.get(f"/c/z/ballots/{number}/vote")
    assert "Which of your votes is this?" in form.text
    assert 'name="elector" value="1-1-101" checked' in form.text
    assert 'name="elector" value="3-2-302"' in form.text
    checked = vote(client, number, {"elector": "3-2-302", "q.q1": "no"})
    assert "This vote is for 3-2-302." in text(checked)
    assert confirm(client, number, checked).status_code == 303
    assert participation(world) == {"3-2-302": ("online", False)}
    mine = text(client.get("/c/z/ballots/mine"))
    assert "Your vote for 1-1-101" in mine and "Your vote for 3-2-302" in mine
    forged = vote(client, number, {"elector": "2-1-201", "q.q1": "no"})
    assert forged.status_code == 403 and "You may not vote for 2-1-201" in text(forged)
