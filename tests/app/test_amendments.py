"""Amendment pages: propose (with the stale-text refusal), read, accept, reject, put to a vote
through a real ballot and apply its result; the item's text history. Every refusal answers 4xx
with a clear message and stores nothing; every decision is one log entry."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from app import ballots
from app.models import (
    Account,
    AgendaItem,
    Amendment,
    Ballot,
    Community,
    ItemFollow,
    ItemRevision,
    LogEntry,
    Notification,
    Person,
    utcnow,
)
from app.settings import Settings
from deliberation.text import BODY_MAX, REASON_MAX, render_markdown
from tests.app.conftest import Client, World, settle

BODY = "## 停车方案\n\n建议在北门增加20个停车位。\n\n费用由公共收益支出。"
CHANGED = "## 停车方案\n\n建议在南门增加30个停车位。\n\n费用由公共收益支出。"
OTHER_CHANGE = "## 停车方案\n\n建议在北门增加20个停车位。\n\n费用由业主分摊。"


# --- helpers -------------------------------------------------------------------------------------


def make_item(
    world: World,
    *,
    number: int = 1,
    status: str = "consultation",
    author: str = "owner",
    body: str = BODY,
    opens: timedelta = timedelta(hours=-1),
    closes: timedelta = timedelta(days=7),
) -> int:
    """An agenda item in community z, written directly (revision 1 and its ItemRevision)."""

    async def run(session: Any) -> int:
        now = utcnow()
        item = AgendaItem(
            community_id=world.ids["z"],
            number=number,
            title="北门停车位",
            body=body,
            body_html=render_markdown(body),
            revision=1,
            category="parking",
            author_id=world.ids[author],
            status=status,
            cosign_threshold=1,
            cosign_count=1,
            consultation_opens_at=now + opens,
            consultation_closes_at=now + closes,
            published_at=now - timedelta(days=3),
        )
        session.add(item)
        await session.flush()
        session.add(
            ItemRevision(
                community_id=world.ids["z"],
                item_id=item.id,
                revision=1,
                title=item.title,
                body=body,
                created_by=world.ids[author],
            )
        )
        await session.commit()
        return number

    return world.db.run(run)


def as_user(client: Client, username: str) -> Client:
    client.cookies.set("yishi_lang", "en")
    client.sign_in(username)
    return client


def text(response: Any) -> str:
    """The page's words with tags dropped and entities decoded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def diff_html(response: Any) -> str:
    return "".join(re.findall(r'<div class="amend-diff"[^>]*>(.*?)</div>', response.text, re.S))


def changes(response: Any) -> list[tuple[str, str]]:
    """The marked changes of the page's diffs, as (ins|del, text) without the hidden labels."""
    page = re.sub(r'<span class="visually-hidden">[^<]*</span>', "", diff_html(response))
    return [
        (tag, html.unescape(body)) for tag, body in re.findall(r"<(ins|del)>(.*?)</\1>", page, re.S)
    ]


def labelled(response: Any) -> bool:
    """Every change is announced to a screen reader before it starts."""
    marked = re.findall(
        r"<(ins|del)>(<span class=\"visually-hidden\">[^<]*</span>)?", diff_html(response)
    )
    words = {"ins": "added: ", "del": "removed: "}
    return bool(marked) and all(
        span == f'<span class="visually-hidden">{words[tag]}</span>' for tag, span in marked
    )


def propose(client: Client, body: str = CHANGED, base: str = "1", **extra: str) -> Any:
    return client.form(
        "/c/z/items/1/amendments/new",
        {"body": body, "rationale": "南门空地更大。", "base_revision": base, **extra},
    )


def rows(world: World, model: Any, *where: Any) -> list[Any]:
    async def run(session: Any) -> list[Any]:
        return list((await session.execute(select(model).where(*where))).scalars())

    return world.db.run(run)


def count(world: World, model: Any) -> int:
    async def run(session: Any) -> int:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())

    return world.db.run(run)


