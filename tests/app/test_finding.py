"""Finding things: search (Chinese terms of two and of three or more characters, on SQLite's
FTS5 trigram tables and PostgreSQL's pg_trgm indexes), filters, the Atom feed, and "my
participation". Items are written straight into the tables here, with the models."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from app import ballots as ballot_actions
from app import search
from app.items import DeliberationError
from app.models import (
    Account,
    AgendaItem,
    Amendment,
    Building,
    Comment,
    Community,
    Grid,
    ItemCosign,
    ItemRevision,
    Person,
    utcnow,
)
from deliberation.text import render_markdown
from tests.app.conftest import TEST_BASE_URL, Client, World
from tests.conftest import Database

ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


# --- writing test data straight into the tables ---------------------------------------------------


def add_item(
    world: World,
    number: int,
    title: str,
    body: str = "正文。",
    *,
    status: str = "collecting",
    category: str = "parking",
    author: str = "resident",
    community: str = "z",
    grid: int | None = None,
    building: str | None = None,
    age_minutes: int = 0,
) -> int:
    """An agenda item as the items actions would leave it (revision 1 and its ItemRevision)."""

    async def run(session: Any) -> int:
        community_id = world.ids[community]
        grid_id = building_id = None
        if grid is not None:
            grid_id = (
                await session.execute(
                    select(Grid.id).where(Grid.community_id == community_id, Grid.number == grid)
                )
            ).scalar_one()
        if building is not None:
            building_id = (
                await session.execute(
                    select(Building.id).where(
                        Building.community_id == community_id, Building.number == building
                    )
                )
            ).scalar_one()
        now = utcnow() - timedelta(minutes=age_minutes)
        item = AgendaItem(
            community_id=community_id,
            number=number,
            title=title,
            body=body,
            body_html=render_markdown(body),
            revision=1,
            category=category,
            scope_grid_id=grid_id,
            scope_building_id=building_id,
            author_id=world.ids[author],
            status=status,
            cosign_threshold=20 if status != "draft" else 0,
            created_at=now - timedelta(days=1),
            published_at=None if status == "draft" else now - timedelta(hours=1),
            updated_at=now,
        )
        session.add(item)
        await session.flush()
        session.add(
            ItemRevision(
                community_id=community_id,
                item_id=item.id,
                revision=1,
                title=title,
                body=body,
                created_by=world.ids[author],
            )
        )
        await session.commit()
        return int(item.id)

    return world.db.run(run)


def add_comment(
    world: World,
    item_id: int,
    body: str,
    *,
    author: str = "owner",
    hidden: bool = False,
    community: str = "z",
) -> int:
    async def run(session: Any) -> int:
        comment = Comment(
            community_id=world.ids[community],
            item_id=item_id,
            author_id=world.ids[author],
            body=body,
            body_html=render_markdown(body),
        )
        if hidden:
            comment.hidden_reason = "off_topic"
            comment.hidden_by = world.ids["chair"]
            comment.hidden_at = utcnow()
        session.add(comment)
        await session.flush()
        comment.path = f"{comment.id:010d}"
        await session.commit()
        return int(comment.id)

    return world.db.run(run)


def grid_id(world: World, number: int, community: str = "z") -> int:
    async def run(session: Any) -> int:
        return int(
            (
                await session.execute(
                    select(Grid.id).where(
                        Grid.community_id == world.ids[community], Grid.number == number
                    )
                )
            ).scalar_one()
        )

    return world.db.run(run)


def find(world: World, q: str, community: str = "z", **filters: Any) -> search.SearchResult:
    async def run(session: Any) -> search.SearchResult:
        return await search.search(session, world.ids[community], q, **filters)

    return world.db.run(run)


def numbers(result: search.SearchResult) -> set[int]:
    return {h.number for h in result.hits}


def page_text(response: Any) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.text))


def english(client: Client, username: str | None = None) -> Client:
    client.cookies.set("yishi_lang", "en")
    if username:
        client.sign_in(username)
    return client


def other_client(client: Client) -> Client:
    another = Client(app=client.app, base_url=str(client.base_url))
    another.blocking_portal = client.blocking_portal
    return another


def parking_world(world: World) -> dict[str, int]:
    """Items about parking in several places: title, body, a visible comment, a hidden comment,
    a draft and another community."""
    ids = {
        "title": add_item(world, 1, "停车场改造方案", "把东门空地划出二十个车位。", age_minutes=50),
        "body": add_item(
            world,
            2,
            "绿化补种",
            "楼下的草坪需要补种，顺便讨论电动车充电桩。Parking for e-bikes too.",
            category="greening",
            age_minutes=40,
        ),
        "comment": add_item(
            world, 3, "门禁系统", "安装门禁，刷卡进出。", category="security", age_minutes=30
        ),
        "hidden": add_item(
            world, 4, "快递柜", "在三号楼旁边放快递柜。", category="facilities", age_minutes=20
        ),
        "draft": add_item(
            world, 5, "停车场收费草案", "停车场按月收费。", status="draft", age_minutes=10
        ),
        "other": add_item(
            world, 1, "停车场", "另一个社区的停车场。", community="other", author="otheradmin"
        ),
    }
    ids["visible_comment"] = add_comment(world, ids["comment"], "晚上停车很难，外来车太多。")
    ids["hidden_comment"] = add_comment(
        world, ids["hidden"], "停车场太乱了，快递车乱停。", hidden=True
    )
    return ids


# --- search on both databases ----------------------------------------------------------------------


def test_chinese_terms_find_items_by_title_body_and_visible_comments(world: World) -> None:
    ids = parking_world(world)

    two = find(world, "停车")  # two characters: below the trigram, matched by LIKE
    assert numbers(two) == {1, 3}  # title; a visible comment. Never the hidden one or the draft
    assert two.total == 2
    assert [h.number for h in two.hits] == [3, 1]  # most recently updated first
    by_comment = two.hits[0]
    assert by_comment.comment_id == ids["visible_comment"]
    assert "<mark>停车</mark>" in by_comment.snippet
    assert "<mark>停车</mark>" in two.hits[1].title

    three = find(world, "停车场")  # three characters: the trigram index
    assert numbers(three) == {1}
    assert numbers(find(world, "充电桩")) == {2}  # in the body
    assert numbers(find(world, "草坪")) == {2}
    assert numbers(find(world, "车位")) == {1}
    assert numbers(find(world, "外来车")) == {3}  # three characters in a comment
    assert numbers(find(world, "快递车")) == set()  # only in a hidden comment
    assert numbers(find(world, "乱")) == set()  # one character, only in the hidden comment
    assert numbers(find(world, "收费")) == set()  # only in a draft
    assert numbers(find(world, "快递柜")) == {4}  # the item itself is found
    assert numbers(find(world, "parking")) == {2}
    assert numbers(find(world, "PARKING")) == {2}  # case does not matter
    assert numbers(find(world, "Pa")) == {2}

    body = find(world, "充电桩").hits[0]
    assert body.comment_id is None and "<mark>充电桩</mark>" in body.snippet

    # every term must match, in the item or its comments
    assert numbers(find(world, "门禁 停车")) == {3}
    assert numbers(find(world, "门禁\u3000外来车")) == {3}  # a full-width space separates too
    assert numbers(find(world, "绿化 停车")) == set()

    # another community's items are never found, and its search never finds ours
    assert numbers(find(world, "另一个社区")) == set()
    assert numbers(find(world, "停车场", community="other")) == {1}
    assert find(world, "停车场", community="other").hits[0].title == "<mark>停车场</mark>"


def test_empty_query_finds_nothing(world: World) -> None:
    parking_world(world)
    for q in ("", "   ", "\u3000"):
        result = find(world, q)
        assert result.hits == [] and result.total == 0 and result.terms == []


def test_like_wildcards_and_query_syntax_are_taken_literally(world: World) -> None:
    add_item(world, 1, "维修费用", "费用100%由业主承担。")
    add_item(world, 2, "电梯", "预算1000元，不含税。")
    add_item(world, 3, "代码", "变量名 a_b 不是 axb。")
    add_item(world, 4, "引号", '他说"停车"两个字。')

    assert numbers(find(world, "100%")) == {1}  # four characters: the FTS phrase
    assert numbers(find(world, "0%")) == {1}  # two: LIKE with % escaped
    assert numbers(find(world, "%")) == {1}
    assert numbers(find(world, "a_b")) == {3}
    assert numbers(find(world, "_")) == {3}
    assert numbers(find(world, "a%b")) == set()
    assert numbers(find(world, "\\")) == set()
    assert numbers(find(world, '"停车"')) == {4}  # quotes are part of the term
    assert numbers(find(world, '"')) == {4}
    for syntax in ("AND", "OR NOT", "NEAR(a b)", "title:停车", "停车*", "^停车", "(停车"):
        find(world, syntax)  # no query-syntax error from FTS5


def test_filters_by_status_category_and_grid(world: World) -> None:
    add_item(world, 1, "停车位划线", status="collecting", category="parking", grid=2)
    add_item(world, 2, "停车棚", status="consultation", category="parking", building="3")
    add_item(world, 3, "停车与绿化", status="consultation", category="greening", building="1")
    add_item(world, 4, "停车规则", status="declined", category="parking")
    add_item(world, 5, "停车草稿", status="draft", category="parking", grid=2)

    assert numbers(find(world, "停车")) == {1, 2, 3, 4}
    assert numbers(find(world, "停车", status="consultation")) == {2, 3}
    assert numbers(find(world, "停车", category="parking")) == {1, 2, 4}
    assert numbers(find(world, "停车", status="consultation", category="parking")) == {2}

    grid2, grid1 = grid_id(world, 2), grid_id(world, 1)
    assert numbers(find(world, "停车", grid_id=grid2)) == {1, 2}  # the grid, or a building in it
    assert numbers(find(world, "停车", grid_id=grid1)) == {3}

    async def check(session: Any, community: str, grid: int) -> int:
        return await search.community_grid(session, world.ids[community], grid)

    assert world.db.run(lambda s: check(s, "z", grid2)) == grid2
    for community, grid in (("other", grid2), ("z", 9999), ("z", 0), ("z", 2**40)):
        with pytest.raises(DeliberationError) as refused:
            world.db.run(lambda s, c=community, g=grid: check(s, c, g))
        assert refused.value.code == "unknown_grid" and refused.value.details["field"] == "grid"

    for status in ("draft", "nonsense"):
        with pytest.raises(DeliberationError) as refused:
            find(world, "停车", status=status)
        assert refused.value.code == "unknown_status"
        assert refused.value.details["field"] == "status"
    with pytest.raises(DeliberationError) as refused:
        find(world, "停车", category="cars")
    assert refused.value.code == "unknown_category"


def test_query_limits(world: World) -> None:
    assert find(world, "停" * search.QUERY_MAX).terms == ["停" * search.QUERY_MAX]
    with pytest.raises(DeliberationError) as refused:
        find(world, "停" * (search.QUERY_MAX + 1))
    assert refused.value.code == "query_too_long" and refused.value.details["field"] == "q"
    with pytest.raises(DeliberationError) as refused:
        find(world, " ".join(str(n) for n in range(search.TERMS_MAX + 1)))
    assert refused.value.code == "too_many_terms"
    assert search.terms_of("停车 停车 Parking parking") == ["停车", "Parking"]


def test_results_come_a_page_at_a_time(world: World) -> None:
    for n in range(1, search.PAGE_SIZE + 6):
        add_item(world, n, f"停车问题 {n}", age_minutes=n)
    first = find(world, "停车问题")
    assert first.total == search.PAGE_SIZE + 5
    assert [h.number for h in first.hits] == list(range(1, search.PAGE_SIZE + 1))
    second = find(world, "停车问题", page=2)
    assert [h.number for h in second.hits] == list(
        range(search.PAGE_SIZE + 1, search.PAGE_SIZE + 6)
    )
    assert find(world, "停车问题", page=9).hits == []


def test_snippets_are_escaped_and_marked() -> None:
    assert search.mark("a <b> & 停车场", ["停车"]) == "a &lt;b&gt; &amp; <mark>停车</mark>场"
    # a term that looks like part of an entity does not break one
    assert search.mark("x & amp", ["amp"]) == "x &amp; <mark>amp</mark>"
    assert search.mark("<script>", ["script"]) == "&lt;<mark>script</mark>&gt;"
    assert search.mark("停车停车场", ["停车", "车停"]) == "<mark>停车停车</mark>场"
    long = "甲" * 100 + "停车" + "乙" * 200
    cut = search.snippet(long, ["停车"])
    assert cut is not None and cut.startswith("…") and cut.endswith("…")
    assert "<mark>停车</mark>" in cut and len(cut) < 160
    assert search.snippet("无关", ["停车"], fallback=False) is None


# --- PostgreSQL: the trigram indexes serve the query ----------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_postgres_search_uses_the_trigram_indexes(database: Database) -> None:

    async def run(session: Any) -> list[str]:
        community = (
            await session.execute(
                text(
                    "INSERT INTO community (slug, name, address, witness_quorum, created_at) VALUES ('t', 'T', '', 0, now()) RETURNING id"
                )
            )
        ).scalar_one()
        account = (
            await session.execute(
                text(
                    "INSERT INTO account (username, display_name, password_hash, is_active, "
                    "created_at, password_changed_at) VALUES ('u', 'U', 'x', true, now(), now()) "
                    "RETURNING id"
                )
            )
        ).scalar_one()
        # enough rows that reading them all costs more than the index
        await session.execute(
            text(
                "INSERT INTO agenda_item (community_id, number, title, body, body_html, revision, "
                "category, author_id, status, cosign_threshold, cosign_count, created_at, "
                "updated_at) SELECT :c, n, '议题' || n, repeat(md5(n::text) || '的说明文字', 20), '', 1, "
                "'other', :a, 'collecting', 0, 0, now(), now() FROM generate_series(1, 2000) n"
            ),
            {"c": community, "a": account},
        )
        await session.execute(
            text(
                "INSERT INTO comment (community_id, item_id, path, depth, author_id, body, "
                "body_html, revision, agree_count, disagree_count, question_count, created_at) "
                "SELECT :c, id, '', 0, :a, repeat(md5(id::text) || '评论', 20), '', 1, 0, 0, 0, now() "
                "FROM agenda_item WHERE community_id = :c"
            ),
            {"c": community, "a": account},
        )
        # as autovacuum would: move the GIN indexes' pending entries into the index proper
        for index in ("ix_agenda_item_search_trgm", "ix_comment_body_trgm"):
            await session.execute(text(f"SELECT gin_clean_pending_list('{index}'::regclass)"))
        await session.execute(text("ANALYZE agenda_item"))
        await session.execute(text("ANALYZE comment"))
        statement = search.search_statement(False, community, ["停车场"])
        sql = str(
            statement.compile(dialect=session.bind.dialect, compile_kwargs={"literal_binds": True})
        )
        # the indexed expression, (title || ' ') || body as PostgreSQL parses it
        assert "((agenda_item.title || ' ') || agenda_item.body) ILIKE" in sql
        plans = []
        plan = (await session.execute(text("EXPLAIN " + sql))).scalars().all()
        plans.append("\n".join(plan))
        # the planner may prefer a plain scan on its own; forbidding it shows the index fits
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = (await session.execute(text("EXPLAIN " + sql))).scalars().all()
        plans.append("\n".join(plan))
        found = await search.search(session, community, "议题2000")
        await session.rollback()
        assert found.total == 1 and found.hits[0].number == 2000
        return plans

    natural, forced = database.run(run)
    assert "ix_agenda_item_search_trgm" in natural, natural
    assert "ix_comment_body_trgm" in natural, natural
    assert "ix_agenda_item_search_trgm" in forced and "ix_comment_body_trgm" in forced


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sqlite_search_uses_the_fts5_trigram_tables(database: Database) -> None:
    async def plan(session: Any, term: str) -> str:
        statement = search.search_statement(True, 1, [term])
        sql = str(
            statement.compile(dialect=session.bind.dialect, compile_kwargs={"literal_binds": True})
        )
        rows = (await session.execute(text("EXPLAIN QUERY PLAN " + sql))).all()
        return "\n".join(str(row[-1]) for row in rows)

    three = database.run(lambda s: plan(s, "停车场"))
    assert "item_fts VIRTUAL TABLE" in three and "comment_fts VIRTUAL TABLE" in three
    two = database.run(lambda s: plan(s, "停车"))
    assert "fts" not in two  # below the trigram: LIKE on the tables themselves


# --- pages -----------------------------------------------------------------------------------------


def test_search_page_form_results_and_no_hits(world: World, client: Client) -> None:
    ids = parking_world(world)
    english(client)  # anonymous: public items are public

    empty = client.get("/c/z/search")
    assert empty.status_code == 200
    assert 'name="q"' in empty.text and 'name="status"' in empty.text
    assert 'name="category"' in empty.text and 'name="grid"' in empty.text
    assert "items found" not in empty.text and "No agenda item matches" not in empty.text
    assert 'for="f-q"' in empty.text and "Collecting co-signatures" in empty.text
    assert "Greening" in empty.text and "第二网格" in empty.text
    assert 'type="application/atom+xml"' in empty.text

    found = client.get("/c/z/search", params={"q": "停车"})
    assert found.status_code == 200
    assert "2 items found" in page_text(found)
    assert 'href="/c/z/items/1"' in found.text and 'href="/c/z/items/3"' in found.text
    assert 'href="/c/z/items/4"' not in found.text and 'href="/c/z/items/5"' not in found.text
    assert f'href="/c/z/comments/{ids["visible_comment"]}"' in found.text
    assert "<mark>停车</mark>" in found.text and "In a comment:" in found.text
    assert "Collecting co-signatures" in page_text(found) and "Safety and security" in page_text(
        found
    )

    filtered = client.get("/c/z/search", params={"q": "停车", "category": "security"})
    assert 'href="/c/z/items/3"' in filtered.text and 'href="/c/z/items/1"' not in filtered.text
    assert '<option value="security" selected>' in filtered.text

    none = client.get("/c/z/search", params={"q": "游泳池"})
    assert none.status_code == 200
    assert "No agenda item matches “游泳池”" in page_text(none)

    fragment = client.get("/c/z/search", params={"q": "停车"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'href="/c/z/items/1"' in fragment.text
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    restored = client.get("/c/z/search", params={"q": "停车"}, headers=restore)
    assert "<html" in restored.text and 'href="/c/z/items/1"' in restored.text

    # the other community's search page shows only its own
    other = client.get("/c/other/search", params={"q": "停车场"})
    assert 'href="/c/other/items/1"' in other.text and "/c/z/items" not in other.text
    assert client.get("/c/nowhere/search", params={"q": "停车"}).status_code == 404


def test_search_page_paginates(world: World, client: Client) -> None:
    for n in range(1, search.PAGE_SIZE + 3):
        add_item(world, n, f"停车问题{n}", category="parking", age_minutes=n)
    english(client)
    first = client.get("/c/z/search", params={"q": "停车", "category": "parking"})
    assert "Page 1 of 2" in first.text
    assert 'href="/c/z/search?p=2&amp;q=%E5%81%9C%E8%BD%A6&amp;category=parking"' in first.text
    second = client.get("/c/z/search", params={"q": "停车", "category": "parking", "p": "2"})
    assert 'href="/c/z/items/21"' in second.text and 'href="/c/z/items/1"' not in second.text


def test_search_page_refuses_bad_input_with_the_field_named(world: World, client: Client) -> None:
    add_item(world, 1, "停车")
    english(client)
    long = client.get("/c/z/search", params={"q": "停" * 101})
    assert long.status_code == 400
    assert "Search words: at most 100 characters" in page_text(long)
    assert 'aria-invalid="true"' in long.text and 'href="#f-q"' in long.text
    assert 'href="/c/z/items/1"' not in long.text

    draft = client.get("/c/z/search", params={"q": "停车", "status": "draft"})
    assert draft.status_code == 400 and "Status: choose one from the list." in page_text(draft)
    assert 'href="#f-status"' in draft.text
    for grid in ("9999", "x", "-1", "99999999999", "١"):
        bad_grid = client.get("/c/z/search", params={"q": "停车", "grid": grid})
        assert bad_grid.status_code == 400
        assert "Grid: there is no such grid" in page_text(bad_grid)
    z_grid = str(grid_id(world, 2))
    assert client.get("/c/z/search", params={"q": "停车", "grid": z_grid}).status_code == 200
    other_grid = client.get("/c/other/search", params={"q": "停车", "grid": z_grid})
    assert other_grid.status_code == 400  # another community's grid


def test_search_input_and_item_text_are_echoed_inert(world: World, client: Client) -> None:
    add_item(world, 1, "<img src=x onerror=alert(1)>停车", "<script>alert(2)</script>停车")
    english(client)
    attack = '<script>alert("q")</script>停车'
    response = client.get("/c/z/search", params={"q": attack})
    assert response.status_code == 200
    assert "<script>alert" not in response.text and "<img src=x" not in response.text
    assert "&lt;script&gt;" in response.text
    plain = client.get("/c/z/search", params={"q": "停车 onerror"})
    assert "<img src=x" not in plain.text and "&lt;img src=x <mark>onerror</mark>" in plain.text
    for q in ('"><svg onload=alert(1)>', "</mark><script>x</script>"):
        echoed = client.get("/c/z/search", params={"q": q})
        assert "<svg onload" not in echoed.text and "<script>x" not in echoed.text


# --- the Atom feed -----------------------------------------------------------------------------------


def parse_feed(response: Any) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].replace(" ", "").lower() == (
        "application/atom+xml;charset=utf-8"
    )
    return ET.fromstring(response.content)  # noqa: S314 (our own output)


def test_atom_feed_of_published_items(world: World, client: Client) -> None:
    add_item(world, 1, "停车场改造", "把**东门**空地划出车位。<script>x</script>", age_minutes=30)
    add_item(
        world, 2, "绿化 & <补种>", "草坪补种。", category="greening", author="owner", age_minutes=10
    )
    add_item(world, 3, "草稿", "还没发布。", status="draft", age_minutes=1)
    add_item(world, 1, "另一社区", community="other", author="otheradmin")
    english(client)

    feed = parse_feed(client.get("/c/z/items.atom"))
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == f"{TEST_BASE_URL}/c/z/items.atom"
    assert feed.findtext(f"{ATOM}title") == "Z社区: agenda items"
    assert RFC3339.match(feed.findtext(f"{ATOM}updated") or "")
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {
        "self": f"{TEST_BASE_URL}/c/z/items.atom",
        "alternate": f"{TEST_BASE_URL}/c/z/items",
    }
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["绿化 & <补种>", "停车场改造"]
    assert feed.findtext(f"{ATOM}updated") == entries[0].findtext(f"{ATOM}updated")
    newest, older = entries
    assert newest.findtext(f"{ATOM}id") == f"{TEST_BASE_URL}/c/z/items/2"
    link = newest.find(f"{ATOM}link")
    assert link is not None and link.get("href") == f"{TEST_BASE_URL}/c/z/items/2"
    assert link.get("rel") == "alternate"
    # residents' names stay out of a feed anyone can read; the community is its author
    assert newest.find(f"{ATOM}author") is None and older.find(f"{ATOM}author") is None
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "Z社区"
    category = newest.find(f"{ATOM}category")
    assert category is not None and category.get("term") == "greening"
    assert category.get("label") == "Greening"
    for entry in entries:
        for tag in ("updated", "published"):
            assert RFC3339.match(entry.findtext(f"{ATOM}{tag}") or ""), tag
    # plain text: the markup is gone, the typed-in tag is just characters (escaped on the wire)
    assert older.findtext(f"{ATOM}summary") == "把东门空地划出车位。<script>x</script>"
    content = older.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    assert content.text == render_markdown("把**东门**空地划出车位。<script>x</script>")
    assert "<strong>东门</strong>" in (content.text or "") and "<script>" not in (
        content.text or ""
    )
    # escaped on the wire: the raw document never carries the title's markup as markup
    raw = client.get("/c/z/items.atom").content.decode()
    assert "<补种>" not in raw and "&lt;补种&gt;" in raw and "<script>" not in raw
    assert raw.startswith("<?xml") and '<feed xmlns="http://www.w3.org/2005/Atom"' in raw


def test_atom_feed_filters_limit_and_refusals(world: World, client: Client) -> None:
    add_item(world, 1, "停车位", category="parking", grid=2)
    add_item(world, 2, "草坪", category="greening", status="consultation")
    english(client)
    parking = parse_feed(client.get("/c/z/items.atom", params={"category": "parking"}))
    assert [e.findtext(f"{ATOM}title") for e in parking.findall(f"{ATOM}entry")] == ["停车位"]
    self_link = next(k for k in parking.findall(f"{ATOM}link") if k.get("rel") == "self")
    assert self_link.get("href") == f"{TEST_BASE_URL}/c/z/items.atom?category=parking"
    consulting = parse_feed(client.get("/c/z/items.atom", params={"status": "consultation"}))
    assert [e.findtext(f"{ATOM}title") for e in consulting.findall(f"{ATOM}entry")] == ["草坪"]
    grid = parse_feed(client.get("/c/z/items.atom", params={"grid": str(grid_id(world, 2))}))
    assert [e.findtext(f"{ATOM}title") for e in grid.findall(f"{ATOM}entry")] == ["停车位"]
    assert client.get("/c/z/items.atom", params={"status": "draft"}).status_code == 400
    assert client.get("/c/z/items.atom", params={"grid": "7777"}).status_code == 400
    assert client.get("/c/nowhere/items.atom").status_code == 404

    for n in range(3, search.FEED_SIZE + 5):
        add_item(world, n, f"议题{n}", age_minutes=n)
    everything = parse_feed(client.get("/c/z/items.atom")).findall(f"{ATOM}entry")
    assert len(everything) == search.FEED_SIZE

    empty = parse_feed(client.get("/c/other/items.atom"))
    assert empty.findall(f"{ATOM}entry") == [] and RFC3339.match(
        empty.findtext(f"{ATOM}updated") or ""
    )


# --- my participation ----------------------------------------------------------------------------


def person_id(world: World, ref: str) -> int:
    async def run(session: Any) -> int:
        return int((await session.execute(select(Person.id).where(Person.ref == ref))).scalar_one())

    return world.db.run(run)


def cosign(world: World, item_id: int, username: str, ref: str) -> None:
    pid = person_id(world, ref)

    async def run(session: Any) -> None:
        session.add(
            ItemCosign(
                item_id=item_id,
                person_id=pid,
                community_id=world.ids["z"],
                account_id=world.ids[username],
            )
        )
        await session.commit()

    world.db.run(run)


def amend(world: World, item_id: int, number: int, username: str, status: str = "proposed") -> None:
    async def run(session: Any) -> None:
        session.add(
            Amendment(
                community_id=world.ids["z"],
                item_id=item_id,
                number=number,
                author_id=world.ids[username],
                base_revision=1,
                body="修改后的正文。",
                status=status,
            )
        )
        await session.commit()

    world.db.run(run)


def ballot(world: World, title: str, **changes: Any) -> int:
    """An open ballot of community z (electorate: adults); returns its number."""

    async def run(session: Any) -> int:
        community = await session.get(Community, world.ids["z"])
        chair = await session.get(Account, world.ids["chair"])
        data = ballot_actions.blank_definition()
        now = datetime.now(UTC)
        data.update(
            title=title,
            opens_at=(now - timedelta(minutes=5)).isoformat(),
            closes_at=(now + timedelta(days=1)).isoformat(),
            **changes,
        )
        data["questions"][0]["text"] = title + "?"
        created = await ballot_actions.create_ballot(session, community, chair, data)
        await ballot_actions.open_ballot(session, created, chair)
        return int(created.number)

    return world.db.run(run)


def cast(world: World, number: int, ref: str) -> int:
    async def run(session: Any) -> int:
        found = await ballot_actions.get_ballot(session, world.ids["z"], number)
        person = (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()
        result = await ballot_actions.cast_online(session, found, person, {"q1": "yes"})
        return int(result.entry_id)

    return world.db.run(run)


def test_my_participation_shows_exactly_my_own_things(world: World, client: Client) -> None:
    mine = add_item(world, 1, "我的停车提案", status="consultation", age_minutes=5)
    add_item(world, 2, "我的草稿", status="draft")
    theirs = add_item(world, 3, "别人的议题", author="owner")
    also_theirs = add_item(world, 4, "别人的第二个议题", author="owner", status="consultation")
    add_item(world, 1, "另一社区的议题", community="other", author="otheradmin")
    cosign(world, theirs, "resident", "P006")
    cosign(world, also_theirs, "grid", "P007")
    my_comment = add_comment(world, also_theirs, "我同意**这个**方案。", author="resident")
    my_hidden = add_comment(world, also_theirs, "不该说的话", author="resident", hidden=True)
    add_comment(world, mine, "别人的评论内容", author="owner")
    amend(world, also_theirs, 1, "resident", "accepted")
    amend(world, also_theirs, 2, "owner")
    voted = ballot(world, "电梯加装表决")
    not_voted = ballot(world, "垃圾分类表决")
    secret = ballot(world, "秘密选举", secrecy="secret", revoting="first")
    entry = cast(world, voted, "P006")
    cast(world, secret, "P006")
    other_voter = cast(world, not_voted, "P001")  # someone else's vote is not mine

    english(client, "resident")
    response = client.get("/c/z/me")
    assert response.status_code == 200, response.text
    words = page_text(response)
    assert (
        "我的停车提案" in words and "我的草稿" in words and "Only you can see this draft." in words
    )
    assert 'href="/c/z/items/1"' in response.text and 'href="/c/z/items/2"' in response.text
    assert "In consultation" in words and "Draft" in words
    # co-signatures: mine only
    assert "别人的议题" in words and "别人的第二个议题" in words  # co-signed; commented on
    assert words.count("别人的议题") == 1
    # comments, with their links
    assert f'href="/c/z/comments/{my_comment}"' in response.text
    assert "我同意这个方案。" in words
    assert f'href="/c/z/comments/{my_hidden}"' in response.text
    assert "Hidden by a moderator: off topic" in words
    assert "别人的评论内容" not in words
    # amendments
    assert 'href="/c/z/items/4/amendments/1"' in response.text and "Accepted" in words
    assert 'href="/c/z/items/4/amendments/2"' not in response.text
    # ballots: took part with a receipt, not yet, secret without a findable receipt
    assert f'href="/c/z/ballots/{voted}/receipt/{entry}"' in response.text
    assert f'href="/c/z/ballots/{not_voted}/vote"' in response.text
    assert f"/receipt/{other_voter}" not in response.text
    assert "secret ballot" in words and f'href="/c/z/ballots/{secret}/receipt/' not in response.text
    assert words.count("took part") == 2 and "not voted yet" in words
    assert "另一社区的议题" not in words
    totals = re.findall(r"<strong>(\d+)</strong>", response.text)
    assert totals == ["2", "1", "2", "1", "3"]

    # the receipt linked is the voting pages' own, and it opens
    assert client.get(f"/c/z/ballots/{voted}/receipt/{entry}").status_code == 200

    # someone else sees their own things, not the resident's
    grid = other_client(client)
    english(grid, "grid")
    theirs_page = grid.get("/c/z/me")
    assert theirs_page.status_code == 200
    grid_words = page_text(theirs_page)
    assert "别人的第二个议题" in grid_words and "我的停车提案" not in grid_words
    assert "我同意这个方案。" not in grid_words and "You have not commented yet." in grid_words
    assert f"/receipt/{entry}" not in theirs_page.text
    assert re.findall(r"<strong>(\d+)</strong>", theirs_page.text) == ["0", "1", "0", "0", "3"]


def test_my_participation_needs_a_person_in_this_community(world: World, client: Client) -> None:
    away = client.get("/c/z/me", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith("/signin")

    auditor = other_client(client)
    auditor.sign_in("auditor")  # an account with no person in the register
    assert auditor.get("/c/z/me").status_code == 403

    for username, allowed in (
        ("resident", True),
        ("owner", True),
        ("grid", True),
        ("chair", True),
        ("admin", False),
    ):
        member = other_client(client)
        member.sign_in(username)
        assert member.get("/c/z/me").status_code == (200 if allowed else 403), username
        assert member.get("/c/z/search").status_code == 200
        assert member.get("/c/z/items.atom").status_code == 200

    stranger = other_client(client)
    stranger.sign_in("otheradmin")  # a person, but in the other community
    assert stranger.get("/c/z/me").status_code == 403
    assert stranger.get("/c/other/me").status_code == 200
    assert client.get("/c/nowhere/me", follow_redirects=False).status_code == 404


def test_my_participation_counts_beyond_what_it_shows(world: World, client: Client) -> None:
    item = add_item(world, 1, "热门议题", author="owner", status="consultation")
    for n in range(search.SHOWN + 2):
        add_comment(world, item, f"第{n}条评论", author="resident")
    english(client, "resident")
    response = client.get("/c/z/me")
    words = page_text(response)
    assert f"The latest {search.SHOWN} of {search.SHOWN + 2} are shown." in words
    assert words.count("On #1 热门议题") == search.SHOWN
