"""Ballot pages for chairs and everyone: define, check, open, close, results, participation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from app import ballots as actions
from app.models import Ballot, BallotStatus, Person, utcnow
from app.settings import Settings
from tests.app.conftest import Client, World, settle

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(delta: timedelta) -> str:
    return (utcnow() + delta).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def form(**changes: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "加装电梯",
        "description": "1号楼加装电梯",
        "agenda_item": "",
        "electorate": "adults",
        "named": "",
        "rule": "consultation",
        "secrecy": "roll_call",
        "revoting": "last",
        "channels": ["online", "paper"],
        "proxy_limit": "3",
        "opens_at": local(timedelta(minutes=-5)),
        "closes_at": local(timedelta(days=2)),
        "objection_days": "7",
        "question_count": "1",
        "q0_id": "q1",
        "q0_text": "是否同意加装电梯?",
        "q0_method": "yes_no_abstain",
        "q0_options": "同意\n反对\n弃权",
        "q0_seats": "1",
        "q0_max_picks": "",
        "q0_budget": "",
        "action": "save",
    }
    data.update(changes)
    return data


def ballot_row(world: World, number: int = 1) -> Ballot:
    async def work(session: Any) -> Ballot:
        found = await session.execute(
            select(Ballot).where(Ballot.community_id == world.ids["z"], Ballot.number == number)
        )
        return found.scalar_one()

    return world.db.run(work)


def test_chair_defines_opens_closes_and_everyone_reads_the_results(
    world: World, client: Client, settings: Settings, tmp_path: Path
) -> None:
    client.sign_in("chair")
    assert client.get("/c/z/ballots/new").status_code == 200
    # add and remove questions re-render the form without saving
    added = client.form("/c/z/ballots", form(action="add_question"))
    assert added.status_code == 200
    assert 'name="q1_text"' in added.text
    removed = client.form(
        "/c/z/ballots",
        form(action="remove_question:1", question_count="2", q1_id="q2", q1_text="x"),
    )
    assert 'name="q1_text"' not in removed.text
    # a form that cannot be read comes back with 400 and the words next to the field
    bad = client.form("/c/z/ballots", form(proxy_limit="many", closes_at="tomorrow"))
    assert bad.status_code == 400
    assert "Enter a whole number." in bad.text or "整数" in bad.text
    assert 'id="f-closes_at-error"' in bad.text

    # a draft with problems: saved, and the problems are listed where the chair opens it
    created = client.form(
        "/c/z/ballots", form(electorate="owners", rule="c278_ordinary", early_close="1")
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/c/z/ballots/1?done=saved"
    client.cookies.set("yishi_lang", "en")
    page = client.get("/c/z/ballots/1")
    assert "Only a consultation may be closed early" in page.text
    assert "disabled" in page.text
    refused = client.form("/c/z/ballots/1/open")
    assert refused.status_code == 409
    assert ballot_row(world).status == BallotStatus.draft

    # edit it into shape; a stale revision is refused
    edit = client.get("/c/z/ballots/1/edit")
    assert edit.status_code == 200
    assert 'id="f-early_close-error"' in edit.text
    stale = client.form("/c/z/ballots/1/edit", form(revision="0"))
    assert stale.status_code == 409
    assert "Someone else changed this draft" in stale.text
    saved = client.form("/c/z/ballots/1/edit", form(revision="1", early_close="1"))
    assert saved.status_code == 303
    assert ballot_row(world).definition["early_close"] is True
    page = client.get("/c/z/ballots/1")
    assert "No problems found" in page.text

    opened = client.form("/c/z/ballots/1/open")
    assert opened.status_code == 303
    assert ballot_row(world).status == BallotStatus.open
    # the definition is frozen now
    frozen = client.form("/c/z/ballots/1/edit", form(revision="2"))
    assert frozen.status_code == 409
    assert "frozen" in frozen.text
    assert client.get("/c/z/ballots/1/edit").status_code == 409
    page = client.get("/c/z/ballots/1")
    assert "Close now" in page.text
    assert "/c/z/ballots/1/vote" in page.text

    async def vote(session: Any) -> None:
        ballot = await actions.get_ballot(session, world.ids["z"], 1)
        for ref, answer in (("P001", "yes"), ("P003", "yes"), ("P006", "no"), ("P007", "abstain")):
            voter = (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()
            await actions.cast_online(session, ballot, voter, {"q1": answer})

    world.db.run(vote)
    page = client.get("/c/z/ballots/1")
    assert "4 of 7 electors have taken part" in page.text

    # the results are not public before the count
    assert client.get("/c/z/ballots/1/results").status_code == 404
    assert client.get("/c/z/ballots/1/ballots.csv").status_code == 404
    closed = client.form("/c/z/ballots/1/close")
    assert closed.status_code == 303
    assert ballot_row(world).status == BallotStatus.closed
    world.db.run(actions.run_due)
    settle(world, settings)
    assert ballot_row(world).status == BallotStatus.tallied

    results = client.get("/c/z/ballots/1/results")
    assert results.status_code == 200
    text = results.text
    assert "Preliminary until" in text
    assert "Passed: every threshold of the rule was met." in text
    assert "4 of 7 electors took part" in text
    assert "Yes votes: 2; required more than 1.5" in text
    assert "1 abstained" in text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"' in text
    assert "<title>" in text
    assert "Turnout by building" in text and "Turnout by grid" in text
    assert "yishi audit export --community z --out bundle/ &amp;&amp; yishi-verify bundle/" in text
    assert (
        "yishi tally ballot-1.csv --method yes_no_abstain --question q1 --options yes,no,abstain --seed "
        in text
    )
    assert "--rule consultation --roll-heads 7" in text

    csv = client.get("/c/z/ballots/1/ballots.csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "elector,units,area,channel,question,answer"
    assert len(csv.text.splitlines()) == 5
    # the command the page shows recounts the CSV it offers
    import html
    import re
    import shlex

    from click.testing import CliRunner

    from app.cli import main

    shown = html.unescape(re.search(r"(yishi tally ballot-1\.csv[^\n<]*)", text).group(1))
    (tmp_path / "ballot-1.csv").write_text(csv.text)
    args = shlex.split(shown)[1:]  # tally ballot-1.csv --method …
    args[1] = str(tmp_path / "ballot-1.csv")
    recount = CliRunner().invoke(main, [*args, "--json"])
    assert recount.exit_code == 0, recount.output
    assert '"passed": true' in recount.output.replace("\n", "")

    log_page = client.get("/c/z/log").text
    assert "Ballot #1 “加装电梯” opened with a frozen roll of 7 electors" in log_page
    assert "Ballot #1: a vote for P006 (online)." in log_page
    assert "closed early by the chair; 4 electors took part" in log_page
    assert "Preliminary result of ballot #1: 4 ballots counted" in log_page

    participation = client.get("/c/z/ballots/1/participation")
    assert participation.status_code == 200
    assert "P006" in participation.text and "4 electors took part." in participation.text

    # everyone reads the results; a voter sees only whether they are on the list
    client.post("/signout", data={"_csrf_token": client.csrf()})
    assert client.get("/c/z/ballots/1/results").status_code == 200
    client.sign_in("resident")
    mine = client.get("/c/z/ballots/1/participation")
    assert "On the list" in mine.text
    assert "P001" not in mine.text
    listing = client.get("/c/z/ballots")
    assert "加装电梯" in listing.text
    assert "New ballot" not in listing.text


def test_early_close_refused_where_the_definition_does_not_allow_it(
    world: World, client: Client
) -> None:
    client.sign_in("chair")
    client.cookies.set("yishi_lang", "en")
    assert client.form("/c/z/ballots", form()).status_code == 303
    assert client.form("/c/z/ballots/1/open").status_code == 303
    page = client.get("/c/z/ballots/1")
    assert "Close now" not in page.text
    refused = client.form("/c/z/ballots/1/close")
    assert refused.status_code == 409
    assert "may not be closed early" in refused.text
    assert ballot_row(world).status == BallotStatus.open


def test_only_chairs_write_and_drafts_stay_private(world: World, client: Client) -> None:
    client.sign_in("chair")
    assert client.form("/c/z/ballots", form()).status_code == 303
    client.post("/signout", data={"_csrf_token": client.csrf()})
    client.sign_in("resident")
    assert client.get("/c/z/ballots/new").status_code == 403
    assert client.form("/c/z/ballots", form()).status_code == 403
    assert client.form("/c/z/ballots/1/edit", form(revision="1")).status_code == 403
    assert client.form("/c/z/ballots/1/open").status_code == 403
    assert client.form("/c/z/ballots/1/close").status_code == 403
    assert client.get("/c/z/ballots/1").status_code == 404  # a draft is the chair's
    assert "加装电梯" not in client.get("/c/z/ballots").text


def test_a_title_with_markup_stays_inert_in_pages_and_charts(
    world: World, client: Client, settings: Settings
) -> None:
    client.sign_in("chair")
    title = "<script>alert(1)</script>"
    data = form(
        title=title,
        q0_text=title,
        q0_method="single_choice",
        q0_options=f"{title}\n<b>B</b>",
        early_close="1",
    )
    assert client.form("/c/z/ballots", data).status_code == 303
    assert client.form("/c/z/ballots/1/open").status_code == 303

    async def vote(session: Any) -> None:
        ballot = await actions.get_ballot(session, world.ids["z"], 1)
        voter = (await session.execute(select(Person).where(Person.ref == "P006"))).scalar_one()
        await actions.cast_online(session, ballot, voter, {"q1": "o1"})
        await session.execute(
            update(Ballot).where(Ballot.id == ballot.id).values(closes_at=utcnow())
        )
        await session.commit()
        await actions.run_due(session)

    world.db.run(vote)
    settle(world, settings)
    for url in ("/c/z/ballots/1", "/c/z/ballots/1/results", "/c/z/ballots"):
        text = client.get(url).text
        assert "<script>alert" not in text
        assert "<b>B</b>" not in text
    results = client.get("/c/z/ballots/1/results").text
    assert (
        "<title>1. &lt;script&gt;" in results or "&lt;script&gt;alert(1)&lt;/script&gt;" in results
    )


def test_results_of_every_method_render(world: World, client: Client, settings: Settings) -> None:
    def options(*labels: str, costs: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return [
            {"id": f"o{i + 1}", "label": label} | ({"cost": costs[i]} if costs else {})
            for i, label in enumerate(labels)
        ]

    def question(qid: str, method: str, opts: list[dict[str, Any]], **extra: Any) -> Any:
        base = {"id": qid, "text": f"问题 {qid}", "method": method, "options": opts}
        return base | {"seats": 1, "max_picks": None, "budget": None} | extra

    async def run(session: Any) -> None:
        from app.models import Account, Community

        data = actions.blank_definition()
        data.update(
            title="多种方法",
            electorate="owners",
            opens_at=(utcnow() - timedelta(minutes=5)).isoformat(),
            closes_at=(utcnow() + timedelta(days=1)).isoformat(),
            questions=[
                question("q1", "approval", options("甲", "乙", "丙"), seats=2),
                question("q2", "stv", options("甲", "乙", "丙"), seats=2),
                question("q3", "instant_runoff", options("甲", "乙", "丙")),
                question("q4", "schulze", options("甲", "乙", "丙")),
                question(
                    "q5",
                    "equal_shares",
                    options("路灯", "长椅", "快递柜", costs=("3000", "2000", "6000")),
                    budget="8000",
                ),
            ],
        )
        community = await session.get(Community, world.ids["z"])
        chair = (
            await session.execute(select(Account).where(Account.username == "chair"))
        ).scalar_one()
        ballot = await actions.create_ballot(session, community, chair, data)
        await actions.open_ballot(session, ballot, chair)
        ranking = [["o1", "o2", "o3"], ["o2", "o1", "o3"], ["o3", "o2", "o1"], ["o2", "o3", "o1"]]
        for i, ref in enumerate(("P001", "P003", "P005", "P007")):
            voter = (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()
            answers = {
                "q1": ranking[i][:2],
                "q2": ranking[i],
                "q3": ranking[i],
                "q4": ranking[i],
                "q5": ranking[i][:2],
            }
            await actions.cast_online(session, ballot, voter, answers)
        await session.execute(
            update(Ballot).where(Ballot.id == ballot.id).values(closes_at=utcnow())
        )
        await session.commit()
        await actions.run_due(session)

    world.db.run(run)
    settle(world, settings)
    client.cookies.set("yishi_lang", "en")
    page = client.get("/c/z/ballots/1/results")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Floor area (m²)" in text  # approval in an owners' roll-call ballot
    assert "Stages of the count" in text and "Quota:" in text
    assert "Ranking (Schulze)" in text
    assert "Equal shares" in text and "Most votes first" in text
    assert "--method stv --question q2 --seats 2 --options o1,o2,o3" in text
    assert "--budget 8000 --costs o1=3000,o2=2000,o3=6000" in text
    assert client.api("GET", "/api/v1/c/z/ballots/1/results").status_code == 200