def item_row(world: World, number: int = 1) -> AgendaItem:
    (found,) = rows(world, AgendaItem, AgendaItem.number == number)
    return found


def amendment_row(world: World, number: int = 1) -> Amendment:
    (found,) = rows(world, Amendment, Amendment.number == number)
    return found


def decided(world: World) -> list[dict[str, Any]]:
    """The amendment.decided payloads in the order they were written."""
    found = rows(world, LogEntry, LogEntry.type == "amendment.decided")
    return [e.payload for e in sorted(found, key=lambda e: e.id)]


def notices(world: World, username: str) -> list[dict[str, Any]]:
    found = rows(world, Notification, Notification.account_id == world.ids[username])
    return [n.params | {"kind": n.kind, "link": n.link} for n in found]


def stored(world: World) -> tuple[int, int, int, int]:
    """What a refusal must leave alone."""
    item = item_row(world)
    return (
        count(world, Amendment),
        count(world, LogEntry),
        item.revision,
        count(world, ItemRevision),
    )


def sha256(body: str) -> str:
    import hashlib

    return hashlib.sha256(body.encode()).hexdigest()


def accept_directly(world: World, body: str) -> None:
    """Another amendment, proposed and accepted elsewhere: the item's text moves to revision 2."""
    from app import amendments as actions

    async def run(session: Any) -> None:
        community = await session.get(Community, world.ids["z"])
        item = (await session.execute(select(AgendaItem))).scalar_one()
        chair = await session.get(Account, world.ids["chair"])
        owner = await session.get(Account, world.ids["owner"])
        amendment = await actions.propose(session, community, item, chair, body, "", item.revision)
        await actions.accept(session, community, item, amendment, owner)

    world.db.run(run)


# --- proposing and accepting ---------------------------------------------------------------------


def test_propose_accept_and_the_text_history(
    world: World, client: Client, settings: Settings
) -> None:
    make_item(world)
    as_user(client, "resident")
    form = client.get("/c/z/items/1/amendments/new")
    assert form.status_code == 200
    assert 'name="base_revision" value="1"' in form.text
    assert "建议在北门增加20个停车位。" in form.text  # the current text, to edit
    assert 'name="_csrf_token"' in form.text

    proposed = propose(client)
    assert proposed.status_code == 303, proposed.text
    assert proposed.headers["location"] == "/c/z/items/1/amendments/1?done=proposed"
    amendment = amendment_row(world)
    assert (amendment.status, amendment.base_revision, amendment.body) == ("proposed", 1, CHANGED)
    assert amendment.author_id == world.ids["resident"]
    assert decided(world) == []  # a proposal is residents' text, not a decision
    assert notices(world, "owner") == [
        {
            "kind": "amendment",
            "item": 1,
            "title": "北门停车位",
            "amendment": 1,
            "status": "proposed",
            "link": "/c/z/items/1/amendments/1",
        }
    ]
    # the proposer now follows the item
    assert [f.account_id for f in rows(world, ItemFollow)] == [world.ids["resident"]]

    page = client.get(proposed.headers["location"])
    assert page.status_code == 200
    assert "Your amendment has been proposed" in page.text
    assert changes(page) == [("del", "北"), ("ins", "南"), ("del", "2"), ("ins", "3")]
    assert labelled(page)
    assert "南门空地更大。" in page.text and "Proposed" in page.text
    assert "/accept" not in page.text  # only the item's author decides
    listed = client.get("/c/z/items/1/amendments")
    assert listed.status_code == 200 and "Amendment 1" in listed.text and "<ins>" in listed.text

    as_user(client, "owner")
    page = client.get("/c/z/items/1/amendments/1")
    assert "/c/z/items/1/amendments/1/accept" in page.text
    accepted = client.form("/c/z/items/1/amendments/1/accept")
    assert accepted.status_code == 303, accepted.text
    assert accepted.headers["location"] == "/c/z/items/1/amendments/1?done=accepted"

    item = item_row(world)
    assert (item.body, item.revision) == (CHANGED, 2)
    assert item.body_html == render_markdown(CHANGED) and "<h3>停车方案</h3>" in item.body_html
    revision = rows(world, ItemRevision, ItemRevision.revision == 2)[0]
    assert (revision.body, revision.amendment_id, revision.created_by) == (
        CHANGED,
        amendment.id,
        world.ids["owner"],
    )
    amendment = amendment_row(world)
    assert (amendment.status, amendment.decided_by) == ("accepted", world.ids["owner"])
    (entry,) = rows(world, LogEntry, LogEntry.type == "amendment.decided")
    assert entry.payload == {
        "item": 1,
        "amendment": 1,
        "decision": "accepted",
        "base_revision": 1,
        "revision": 2,
        "body_sha256": sha256(CHANGED),
    }
    assert amendment.entry_id == entry.id
    assert notices(world, "resident")[-1]["status"] == "accepted"
    settle(world, settings)  # the entry goes into the log's tree like any other

    history = client.get("/c/z/items/1/revisions")
    assert history.status_code == 200
    words = text(history)
    assert "Version 2" in words and "Version 1" in words and "The first version." in words
    assert 'href="/c/z/items/1/amendments/1"' in history.text
    assert "<ins>" in history.text and "<del>" in history.text
    # the amendment is now decided: no more decision buttons, and it is not out of date
    page = client.get("/c/z/items/1/amendments/1")
    assert "/accept" not in page.text and "Out of date" not in page.text


