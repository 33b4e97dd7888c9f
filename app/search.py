"""Finding things: full-text search over agenda items and their visible comments, the items'
Atom feed, and a resident's own participation (items, co-signatures, comments, amendments,
ballots) in one place.

Chinese has no spaces between words, so the indexes are of trigrams (migration 9d3e5f1a2b6c):
on SQLite FTS5 tables with the trigram tokenizer (``item_fts``, ``comment_fts``), on PostgreSQL
pg_trgm GIN indexes over ``title || ' ' || body`` and ``comment.body``. A trigram index serves a
term of three characters or more; a shorter term (停车 is two) is matched by LIKE, which is
correct at any length and slow only on tables far larger than one community's.
"""

from __future__ import annotations

import html
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import nh3
from markupsafe import Markup, escape
from sqlalchemy import (
    Select,
    Text,
    and_,
    func,
    literal_column,
    or_,
    select,
    table,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.items import MAX_ID, DeliberationError
from app.models import (
    AgendaItem,
    Amendment,
    Ballot,
    BallotCaster,
    BallotParticipation,
    BallotStatus,
    Building,
    Comment,
    Community,
    Grid,
    ItemCosign,
)
from ballots.ballot import iso_utc
from deliberation.items import Category, Status
from deliberation.text import plain_summary

QUERY_MAX: Final = 100  # characters
TERMS_MAX: Final = 10
PAGE_SIZE: Final = 20
FEED_SIZE: Final = 50
SHOWN: Final = 50  # rows per section of "my participation"
TRIGRAM: Final = 3  # the shortest term a trigram index can serve
SNIPPET_BEFORE: Final = 30
SNIPPET_AFTER: Final = 90

PUBLIC_STATUSES: Final = tuple(s.value for s in Status if s != Status.draft)
CATEGORIES: Final = tuple(c.value for c in Category)

_ITEM_FTS = table("item_fts")
_COMMENT_FTS = table("comment_fts")
_ROWID: Any = literal_column("rowid")


# --- the query ----------------------------------------------------------------------------------


def terms_of(q: str) -> list[str]:
    """The query's terms: NFC, split at any white space (a full-width space too), each once.
    Refuses a query longer than ``QUERY_MAX`` characters or of more than ``TERMS_MAX`` terms."""
    text = unicodedata.normalize("NFC", q or "")
    if len(text.strip()) > QUERY_MAX:
        raise DeliberationError("query_too_long", field="q", limit=QUERY_MAX)
    seen: dict[str, str] = {}
    for term in text.split():
        seen.setdefault(term.casefold(), term)
    if len(seen) > TERMS_MAX:
        raise DeliberationError("too_many_terms", field="q", limit=TERMS_MAX)
    return list(seen.values())


def like_pattern(term: str) -> str:
    """``%term%`` with LIKE's own wildcards taken literally (escape character: backslash)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fts_phrase(term: str) -> str:
    """An FTS5 query matching the term as one phrase: quoted, inner quotes doubled, so that no
    character of the term is read as query syntax (AND, NEAR, *, column filters...)."""
    return '"' + term.replace('"', '""') + '"'


def _is_sqlite(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "sqlite"


def item_text_expression() -> Any:
    """Exactly the expression ``ix_agenda_item_search_trgm`` indexes, so that PostgreSQL's
    planner can use the index: the separator is a literal, not a bound parameter."""
    return AgendaItem.title.op("||")(literal_column("' '", Text)).op("||")(AgendaItem.body)


def items_with(sqlite: bool, community_id: int, term: str) -> Any:
    """The ids of the community's items whose own title or body contains the term."""
    if sqlite and len(term) >= TRIGRAM:
        # rowid is agenda_item.id; the outer query keeps the community's items only
        return (
            select(_ROWID)
            .select_from(_ITEM_FTS)
            .where(literal_column("item_fts").op("MATCH")(fts_phrase(term)))
        )
    if sqlite:
        pattern = like_pattern(term)
        matches = or_(
            AgendaItem.title.like(pattern, escape="\\"), AgendaItem.body.like(pattern, escape="\\")
        )
    else:
        matches = item_text_expression().ilike(like_pattern(term), escape="\\")
    # its own scan of agenda_item (never correlated with the outer query), for the index
    return (
        select(AgendaItem.id)
        .where(AgendaItem.community_id == community_id, matches)
        .correlate(None)
    )


def comment_matches(sqlite: bool, term: str) -> Any:
    """This comment's text contains the term (visibility is checked separately)."""
    if not sqlite:
        return Comment.body.ilike(like_pattern(term), escape="\\")
    if len(term) >= TRIGRAM:
        found = (
            select(_ROWID)
            .select_from(_COMMENT_FTS)
            .where(literal_column("comment_fts").op("MATCH")(fts_phrase(term)))
        )
        return Comment.id.in_(found)
    return Comment.body.like(like_pattern(term), escape="\\")


def visible_comment(community_id: int) -> Any:
    return and_(Comment.community_id == community_id, Comment.hidden_at.is_(None))


def term_matches(sqlite: bool, community_id: int, term: str) -> Any:
    """The item has the term in its title or body, or in one of its visible comments. A UNION
    of the two rather than an OR, so that each side is served by its own index."""
    in_comments = select(Comment.item_id).where(
        visible_comment(community_id), comment_matches(sqlite, term)
    )
    return AgendaItem.id.in_(union(items_with(sqlite, community_id, term), in_comments))


def check_filters(status: str | None, category: str | None) -> None:
    """A status that is not public (a draft) or unknown, or an unknown category, is refused:
    the form offers only valid ones, so anything else is a typed-in address."""
    if status and status not in PUBLIC_STATUSES:
        raise DeliberationError("unknown_status", field="status", value=status)
    if category and category not in CATEGORIES:
        raise DeliberationError("unknown_category", field="category", value=category)


def item_filters(
    community_id: int,
    status: str | None = None,
    category: str | None = None,
    grid_id: int | None = None,
) -> list[Any]:
    """Published items of this community, narrowed by status, category and grid (an item is in
    a grid when it is scoped to the grid or to one of its buildings)."""
    conditions: list[Any] = [
        AgendaItem.community_id == community_id,
        AgendaItem.status != Status.draft.value,
    ]
    if status:
        conditions.append(AgendaItem.status == status)
    if category:
        conditions.append(AgendaItem.category == category)
    if grid_id is not None:
        buildings = select(Building.id).where(
            Building.community_id == community_id, Building.grid_id == grid_id
        )
        conditions.append(
            or_(AgendaItem.scope_grid_id == grid_id, AgendaItem.scope_building_id.in_(buildings))
        )
    return conditions


async def community_grid(session: AsyncSession, community_id: int, grid_id: int) -> int:
    """The grid id of an address (as in the item list's filter), if it is this community's."""
    if not 0 < grid_id <= MAX_ID:
        raise DeliberationError("unknown_grid", field="grid", value=grid_id)
    found = (
        await session.execute(
            select(Grid.id).where(Grid.community_id == community_id, Grid.id == grid_id)
        )
    ).scalar_one_or_none()
    if found is None:
        raise DeliberationError("unknown_grid", field="grid", value=grid_id)
    return int(found)


async def grids(session: AsyncSession, community_id: int) -> list[tuple[int, str]]:
    """The community's grids as (id, name), in their order, for the filter."""
    rows = await session.execute(
        select(Grid.id, Grid.name).where(Grid.community_id == community_id).order_by(Grid.number)
    )
    return [(int(i), str(name)) for i, name in rows.all()]


def search_statement(
    sqlite: bool,
    community_id: int,
    terms: Sequence[str],
    status: str | None = None,
    category: str | None = None,
    grid_id: int | None = None,
) -> Select[Any]:
    """The matching items, newest first (without paging): every term must match."""
    conditions = item_filters(community_id, status, category, grid_id)
    conditions += [term_matches(sqlite, community_id, t) for t in terms]
    return (
        select(AgendaItem)
        .where(*conditions)
        .order_by(AgendaItem.updated_at.desc(), AgendaItem.id.desc())
    )


# --- snippets -----------------------------------------------------------------------------------


def plain_text(rendered_html: str) -> str:
    """The text of stored, sanitised HTML, on one line."""
    return " ".join(html.unescape(nh3.clean(rendered_html, tags=set())).split())


def _spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Where the terms occur (case-insensitively), overlapping occurrences merged."""
    found = sorted(
        (m.start(), m.end())
        for t in terms
        if t
        for m in re.finditer(re.escape(t), text, re.IGNORECASE)
    )
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mark(text: str, terms: Iterable[str]) -> Markup:
    """The text escaped, with each occurrence of a term wrapped in ``<mark>``. The text is cut
    at the matches and every piece escaped on its own, so a mark never splits an entity and
    nothing of the text can become markup."""
    out = Markup()
    at = 0
    for start, end in _spans(text, terms):
        out += escape(text[at:start]) + Markup("<mark>") + escape(text[start:end])
        out += Markup("</mark>")
        at = end
    return out + escape(text[at:])


def snippet(text: str, terms: Sequence[str], fallback: bool = True) -> Markup | None:
    """A short window of the text around the first match, marked; without a match the text's
    beginning (or None when ``fallback`` is off)."""
    spans = _spans(text, terms)
    if not spans:
        if not fallback:
            return None
        start, end = 0, min(len(text), SNIPPET_BEFORE + SNIPPET_AFTER)
    else:
        first_start, first_end = spans[0]
        start = max(0, first_start - SNIPPET_BEFORE)
        end = min(len(text), first_end + SNIPPET_AFTER)
    window = text[start:end]
    marked = mark(window, terms)
    if start > 0:
        marked = Markup("…") + marked
    if end < len(text):
        marked += Markup("…")
    return marked


# --- search -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    number: int
    title: Markup  # escaped, matches marked
    status: str
    category: str
    updated_at: datetime
    snippet: Markup
    comment_id: int | None  # the snippet is from this comment


@dataclass(frozen=True)
class SearchResult:
    terms: list[str]
    hits: list[Hit]
    total: int
    page: int
    page_size: int = PAGE_SIZE


async def search(
    session: AsyncSession,
    community_id: int,
    q: str,
    status: str | None = None,
    category: str | None = None,
    grid_id: int | None = None,
    page: int = 1,
) -> SearchResult:
    """Published items of the community with every term of ``q`` in their title, body or a
    visible comment, newest first, a page at a time; each hit with a marked snippet. An empty
    query finds nothing."""
    terms = terms_of(q)
    check_filters(status, category)
    page = max(1, page)
    if not terms:
        return SearchResult([], [], 0, page)
    sqlite = _is_sqlite(session)
    statement = search_statement(sqlite, community_id, terms, status, category, grid_id)
    counted = statement.with_only_columns(func.count(), maintain_column_froms=True)
    total = int((await session.execute(counted.order_by(None))).scalar_one())
    if total == 0:
        return SearchResult(terms, [], 0, page)
    items = list(
        (await session.execute(statement.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))).scalars()
    )
    hits: list[Hit] = []
    bodies = {i.id: plain_text(i.body_html) for i in items}
    need_comment = [i.id for i in items if not _spans(bodies[i.id], terms)]
    comments = await _first_matching_comments(session, sqlite, community_id, need_comment, terms)
    for item in items:
        body = bodies[item.id]
        found_in_body = snippet(body, terms, fallback=False)
        comment = comments.get(item.id)
        comment_snippet = snippet(comment[1], terms, fallback=False) if comment else None
        if found_in_body is not None:
            text, comment_id = found_in_body, None
        elif comment is not None and comment_snippet is not None:
            text, comment_id = comment_snippet, comment[0]
        else:
            text, comment_id = snippet(body, terms) or Markup(), None
        hits.append(
            Hit(
                number=item.number,
                title=mark(item.title, terms),
                status=item.status,
                category=item.category,
                updated_at=item.updated_at,
                snippet=text,
                comment_id=comment_id,
            )
        )
    return SearchResult(terms, hits, total, page)


async def _first_matching_comments(
    session: AsyncSession,
    sqlite: bool,
    community_id: int,
    item_ids: list[int | None],
    terms: Sequence[str],
) -> dict[int, tuple[int, str]]:
    """For each item, its earliest visible comment with one of the terms: (id, plain text).
    One query for the whole page."""
    ids = [i for i in item_ids if i is not None]
    if not ids:
        return {}
    ranked = (
        select(
            Comment.id,
            Comment.item_id,
            Comment.body_html,
            func.row_number().over(partition_by=Comment.item_id, order_by=Comment.id).label("n"),
        )
        .where(
            Comment.item_id.in_(ids),
            visible_comment(community_id),
            or_(*(comment_matches(sqlite, t) for t in terms)),
        )
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.id, ranked.c.item_id, ranked.c.body_html).where(ranked.c.n == 1)
    )
    return {item_id: (cid, plain_text(body)) for cid, item_id, body in rows.all()}


# --- the Atom feed ------------------------------------------------------------------------------

ATOM: Final = "http://www.w3.org/2005/Atom"
_XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"
# What XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


async def feed_entries(
    session: AsyncSession,
    community_id: int,
    status: str | None = None,
    category: str | None = None,
    grid_id: int | None = None,
) -> list[AgendaItem]:
    """The newest-updated published items (at most ``FEED_SIZE``)."""
    check_filters(status, category)
    rows = await session.execute(
        select(AgendaItem)
        .where(*item_filters(community_id, status, category, grid_id))
        .order_by(AgendaItem.updated_at.desc(), AgendaItem.id.desc())
        .limit(FEED_SIZE)
    )
    return list(rows.scalars())


def _xml(text: object) -> str:
    return _NOT_XML.sub("", str(text))


def _add(parent: ET.Element, tag: str, text: object = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _xml(v) for k, v in attributes.items()})
    if text is not None:
        element.text = _xml(text)
    return element


def atom_feed(
    community: Community,
    entries: Sequence[AgendaItem],
    *,
    base_url: str,
    self_path: str,
    title: str,
    language: str,
    category_label: Any,
) -> bytes:
    """An Atom 1.0 document (RFC 4287). Built as a tree and serialised by ElementTree, so every
    title, name and body is escaped; ``content`` carries the stored, sanitised HTML as text
    (``type="html"``), which a feed reader unescapes and renders."""
    slug = community.slug
    # Names unqualified under a default xmlns: ElementTree would otherwise invent "ns0:".
    feed = ET.Element("feed", {"xmlns": ATOM, _XML_LANG: language})
    _add(feed, "id", f"{base_url}/c/{slug}/items.atom")
    _add(feed, "title", title)
    newest = max((e.updated_at for e in entries), default=community.created_at)
    _add(feed, "updated", iso_utc(newest))
    _add(feed, "link", rel="self", type="application/atom+xml", href=f"{base_url}{self_path}")
    _add(feed, "link", rel="alternate", type="text/html", href=f"{base_url}/c/{slug}/items")
    author = _add(feed, "author")
    _add(author, "name", community.name)
    _add(feed, "generator", "Yishi")
    for item in entries:
        url = f"{base_url}/c/{slug}/items/{item.number}"
        entry = _add(feed, "entry")
        _add(entry, "id", url)
        _add(entry, "title", item.title)
        _add(entry, "updated", iso_utc(item.updated_at))
        if item.published_at is not None:
            _add(entry, "published", iso_utc(item.published_at))
        _add(entry, "link", rel="alternate", type="text/html", href=url)
        # no entry author: the feed's author (the community) stands for every entry, and a
        # feed is read by anyone, while residents' names are for the community's own people
        _add(entry, "category", term=item.category, label=category_label(item.category))
        _add(entry, "summary", plain_summary(item.body), type="text")
        _add(entry, "content", item.body_html, type="html")
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


# --- my participation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MyItem:
    number: int
    title: str
    status: str
    category: str
    updated_at: datetime


@dataclass(frozen=True)
class MyCosign:
    number: int
    title: str
    status: str
    at: datetime


@dataclass(frozen=True)
class MyComment:
    id: int
    item: int
    item_title: str
    excerpt: str
    hidden_reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class MyAmendment:
    item: int
    item_title: str
    number: int
    status: str
    created_at: datetime


@dataclass(frozen=True)
class MyElector:
    code: str
    channel: str | None  # how the vote was recorded; None: not (yet) taken part
    via_proxy: bool
    entry_id: int | None  # the cast's log entry, for its receipt (roll-call ballots only)


@dataclass
class MyBallot:
    number: int
    title: str
    status: str
    secret: bool
    closes_at: datetime | None
    electors: list[MyElector] = field(default_factory=list)

    @property
    def took_part(self) -> bool:
        return any(e.channel is not None for e in self.electors)


@dataclass(frozen=True)
class Section:
    rows: list[Any]
    total: int


@dataclass(frozen=True)
class Participation:
    items: Section
    cosigns: Section
    comments: Section
    amendments: Section
    ballots: Section


async def _count(session: AsyncSession, statement: Select[Any]) -> int:
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    return int((await session.execute(counted)).scalar_one())


async def participation(
    session: AsyncSession, community_id: int, account_id: int, person_id: int
) -> Participation:
    """What this person did in this community, newest first, ``SHOWN`` rows a section with the
    section's total: a fixed number of queries, whatever the number of rows."""
    items_q = (
        select(AgendaItem)
        .where(AgendaItem.community_id == community_id, AgendaItem.author_id == account_id)
        .order_by(AgendaItem.updated_at.desc(), AgendaItem.id.desc())
    )
    items = [
        MyItem(i.number, i.title, i.status, i.category, i.updated_at)
        for i in (await session.execute(items_q.limit(SHOWN))).scalars()
    ]

    cosigns_q = (
        select(AgendaItem.number, AgendaItem.title, AgendaItem.status, ItemCosign.created_at)
        .join(AgendaItem, AgendaItem.id == ItemCosign.item_id)
        .where(ItemCosign.community_id == community_id, ItemCosign.person_id == person_id)
        .order_by(ItemCosign.created_at.desc(), AgendaItem.number.desc())
    )
    cosigns = [MyCosign(*row) for row in (await session.execute(cosigns_q.limit(SHOWN))).all()]

    comments_q = (
        select(
            Comment.id,
            AgendaItem.number,
            AgendaItem.title,
            Comment.body_html,
            Comment.hidden_reason,
            Comment.created_at,
        )
        .join(AgendaItem, AgendaItem.id == Comment.item_id)
        .where(Comment.community_id == community_id, Comment.author_id == account_id)
        .order_by(Comment.created_at.desc(), Comment.id.desc())
    )
    comments = [
        MyComment(cid, number, title, _excerpt(body), reason, at)
        for cid, number, title, body, reason, at in (
            await session.execute(comments_q.limit(SHOWN))
        ).all()
    ]

    amendments_q = (
        select(
            AgendaItem.number,
            AgendaItem.title,
            Amendment.number,
            Amendment.status,
            Amendment.created_at,
        )
        .join(AgendaItem, AgendaItem.id == Amendment.item_id)
        .where(Amendment.community_id == community_id, Amendment.author_id == account_id)
        .order_by(Amendment.created_at.desc(), Amendment.id.desc())
    )
    amendments = [
        MyAmendment(*row) for row in (await session.execute(amendments_q.limit(SHOWN))).all()
    ]

    my_ballots = (
        select(BallotCaster.ballot_id)
        .join(Ballot, Ballot.id == BallotCaster.ballot_id)
        .where(
            BallotCaster.community_id == community_id,
            BallotCaster.person_id == person_id,
            Ballot.status != BallotStatus.draft.value,
        )
        .group_by(BallotCaster.ballot_id)
    )
    shown = my_ballots.order_by(BallotCaster.ballot_id.desc()).limit(SHOWN).subquery()
    rows = await session.execute(
        select(
            Ballot,
            BallotCaster.code,
            BallotParticipation.channel,
            BallotParticipation.via_proxy,
            BallotParticipation.entry_id,
        )
        .join(BallotCaster, BallotCaster.ballot_id == Ballot.id)
        .outerjoin(
            BallotParticipation,
            and_(
                BallotParticipation.ballot_id == BallotCaster.ballot_id,
                BallotParticipation.elector == BallotCaster.code,
            ),
        )
        .where(
            Ballot.id.in_(select(shown.c.ballot_id)),
            BallotCaster.person_id == person_id,
        )
        .order_by(Ballot.id.desc(), BallotCaster.code)
    )
    ballots: dict[int, MyBallot] = {}
    for ballot, code, channel, via_proxy, entry_id in rows.all():
        mine = ballots.get(ballot.id)
        if mine is None:
            mine = ballots[ballot.id] = MyBallot(
                ballot.number,
                ballot.title,
                ballot.status,
                ballot.definition.get("secrecy") == "secret",
                ballot.closes_at,
            )
        mine.electors.append(MyElector(code, channel, bool(via_proxy), entry_id))

    return Participation(
        items=Section(items, await _count(session, items_q)),
        cosigns=Section(cosigns, await _count(session, cosigns_q)),
        comments=Section(comments, await _count(session, comments_q)),
        amendments=Section(amendments, await _count(session, amendments_q)),
        ballots=Section(list(ballots.values()), await _count(session, my_ballots)),
    )


def _excerpt(rendered_html: str, limit: int = 140) -> str:
    text = plain_text(rendered_html)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
