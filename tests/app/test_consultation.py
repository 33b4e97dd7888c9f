"""Consultation pages: the thread (nested, sorted, linkable), posting and replying as plain forms
and as htmx fragments, edits and history, reactions, reports, moderation within one's grid, the
chair's summary, and every refusal worded, answered with a 4xx and storing nothing."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

from sqlalchemy import event, func, select, update

from app.models import (
    Account,
    AgendaItem,
    Building,
    Comment,
    CommentReaction,
    CommentReport,
    CommentRevision,
    DeliberationSettings,
    ItemFollow,
    ItemRevision,
    ItemSummary,
    LogEntry,
    Notification,
    Person,
    Unit,
    UnitLink,
    utcnow,
)
from app.settings import Settings
from deliberation.text import render_markdown
from deliberation.threads import comment_path
from tests.app.conftest import Client, World, settle

TITLE = "Parking spaces by building 3"


# --- helpers ------------------------------------------------------------------------------------


def make_item(
    world: World,
    number: int = 1,
    status: str = "consultation",
    opens: timedelta = timedelta(days=-1),
    closes: timedelta = timedelta(days=7),
    community: str = "z",
    author: str = "owner",
) -> int:
    """An agenda item made directly with the models (the items' own actions are not what these
    tests are about); returns its id."""

    async def run(session: Any) -> int:
        now = utcnow()
        body = "Mark **twenty** spaces for residents."
        item = AgendaItem(
            community_id=world.ids[community],
            number=number,
            title=TITLE if number == 1 else f"{TITLE} ({number})",
            body=body,
            body_html=render_markdown(body),
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
                community_id=world.ids[community],
                item_id=item.id,
                revision=1,
                title=item.title,
                body=body,
                created_by=world.ids[author],
            )
        )
        await session.commit()
        return int(item.id)

    return world.db.run(run)


def set_item(world: World, item_id: int, **values: Any) -> None:
    async def run(session: Any) -> None:
        await session.execute(update(AgendaItem).where(AgendaItem.id == item_id).values(**values))
        await session.commit()

    world.db.run(run)


def add_neighbour(world: World) -> None:
    """A resident of grid 2 (the grid member's grid), with an account "neighbour"."""

    async def run(session: Any) -> int:
        unit = (
            await session.execute(
                select(Unit)
                .join(Building, Building.id == Unit.building_id)
                .where(Building.community_id == world.ids["z"], Unit.number == "302")
            )
        ).scalar_one()
        hashed = (await session.get(Account, world.ids["resident"])).password_hash
        account = Account(username="neighbour", display_name="周敏", password_hash=hashed)
        session.add(account)
        await session.flush()
        person = Person(community_id=world.ids["z"], ref="P009", name="周敏", account_id=account.id)
        session.add(person)
        await session.flush()
        session.add(
            UnitLink(
                community_id=world.ids["z"],
                unit_id=unit.id,
                person_id=person.id,
                relation="tenant",
                since=date(2024, 1, 1),
            )
        )
        await session.commit()
        return int(account.id)

    world.ids["neighbour"] = world.db.run(run)


def rows(world: World, model: Any, *where: Any) -> list[Any]:
    async def run(session: Any) -> list[Any]:
        return list((await session.execute(select(model).where(*where))).scalars())

    return world.db.run(run)


def count(world: World, model: Any, *where: Any) -> int:
    async def run(session: Any) -> int:
        query = select(func.count()).select_from(model).where(*where)
        return int((await session.execute(query)).scalar_one())

    return world.db.run(run)


def entries(world: World, type_: str) -> list[dict[str, Any]]:
    async def run(session: Any) -> list[dict[str, Any]]:
        query = select(LogEntry.payload).where(LogEntry.type == type_).order_by(LogEntry.id)
        return list((await session.execute(query)).scalars())

    return world.db.run(run)


def text(response: Any) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def another(client: Client, username: str | None = None) -> Client:
    """A second browser on the same app, in English, signed in as ``username``."""
    other = Client(app=client.app, base_url=str(client.base_url))
    other.blocking_portal = client.blocking_portal
    other.cookies.set("yishi_lang", "en")
    if username:
        other.sign_in(username)
    return other


def english(client: Client, username: str) -> Client:
    client.cookies.set("yishi_lang", "en")
    client.sign_in(username)
    return client


HX = {"HX-Request": "true"}
THREAD = "/c/z/items/1/consultation"


def post(client: Client, body: str, parent: int | None = None, **kwargs: Any) -> Any:
    data = {"body": body}
    if parent is not None:
        data["parent_id"] = str(parent)
    return client.form("/c/z/items/1/comments", data, **kwargs)


def posted_id(response: Any) -> int:
    assert response.status_code == 303, response.text
    found = re.search(r"#c(\d+)$", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


def comment(world: World, comment_id: int) -> Comment:
    return rows(world, Comment, Comment.id == comment_id)[0]


# --- the thread -----------------------------------------------------------------------------------


def test_comment_and_reply_as_plain_forms(world: World, client: Client) -> None:
    item_id = make_item(world)
    english(client, "resident")
    first = post(client, "We need *more* spaces.")
    assert first.headers["location"].startswith(THREAD + "?done=posted#c")
    top = posted_id(first)
    owner = another(client, "owner")
    reply = posted_id(post(owner, "Agreed, and **lights** too.", parent=top))
    deeper = posted_id(post(client, "Lights are in the budget.", parent=reply))

    stored = {c.id: c for c in rows(world, Comment, Comment.item_id == item_id)}
    assert stored[top].path == comment_path(None, top) and stored[top].depth == 0
    assert stored[reply].path == comment_path(stored[top].path, reply)
    assert stored[reply].depth == 1 and stored[reply].parent_id == top
    assert stored[deeper].path.startswith(stored[reply].path) and stored[deeper].depth == 2
    assert stored[reply].body_html == "<p>Agreed, and <strong>lights</strong> too.</p>\n"
    followers = {f.account_id for f in rows(world, ItemFollow, ItemFollow.item_id == item_id)}
    assert followers == {world.ids["resident"], world.ids["owner"]}
    # the parent's author is told of each reply, with a link to it
    told = rows(world, Notification, Notification.kind == "reply")
    assert {(n.account_id, n.params["comment"]) for n in told} == {
        (world.ids["resident"], reply),
        (world.ids["owner"], deeper),
    }
    assert told[0].params["item"] == 1 and told[0].params["title"] == TITLE
    assert {n.link for n in told} == {f"/c/z/comments/{reply}", f"/c/z/comments/{deeper}"}
    # residents' words stay out of the public log: only the register's import is in it
    assert count(world, LogEntry, LogEntry.type != "register.changed") == 0

    page = client.get(f"{THREAD}?done=posted")
    assert page.status_code == 200
    assert "Your comment is posted." in page.text
    assert f'<article id="c{top}"' in page.text and f'<article id="c{deeper}"' in page.text
    # replies nest inside an open <details> of their parent, to any depth
    nested = re.search(
        rf'<li id="t{top}">.*?<details open class="replies">.*?<ol class="thread" id="r{top}">'
        rf'.*?<li id="t{reply}">.*?<details open class="replies">.*?<li id="t{deeper}">',
        page.text,
        re.S,
    )
    assert nested, page.text
    assert "2 replies" in page.text and "1 reply" in page.text
    assert f'class="comment-time" href="/c/z/comments/{top}"' in page.text  # the permalink
    assert "<em>more</em>" in page.text
    assert page.text.count("<ol") == page.text.count("</ol>")
    assert page.text.count("<details") == page.text.count("</details>")
    assert "3 comments" in text(page)


def test_anonymous_readers_see_the_thread_without_forms(world: World, client: Client) -> None:
    make_item(world)
    resident = english(client, "resident")
    top = posted_id(post(resident, "First!"))
    anonymous = another(client)
    page = anonymous.get(THREAD)
    assert page.status_code == 200
    assert f'id="c{top}"' in page.text and "First!" in page.text
    assert "Sign in to comment" in page.text
    for form in ('/comments"', "/react", "/report", "/hide", 'name="parent_id"'):
        assert form not in page.text, form
    assert anonymous.form("/c/z/items/1/comments", {"body": "hi"}).status_code == 401
    assert anonymous.form(f"/c/z/comments/{top}/react", {"kind": "agree"}).status_code == 401


def test_sorting_applies_to_siblings_at_every_level(world: World, client: Client) -> None:
    item_id = make_item(world)
    english(client, "resident")
    a = posted_id(post(client, "comment A"))
    b = posted_id(post(client, "comment B"))
    a1 = posted_id(post(client, "reply A1", parent=a))
    a2 = posted_id(post(client, "reply A2", parent=a))

    async def support(session: Any) -> None:
        for comment_id, agree in ((a, 5), (b, 1), (a1, 3), (a2, 0)):
            await session.execute(
                update(Comment).where(Comment.id == comment_id).values(agree_count=agree)
            )
        await session.commit()

    world.db.run(support)

    def order(sort: str) -> list[int]:
        page = client.get(f"{THREAD}?sort={sort}")
        assert page.status_code == 200
        return [int(n) for n in re.findall(r'<article id="c(\d+)"', page.text)]

    assert order("newest") == [b, a, a2, a1]
    assert order("supported") == [a, a1, a2, b]
    assert order("nonsense") == [b, a, a2, a1]
    page = client.get(f"{THREAD}?sort=supported")
    assert re.search(r'href="[^"]*\?sort=supported" aria-current="page"', page.text)
    assert item_id


def grow_threads(
    world: World, item_id: int, shapes: list[tuple[int, int]], minutes_ago: int = 0
) -> list[list[int]]:
    """Threads made directly with the models, newest first: ``shapes`` gives each thread's reply
    chain depth and its number of direct replies to the root. Returns each thread's comment ids,
    root first, then its chain (deepest last), then its fan of replies."""

    async def run(session: Any) -> list[list[int]]:
        authors = [world.ids[u] for u in ("resident", "owner", "chair", "grid")]
        now = utcnow() - timedelta(minutes=minutes_ago)
        made: list[list[int]] = []
        n = 0

        async def add(parent: Comment | None, at: Any) -> Comment:
            nonlocal n
            n += 1
            c = Comment(
                community_id=world.ids["z"],
                item_id=item_id,
                parent_id=parent.id if parent else None,
                depth=parent.depth + 1 if parent else 0,
                author_id=authors[n % len(authors)],
                body=f"comment {n}",
                body_html=f"<p>comment {n}</p>",
                created_at=at,
            )
            session.add(c)
            await session.flush()
            c.path = comment_path(parent.path if parent else None, c.id)
            return c

        for index, (chain, fan) in enumerate(shapes):
            at = now - timedelta(hours=index)  # thread 0 is the newest
            root = await add(None, at)
            ids = [root.id]
            tip = root
            for step in range(chain):
                tip = await add(tip, at + timedelta(seconds=step + 1))
                ids.append(tip.id)
            for step in range(fan):
                ids.append((await add(root, at + timedelta(seconds=chain + step + 1))).id)
            made.append(ids)
        await session.commit()
        return made

    return world.db.run(run)


def roots_on(page: Any) -> list[int]:
    """The top-level comments of a page (or fragment), in order."""
    return [int(n) for n in re.findall(r'<li id="t(\d+)"', page.text) if n in _ROOTS]


_ROOTS: set[str] = set()


def article_ids(page: Any) -> list[int]:
    return [int(n) for n in re.findall(r'<article id="c(\d+)"', page.text)]


def test_pages_hold_twenty_whole_threads_in_either_order(world: World, client: Client) -> None:
    item_id = make_item(world)
    # 45 threads; thread 35 (from the newest) has a reply chain 30 deep and a fan of 4 replies
    shapes = [(1, 1)] * 45
    shapes[34] = (30, 4)
    made = grow_threads(world, item_id, shapes)
    roots = [ids[0] for ids in made]
    _ROOTS.clear()
    _ROOTS.update(str(r) for r in roots)
    english(client, "resident")

    first = client.get(THREAD)
    assert first.status_code == 200
    assert roots_on(first) == roots[:20]
    assert sorted(article_ids(first)) == sorted(i for ids in made[:20] for i in ids)
    assert f"{sum(len(ids) for ids in made)} comments" in text(first)  # all pages' comments
    assert "Page 1 of 3: threads 1–20 of 45" in text(first)
    assert 'rel="next" href="/c/z/items/1/consultation?p=2"' in first.text
    assert 'rel="prev"' not in first.text
    more = re.search(r'<a class="button secondary more-threads" ([^>]*)>([^<]*)</a>', first.text)
    assert more, first.text
    assert 'href="/c/z/items/1/consultation?p=2"' in more.group(1)
    assert 'hx-get="/c/z/items/1/consultation?p=2&amp;from=1"' in more.group(1)
    assert 'hx-target="#thread"' in more.group(1) and 'hx-swap="beforeend"' in more.group(1)
    assert more.group(2) == "Show 20 more threads"

    second = client.get(f"{THREAD}?p=2")
    assert second.status_code == 200
    assert roots_on(second) == roots[20:40]
    # thread 35 whole, its chain nested 30 deep, and nothing of the other pages
    assert sorted(article_ids(second)) == sorted(i for ids in made[20:40] for i in ids)
    deep = made[34]
    assert re.search(rf'<li id="t{deep[29]}">.*?<ol class="thread" id="r{deep[29]}">'
                     rf'\s*<li id="t{deep[30]}">', second.text, re.S)  # fmt: skip
    assert second.text.count("<ol") == second.text.count("</ol>")
    assert second.text.count("<details") == second.text.count("</details>")
    assert "Page 2 of 3: threads 21–40 of 45" in text(second)
    assert 'rel="prev" href="/c/z/items/1/consultation"' in second.text
    assert 'rel="next" href="/c/z/items/1/consultation?p=3"' in second.text
    assert "Consultation · Parking spaces by building 3 · page 2" in text(second)

    last = client.get(f"{THREAD}?p=3")
    assert last.status_code == 200 and roots_on(last) == roots[40:]
    assert "Page 3 of 3: threads 41–45 of 45" in text(last)
    assert 'rel="next"' not in last.text and "more-threads" not in last.text
    assert 'rel="prev" href="/c/z/items/1/consultation?p=2"' in last.text

    # beyond the last page, or not a page: 404, in full and for htmx alike
    for bad in ("4", "0", "-1", "x", "99999999", "²", "%EF%BC%94"):  # 4 in full width: no page 4
        assert client.get(f"{THREAD}?p={bad}").status_code == 404, bad
        assert client.get(f"{THREAD}?p={bad}&from=1", headers=HX).status_code == 404, bad
    assert client.get(f"{THREAD}?p=3&sort=supported").status_code == 200
    assert roots_on(client.get(f"{THREAD}?p=%EF%BC%92")) == roots[20:40]  # 2 in full width

    # most supported: roots by agree count, then newest; the pages keep the order
    async def support(session: Any) -> None:
        for root, agree in ((roots[44], 9), (roots[30], 5), (roots[2], 5), (roots[10], 1)):
            await session.execute(
                update(Comment).where(Comment.id == root).values(agree_count=agree)
            )
        await session.commit()

    world.db.run(support)
    ranked = [roots[44], roots[2], roots[30], roots[10]] + [
        r for r in roots if r not in {roots[44], roots[30], roots[2], roots[10]}
    ]
    supported = client.get(f"{THREAD}?sort=supported")
    assert roots_on(supported) == ranked[:20]
    assert 'rel="next" href="/c/z/items/1/consultation?sort=supported&amp;p=2"' in supported.text
    assert roots_on(client.get(f"{THREAD}?sort=supported&p=2")) == ranked[20:40]
    assert roots_on(client.get(f"{THREAD}?sort=supported&p=3")) == ranked[40:]


def test_an_empty_consultation_has_one_empty_page(world: World, client: Client) -> None:
    make_item(world)
    page = another(client).get(THREAD)
    assert page.status_code == 200 and "No comments yet." in page.text
    assert "more-threads" not in page.text and 'rel="next"' not in page.text
    assert client.get(f"{THREAD}?p=2").status_code == 404


def test_permalinks_land_on_the_page_of_the_thread(world: World, client: Client) -> None:
    item_id = make_item(world)
    shapes = [(0, 1)] * 45
    shapes[34] = (30, 0)
    made = grow_threads(world, item_id, shapes, minutes_ago=5)
    deepest = made[34][-1]
    english(client, "resident")
    found = client.get(f"/c/z/comments/{deepest}", follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"] == f"{THREAD}?p=2#c{deepest}"
    assert f'<article id="c{deepest}"' in client.get(found.headers["location"]).text
    assert (
        client.get(f"/c/z/comments/{made[0][1]}", follow_redirects=False).headers["location"]
        == f"{THREAD}#c{made[0][1]}"
    )
    assert (
        client.get(f"/c/z/comments/{made[44][0]}", follow_redirects=False).headers["location"]
        == f"{THREAD}?p=3#c{made[44][0]}"
    )

    # a reply without JavaScript lands on its thread's page; a new thread is the newest
    reply = post(client, "Still here, thirty-one deep.", parent=deepest)
    assert reply.headers["location"].startswith(f"{THREAD}?p=2&done=posted#c")
    new = post(client, "A new thread")
    assert new.headers["location"].startswith(f"{THREAD}?done=posted#c")
    # which pushes thread 35 to the next page but one: its permalink follows
    for _ in range(5):
        post(client, "Another new thread")
    moved = client.get(f"/c/z/comments/{deepest}", follow_redirects=False)
    assert moved.headers["location"] == f"{THREAD}?p=3#c{deepest}"

    # edits, reactions and reports go back to the comment's page too
    owner = another(client, "owner")
    reacted = owner.form(f"/c/z/comments/{deepest}/react", {"kind": "agree"})
    assert reacted.headers["location"] == f"{THREAD}?p=3#c{deepest}"
    reported = owner.form(f"/c/z/comments/{deepest}/report", {"reason": "spam"})
    assert reported.headers["location"] == f"{THREAD}?p=3&done=reported#c{deepest}"
    # a refused reaction without JavaScript shows the comment's page, with the message
    refused = owner.form(f"/c/z/comments/{deepest}/react", {"kind": "love"})
    assert refused.status_code == 400 and "Choose agree, disagree or question." in text(refused)
    assert f'<article id="c{deepest}"' in refused.text and "Page 3 of 3" in text(refused)

    # the chair's summary links to comments elsewhere by their permalinks, here by anchors
    async def summarise(session: Any) -> None:
        session.add(
            ItemSummary(
                item_id=item_id,
                community_id=world.ids["z"],
                published_by=world.ids["chair"],
                points=[{"side": "for", "text": "Depth", "comments": [made[0][0], deepest]}],
            )
        )
        await session.commit()

    world.db.run(summarise)
    page = client.get(THREAD)
    assert f'href="/c/z/comments/{deepest}">comment {deepest}</a>' in page.text
    assert f'href="#c{made[0][0]}">comment {made[0][0]}</a>' in page.text


def test_pages_load_in_the_same_few_queries(world: World, client: Client) -> None:
    """Small threads on one page, a 90-deep chain and a fan of 300 on another: the number of
    statements does not grow with the page or with the threads' size."""
    item_id = make_item(world)
    add_neighbour(world)
    shapes = [(1, 0)] * 25
    shapes[22] = (90, 300)  # on page 2
    grow_threads(world, item_id, shapes)
    engine = client.app.state.engine.sync_engine
    english(client, "grid")  # a moderator: also asks whose comments they may moderate
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # the app's background tasks (sequencer, witnesses, ballots) read other tables
        if re.search(
            r"\b(comment|comment_reaction|account|person|building|item_summary)\b", statement
        ):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        counted = []
        pages = []
        for url in (THREAD, f"{THREAD}?p=2", f"{THREAD}?p=2&from=1", f"{THREAD}?sort=supported"):
            statements.clear()
            pages.append(client.get(url, headers=HX if "from" in url else {}))
            counted.append(len(statements))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [p.status_code for p in pages] == [200] * 4
    assert len(article_ids(pages[0])) == 40
    assert len(article_ids(pages[1])) == 4 * 2 + 1 + 90 + 300
    assert len(set(counted)) == 1 and counted[0] <= 8, (counted, statements)
    # the comments come in one statement for the page's threads, not one per thread
    assert sum(1 for s in statements if "FROM comment JOIN account" in s) == 1, statements
    assert pages[1].text.count("<ol") == pages[1].text.count("</ol>")


def test_htmx_shows_more_threads_in_place(world: World, client: Client) -> None:
    item_id = make_item(world)
    made = grow_threads(world, item_id, [(2, 1)] * 45)
    roots = [ids[0] for ids in made]
    english(client, "resident")
    more = client.get(f"{THREAD}?p=2&from=1", headers=HX)
    assert more.status_code == 200 and "<html" not in more.text
    # the threads of page 2, whole, for #thread; the first takes the focus
    assert more.text.lstrip().startswith(f'<li id="t{roots[20]}" tabindex="-1" autofocus>')
    assert sorted(article_ids(more)) == sorted(i for ids in made[20:40] for i in ids)
    assert more.text.count("autofocus") == 1
    assert more.text.count("<ol") == more.text.count("</ol>")
    # and the pager after them, swapped out of band: pages 1–2 are on screen now
    pager = more.text[more.text.index('<nav class="pager" id="pager"') :]
    assert 'hx-swap-oob="true"' in pager.split(">", 1)[0]
    assert "Pages 1–2 of 3: threads 1–40 of 45" in " ".join(html.unescape(pager).split())
    assert 'hx-get="/c/z/items/1/consultation?p=3&amp;from=1"' in pager
    assert 'rel="next" href="/c/z/items/1/consultation?p=3"' in pager
    assert 'rel="prev"' not in pager  # page 1 is on screen already
    assert "Show 5 more threads" in pager
    # the last page: no more to show
    end = client.get(f"{THREAD}?p=3&from=1", headers=HX)
    assert "more-threads" not in end.text and 'rel="next"' not in end.text
    assert "Pages 1–3 of 3: threads 1–45 of 45" in " ".join(html.unescape(end.text).split())
    # a page reached directly, then "more": the screen starts at page 2
    from_two = client.get(f"{THREAD}?p=3&from=2", headers=HX)
    assert 'rel="prev" href="/c/z/items/1/consultation"' in from_two.text
    # a nonsense "from" is the page itself; a history restore gets the whole page
    odd = client.get(f"{THREAD}?p=2&from=9", headers=HX)
    assert "Page 2 of 3: threads 21–40 of 45" in " ".join(html.unescape(odd.text).split())
    restore = client.get(f"{THREAD}?p=2", headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text


def test_a_signed_in_page_stays_lean(world: World, client: Client) -> None:
    """Forms a resident may use are on every comment, but nothing is repeated that need not be:
    one token a form, no reasons list or report form (fetched when opened), no per-form
    handlers or targets (inherited from the thread)."""
    item_id = make_item(world)
    made = grow_threads(world, item_id, [(3, 2)] * 5)
    comments = sum(len(ids) for ids in made)
    english(client, "owner")
    page = client.get(THREAD)
    assert page.status_code == 200
    others = comments - page.text.count('class="edit-link"')
    assert page.text.count('name="parent_id"') == comments
    assert page.text.count('class="reactions" id="rx') == comments  # forms on others', text on own
    assert page.text.count('<form class="reactions"') == others
    # a token for each reaction and reply form, the new comment's form, and the header's two
    # (language, sign out)
    tokens = page.text.count('name="_csrf_token"')
    assert tokens == others + comments + 1 + 2, tokens
    assert "<select" not in page.text and 'name="reason"' not in page.text
    assert page.text.count('<details class="report" hx-get="/c/z/comments/') == others
    # one handler and target for the whole thread, the new comment's target, each report's slot
    assert page.text.count("hx-on") == 1 and page.text.count("hx-target") == 2 + others


def test_the_report_form_is_fetched_when_opened(world: World, client: Client) -> None:
    make_item(world)
    english(client, "resident")
    theirs = posted_id(post(client, "Call me at 13800000006"))
    owner = another(client, "owner")
    page = owner.get(THREAD)
    assert (
        f'<details class="report" hx-get="/c/z/comments/{theirs}/report" hx-trigger="toggle once"'
        in page.text
    )
    assert f'<a href="/c/z/comments/{theirs}/report">Open the report form</a>' in page.text
    fragment = owner.get(f"/c/z/comments/{theirs}/report", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith(
        f'<form method="post" action="/c/z/comments/{theirs}/report"'
    )
    assert 'name="_csrf_token"' in fragment.text and f'id="rn{theirs}"' in fragment.text
    assert '<option value="private_data">' in fragment.text
    # without JavaScript, a page of its own
    full = owner.get(f"/c/z/comments/{theirs}/report")
    assert full.status_code == 200 and "Report a comment" in text(full)
    assert "Call me at 13800000006" in text(full)
    assert f'href="/c/z/comments/{theirs}"' in full.text  # back to the comment's page
    # a refusal there keeps what was typed, names the field, and stores nothing
    long_note = owner.form(f"/c/z/comments/{theirs}/report", {"reason": "spam", "note": "n" * 501})
    assert long_note.status_code == 400 and "Note is too long" in text(long_note)
    assert "Report a comment" in text(long_note) and f'href="#rn{theirs}"' in long_note.text
    assert '<option value="spam" selected>' in long_note.text
    assert count(world, CommentReport) == 0
    assert owner.form(f"/c/z/comments/{theirs}/report", {"reason": "spam"}).status_code == 303
    again = owner.form(f"/c/z/comments/{theirs}/report", {"reason": "spam"})
    assert again.status_code == 409 and "You have already reported" in text(again)
    assert 'name="reason"' not in again.text
    # the report page is for people of the register
    anonymous = another(client).get(f"/c/z/comments/{theirs}/report", follow_redirects=False)
    assert anonymous.status_code == 401 or anonymous.headers["location"].startswith("/signin")
    assert another(client, "auditor").get(f"/c/z/comments/{theirs}/report").status_code == 403
    assert another(client, "otheradmin").get(f"/c/other/comments/{theirs}/report").status_code in (
        403,
        404,
    )


def test_permalinks_and_tenants_kept_apart(world: World, client: Client) -> None:
    make_item(world)
    make_item(world, number=2, status="draft")
    english(client, "resident")
    top = posted_id(post(client, "Hello"))
    found = client.get(f"/c/z/comments/{top}", follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"] == f"{THREAD}#c{top}"  # page 1 is the thread's own URL
    assert client.get(f"/c/other/comments/{top}", follow_redirects=False).status_code == 404
    assert client.get("/c/other/items/1/consultation").status_code == 404
    assert client.get("/c/z/comments/999999", follow_redirects=False).status_code == 404
    assert client.get("/c/z/items/2/consultation").status_code == 404  # a draft is its author's
    assert client.get("/c/z/items/3/consultation").status_code == 404
    other = another(client, "otheradmin")
    assert other.get(f"/c/other/comments/{top}/history").status_code == 404


# --- htmx -----------------------------------------------------------------------------------------


def test_htmx_gets_fragments_aimed_at_the_right_list(world: World, client: Client) -> None:
    make_item(world)
    english(client, "resident")
    new = post(client, "A new thread", headers=HX)
    assert new.status_code == 201 and "<html" not in new.text
    assert new.headers["hx-retarget"] == "#thread" and new.headers["hx-reswap"] == "afterbegin"
    top = int(re.search(r'<article id="c(\d+)"', new.text).group(1))  # type: ignore[union-attr]
    assert new.text.lstrip().startswith(f'<li id="t{top}">')
    assert 'id="e-new"' in new.text and 'hx-swap-oob="true"' in new.text  # clears old errors

    owner = another(client, "owner")
    first = post(owner, "The first reply", parent=top, headers=HX)
    assert first.status_code == 201
    # the parent had no replies yet: the fragment opens its list of replies
    assert first.headers["hx-retarget"] == f"#t{top}" and first.headers["hx-reswap"] == "beforeend"
    assert (
        f'<details open class="replies"><summary>1 reply</summary><ol class="thread" id="r{top}">'
        in first.text
    )
    second = post(owner, "A second reply", parent=top, headers=HX)
    assert second.headers["hx-retarget"] == f"#r{top}"
    assert second.headers["hx-reswap"] == "afterbegin" and "<details open" not in second.text

    refused = post(owner, "   ", parent=top, headers=HX)
    assert refused.status_code == 400 and "<html" not in refused.text
    assert (
        refused.headers["hx-retarget"] == f"#e{top}" and refused.headers["hx-reswap"] == "innerHTML"
    )
    assert "Your comment is empty" in refused.text
    assert count(world, Comment) == 3

    # the thread page lets htmx swap those 4xx answers
    page = client.get(THREAD)
    assert 'name="htmx-config"' in page.text and '"40[039]|429","swap":true' in html.unescape(
        page.text
    )


# --- refusals -------------------------------------------------------------------------------------


def test_bad_comments_are_refused_clearly_and_nothing_is_stored(
    world: World, client: Client
) -> None:
    item_id = make_item(world)
    make_item(world, number=2)
    english(client, "resident")
    other_item = posted_id(client.form("/c/z/items/2/comments", {"body": "elsewhere"}))
    before = count(world, Comment)

    empty = post(client, " \n ")
    assert empty.status_code == 400
    assert "Your comment is empty: please write something." in text(empty)
    assert 'href="#f-body"' in empty.text  # the summary links to the field

    long = post(client, "字" * 5001)
    assert long.status_code == 400
    assert "Your comment is too long: 5001 characters, at most 5000." in text(long)
    assert "字" * 5001 in long.text  # the text comes back to be shortened

    stranger = post(client, "a reply to another item's comment", parent=other_item)
    assert stranger.status_code == 400
    assert "not part of this consultation" in text(stranger)
    assert (
        client.form("/c/z/items/1/comments", {"body": "x", "parent_id": "abc"}).status_code == 400
    )
    assert (
        client.form("/c/z/items/1/comments", {"body": "x", "parent_id": "99999999999"}).status_code
        == 400
    )
    assert client.form("/c/z/items/9/comments", {"body": "x"}).status_code == 404

    set_item(world, item_id, status="deciding")
    closed = post(client, "too late")
    assert closed.status_code == 409
    assert "The consultation is closed" in text(closed)
    assert "Comments are taken only while the consultation is open." in text(client.get(THREAD))
    set_item(
        world,
        item_id,
        status="consultation",
        consultation_opens_at=utcnow() + timedelta(hours=2),
    )
    early = post(client, "too early")
    assert early.status_code == 409 and "has not opened yet" in text(early)
    assert count(world, Comment) == before

    auditor = another(client, "auditor")  # no person in the register
    assert auditor.form("/c/z/items/1/comments", {"body": "hi"}).status_code == 403


def test_posting_is_limited_per_hour(world: World, client: Client) -> None:
    make_item(world)

    async def limit(session: Any) -> None:
        session.add(DeliberationSettings(community_id=world.ids["z"], comments_per_hour=2))
        await session.commit()

    world.db.run(limit)
    english(client, "resident")
    posted_id(post(client, "one"))
    posted_id(post(client, "two"))
    third = post(client, "three")
    assert third.status_code == 429
    assert "You have posted 2 comments in the past hour, the most allowed." in text(third)
    assert re.search(r"You may post again at \d{4}-\d\d-\d\d \d\d:\d\d", text(third))
    htmx = post(client, "three", headers=HX)
    assert htmx.status_code == 429 and "You may post again" in htmx.text
    assert count(world, Comment) == 2
    # the limit is per account
    posted_id(post(another(client, "owner"), "mine"))

    # an hour later the first comment no longer counts
    async def age(session: Any) -> None:
        first = (await session.execute(select(Comment).order_by(Comment.id))).scalars().first()
        first.created_at = utcnow() - timedelta(minutes=61)
        await session.commit()

    world.db.run(age)
    posted_id(post(client, "three"))


def test_the_default_limit_applies_without_a_settings_row(world: World, client: Client) -> None:
    make_item(world)
    english(client, "resident")
    for n in range(20):
        posted_id(post(client, f"comment {n}"))
    assert post(client, "one too many").status_code == 429


# --- editing --------------------------------------------------------------------------------------


def test_edits_keep_the_history(world: World, client: Client) -> None:
    item_id = make_item(world)
    english(client, "resident")
    mine = posted_id(post(client, "First *draft*"))
    form = client.get(f"/c/z/comments/{mine}/edit")
    assert form.status_code == 200 and "First *draft*" in html.unescape(form.text)
    done = client.form(f"/c/z/comments/{mine}/edit", {"body": "Second **text**"})
    assert done.status_code == 303
    assert done.headers["location"] == f"{THREAD}?done=edited#c{mine}"
    stored = comment(world, mine)
    assert (stored.revision, stored.body) == (2, "Second **text**")
    assert stored.edited_at is not None
    kept = rows(world, CommentRevision, CommentRevision.comment_id == mine)
    assert [(r.revision, r.body) for r in kept] == [(1, "First *draft*")]

    page = client.get(THREAD)
    assert f'<a class="edited" href="/c/z/comments/{mine}/history">edited</a>' in page.text
    history = another(client).get(f"/c/z/comments/{mine}/history")  # public
    assert history.status_code == 200
    assert "<strong>text</strong>" in history.text and "<em>draft</em>" in history.text
    assert "Current text (version 2)" in text(history) and "Version 1" in text(history)

    # unchanged text: nothing new is kept
    client.form(f"/c/z/comments/{mine}/edit", {"body": "Second **text**"})
    assert comment(world, mine).revision == 2

    empty = client.form(f"/c/z/comments/{mine}/edit", {"body": ""})
    assert empty.status_code == 400 and "Your comment is empty" in text(empty)
    too_long = client.form(f"/c/z/comments/{mine}/edit", {"body": "x" * 5001})
    assert too_long.status_code == 400 and "at most 5000" in text(too_long)

    owner = another(client, "owner")
    assert owner.get(f"/c/z/comments/{mine}/edit").status_code == 403
    stolen = owner.form(f"/c/z/comments/{mine}/edit", {"body": "hijacked"})
    assert stolen.status_code == 403 and "Only the author of a comment may edit it." in text(stolen)

    set_item(world, item_id, status="deciding")
    late = client.form(f"/c/z/comments/{mine}/edit", {"body": "later"})
    assert late.status_code == 409 and "The consultation is closed" in text(late)
    assert client.get(f"/c/z/comments/{mine}/edit").status_code == 409
    assert comment(world, mine).body == "Second **text**"
    assert count(world, CommentRevision) == 1


# --- reactions ------------------------------------------------------------------------------------


def test_reactions_toggle_replace_and_count(world: World, client: Client) -> None:
    make_item(world)
    english(client, "resident")
    theirs = posted_id(post(client, "Paint the lines"))
    owner = another(client, "owner")
    chair = another(client, "chair")

    def counts() -> tuple[int, int, int]:
        c = comment(world, theirs)
        return c.agree_count, c.disagree_count, c.question_count

    agreed = owner.form(f"/c/z/comments/{theirs}/react", {"kind": "agree"})
    assert agreed.status_code == 303 and agreed.headers["location"].endswith(f"#c{theirs}")
    chair.form(f"/c/z/comments/{theirs}/react", {"kind": "agree"})
    assert counts() == (2, 0, 0)
    page = owner.get(THREAD)
    assert re.search(r'value="agree" class="reaction" aria-pressed="true"', page.text)
    assert re.search(r'value="disagree" [^>]*aria-pressed="false"', page.text)

    owner.form(f"/c/z/comments/{theirs}/react", {"kind": "question"})  # replaces
    assert counts() == (1, 0, 1)
    fragment = owner.form(f"/c/z/comments/{theirs}/react", {"kind": "question"}, headers=HX)
    assert counts() == (1, 0, 0)  # the same again takes it back
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith(f'<form class="reactions" id="rx{theirs}"')
    assert 'aria-pressed="true"' not in fragment.text
    assert count(world, CommentReaction) == 1

    own = client.form(f"/c/z/comments/{theirs}/react", {"kind": "agree"})
    assert own.status_code == 403
    assert "You cannot react to your own comment." in text(own)
    own_htmx = client.form(f"/c/z/comments/{theirs}/react", {"kind": "agree"}, headers=HX)
    assert own_htmx.status_code == 403 and own_htmx.headers["hx-retarget"] == f"#rxe{theirs}"
    unknown = owner.form(f"/c/z/comments/{theirs}/react", {"kind": "love"})
    assert unknown.status_code == 400 and "Choose agree, disagree or question." in text(unknown)
    assert (
        another(client, "auditor")
        .form(f"/c/z/comments/{theirs}/react", {"kind": "agree"})
        .status_code
        == 403
    )
    assert counts() == (1, 0, 0)


def test_concurrent_reactions_keep_the_counts_right(world: World, client: Client) -> None:
    import asyncio

    from app import consultation
    from app.auth import load_membership
    from app.db import create_engine, create_sessionmaker
    from app.models import Community

    make_item(world)
    add_neighbour(world)
    english(client, "resident")
    theirs = posted_id(post(client, "Bike racks"))

    async def click(sessionmaker: Any, username: str, kind: str) -> None:
        async with sessionmaker() as session:
            community = await session.get(Community, world.ids["z"])
            account = await session.get(Account, world.ids[username])
            m = await load_membership(session, community, account)
            target, item = await consultation.get_comment(session, community.id, theirs)
            await consultation.react(session, m, account, target, item, kind)

    async def crowd() -> None:
        engine = create_engine(world.db.url)
        sessionmaker = create_sessionmaker(engine)
        try:
            clicks = [("owner", "agree"), ("chair", "agree"), ("grid", "disagree"),
                      ("neighbour", "agree"), ("owner", "agree"), ("grid", "question")]  # fmt: skip
            await asyncio.gather(*(click(sessionmaker, u, k) for u, k in clicks))
        finally:
            await engine.dispose()

    from tests.conftest import in_thread

    in_thread(asyncio.run, crowd())
    stored = comment(world, theirs)
    reactions = rows(world, CommentReaction, CommentReaction.comment_id == theirs)
    for kind in ("agree", "disagree", "question"):
        assert getattr(stored, f"{kind}_count") == sum(1 for r in reactions if r.kind == kind)


# --- reports and moderation -----------------------------------------------------------------------


def test_reports_once_per_reporter(world: World, client: Client) -> None:
    make_item(world)
    english(client, "resident")
    theirs = posted_id(post(client, "Call me at 13800000006"))
    owner = another(client, "owner")
    done = owner.form(
        f"/c/z/comments/{theirs}/report", {"reason": "private_data", "note": "a phone number"}
    )
    assert done.status_code == 303 and done.headers["location"].endswith(
        f"?done=reported#c{theirs}"
    )
    again = owner.form(f"/c/z/comments/{theirs}/report", {"reason": "spam"})
    assert again.status_code == 409 and "You have already reported this comment" in text(again)
    bad = another(client, "chair").form(f"/c/z/comments/{theirs}/report", {"reason": "boring"})
    assert bad.status_code == 400 and "Choose a reason from the list." in text(bad)
    long_note = another(client, "chair").form(
        f"/c/z/comments/{theirs}/report", {"reason": "spam", "note": "n" * 501}
    )
    assert long_note.status_code == 400 and "Note is too long" in text(long_note)
    htmx = another(client, "chair").form(
        f"/c/z/comments/{theirs}/report", {"reason": "spam"}, headers=HX
    )
    assert htmx.status_code == 200 and "A moderator will look at this comment." in htmx.text
    htmx_again = another(client, "chair").form(
        f"/c/z/comments/{theirs}/report", {"reason": "spam"}, headers=HX
    )
    assert htmx_again.status_code == 409 and htmx_again.headers["hx-retarget"] == f"#re{theirs}"
    reports = rows(world, CommentReport)
    assert sorted((r.reporter_id, r.reason, r.note) for r in reports) == sorted(
        [
            (world.ids["owner"], "private_data", "a phone number"),
            (world.ids["chair"], "spam", None),
        ]
    )


def test_grid_members_moderate_only_their_grid(
    world: World, client: Client, settings: Settings
) -> None:
    make_item(world)
    add_neighbour(world)
    neighbour = english(client, "neighbour")  # lives in grid 2
    near = posted_id(post(neighbour, "Those people are idiots"))
    resident = another(client, "resident")  # lives in grid 1
    far = posted_id(post(resident, "You are all idiots"))
    owner = another(client, "owner")
    owner.form(f"/c/z/comments/{near}/report", {"reason": "personal_attack"})
    owner.form(f"/c/z/comments/{far}/report", {"reason": "personal_attack"})
    grid = another(client, "grid")

    queue = grid.get("/c/z/moderation")
    assert queue.status_code == 200
    assert f'id="report-{near}"' in queue.text and f'id="report-{far}"' not in queue.text

    outside = grid.form(f"/c/z/comments/{far}/hide", {"reason": "personal_attack"})
    assert outside.status_code == 403 and "This comment is outside your grid" in text(outside)
    outside_htmx = grid.form(f"/c/z/comments/{far}/hide", {"reason": "spam"}, headers=HX)
    assert outside_htmx.status_code == 403 and outside_htmx.headers["hx-retarget"] == f"#me{far}"
    assert grid.form(f"/c/z/comments/{far}/restore", {}).status_code == 403
    assert comment(world, far).hidden_at is None
    assert entries(world, "comment.moderated") == []
    # a resident may not moderate at all
    assert resident.form(f"/c/z/comments/{near}/hide", {"reason": "spam"}).status_code == 403

    unknown = grid.form(f"/c/z/comments/{near}/hide", {"reason": "ugly"})
    assert unknown.status_code == 400 and "Choose a reason from the list." in text(unknown)
    hidden = grid.form(
        f"/c/z/comments/{near}/hide", {"reason": "personal_attack", "next": "/c/z/moderation"}
    )
    assert hidden.status_code == 303 and hidden.headers["location"] == "/c/z/moderation?done=hidden"
    stored = comment(world, near)
    assert stored.hidden_reason == "personal_attack" and stored.hidden_by == world.ids["grid"]
    assert all(
        r.resolved_at is not None
        for r in rows(world, CommentReport, CommentReport.comment_id == near)
    )
    assert all(
        r.resolved_at is None for r in rows(world, CommentReport, CommentReport.comment_id == far)
    )
    assert entries(world, "comment.moderated") == [
        {
            "item": 1,
            "comment": near,
            "action": "hidden",
            "reason": "personal_attack",
            "by": "grid_member",
        }
    ]
    told = rows(world, Notification, Notification.kind == "moderation")
    assert [(n.account_id, n.params, n.link) for n in told] == [
        (
            world.ids["neighbour"],
            {"item": 1, "comment": near, "reason": "personal_attack"},
            f"/c/z/comments/{near}",
        )
    ]
    twice = grid.form(f"/c/z/comments/{near}/hide", {"reason": "spam"})
    assert twice.status_code == 409 and "already hidden" in text(twice)

    # the chair moderates anyone's comment, here with htmx: the article comes back
    chair = another(client, "chair")
    swapped = chair.form(f"/c/z/comments/{far}/hide", {"reason": "personal_attack"}, headers=HX)
    assert swapped.status_code == 200 and swapped.text.lstrip().startswith(f'<article id="c{far}"')
    assert "Hidden by a moderator: a personal attack" in swapped.text
    # the grid member's list holds their grid's hidden comment, without its text
    listed = grid.get("/c/z/moderation")
    assert f'id="hidden-{near}"' in listed.text and f'id="hidden-{far}"' not in listed.text
    assert "idiots" not in listed.text and f"/c/z/comments/{near}/restore" in listed.text
    everything = chair.get("/c/z/moderation")
    assert f'id="hidden-{near}"' in everything.text and f'id="hidden-{far}"' in everything.text
    assert "Those people are idiots" in everything.text
    restored = grid.form(f"/c/z/comments/{near}/restore", {})
    assert restored.status_code == 303 and restored.headers["location"].endswith(
        f"?done=restored#c{near}"
    )
    assert comment(world, near).hidden_at is None
    assert grid.form(f"/c/z/comments/{near}/restore", {}).status_code == 409
    logged = entries(world, "comment.moderated")
    assert [(e["comment"], e["action"], e["by"]) for e in logged] == [
        (near, "hidden", "grid_member"),
        (far, "hidden", "chair"),
        (near, "restored", "grid_member"),
    ]
    assert logged[2]["reason"] == "personal_attack"
    # no text and no names in the public log
    assert not any("idiots" in str(e) or "周敏" in str(e) for e in logged)
    settle(world, settings)
    assert "comment moderated" in another(client).get("/c/z/log").text


def test_hidden_text_is_for_chairs_and_auditors_only(world: World, client: Client) -> None:
    make_item(world)
    english(client, "resident")
    rude = posted_id(post(client, "SECRET-INSULT"))
    reply = posted_id(post(another(client, "owner"), "Please be kind", parent=rude))
    chair = another(client, "chair")
    chair.form(f"/c/z/comments/{rude}/hide", {"reason": "personal_attack"})

    for reader in (another(client), another(client, "owner"), client, another(client, "grid")):
        page = reader.get(THREAD)
        assert page.status_code == 200
        assert "SECRET-INSULT" not in page.text
        assert "Hidden by a moderator: a personal attack" in text(page)
        assert "Please be kind" in page.text and f'id="c{reply}"' in page.text  # replies stay
        history = reader.get(f"/c/z/comments/{rude}/history")
        assert history.status_code == 200 and "SECRET-INSULT" not in history.text
    # nobody reacts to or replies to a hidden comment
    owner = another(client, "owner")
    assert owner.form(f"/c/z/comments/{rude}/react", {"kind": "agree"}).status_code == 409
    assert post(owner, "still?", parent=rude).status_code == 409

    for reader in (another(client, "auditor"), chair):
        page = reader.get(THREAD)
        assert "SECRET-INSULT" in page.text
        assert "Read the hidden text (chairs and auditors only)" in page.text
        assert "SECRET-INSULT" in reader.get(f"/c/z/comments/{rude}/history").text
    auditor = another(client, "auditor")
    queue = auditor.get("/c/z/moderation")
    assert queue.status_code == 200 and "SECRET-INSULT" in queue.text
    assert "/hide" not in queue.text and "/restore" not in queue.text  # read-only
    assert 'href="/c/z/log' in queue.text
    assert auditor.form(f"/c/z/comments/{rude}/restore", {}).status_code == 403
    assert another(client, "owner").get("/c/z/moderation").status_code == 403
    assert another(client).get("/c/z/moderation", follow_redirects=False).status_code == 303


def test_the_moderation_page_links_each_hiding_to_its_log_entry(
    world: World, client: Client, settings: Settings
) -> None:
    make_item(world)
    english(client, "resident")
    rude = posted_id(post(client, "rude words"))
    chair = another(client, "chair")
    chair.form(f"/c/z/comments/{rude}/hide", {"reason": "spam"})
    assert chair.get("/c/z/moderation").status_code == 200  # sealed or not yet: a link either way
    settle(world, settings)
    page = another(client, "auditor").get("/c/z/moderation")
    seq = re.search(r'href="/c/z/log/(\d+)">Log entry', page.text)
    assert seq, page.text
    entry = another(client).get(f"/c/z/log/{seq.group(1)}")
    assert entry.status_code == 200 and "comment moderated" in entry.text


# --- the chair's summary --------------------------------------------------------------------------


def test_the_chair_publishes_a_summary(world: World, client: Client, settings: Settings) -> None:
    item_id = make_item(world)
    english(client, "resident")
    pro = posted_id(post(client, "Residents park first"))
    con = posted_id(post(another(client, "owner"), "It costs too much"))
    chair = another(client, "chair")
    form = chair.get("/c/z/items/1/summary")
    assert form.status_code == 200 and 'name="text_6"' in form.text
    assert another(client, "owner").get("/c/z/items/1/summary").status_code == 403

    published = chair.form(
        "/c/z/items/1/summary",
        {
            "side_1": "for",
            "text_1": "Residents come first",
            "comments_1": f"{pro}",
            "side_2": "for",
            "text_2": "",
            "comments_2": "",
            "side_3": "against",
            "text_3": "The cost <b>is</b> high",
            "comments_3": f"#{con}, {pro}",
        },
    )
    assert published.status_code == 303, published.text
    assert published.headers["location"] == f"{THREAD}?done=summary#summary"
    points = [
        {"side": "for", "text": "Residents come first", "comments": [pro]},
        {"side": "against", "text": "The cost <b>is</b> high", "comments": [con, pro]},
    ]
    assert entries(world, "summary.published") == [{"item": 1, "points": points}]
    stored = rows(world, ItemSummary, ItemSummary.item_id == item_id)[0]
    assert stored.points == points and stored.entry_id is not None
    # the followers (the two commenters) are told; the chair is not
    told = rows(world, Notification, Notification.kind == "item_status")
    assert {n.account_id for n in told} == {world.ids["resident"], world.ids["owner"]}
    assert told[0].link == f"{THREAD}#summary" and told[0].params["item"] == 1

    settle(world, settings)
    page = another(client).get(THREAD)
    assert "The chair's summary" in page.text and "Arguments against" in page.text
    assert f'<a href="#c{con}">comment {con}</a>' in page.text
    assert "The cost &lt;b&gt;is&lt;/b&gt; high" in page.text  # plain text, escaped
    assert re.search(r'href="/c/z/log/\d+">In the public log', page.text)

    # publishing again replaces it, with a second entry
    chair.form("/c/z/items/1/summary", {"side_1": "against", "text_1": "Too costly"})
    assert rows(world, ItemSummary)[0].points == [
        {"side": "against", "text": "Too costly", "comments": []}
    ]
    assert len(entries(world, "summary.published")) == 2


def test_summary_refusals_name_the_point(world: World, client: Client) -> None:
    item_id = make_item(world)
    make_item(world, number=2)
    english(client, "resident")
    elsewhere = posted_id(client.form("/c/z/items/2/comments", {"body": "other item"}))
    chair = another(client, "chair")

    def publish(data: dict[str, str]) -> Any:
        return chair.form("/c/z/items/1/summary", data)

    unknown = publish({"side_1": "for", "text_1": "ok", "comments_1": str(elsewhere)})
    assert unknown.status_code == 400
    assert f"Point 1: comment {elsewhere} is not part of this consultation." in text(unknown)
    assert 'href="#f-comments_1"' in unknown.text
    bad_ids = publish(
        {"side_1": "for", "text_1": "ok", "side_2": "for", "text_2": "x", "comments_2": "twelve"}
    )
    assert bad_ids.status_code == 400 and "Point 2: “twelve” is not a comment number" in text(
        bad_ids
    )
    too_long = publish({"side_1": "against", "text_1": "x" * 1001})
    assert too_long.status_code == 400
    assert "Point 1: its text is too long: 1001 characters, at most 1000." in text(too_long)
    assert "x" * 1001 in too_long.text  # kept for correcting
    assert publish({"side_1": "for", "text_1": " "}).status_code == 400
    assert "Write at least one point." in text(publish({"side_1": "for", "text_1": " "}))
    sideways = publish({"side_1": "up", "text_1": "hm"})
    assert sideways.status_code == 400 and "choose “for” or “against”" in text(sideways)

    set_item(world, item_id, status="decided")
    late = publish({"side_1": "for", "text_1": "ok"})
    assert late.status_code == 409
    assert "only while the item is in consultation or being decided" in text(late)
    assert chair.get("/c/z/items/1/summary").status_code == 409
    assert count(world, ItemSummary) == 0 and entries(world, "summary.published") == []


# --- stored XSS -----------------------------------------------------------------------------------

XSS = (
    "<script>alert('body')</script>\n\n"
    "<img src=x onerror=alert('img')>\n\n"
    "[click](javascript:alert('link'))\n\n"
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)\n\n"
    '<a href="javascript:alert(1)">raw</a>'
)


class Elements(HTMLParser):
    """Every element and attribute a browser would build from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def assert_inert(body: str) -> None:
    parser = Elements()
    parser.feed(body)
    for tag, attrs in parser.found:
        values = dict(attrs)
        if tag == "script":  # only the app's own htmx
            assert str(values.get("src", "")).startswith("/static/"), (tag, attrs)
        assert tag not in {"img", "iframe", "object", "embed"}, (tag, attrs)
        for name, value in attrs:
            assert not name.startswith("on"), (tag, attrs)
            if name in {"href", "src", "action", "formaction"}:
                assert not str(value).strip().lower().startswith(("javascript:", "data:")), (
                    tag,
                    attrs,
                )


def test_stored_xss_renders_inert(world: World, client: Client) -> None:
    make_item(world)

    async def rename(session: Any) -> None:
        await session.execute(
            update(Account)
            .where(Account.id == world.ids["resident"])
            .values(display_name="<script>alert('name')</script>")
        )
        await session.commit()

    world.db.run(rename)
    english(client, "resident")
    evil = posted_id(post(client, XSS))
    reply = post(another(client, "owner"), XSS, parent=evil, headers=HX)
    assert reply.status_code == 201
    assert_inert(reply.text)
    client.form(f"/c/z/comments/{evil}/edit", {"body": XSS + "\n\nagain"})
    another(client, "owner").form(
        f"/c/z/comments/{evil}/report",
        {"reason": "other", "note": "<script>alert('note')</script>"},
    )
    for page in (
        another(client).get(THREAD),
        client.get(THREAD),
        another(client).get(f"/c/z/comments/{evil}/history"),
        another(client, "chair").get("/c/z/moderation"),
        another(client, "chair").get("/c/z/items/1/summary"),
    ):
        assert page.status_code == 200
        assert_inert(page.text)
        assert "&lt;script&gt;alert" in page.text  # shown as text, not run
    stored = comment(world, evil)
    assert_inert(stored.body_html)
    assert "<a " not in stored.body_html  # neither link survives as a link


def test_comment_times_read_in_beijing_time() -> None:
    from datetime import UTC, datetime

    from app.consultation import beijing
    from app.controllers.ballot_views import local_time

    for moment in (
        datetime(2026, 1, 1, 16, 5, tzinfo=UTC),
        datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 3, 8, 2, 30, tzinfo=UTC),
    ):
        assert beijing(moment) == local_time(moment)
    assert beijing(datetime(2026, 1, 1, 16, 5, tzinfo=UTC)) == "2026-01-02 00:05"


def test_names_are_for_the_community_s_own_people(world: World, client: Client) -> None:
    """A passer-by reads the item and the thread, not who wrote what."""
    make_item(world)  # the owner's
    resident = english(client, "resident")
    top = posted_id(post(resident, "First!"))
    [commenter, proposer] = [
        rows(world, Account, Account.username == name)[0].display_name
        for name in ("resident", "owner")
    ]
    anonymous = another(client)
    thread, item = anonymous.get(THREAD), anonymous.get("/c/z/items/1")
    assert f'id="c{top}"' in thread.text and commenter not in text(thread)
    assert "a resident" in text(thread) and proposer not in text(item)
    assert commenter in text(resident.get(THREAD)) and proposer in text(
        resident.get("/c/z/items/1")
    )