def test_names_only_for_the_communitys_people(world: World, client: Client) -> None:
    make_item(world)
    as_user(client, "resident")
    assert propose(client).status_code == 303
    assert "赵磊" in client.get("/c/z/items/1/amendments/1").text
    assert client.form("/signout").status_code == 303
    page = client.get("/c/z/items/1/amendments/1")
    assert page.status_code == 200 and "赵磊" not in page.text
    assert "赵磊" not in client.get("/c/z/items/1/amendments").text


# --- refusals of a proposal ----------------------------------------------------------------------


def test_a_text_that_changed_meanwhile_is_refused_and_shown(world: World, client: Client) -> None:
    make_item(world)
    as_user(client, "resident")
    assert client.get("/c/z/items/1/amendments/new").status_code == 200  # form opened at rev 1
    accept_directly(world, OTHER_CHANGE)  # meanwhile the text moves to revision 2
    before = stored(world)

    refused = propose(client, CHANGED, base="1")
    assert refused.status_code == 409
    words = text(refused)
    assert "The text changed meanwhile" in words
    assert stored(world) == before  # nothing stored
    # what changed meanwhile, as a diff
    assert changes(refused) == [("del", "公共收益支出"), ("ins", "业主分摊")]
    assert labelled(refused)
    # the form now holds the current text at the current revision, and their own text is kept
    assert 'name="base_revision" value="2"' in refused.text
    body = re.search(
        r'<textarea id="f-body" name="body"[^>]*>\n(.*?)</textarea>', refused.text, re.S
    )
    assert body is not None and html.unescape(body.group(1)) == OTHER_CHANGE
    mine = re.search(r'<textarea id="f-mine"[^>]*>(.*?)</textarea>', refused.text, re.S)
    assert mine is not None and html.unescape(mine.group(1)) == CHANGED

    redone = propose(client, OTHER_CHANGE.replace("北门", "南门"), base="2")
    assert redone.status_code == 303


