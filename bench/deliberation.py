"""A consultation with 2,000 comments in deep threads, read under concurrent load.

* Setup: a small register (the first YISHI_BENCH_COMMENT_PEOPLE people of the reference
  community, default 400, each with an account), one agenda item in consultation, and
  YISHI_BENCH_COMMENTS comments (default 2,000) in deep threads: many top-level threads, a few
  reply chains more than 30 deep, and a bushy tree of replies between them; Chinese text of
  varied length with some Markdown; reactions on about a third of the comments; about one in a
  hundred hidden by the chair. Comments, reactions and hiding go through the app's own actions
  (``app.consultation``), so paths, depths and the rendered HTML are exactly what the app writes.
  The community's ``comments_per_hour`` is raised for the setup, or the rate limit would stop
  the busiest authors after 20 comments.
* Measure: the app served by uvicorn in a process of its own (one worker on SQLite, two on
  PostgreSQL, as ``yishi serve`` would), read by 32 concurrent anonymous clients (httpx) for
  YISHI_BENCH_PAGE_SECONDS seconds each (default 10): page 1 of the consultation (twenty
  threads, newest first, then ``sort=supported``), the deep page (the one holding the deepest
  reply chain, found through that reply's permalink) and, in the same run against the same
  server, the app's static stylesheet (``/static/yishi.css``): the ceiling. Each runs for at
  least YISHI_BENCH_PAGE_REQUESTS requests too (default 100), so that p99 means something when
  the page is slow. Requests/s, p50 and p99, and their ratios to the ceiling. The pages are
  checked first: followed by their rel=next links, they carry every comment's anchor
  (``id="c<id>"``) exactly once, in both orders.
* YISHI_BENCH_PROFILE=1 also renders page 1 in-process: the median time of a render and its
  SQL statements' share, the page's size plain and gzipped, the same for the deep page and for
  a signed-in resident (who gets forms on every comment), and a cProfile of one render: where
  the time goes.
"""

from __future__ import annotations

import asyncio
import cProfile
import gzip
import io
import os
import pstats
import random
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from faker import Faker
from sqlalchemy import func, select, update

from app import consultation, log
from app.auth import Membership
from app.cli import upgrade_database
from app.db import create_engine, session_scope
from app.demo import SLUG, _building_rows, _household_rows
from app.models import (
    Account,
    AgendaItem,
    Comment,
    Community,
    DeliberationSettings,
    ItemRevision,
    Person,
    Role,
    RoleGrant,
    utcnow,
)
from app.register import create_community
from app.register_import import (
    apply_buildings,
    apply_households,
    validate_buildings,
    validate_households,
)
from app.settings import Settings, normalise_database_url
from bench.ballots import CHEAP, PASSWORD, SECRET, Server, _quantile
from deliberation.items import MODERATION_REASONS, REACTIONS
from deliberation.text import COMMENT_MAX, render_markdown