def test_an_amendment_to_an_older_text_cannot_be_accepted(world: World, client: Client) -> None:
    make_item(world)
    as_user(client, "resident")
    assert propose(client).status_code == 303  # amendment 1, against revision 1
    accept_directly(world, OTHER_CHANGE)  # amendment 2 accepted: revision 2
    as_user(client, "owner")
    page = client.get("/c/z/items/1/amendments/1")
    assert "Out of date" in page.text and "/accept" not in page.text
    assert "Out of date" in client.get("/c/z/items/1/amendments").text
    before = stored(world)
    refused = client.form("/c/z/items/1/amendments/1/accept")
    assert refused.status_code == 409
    assert "out of date" in text(refused)
    assert stored(world) == before
    assert item_row(world).body == OTHER_CHANGE
    assert amendment_row(world).status == "proposed"
    # the author may still decline it
    assert client.form("/c/z/items/1/amendments/1/reject").status_code == 303


def test_unchanged_empty_and_oversized_text_are_refused(world: World, client: Client) -> None:
    make_item(world)
    as_user(client, "resident")
    before = stored(world)
    cases = [
        (BODY, 400, "The proposed text is the same as the item's current text"),
        ("  \n ", 400, "The proposed text is empty"),
        ("长" * (BODY_MAX + 1), 400, f"The proposed text is too long: {BODY_MAX + 1} characters"),
    ]
    for body, status, message in cases:
        refused = propose(client, body)
        assert refused.status_code == status, body[:10]
        assert message in text(refused)
    too_long = propose(client, CHANGED, rationale="理" * (REASON_MAX + 1))
    assert too_long.status_code == 400
    assert "The reason for the change is too long" in text(too_long)
    assert (
        'id="f-rationale" name="rationale"' in too_long.text
        and 'aria-invalid="true"' in too_long.text
    )
    assert propose(client, CHANGED, base="x").status_code == 400
    # the refused text is kept in the form
    refused = propose(client, "  \n ")
    assert 'name="base_revision" value="1"' in refused.text
    assert stored(world) == before


def test_no_proposal_while_the_consultation_is_closed(world: World, client: Client) -> None:
    make_item(world, closes=timedelta(minutes=-1))  # its dates are over
    make_item(world, number=2, status="deciding")
    make_item(world, number=3, opens=timedelta(hours=1))  # not open yet
    as_user(client, "resident")
    before = count(world, Amendment)
    for number in (1, 2, 3):
        form = client.get(f"/c/z/items/{number}/amendments/new")
        assert form.status_code == 409
        assert "The consultation on this item is not open" in text(form)
        assert 'name="body"' not in form.text
        refused = client.form(
            f"/c/z/items/{number}/amendments/new",
            {"body": CHANGED, "rationale": "", "base_revision": "1"},
        )
        assert refused.status_code == 409
        listed = client.get(f"/c/z/items/{number}/amendments")
        assert listed.status_code == 200 and "/amendments/new" not in listed.text
    assert count(world, Amendment) == before


def test_only_people_in_the_register_propose(world: World, client: Client) -> None:
    make_item(world)
    assert client.get("/c/z/items/1/amendments/new", follow_redirects=False).status_code == 303
    assert propose(client).status_code == 401
    as_user(client, "auditor")  # an account without a person in the register
    assert client.get("/c/z/items/1/amendments/new").status_code == 403
    assert propose(client).status_code == 403
    assert count(world, Amendment) == 0


def test_preview_with_htmx_and_without(world: World, client: Client) -> None:
    make_item(world)
    as_user(client, "resident")
    fragment = client.post(
        "/c/z/items/1/amendments/new",
        data={
            "body": CHANGED,
            "base_revision": "1",
            "action": "preview",
            "_csrf_token": client.csrf(),
        },
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "<ins>" in fragment.text
    page = propose(client, CHANGED, action="preview")
    assert page.status_code == 200 and "<html" in page.text and "<ins>" in page.text
    assert "南门空地更大。" in page.text  # the form keeps what was typed
    same = propose(client, BODY, action="preview")
    assert "No changes yet" in text(same)
    oversized = client.post(
        "/c/z/items/1/amendments/new",
        data={
            "body": "长" * (BODY_MAX + 1),
            "base_revision": "1",
            "action": "preview",
            "_csrf_token": client.csrf(),
        },
        headers={"HX-Request": "true"},
    )
    # htmx swaps only 2xx answers: the preview panel says what is wrong with 200
    assert oversized.status_code == 200 and "<html" not in oversized.text
    assert "The proposed text is too long" in text(oversized)
    whole = propose(client, "长" * (BODY_MAX + 1), action="preview")
    assert whole.status_code == 400 and "The proposed text is too long" in text(whole)
    assert count(world, Amendment) == 0


def test_amendments_of_a_draft_or_another_community_are_not_found(
    world: World, client: Client
) -> None:
    make_item(world, status="draft")
    for path in ("/c/z/items/1/amendments", "/c/z/items/1/revisions", "/c/z/items/2/amendments"):
        assert client.get(path).status_code == 404, path
    as_user(client, "owner")  # the draft's author sees its (empty) history
    assert client.get("/c/z/items/1/revisions").status_code == 200
    as_user(client, "otheradmin")
    assert client.get("/c/other/items/1/amendments").status_code == 404
    assert client.get("/c/other/items/1/amendments/1").status_code == 404


# --- the author's decision -----------------------------------------------------------------------


def test_only_the_items_author_accepts_or_rejects(world: World, client: Client) -> None:
    make_item(world)
    as_user(client, "resident")
    assert propose(client).status_code == 303
    before = stored(world)
    for username in ("resident", "chair", "grid"):  # the proposer, the chair, someone else
        as_user(client, username)
        for action in ("accept", "reject"):
            refused = client.form(f"/c/z/items/1/amendments/1/{action}")
            assert refused.status_code == 403, (username, action)
            assert "Only the item's author may accept or reject" in text(refused)
    as_user(client, "auditor")
    assert client.form("/c/z/items/1/amendments/1/accept").status_code == 403
    assert stored(world) == before
    assert amendment_row(world).status == "proposed"
    as_user(client, "owner")
    assert client.form("/c/z/items/1/amendments/9/accept").status_code == 404


def test_reject_with_a_note(world: World, client: Client) -> None:
    make_item(world)
    as_user(client, "resident")
    assert propose(client).status_code == 303
    follower = world.ids["grid"]

    async def follow(session: Any) -> None:
        item = (await session.execute(select(AgendaItem))).scalar_one()
        session.add(ItemFollow(item_id=item.id, account_id=follower, community_id=world.ids["z"]))
        await session.commit()

    world.db.run(follow)
    as_user(client, "owner")
    too_long = client.form("/c/z/items/1/amendments/1/reject", {"note": "长" * (REASON_MAX + 1)})
    assert too_long.status_code == 400 and "The note is too long" in text(too_long)
    assert decided(world) == []
    rejected = client.form(
        "/c/z/items/1/amendments/1/reject", {"note": "北门<b>车位</b>已经规划。"}
    )
    assert rejected.status_code == 303
    amendment = amendment_row(world)
    assert (amendment.status, amendment.decision_note) == ("rejected", "北门<b>车位</b>已经规划。")
    assert decided(world) == [
        {"item": 1, "amendment": 1, "decision": "rejected", "base_revision": 1}
    ]
    assert item_row(world).revision == 1
    # the proposer and the follower hear of it; the author (the actor) does not
    assert notices(world, "resident")[-1]["status"] == "rejected"
    assert notices(world, "grid")[-1]["status"] == "rejected"
    assert [n["status"] for n in notices(world, "owner")] == ["proposed"]
    page = client.get("/c/z/items/1/amendments/1")
    assert "北门&lt;b&gt;车位&lt;/b&gt;已经规划。" in page.text  # the note, escaped
    again = client.form("/c/z/items/1/amendments/1/reject")
    assert again.status_code == 409 and "already been decided" in text(again)
    assert client.form("/c/z/items/1/amendments/1/accept").status_code == 409
    assert len(decided(world)) == 1


# --- a vote --------------------------------------------------------------------------------------


def run_vote(world: World, number: int, answers: dict[str, str]) -> None:
    """Open the draft ballot now, cast the answers (register ref -> answer), close, count; no
    objection period, so the result is final at once."""

    async def run(session: Any) -> None:
        chair = await session.get(Account, world.ids["chair"])
        ballot = await ballots.get_ballot(session, world.ids["z"], number)
        now = utcnow()
        data = {
            **ballot.definition,
            "opens_at": (now - timedelta(minutes=1)).isoformat(),
            "closes_at": (now + timedelta(days=1)).isoformat(),
            "early_close": True,
            "objection_days": 0,
        }
        await ballots.update_draft(session, ballot, data, ballot.revision)
        await ballots.open_ballot(session, ballot, chair)
        for ref, answer in answers.items():
            person = (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()
            await ballots.cast_online(session, ballot, person, {"q1": answer})
        await ballots.close_ballot(session, ballot, chair)
        await ballots.publish_tally(session, ballot)
        await ballots.finalise(session, ballot)

    world.db.run(run)


def test_a_disputed_amendment_put_to_a_vote_that_passes(
    world: World, client: Client, settings: Settings
) -> None:
    make_item(world)
    as_user(client, "resident")
    assert propose(client).status_code == 303
    as_user(client, "owner")
    assert client.form("/c/z/items/1/amendments/1/vote").status_code == 403  # the chair's call
    as_user(client, "chair")
    page = client.get("/c/z/items/1/amendments/1")
    assert "/c/z/items/1/amendments/1/vote" in page.text
    voted = client.form("/c/z/items/1/amendments/1/vote")
    assert voted.status_code == 303, voted.text
    (ballot,) = rows(world, Ballot)
    assert voted.headers["location"] == f"/c/z/ballots/{ballot.number}/edit"
    assert ballot.status == "draft"
    assert ballot.title == "Amendment 1 to item #1: 北门停车位"
    definition = ballot.definition
    assert definition["agenda_item"] == "1"
    assert (
        definition["questions"][0]["text"]
        == "Should amendment 1 be adopted into the text of item #1?"
    )
    assert (
        "建议在[removed: 北][added: 南]门增加[removed: 2][added: 3]0个停车位。"
        in (definition["description"])
    )
    assert "/c/z/items/1/amendments/1" in definition["description"]

    async def problems(session: Any) -> list[Any]:
        found = await session.get(Ballot, ballot.id)
        return await ballots.check_ballot(session, found)

    assert world.db.run(problems) == []  # the draft may open as it is
    assert client.get(voted.headers["location"]).status_code == 200

    amendment = amendment_row(world)
    assert (amendment.status, amendment.ballot_id) == ("put_to_vote", ballot.id)
    assert decided(world) == [
        {
            "item": 1,
            "amendment": 1,
            "decision": "put_to_vote",
            "base_revision": 1,
            "ballot": ballot.number,
        }
    ]
    assert notices(world, "resident")[-1]["status"] == "put_to_vote"
    assert notices(world, "owner")[-1]["status"] == "put_to_vote"
    # once put to a vote, the author can no longer decide it alone; nor can it be voted twice
    as_user(client, "owner")
    assert client.form("/c/z/items/1/amendments/1/accept").status_code == 409
    as_user(client, "chair")
    assert client.form("/c/z/items/1/amendments/1/vote").status_code == 409
    early = client.form("/c/z/items/1/amendments/1/settle")
    assert early.status_code == 409 and "has no final result yet" in text(early)
    assert count(world, Ballot) == 1 and len(decided(world)) == 1

    run_vote(world, ballot.number, {"P006": "yes", "P001": "yes", "P005": "no"})
    as_user(client, "resident")
    assert client.form("/c/z/items/1/amendments/1/settle").status_code == 403
    as_user(client, "chair")
    page = client.get("/c/z/items/1/amendments/1")
    assert "/c/z/items/1/amendments/1/settle" in page.text
    settled = client.form("/c/z/items/1/amendments/1/settle")
    assert settled.status_code == 303
    assert settled.headers["location"] == "/c/z/items/1/amendments/1?done=settled_accepted"
    item = item_row(world)
    assert (item.body, item.revision) == (CHANGED, 2)
    assert amendment_row(world).status == "accepted"
    assert decided(world)[-1] == {
        "item": 1,
        "amendment": 1,
        "decision": "accepted",
        "base_revision": 1,
        "ballot": ballot.number,
        "revision": 2,
        "body_sha256": sha256(CHANGED),
    }
    revision = rows(world, ItemRevision, ItemRevision.revision == 2)[0]
    assert revision.created_by == world.ids["chair"]
    assert client.form("/c/z/items/1/amendments/1/settle").status_code == 409
    assert len(decided(world)) == 2
    settle(world, settings)


def test_a_vote_that_fails_or_comes_too_late_rejects(world: World, client: Client) -> None:
    make_item(world)
    as_user(client, "resident")
    assert propose(client).status_code == 303  # amendment 1
    assert propose(client, CHANGED.replace("30", "40")).status_code == 303  # amendment 2
    as_user(client, "chair")
    assert client.form("/c/z/items/1/amendments/1/vote").status_code == 303
    assert client.form("/c/z/items/1/amendments/2/vote").status_code == 303
    first, second = sorted(rows(world, Ballot), key=lambda b: b.number)
    run_vote(world, first.number, {"P006": "no", "P001": "no", "P005": "yes"})
    run_vote(world, second.number, {"P006": "yes", "P001": "yes"})
    accept_directly(world, OTHER_CHANGE)  # amendment 3: the text moves on meanwhile

    assert client.form("/c/z/items/1/amendments/1/settle").status_code == 303
    assert amendment_row(world, 1).status == "rejected"
    page = client.get("/c/z/items/1/amendments/1")
    assert "The vote did not pass" in text(page)

    settled = client.form("/c/z/items/1/amendments/2/settle")
    assert settled.headers["location"].endswith("done=settled_rejected")
    amendment = amendment_row(world, 2)
    assert amendment.status == "rejected"
    assert "the item's text had changed since the amendment was written" in text(
        client.get("/c/z/items/1/amendments/2")
    )
    assert item_row(world).body == OTHER_CHANGE  # not overwritten
    entries = decided(world)
    assert entries[-2:][0] == {
        "item": 1,
        "amendment": 1,
        "decision": "rejected",
        "base_revision": 1,
        "ballot": first.number,
    }
    assert entries[-1] == {
        "item": 1,
        "amendment": 2,
        "decision": "rejected",
        "base_revision": 1,
        "ballot": second.number,
    }


def test_putting_to_a_vote_is_refused_when_out_of_date_or_decided(
    world: World, client: Client
) -> None:
    make_item(world)
    as_user(client, "resident")
    assert propose(client).status_code == 303
    accept_directly(world, OTHER_CHANGE)
    as_user(client, "chair")
    before = stored(world)
    stale = client.form("/c/z/items/1/amendments/1/vote")
    assert stale.status_code == 409 and "out of date" in text(stale)
    assert stored(world) == before and count(world, Ballot) == 0

    async def decide(session: Any) -> None:
        await session.execute(update(AgendaItem).values(status="decided"))
        await session.commit()

    world.db.run(decide)
    as_user(client, "resident")
    assert propose(client, "新文字", base="2").status_code == 409  # not in consultation
    as_user(client, "chair")

    # a fresh amendment against the current text, on an item decided since
    async def fresh(session: Any) -> None:
        item = (await session.execute(select(AgendaItem))).scalar_one()
        session.add(
            Amendment(
                community_id=world.ids["z"],
                item_id=item.id,
                number=9,
                author_id=world.ids["resident"],
                base_revision=item.revision,
                body="新文字",
            )
        )
        await session.commit()

    world.db.run(fresh)
    fixed = client.form("/c/z/items/1/amendments/9/vote")
    assert fixed.status_code == 409 and "its text can no longer change" in text(fixed)
    assert count(world, Ballot) == 0


# --- stored XSS ----------------------------------------------------------------------------------


def test_markup_in_a_proposal_is_shown_inert(world: World, client: Client) -> None:
    make_item(world)
    attack = BODY + "\n\n<script>alert('x')</script><img src=x onerror=alert(1)>"
    as_user(client, "resident")
    preview = propose(client, attack, action="preview")
    assert "<script>alert" not in preview.text and "<img src=x" not in preview.text
    assert propose(client, attack, rationale="<script>alert('r')</script>").status_code == 303
    for path in (
        "/c/z/items/1/amendments",
        "/c/z/items/1/amendments/1",
    ):
        page = client.get(path)
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        assert "&lt;script&gt;alert(" in page.text, path
    as_user(client, "owner")
    assert client.form("/c/z/items/1/amendments/1/accept").status_code == 303
    item = item_row(world)
    assert "<script" not in item.body_html and "<img" not in item.body_html
    history = client.get("/c/z/items/1/revisions")
    assert "<script>alert" not in history.text and "&lt;script&gt;" in history.text
    as_user(client, "chair")
    # the ballot's description holds the text, and its pages escape it too
    assert propose(client, attack + "。", base="2").status_code == 303
    voted = client.form("/c/z/items/1/amendments/2/vote")
    assert voted.status_code == 303
    ballot_page = client.get(voted.headers["location"].removesuffix("/edit"))
    assert "<script>alert" not in ballot_page.text


# --- races: a decision taken meanwhile never half-applies ------------------------------------------


def test_decisions_taken_meanwhile_leave_nothing_behind(world: World, client: Client) -> None:
    """The actions re-check in the database what the caller read: a stale copy of the item or the
    amendment makes them refuse and roll back, including the draft ballot a vote had made."""
    import pytest
    from sqlalchemy.orm.attributes import set_committed_value

    from app import amendments as actions
    from app.items import DeliberationError

    make_item(world)
    as_user(client, "resident")
    assert propose(client).status_code == 303
    assert propose(client, OTHER_CHANGE).status_code == 303

    async def run(session: Any) -> list[str]:
        community = await session.get(Community, world.ids["z"])
        chair = await session.get(Account, world.ids["chair"])
        owner = await session.get(Account, world.ids["owner"])
        item = (await session.execute(select(AgendaItem))).scalar_one()
        first = await actions.get_amendment(session, item, 1)
        second = await actions.get_amendment(session, item, 2)
        codes = []
        # someone else rejects amendment 1 while the chair's page still shows it proposed
        await session.execute(
            update(Amendment).where(Amendment.id == first.id).values(status="rejected")
        )
        await session.commit()
        set_committed_value(first, "status", "proposed")  # the chair's stale copy
        with pytest.raises(DeliberationError) as refused:
            await actions.put_to_vote(session, community, item, first, chair)
        codes.append(refused.value.code)
        # the item's text moves on while the author's page still shows revision 1
        await session.execute(update(AgendaItem).values(revision=2, body=CHANGED))
        await session.commit()
        set_committed_value(item, "revision", 1)  # the author's stale copy
        set_committed_value(item, "body", BODY)
        with pytest.raises(DeliberationError) as refused:
            await actions.accept(session, community, item, second, owner)
        codes.append(refused.value.code)
        return codes

    before_entries = count(world, LogEntry)
    assert world.db.run(run) == ["not_proposed", "stale_base"]
    assert count(world, Ballot) == 0  # the draft made for the vote is gone again
    assert count(world, LogEntry) == before_entries
    assert [a.status for a in sorted(rows(world, Amendment), key=lambda a: a.number)] == [
        "rejected",
        "proposed",
    ]
    assert count(world, ItemRevision) == 1 and item_row(world).body == CHANGED