COMMENTS = int(os.environ.get("YISHI_BENCH_COMMENTS", "2000"))
PEOPLE = int(os.environ.get("YISHI_BENCH_COMMENT_PEOPLE", "400"))
SECONDS = float(os.environ.get("YISHI_BENCH_PAGE_SECONDS", "10"))
MIN_REQUESTS = int(os.environ.get("YISHI_BENCH_PAGE_REQUESTS", "100"))
PROFILE = os.environ.get("YISHI_BENCH_PROFILE", "0") != "0"
CONCURRENCY = 32
POSTGRES_URL = os.environ.get(
    "YISHI_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ITEM_NUMBER = 1
MAX_DEPTH = 45  # the deepest reply the generator makes (chains are 40 deep at full size)

# --- the threads' shape and text -----------------------------------------------------------------


def thread_shape(n: int, rng: random.Random) -> list[int | None]:
    """Parents in posting order: ``shape[i]`` is the index of comment i's parent, or None for a
    top-level comment. About one comment in ten opens a thread; three chains (40 deep at 2,000
    comments, a tenth of n when smaller) grow among the rest; every other comment replies to an
    earlier one, half the time any earlier comment (a bushy tree), half the time one of the last
    fifteen (conversations that go deep), never below MAX_DEPTH."""
    chain_depth = min(40, max(1, n // 10))
    chains = 3
    shape: list[int | None] = []
    depth: list[int] = []
    tips: list[int | None] = [None] * chains
    grown = [0] * chains
    chain_share = chains * chain_depth / max(n, 1)
    for i in range(n):
        r = rng.random()
        open_chains = [c for c in range(chains) if grown[c] < chain_depth]
        parent: int | None
        if i == 0 or r < 0.10:
            parent = None
        elif r < 0.10 + chain_share and open_chains:
            c = rng.choice(open_chains)
            parent = tips[c]
            tips[c] = i
            grown[c] += 1
        elif r < 0.55:
            parent = rng.randrange(i)
        else:
            parent = rng.randrange(max(0, i - 15), i)
        if parent is not None and depth[parent] >= MAX_DEPTH:
            parent = rng.randrange(i) if depth[0] < MAX_DEPTH else None
            if parent is not None and depth[parent] >= MAX_DEPTH:
                parent = None
        shape.append(parent)
        depth.append(0 if parent is None else depth[parent] + 1)
    return shape


def depths(shape: list[int | None]) -> list[int]:
    out: list[int] = []
    for parent in shape:
        out.append(0 if parent is None else out[parent] + 1)
    return out


ITEM_TITLE = "东区停车位重新划线，并在3号楼北侧加建电动车充电棚"
ITEM_BODY = """\
小区约有1,730辆汽车，却只有约500个车位；电动车和三轮车在楼道里充电，去年冬天3号楼险些起火。

**提议**

1. 东区道路重新划线，按物业测算可增加约60个车位，夜间优先本小区登记车辆；
2. 在3号楼北侧空地加建一座电动车充电棚（约40个充电口），按次收费；
3. 划线和充电棚的费用由停车收费结余支付，不动用专项维修资金。

请大家说说意见，特别是东区一楼的住户和每天早出晚归的邻居。
"""

OPINIONS = [
    "我同意重新划线，东区晚上车停得乱七八糟，消防通道经常被堵。",
    "充电棚早就该建了，楼道里充电太危险，我家楼下就是电动车。",
    "划线以后车位怎么分配？是抽签还是先到先得？这个要先说清楚。",
    "我反对在3号楼北侧建充电棚，那块空地是老人们早上锻炼的地方。",
    "按次收费可以，但价格要公示，不能比外面的充电站贵。",
    "停车收费结余到底还有多少钱？希望物业把账目公开出来。",
    "外来车辆晚上占了很多位置，划线之前先把门禁管起来。",
    "我是一楼住户，充电棚离窗户太近的话夜里会有噪音和光线。",
    "建议充电棚装上自动断电和烟感报警，再配两个灭火器。",
    "租户也有电动车，充电棚能不能也让租户按同样价格用？",
    "能不能先在东区试行三个月，效果好再推广到西区？",
    "年纪大的人不会用手机扫码，充电棚最好也能刷卡或者投币。",
    "车位不够是根本问题，划线只能解决一部分，长远看要考虑立体车库。",
    "同意楼上的意见，先公开账目，再谈用钱。",
    "划线的时候要留出救护车和搬家车能进出的宽度。",
    "三轮车怎么办？很多老人靠三轮车买菜，不要一刀切赶出去。",
    "我每天早上六点出门，晚上十点回来，经常找不到车位，支持这个提议。",
    "充电口40个够不够？我们楼一个单元就有十几辆电动车。",
    "建议业委会和物业一起开个现场会，到东区实地看一看。",
    "绿化带不能占，小区本来绿地就少。",
    "车位夜间优先本小区车辆，白天可以对外开放收费，收入补贴充电棚。",
    "我家没有车，不希望为了停车把小区的公共空间都变成车位。",
    "有没有其他小区的经验可以参考？听说隔壁小区的充电棚管理得不错。",
    "施工期间车停到哪里去？要提前通知，别像上次修管道那样突然封路。",
]
QUESTIONS = [
    "请问划线方案有图纸吗？能不能贴在公告栏上？",
    "这个费用大概是多少？",
    "充电棚归谁管理，物业还是居委会？",
    "施工要多长时间？",
    "投票的时候租户能不能参加？",
]
SHORT = [
    "同意。",
    "支持！",
    "反对。",
    "+1",
    "说得对。",
    "赞成楼上。",
    "这个问题我也想问。",
    "附议。",
]
MARKDOWN = [
    "**几点建议：**\n\n- 先公示账目\n- 再做方案\n- 最后投票",
    "> 按次收费可以\n\n价格呢？最好写清楚每度电多少钱。",
    "参考一下消防规定：[电动自行车停放充电场所消防技术规范](https://www.mem.gov.cn/)。",
    "1. 东区划线\n2. 西区暂缓\n3. 三个月后再评估",
]


def comment_text(rng: random.Random, fake: Faker) -> str:
    """A comment of varied length: a word, a sentence or two, a few paragraphs with Markdown."""
    kind = rng.random()
    if kind < 0.15:
        return rng.choice(SHORT)
    if kind < 0.25:
        return rng.choice(QUESTIONS)
    sentences = rng.randint(1, 4) if kind < 0.8 else rng.randint(5, 14)
    parts = []
    for _ in range(sentences):
        roll = rng.random()
        if roll < 0.7:
            parts.append(rng.choice(OPINIONS))
        elif roll < 0.85:
            parts.append(rng.choice(QUESTIONS))
        else:
            parts.append(fake.sentence(nb_words=rng.randint(6, 16)).rstrip(".") + "。")
    paragraphs = []
    while parts:
        take = rng.randint(1, 3)
        paragraphs.append("".join(parts[:take]))
        parts = parts[take:]
    if rng.random() < 0.08:
        paragraphs.insert(rng.randrange(len(paragraphs) + 1), rng.choice(MARKDOWN))
    return "\n\n".join(paragraphs)[:COMMENT_MAX]


# --- setting up: a small register, an item in consultation, the comments ------------------------


def _settings(url: str, directory: Path) -> Settings:
    return Settings(
        database_url=url,
        secret_key=SECRET,
        redis_url=None,
        var_dir=directory,
        base_url="http://127.0.0.1",
        workers=1,
        log_level="WARNING",
        cli_lang="en",
    )


@dataclass
class Prepared:
    comment_ids: list[int]
    deepest_id: int  # the reply at the end of the deepest chain
    max_depth: int
    top_level: int
    reactions: int
    hidden: int
    seconds: float


@dataclass
class Member:
    account: Account
    membership: Membership


async def _register(settings: Settings, session: Any) -> tuple[Community, list[Member], Member]:
    """The first PEOPLE people of the reference register, an account each (named as the person),
    and a chair."""
    community = await create_community(session, settings, SLUG, "Z社区")
    await apply_buildings(session, community, validate_buildings(_building_rows()), None)
    rows = _household_rows(2026)
    wanted = set(sorted({row["person_ref"] for _line, row in rows})[:PEOPLE])
    rows = [(line, row) for line, row in rows if row["person_ref"] in wanted]
    await apply_households(session, community, validate_households(rows), None)
    hashed = PasswordHasher(**CHEAP).hash(PASSWORD)
    people = list(
        (
            await session.execute(
                select(Person)
                .where(Person.community_id == community.id, Person.is_organisation.is_(False))
                .order_by(Person.ref)
            )
        ).scalars()
    )
    accounts = [
        Account(username=f"c{person.ref.lower()}", display_name=person.name, password_hash=hashed)
        for person in people
    ]
    session.add_all(accounts)
    await session.flush()
    for person, account in zip(people, accounts, strict=True):
        await session.execute(
            update(Person).where(Person.id == person.id).values(account_id=account.id)
        )
    chair = Account(username="chair", display_name="居委会主任", password_hash=hashed)
    session.add(chair)
    await session.flush()
    session.add(RoleGrant(community_id=community.id, account_id=chair.id, role=Role.chair))
    # The benchmark's busiest authors post far more than a resident may in an hour.
    session.add(DeliberationSettings(community_id=community.id, comments_per_hour=1_000_000))
    await session.commit()
    members = [
        Member(account, Membership(community, {Role.resident}, person=person))
        for person, account in zip(people, accounts, strict=True)
    ]
    return community, members, Member(chair, Membership(community, {Role.chair}))


async def _item(session: Any, community: Community, author: Account) -> AgendaItem:
    """An item in consultation since yesterday, for two more weeks (made directly: the item's
    own life cycle is not what this benchmark measures)."""
    now = utcnow()
    item = AgendaItem(
        community_id=community.id,
        number=ITEM_NUMBER,
        title=ITEM_TITLE,
        body=ITEM_BODY,
        body_html=render_markdown(ITEM_BODY),
        category="parking",
        author_id=author.id,
        status="consultation",
        cosign_threshold=20,
        cosign_count=20,
        consultation_opens_at=now - timedelta(days=1),
        consultation_closes_at=now + timedelta(days=14),
        published_at=now - timedelta(days=10),
    )
    session.add(item)
    await session.flush()
    session.add(
        ItemRevision(
            community_id=community.id,
            item_id=item.id,
            revision=1,
            title=ITEM_TITLE,
            body=ITEM_BODY,
            created_by=author.id,
        )
    )
    await session.commit()
    return item


async def _prepare(url: str, directory: Path) -> Prepared:
    started = time.perf_counter()
    rng = random.Random(2026)
    fake = Faker("zh_CN")
    fake.seed_instance(2026)
    engine = create_engine(url)
    try:
        async with session_scope(engine) as session:
            community, members, chair = await _register(_settings(url, directory), session)
            item = await _item(session, community, members[0].account)
            shape = thread_shape(COMMENTS, rng)
            comments = await _post_comments(session, item, members, shape, rng, fake)
            reactions = await _react(session, item, members, comments, rng)
            hidden = await _hide(session, item, chair, comments, rng)
            ids = [comment.id for comment in comments if comment.id is not None]
            level = depths(shape)
            stored = (
                await session.execute(
                    select(func.count(), func.max(Comment.depth)).where(Comment.item_id == item.id)
                )
            ).one()
            assert stored[0] == len(ids) and stored[1] == max(level), (stored, max(level))
            # The hidings' log entries are integrated now, not by the server while it is read.
            await log.integrate_all(session, _settings(url, directory))
            deepest = max(range(len(level)), key=lambda i: level[i])
            return Prepared(
                comment_ids=ids,
                deepest_id=int(comments[deepest].id or 0),
                max_depth=max(level),
                top_level=sum(1 for d in level if d == 0),
                reactions=reactions,
                hidden=hidden,
                seconds=time.perf_counter() - started,
            )
    finally:
        await engine.dispose()


async def _post_comments(
    session: Any,
    item: AgendaItem,
    members: list[Member],
    shape: list[int | None],
    rng: random.Random,
    fake: Faker,
) -> list[Comment]:
    """The comments through ``app.consultation.post_comment``, in posting order, spread over the
    hours since the consultation opened; a few authors write much more than the rest."""
    opened = item.consultation_opens_at
    assert opened is not None
    step = timedelta(hours=23) / max(len(shape), 1)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(members))]
    comments: list[Comment] = []
    for i, parent in enumerate(shape):
        author = rng.choices(members, weights)[0]
        comments.append(
            await consultation.post_comment(
                session,
                author.membership,
                author.account,
                item,
                comment_text(rng, fake),
                None if parent is None else comments[parent].id,
                now=opened + step * (i + 1),
            )
        )
    return comments


async def _react(
    session: Any,
    item: AgendaItem,
    members: list[Member],
    comments: list[Comment],
    rng: random.Random,
) -> int:
    """Reactions on about a third of the comments, a few of them popular: agree, disagree or
    question, through ``app.consultation.react``."""
    made = 0
    for comment in comments:
        if rng.random() > 0.35:
            continue
        readers = min(int(rng.paretovariate(1.2)), 40, len(members) - 1)
        for reader in rng.sample(members, readers):
            if reader.account.id == comment.author_id:
                continue
            kind = rng.choices(REACTIONS, (6, 3, 1))[0]
            await consultation.react(
                session, reader.membership, reader.account, comment, item, kind
            )
            made += 1
    return made


async def _hide(
    session: Any, item: AgendaItem, chair: Member, comments: list[Comment], rng: random.Random
) -> int:
    """About one comment in a hundred hidden by the chair (their replies stay)."""
    hidden = rng.sample(comments, max(1, len(comments) // 100))
    for comment in hidden:
        await consultation.hide_comment(
            session,
            chair.membership,
            chair.account,
            comment,
            item,
            rng.choice(MODERATION_REASONS),
        )
    return len(hidden)


# --- reading under load ---------------------------------------------------------------------------


async def _load(
    base: str, path: str, seconds: float, minimum: int
) -> tuple[int, float, list[float]]:
    """CONCURRENCY anonymous clients GET ``path`` over and over for ``seconds`` and at least
    ``minimum`` requests: how many, the time they took and each one's latency. Every answer
    must be a 200."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    started_count = 0

    async def client() -> None:
        nonlocal started_count
        async with httpx.AsyncClient(base_url=base, timeout=300) as http:
            while time.perf_counter() < deadline or started_count < minimum:
                started_count += 1
                started = time.perf_counter()
                response = await http.get(path)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200, (path, response.status_code)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    return len(latencies), time.perf_counter() - started, latencies


ANCHOR = re.compile(r'\bid="c(\d+)"')
NEXT = re.compile(r'rel="next" href="([^"]+)"')


def _check_pages(base: str, path: str, ids: list[int]) -> tuple[int, int]:
    """The pages, followed from ``path`` by their rel=next links, render every comment once:
    how many pages, and the first one's size in bytes."""
    seen: list[int] = []
    pages, first_size = 0, 0
    url: str | None = path
    while url is not None:
        response = httpx.get(base + url.replace("&amp;", "&"), timeout=120)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        pages += 1
        first_size = first_size or len(response.content)
        seen.extend(int(n) for n in ANCHOR.findall(response.text))
        found = NEXT.search(response.text)
        url = found.group(1) if found else None
    assert len(seen) == len(set(seen)), f"{path}: a comment on two pages"
    missing = set(ids) - set(seen)
    assert not missing, f"{path}: {len(missing)} of {len(ids)} comments on no page"
    return pages, first_size


def _deep_page(base: str, deepest_id: int) -> str:
    """The page holding the deepest reply, through its permalink."""
    found = httpx.get(f"{base}/c/{SLUG}/comments/{deepest_id}", timeout=120)
    assert found.status_code == 303, found.status_code
    return found.headers["location"].split("#", 1)[0]


@dataclass
class Figures:
    label: str
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def p50(self) -> float:
        return _quantile(self.latencies, 0.5)

    @property
    def p99(self) -> float:
        return _quantile(self.latencies, 0.99)


def _measure(base: str, path: str, label: str) -> Figures:
    asyncio.run(_load(base, path, 0, CONCURRENCY))  # warm up: templates, connections
    count, seconds, latencies = asyncio.run(_load(base, path, SECONDS, MIN_REQUESTS))
    return Figures(label, count, seconds, latencies)


def _figures(backend: str, url: str, workers: int) -> None:
    upgrade_database(url)
    with tempfile.TemporaryDirectory() as directory:
        prepared = asyncio.run(_prepare(url, Path(directory)))
        print(
            f"   {backend} setup: {len(prepared.comment_ids):,} comments"
            f" ({prepared.top_level} threads, deepest reply at depth {prepared.max_depth}),"
            f" {prepared.reactions:,} reactions, {prepared.hidden} hidden,"
            f" through the app's actions in {prepared.seconds:.1f} s"
        )
        if PROFILE:
            _profile(url, Path(directory), prepared.deepest_id)
        server = Server(url, Path(directory), workers)
        try:
            server.wait()
            page = f"/c/{SLUG}/items/{ITEM_NUMBER}/consultation"
            pages, size = _check_pages(server.base, page, prepared.comment_ids)
            _pages, supported_size = _check_pages(
                server.base, page + "?sort=supported", prepared.comment_ids
            )
            deep = _deep_page(server.base, prepared.deepest_id)
            deep_size = len(httpx.get(server.base + deep, timeout=120).content)
            static = _measure(server.base, "/static/yishi.css", "static")
            newest = _measure(server.base, page, "page 1, newest")
            supported = _measure(server.base, page + "?sort=supported", "page 1, supported")
            deepest = _measure(server.base, deep, f"{deep.rsplit('?', 1)[-1]}, the deepest chain")
        finally:
            server.stop()
    plural = "s" if workers > 1 else ""
    print(
        f"   {backend} ({workers} worker{plural}, {CONCURRENCY} readers at once; {pages} pages,"
        f" page 1 {size / 1024:,.0f} KiB, most supported {supported_size / 1024:,.0f} KiB, the deep"
        f" page {deep_size / 1024:,.0f} KiB): static"
        f" /static/yishi.css {static.rate:,.0f} req/s, p50 {static.p50 * 1000:.1f} ms,"
        f" p99 {static.p99 * 1000:.1f} ms"
    )
    for figures in (newest, supported, deepest):
        print(
            f"   {backend} consultation ({figures.label}): {figures.rate:,.1f} req/s"
            f" over {figures.count:,} requests, p50 {figures.p50 * 1000:.0f} ms,"
            f" p99 {figures.p99 * 1000:.0f} ms; ratios to static: rate"
            f" {figures.rate / static.rate:.4f}, p99 {figures.p99 / static.p99:.0f}x"
        )


# --- where a render's time goes ------------------------------------------------------------------


def _profile(url: str, directory: Path, deepest_id: int) -> None:
    """One render of page 1 in-process under cProfile (the app is called on this thread's event
    loop, not through a test client's portal thread, so the profile sees it), with its SQL
    statements counted; the deep page's render and size beside it."""
    asyncio.run(_profile_render(url, directory, deepest_id))


async def _profile_render(url: str, directory: Path, deepest_id: int) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from app.factory import create_app, memory_stores

    app = create_app(_settings(url, directory), stores=memory_stores())
    sql: list[float] = []

    def before(conn: Any, *_args: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, *_args: Any) -> None:
        sql.append(time.perf_counter() - conn.info.pop("bench_started"))

    page = f"/c/{SLUG}/items/{ITEM_NUMBER}/consultation"
    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    try:
        async with (
            app.lifespan(),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
            ) as client,
        ):
            assert (await client.get(page)).status_code == 200  # warm: templates compiled
            renders, statements, sql_s = [], 0, 0.0
            for _ in range(5):
                sql.clear()
                started = time.perf_counter()
                response = await client.get(page)
                renders.append(time.perf_counter() - started)
                statements, sql_s = len(sql), sum(sql)
            found = await client.get(f"/c/{SLUG}/comments/{deepest_id}")
            deep = found.headers["location"].split("#", 1)[0]
            deep_renders = []
            for _ in range(3):
                started = time.perf_counter()
                deep_page = (await client.get(deep)).content
                deep_renders.append(time.perf_counter() - started)
            profiler = cProfile.Profile()
            profiler.enable()
            response = await client.get(page)
            profiler.disable()
            assert response.status_code == 200
            resident_s, resident_page = await _as_resident(client, url, page)
            resident_deep = (await client.get(deep)).content
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)
    body = response.content
    print(
        f"   profile: one render {_quantile(renders, 0.5) * 1000:.0f} ms (median of 5, no"
        f" profiler), of which SQL {sql_s * 1000:.0f} ms in {statements} statements; page"
        f" {len(body) / 1024:,.0f} KiB, {len(gzip.compress(body, 6)) / 1024:,.0f} KiB gzipped"
    )
    print(
        f"   the deep page ({deep.rsplit('?', 1)[-1]}, with the deepest chain):"
        f" {_quantile(deep_renders, 0.5) * 1000:.0f} ms, {len(deep_page) / 1024:,.0f} KiB,"
        f" {len(gzip.compress(deep_page, 6)) / 1024:,.0f} KiB gzipped;"
        f" comments on page 1: {len(ANCHOR.findall(body.decode()))}, on the deep page:"
        f" {len(ANCHOR.findall(deep_page.decode()))}"
    )
    print(
        f"   a signed-in resident's page 1 (reply and reaction forms on every comment, the"
        f" report form fetched when opened): {resident_s * 1000:.0f} ms,"
        f" {len(resident_page) / 1024:,.0f} KiB,"
        f" {len(gzip.compress(resident_page, 6)) / 1024:,.0f} KiB gzipped; the deep page"
        f" {len(resident_deep) / 1024:,.0f} KiB, {len(gzip.compress(resident_deep, 6)) / 1024:,.0f}"
        f" KiB gzipped"
    )
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"web/templates|/app/|deliberation/", 15)
    stats.sort_stats("tottime").print_stats(12)
    for line in _short(out.getvalue()):
        print("   | " + line)


async def _as_resident(client: httpx.AsyncClient, url: str, page: str) -> tuple[float, bytes]:
    """Sign a resident in and render the page as they see it: median seconds and the page."""
    engine = create_engine(url)
    try:
        async with session_scope(engine) as session:
            username = (
                await session.execute(
                    select(Account.username)
                    .join(Person, Person.account_id == Account.id)
                    .order_by(Account.id)
                    .limit(1)
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    await client.get("/signin")
    signed_in = await client.post(
        "/signin",
        data={
            "identifier": username,
            "password": PASSWORD,
            "_csrf_token": client.cookies["csrftoken"],
        },
    )
    assert signed_in.status_code in (200, 302, 303), signed_in.status_code
    assert client.cookies.get("yishi_session"), "the resident was not signed in"
    renders = []
    for _ in range(3):
        started = time.perf_counter()
        response = await client.get(page)
        renders.append(time.perf_counter() - started)
        assert response.status_code == 200
    assert b'name="parent_id"' in response.content, "no reply forms: not signed in?"
    return _quantile(renders, 0.5), response.content


def _short(text: str) -> Iterator[str]:
    root = str(Path(__file__).resolve().parent.parent) + "/"
    for line in text.splitlines():
        if line.strip():
            yield line.replace(root, "")


def main() -> None:
    from bench.register_import import _postgres_database

    with tempfile.TemporaryDirectory() as directory:
        _figures("sqlite", normalise_database_url(f"sqlite:///{Path(directory) / 'bench.db'}"), 1)
    name = f"yishi_bench_deliberation_{os.getpid()}"
    try:
        asyncio.run(_postgres_database("CREATE", name))
    except Exception as error:  # no server: report and go on
        print(f"   postgres: skipped ({error.__class__.__name__}: {error})")
        return
    try:
        url = normalise_database_url(POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}")
        _figures("postgres", url, 2)
    finally:
        asyncio.run(_postgres_database("DROP", name))


if __name__ == "__main__":
    main()
