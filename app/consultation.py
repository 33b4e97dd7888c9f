"""Consultations stored: comments and replies, edits with their history, reactions, reports,
moderation and the chair's summary.

Each action checks everything first, then writes its rows (and, where the public log records it,
its one entry) and commits once; a refusal raises ``DeliberationError`` before anything is
written. Comments themselves never go into the append-only log: residents' words stay out of it,
only the fact and reason of moderation and the chair's summary are recorded. The thread rules
are ``deliberation.threads``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app import log
from app.auth import Membership
from app.items import MAX_ID, DeliberationError
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
    ItemSummary,
    LogEntry,
    Person,
    Role,
    Unit,
    UnitLink,
    utcnow,
)
from app.notify import notify
from deliberation import threads
from deliberation.items import (
    MODERATION_REASONS,
    REACTIONS,
    REPORT_REASONS,
    Status,
    consultation_open,
)
from deliberation.text import COMMENT_MAX, TextError, clean_text, render_markdown

NOTE_MAX = 500  # CommentReport.note
SUMMARY_STATUSES = frozenset({Status.consultation, Status.deciding})
DEFAULT_COMMENTS_PER_HOUR: int = DeliberationSettings.model_fields["comments_per_hour"].default


# --- reading ------------------------------------------------------------------------------------


async def get_comment(
    session: AsyncSession, community_id: int, comment_id: int
) -> tuple[Comment, AgendaItem]:
    """A comment of this community with its item; ``no_such_comment`` otherwise."""
    if not 0 < comment_id <= MAX_ID:
        raise DeliberationError("no_such_comment", comment=comment_id)
    found = (
        await session.execute(
            select(Comment, AgendaItem)
            .join(AgendaItem, AgendaItem.id == Comment.item_id)
            .where(Comment.id == comment_id, Comment.community_id == community_id)
        )
    ).first()
    if found is None:
        raise DeliberationError("no_such_comment", comment=comment_id)
    return found[0], found[1]


def is_open(item: AgendaItem, now: datetime | None = None) -> bool:
    return consultation_open(
        item.status, item.consultation_opens_at, item.consultation_closes_at, now or utcnow()
    )


@dataclass(slots=True)
class CommentView:
    """A comment as a page shows it. ``body_html`` is None for a hidden comment unless the
    reader may read hidden text."""

    id: int
    parent_id: int | None
    depth: int
    author_id: int
    author_name: str
    created_at: datetime
    edited_at: datetime | None
    revision: int
    body_html: str | None
    hidden_reason: str | None
    agree_count: int
    disagree_count: int
    question_count: int
    iso: str = ""  # created_at, for <time datetime>
    local: str = ""  # created_at as the community reads its clocks

    def __post_init__(self) -> None:
        self.iso = self.created_at.isoformat()
        self.local = beijing(self.created_at)


BEIJING = timezone(timedelta(hours=8))  # Asia/Shanghai has kept UTC+8 without DST since 1991


def beijing(moment: datetime) -> str:
    """Beijing time to the minute, as ``ballot_views.local_time`` shows it, but quicker: a
    thread page formats two thousand of these."""
    m = moment.astimezone(BEIJING)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d} {m.hour:02d}:{m.minute:02d}"


_VIEW_COLUMNS = (
    Comment.id,
    Comment.parent_id,
    Comment.depth,
    Comment.author_id,
    Account.display_name,
    Comment.created_at,
    Comment.edited_at,
    Comment.revision,
    Comment.body_html,
    Comment.hidden_reason,
    Comment.agree_count,
    Comment.disagree_count,
    Comment.question_count,
)


def _view(row: Any, sees_hidden: bool) -> CommentView:
    view = CommentView(*row)
    if view.hidden_reason is not None and not sees_hidden:
        view.body_html = None
    return view


# Top-level comments in a page's order (``deliberation.threads.build_thread`` sorts them alike):
# newest first, or most supported, then newest.
_ROOT_ORDER = {
    "newest": (Comment.created_at.desc(), Comment.id.desc()),
    "supported": (Comment.agree_count.desc(), Comment.created_at.desc(), Comment.id.desc()),
}


async def thread_counts(session: AsyncSession, item: AgendaItem) -> tuple[int, int]:
    """How many comments the item has, and how many of them start a thread: one query."""
    comments, replies = (
        await session.execute(
            select(func.count(), func.count(Comment.parent_id)).where(Comment.item_id == item.id)
        )
    ).one()
    return int(comments), int(comments) - int(replies)


@dataclass(slots=True)
class ThreadPage:
    """One page of a consultation: which page, the item's counts, and the comments of the
    page's threads (each thread whole), in path order."""

    page: threads.Page
    comments: int
    views: list[CommentView]


async def thread_page(
    session: AsyncSession,
    item: AgendaItem,
    number: int = 1,
    sort: str = "newest",
    *,
    sees_hidden: bool,
    per_page: int = threads.THREADS_PER_PAGE,
) -> ThreadPage:
    """Page ``number`` of the item's threads in this order, in three queries whatever the page
    or the threads' size: the counts; the page's top-level comments (LIMIT/OFFSET); then every
    comment under them, as ranges of the (item, path) index. ``no_such_page`` beyond the last."""
    comments, roots = await thread_counts(session, item)
    try:
        page = threads.thread_page(number, roots, per_page)
    except threads.ThreadError as error:
        raise DeliberationError(error.code, **error.details) from None
    paths = list(
        (
            await session.execute(
                select(Comment.path)
                .where(Comment.item_id == item.id, Comment.parent_id.is_(None))
                .order_by(*_ROOT_ORDER[threads.sort_key(sort)])
                .limit(page.per_page)
                .offset(page.offset)
            )
        ).scalars()
    )
    views: list[CommentView] = []
    if paths:
        subtrees = [
            and_(Comment.item_id == item.id, Comment.path >= lo, Comment.path < hi)
            for lo, hi in map(threads.subtree_range, paths)
        ]
        rows = await session.execute(
            select(*_VIEW_COLUMNS)
            .join(Account, Account.id == Comment.author_id)
            .where(or_(*subtrees))
            .order_by(Comment.path)
        )
        views = [_view(row, sees_hidden) for row in rows]
    return ThreadPage(page, comments, views)


async def page_of_comment(
    session: AsyncSession,
    comment: Comment,
    sort: str = "newest",
    per_page: int = threads.THREADS_PER_PAGE,
) -> int:
    """The page that shows this comment, in this order: its thread's root's position among
    the item's top-level comments (one query)."""
    root = aliased(Comment)
    before: Any
    if threads.sort_key(sort) == "supported":
        before = or_(
            Comment.agree_count > root.agree_count,
            and_(
                Comment.agree_count == root.agree_count,
                or_(
                    Comment.created_at > root.created_at,
                    and_(Comment.created_at == root.created_at, Comment.id > root.id),
                ),
            ),
        )
    else:
        before = or_(
            Comment.created_at > root.created_at,
            and_(Comment.created_at == root.created_at, Comment.id > root.id),
        )
    position = (
        await session.execute(
            select(func.count())
            .select_from(Comment)
            .join(root, root.id == threads.root_id(comment.path))
            .where(
                Comment.item_id == comment.item_id,
                Comment.parent_id.is_(None),
                before,
            )
        )
    ).scalar_one()
    return threads.page_of(int(position), per_page)


async def comment_view(session: AsyncSession, comment_id: int, *, sees_hidden: bool) -> CommentView:
    row = (
        await session.execute(
            select(*_VIEW_COLUMNS)
            .join(Account, Account.id == Comment.author_id)
            .where(Comment.id == comment_id)
        )
    ).one()
    return _view(row, sees_hidden)


async def reactions_of(session: AsyncSession, item: AgendaItem, account_id: int) -> dict[int, str]:
    """The reader's reactions in this consultation, by comment: one query."""
    rows = await session.execute(
        select(CommentReaction.comment_id, CommentReaction.kind)
        .join(Comment, Comment.id == CommentReaction.comment_id)
        .where(Comment.item_id == item.id, CommentReaction.account_id == account_id)
    )
    return {comment_id: kind for comment_id, kind in rows.all()}


async def author_grids(
    session: AsyncSession, community_id: int, account_ids: Iterable[int]
) -> dict[int, set[int]]:
    """The grids each of these accounts lives in: person → current unit link → unit → building."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    today = date.today()
    rows = await session.execute(
        select(Person.account_id, Building.grid_id)
        .join(UnitLink, UnitLink.person_id == Person.id)
        .join(Unit, Unit.id == UnitLink.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .where(
            Person.community_id == community_id,
            Person.account_id.in_(wanted),
            or_(UnitLink.until.is_(None), UnitLink.until >= today),
        )
    )
    found: dict[int, set[int]] = defaultdict(set)
    for account_id, grid_id in rows.all():
        found[account_id].add(grid_id)
    return found


async def moderatable_authors(
    session: AsyncSession, m: Membership, account_ids: Iterable[int]
) -> set[int] | None:
    """Whose comments this member may moderate: None means everyone's (a chair)."""
    if m.has(Role.chair):
        return None
    if not m.has(Role.grid_member) or not m.grid_ids:
        return set()
    grids = await author_grids(session, m.community.id, account_ids)
    return {a for a, g in grids.items() if threads.moderator_capacity(False, m.grid_ids, g)}


async def revisions(session: AsyncSession, comment: Comment) -> list[CommentRevision]:
    rows = await session.execute(
        select(CommentRevision)
        .where(CommentRevision.comment_id == comment.id)
        .order_by(CommentRevision.revision)
    )
    return list(rows.scalars())


async def summary_of(session: AsyncSession, item: AgendaItem) -> ItemSummary | None:
    return await session.get(ItemSummary, item.id)


async def entry_seqs(session: AsyncSession, entry_ids: Iterable[int | None]) -> dict[int, int]:
    """The log positions of these entries, where the sequencer has given them one."""
    wanted = sorted({e for e in entry_ids if e is not None})
    if not wanted:
        return {}
    rows = await session.execute(
        select(LogEntry.id, LogEntry.seq).where(LogEntry.id.in_(wanted), LogEntry.seq.is_not(None))
    )
    return {entry_id: seq for entry_id, seq in rows.all()}


# --- posting -------------------------------------------------------------------------------------


def _clean(value: object, field: str, limit: int, *, required: bool = True) -> str:
    try:
        return clean_text(value, field, limit, required=required)
    except TextError as error:
        raise DeliberationError(
            f"text_{error.code}", field=error.field, limit=error.limit, length=error.length
        ) from None


def _require_register(m: Membership) -> int:
    if m.person is None or m.person.id is None:
        raise DeliberationError("not_in_register")
    return m.person.id


def _require_open(item: AgendaItem, now: datetime) -> None:
    if not is_open(item, now):
        raise DeliberationError(
            "consultation_closed",
            opens_at=item.consultation_opens_at,
            closes_at=item.consultation_closes_at,
            not_yet=bool(
                item.status == Status.consultation
                and item.consultation_opens_at
                and now < item.consultation_opens_at
            ),
        )


async def comments_per_hour(session: AsyncSession, community_id: int) -> int:
    found = await session.get(DeliberationSettings, community_id)
    return found.comments_per_hour if found is not None else DEFAULT_COMMENTS_PER_HOUR


async def _check_rate(
    session: AsyncSession, community_id: int, account_id: int, now: datetime
) -> None:
    limit = await comments_per_hour(session, community_id)
    recent = (
        await session.execute(
            select(Comment.created_at).where(
                Comment.community_id == community_id,
                Comment.author_id == account_id,
                Comment.created_at > now - threads.RATE_WINDOW,
            )
        )
    ).scalars()
    retry = threads.next_post_at(list(recent), limit, now)
    if retry is not None:
        raise DeliberationError("rate_limited", limit=limit, retry_at=retry)


def _insert_ignore(session: AsyncSession, table: Any) -> Any:
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


async def post_comment(
    session: AsyncSession,
    m: Membership,
    author: Account,
    item: AgendaItem,
    body: object,
    parent_id: int | None = None,
    *,
    now: datetime | None = None,
) -> Comment:
    """A new comment, or a reply to ``parent_id`` (a comment of the same item). The commenter
    follows the item; the parent's author is told of a reply. Commits."""
    now = now or utcnow()
    _require_register(m)
    _require_open(item, now)
    text = _clean(body, "body", COMMENT_MAX)
    parent = None
    if parent_id is not None:
        if not 0 < parent_id <= MAX_ID:
            raise DeliberationError("no_such_parent", comment=parent_id)
        parent = (
            await session.execute(
                select(Comment).where(
                    Comment.id == parent_id,
                    Comment.item_id == item.id,
                    Comment.community_id == m.community.id,
                )
            )
        ).scalar_one_or_none()
        if parent is None:
            raise DeliberationError("no_such_parent", comment=parent_id)
        if parent.hidden_at is not None:
            raise DeliberationError("comment_hidden")
    try:
        depth = threads.reply_depth(parent.depth if parent else None)
    except threads.ThreadError as error:
        raise DeliberationError(error.code, **error.details) from None
    await _check_rate(session, m.community.id, author.id, now)

    comment = Comment(
        community_id=m.community.id,
        item_id=item.id,
        parent_id=parent.id if parent else None,
        path="",
        depth=depth,
        author_id=author.id,
        body=text,
        body_html=render_markdown(text),
        created_at=now,
    )
    session.add(comment)
    await session.flush()
    comment.path = threads.comment_path(parent.path if parent else None, comment.id)
    await session.execute(
        _insert_ignore(session, ItemFollow.__table__).values(
            item_id=item.id, account_id=author.id, community_id=m.community.id
        )
    )
    if parent is not None:
        await notify(
            session,
            m.community.id,
            [parent.author_id],
            "reply",
            {"item": item.number, "title": item.title, "comment": comment.id},
            permalink(m.community.slug, comment.id),
            exclude=author.id,
        )
    await session.commit()
    return comment


async def first_reply(session: AsyncSession, comment: Comment) -> bool:
    """Whether this reply is its parent's only one (the page then opens a list of replies)."""
    siblings = (
        await session.execute(
            select(func.count()).select_from(Comment).where(Comment.parent_id == comment.parent_id)
        )
    ).scalar_one()
    return int(siblings) == 1


def permalink(slug: str, comment_id: int) -> str:
    return f"/c/{slug}/comments/{comment_id}"


def thread_url(slug: str, number: int) -> str:
    return f"/c/{slug}/items/{number}/consultation"


def page_url(slug: str, number: int, page: int = 1, sort: str = "newest") -> str:
    """A page of the thread; the first page in the default order is the thread's own URL."""
    query: dict[str, object] = {}
    if threads.sort_key(sort) != threads.SORTS[0]:
        query["sort"] = threads.sort_key(sort)
    if page > 1:
        query["p"] = page
    return thread_url(slug, number) + (f"?{urlencode(query)}" if query else "")


async def edit_comment(
    session: AsyncSession,
    m: Membership,
    editor: Account,
    comment: Comment,
    item: AgendaItem,
    body: object,
    *,
    now: datetime | None = None,
) -> bool:
    """The author's new text; the old one is kept as a revision. False if nothing changed."""
    now = now or utcnow()
    if comment.author_id != editor.id:
        raise DeliberationError("not_author")
    if comment.hidden_at is not None:
        raise DeliberationError("comment_hidden")
    _require_open(item, now)
    text = _clean(body, "body", COMMENT_MAX)
    if text == comment.body:
        return False
    session.add(
        CommentRevision(
            community_id=comment.community_id,
            comment_id=comment.id,
            revision=comment.revision,
            body=comment.body,
            created_at=comment.edited_at or comment.created_at,
        )
    )
    comment.body = text
    comment.body_html = render_markdown(text)
    comment.revision += 1
    comment.edited_at = now
    await session.commit()
    return True


# --- reactions ----------------------------------------------------------------------------------

_COUNTS = {
    "agree": Comment.agree_count,
    "disagree": Comment.disagree_count,
    "question": Comment.question_count,
}


async def _move_count(session: AsyncSession, comment_id: int, kind: str, by: int) -> None:
    column = _COUNTS[kind]
    await session.execute(
        update(Comment).where(Comment.id == comment_id).values({column: column + by})
    )


async def react(
    session: AsyncSession,
    m: Membership,
    actor: Account,
    comment: Comment,
    item: AgendaItem,
    kind: str,
    *,
    now: datetime | None = None,
) -> str | None:
    """Agree, disagree or question a comment; the same kind again takes it back, another kind
    replaces it. The counts move in the same transaction, by UPDATE … SET n = n + 1, and only
    for a row this transaction really changed, so concurrent clicks keep them right. Returns
    the reader's reaction afterwards. Commits."""
    now = now or utcnow()
    if kind not in REACTIONS:
        raise DeliberationError("unknown_reaction", field="kind")
    _require_register(m)
    if comment.author_id == actor.id:
        raise DeliberationError("own_comment")
    if comment.hidden_at is not None:
        raise DeliberationError("comment_hidden")
    _require_open(item, now)
    key = and_(CommentReaction.comment_id == comment.id, CommentReaction.account_id == actor.id)
    current = (await session.execute(select(CommentReaction.kind).where(key))).scalar_one_or_none()
    change = threads.react(current, kind)
    if current is None:
        done = await session.execute(
            _insert_ignore(session, CommentReaction.__table__).values(
                comment_id=comment.id,
                account_id=actor.id,
                community_id=comment.community_id,
                kind=kind,
            )
        )
    elif change.after is None:
        done = await session.execute(
            delete(CommentReaction).where(key, CommentReaction.kind == current)
        )
    else:
        done = await session.execute(
            update(CommentReaction)
            .where(key, CommentReaction.kind == current)
            .values(kind=change.after)
        )
    if done.rowcount == 1:  # another request of the same reader got there first: no change
        if change.decrement:
            await _move_count(session, comment.id, change.decrement, -1)
        if change.increment:
            await _move_count(session, comment.id, change.increment, +1)
    await session.commit()
    await session.refresh(comment)
    return (await session.execute(select(CommentReaction.kind).where(key))).scalar_one_or_none()


# --- reports and moderation ---------------------------------------------------------------------


async def report_comment(
    session: AsyncSession,
    m: Membership,
    reporter: Account,
    comment: Comment,
    reason: str,
    note: object = "",
) -> CommentReport:
    """A resident asks the moderators to look at a comment: once per reporter. Commits."""
    if reason not in REPORT_REASONS:
        raise DeliberationError("unknown_reason", field="reason")
    text = _clean(note, "note", NOTE_MAX, required=False)
    _require_register(m)
    if comment.hidden_at is not None:
        raise DeliberationError("already_hidden")
    prior = (
        await session.execute(
            select(CommentReport.id).where(
                CommentReport.comment_id == comment.id, CommentReport.reporter_id == reporter.id
            )
        )
    ).first()
    if prior is not None:
        raise DeliberationError("already_reported")
    report = CommentReport(
        community_id=comment.community_id,
        comment_id=comment.id,
        reporter_id=reporter.id,
        reason=reason,
        note=text or None,
    )
    session.add(report)
    try:
        await session.commit()
    except IntegrityError:  # the same reporter, twice at once
        await _abort(session)
        raise DeliberationError("already_reported") from None
    return report


async def _abort(session: AsyncSession) -> None:
    """Roll back, and reload what the caller still holds (a rollback expires it)."""
    await session.rollback()
    for loaded in list(session.identity_map.values()):
        await session.refresh(loaded)


async def capacity(session: AsyncSession, m: Membership, comment: Comment) -> str:
    """As whom this member may moderate this comment ("chair" or "grid_member"), or refused."""
    if not m.has(Role.chair, Role.grid_member):
        raise DeliberationError("not_moderator")
    grids = (await author_grids(session, m.community.id, [comment.author_id])).get(
        comment.author_id, set()
    )
    found = threads.moderator_capacity(m.has(Role.chair), m.grid_ids, grids)
    if found is None:
        raise DeliberationError("outside_grid")
    return found


async def hide_comment(
    session: AsyncSession,
    m: Membership,
    moderator: Account,
    comment: Comment,
    item: AgendaItem,
    reason: str,
    *,
    now: datetime | None = None,
) -> int:
    """Hide a comment for a reason of the fixed list: its open reports are resolved, the fact
    and reason go into the public log (no text, no names) and its author is told. Returns the
    log entry's id. Commits."""
    now = now or utcnow()
    if reason not in MODERATION_REASONS:
        raise DeliberationError("unknown_reason", field="reason")
    by = await capacity(session, m, comment)
    if comment.hidden_at is not None:
        raise DeliberationError("already_hidden")
    hidden = await session.execute(
        update(Comment)
        .where(Comment.id == comment.id, Comment.hidden_at.is_(None))
        .values(hidden_reason=reason, hidden_by=moderator.id, hidden_at=now)
    )
    if hidden.rowcount != 1:  # another moderator hid it a moment ago
        await _abort(session)
        raise DeliberationError("already_hidden")
    await session.execute(
        update(CommentReport)
        .where(CommentReport.comment_id == comment.id, CommentReport.resolved_at.is_(None))
        .values(resolved_at=now, resolved_by=moderator.id)
    )
    entry_id = await log.append(
        session,
        m.community.id,
        "comment.moderated",
        {
            "item": item.number,
            "comment": comment.id,
            "action": "hidden",
            "reason": reason,
            "by": by,
        },
    )
    await notify(
        session,
        m.community.id,
        [comment.author_id],
        "moderation",
        {"item": item.number, "comment": comment.id, "reason": reason},
        permalink(m.community.slug, comment.id),
        exclude=moderator.id,
    )
    await session.commit()
    await session.refresh(comment)
    return entry_id


async def restore_comment(
    session: AsyncSession,
    m: Membership,
    moderator: Account,
    comment: Comment,
    item: AgendaItem,
) -> int:
    """Show a hidden comment again. The log entry names the reason it had been hidden for,
    which the restoring lifts. Returns the entry's id. Commits."""
    by = await capacity(session, m, comment)
    if comment.hidden_at is None or comment.hidden_reason is None:
        raise DeliberationError("not_hidden")
    reason = comment.hidden_reason
    shown = await session.execute(
        update(Comment)
        .where(Comment.id == comment.id, Comment.hidden_at.is_not(None))
        .values(hidden_reason=None, hidden_by=None, hidden_at=None)
    )
    if shown.rowcount != 1:
        await _abort(session)
        raise DeliberationError("not_hidden")
    entry_id = await log.append(
        session,
        m.community.id,
        "comment.moderated",
        {
            "item": item.number,
            "comment": comment.id,
            "action": "restored",
            "reason": reason,
            "by": by,
        },
    )
    await session.commit()
    await session.refresh(comment)
    return entry_id


@dataclass
class ReportedComment:
    comment: CommentView
    item_number: int
    item_title: str
    reasons: dict[str, int]
    notes: list[str]
    first_reported: datetime


def _in_grids(grid_ids: set[int]) -> Any:
    """Comments whose author lives in one of these grids."""
    today = date.today()
    return (
        select(Person.account_id)
        .join(UnitLink, UnitLink.person_id == Person.id)
        .join(Unit, Unit.id == UnitLink.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .where(
            Person.community_id == Comment.community_id,
            Person.account_id == Comment.author_id,
            Building.grid_id.in_(sorted(grid_ids)),
            or_(UnitLink.until.is_(None), UnitLink.until >= today),
        )
        .exists()
    )


async def open_reports(
    session: AsyncSession, m: Membership, limit: int = 200
) -> list[ReportedComment]:
    """Reported comments still waiting for a moderator: all for a chair (and auditor), their
    grids' for a grid member."""
    query = (
        select(*_VIEW_COLUMNS, AgendaItem.number, AgendaItem.title)
        .join(Account, Account.id == Comment.author_id)
        .join(AgendaItem, AgendaItem.id == Comment.item_id)
        .where(
            Comment.community_id == m.community.id,
            Comment.hidden_at.is_(None),
            select(CommentReport.id)
            .where(CommentReport.comment_id == Comment.id, CommentReport.resolved_at.is_(None))
            .exists(),
        )
        .order_by(Comment.id)
        .limit(limit)
    )
    if not m.has(Role.chair, Role.auditor):
        query = query.where(_in_grids(m.grid_ids))
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    reports = (
        await session.execute(
            select(CommentReport)
            .where(
                CommentReport.comment_id.in_([row[0] for row in rows]),
                CommentReport.resolved_at.is_(None),
            )
            .order_by(CommentReport.id)
        )
    ).scalars()
    by_comment: dict[int, list[CommentReport]] = defaultdict(list)
    for report in reports:
        by_comment[report.comment_id].append(report)
    found = []
    for row in rows:
        view = _view(row[: len(_VIEW_COLUMNS)], True)
        mine = by_comment[view.id]
        reasons: dict[str, int] = defaultdict(int)
        for report in mine:
            reasons[report.reason] += 1
        found.append(
            ReportedComment(
                view,
                row[-2],
                row[-1],
                dict(reasons),
                [r.note for r in mine if r.note],
                min(r.created_at for r in mine),
            )
        )
    found.sort(key=lambda r: r.first_reported)
    return found


@dataclass
class HiddenComment:
    comment: CommentView
    item_number: int
    item_title: str
    hidden_at: datetime
    entry_id: int | None


async def hidden_comments(
    session: AsyncSession, m: Membership, limit: int = 200
) -> list[HiddenComment]:
    """Hidden comments, newest first, with the log entry that hid each: all for chairs and
    auditors, their grids' for a grid member. Only chairs and auditors read the hidden text."""
    query = (
        select(*_VIEW_COLUMNS, AgendaItem.number, AgendaItem.title, Comment.hidden_at)
        .join(Account, Account.id == Comment.author_id)
        .join(AgendaItem, AgendaItem.id == Comment.item_id)
        .where(Comment.community_id == m.community.id, Comment.hidden_at.is_not(None))
        .order_by(Comment.hidden_at.desc(), Comment.id.desc())
        .limit(limit)
    )
    if not m.has(Role.chair, Role.auditor):
        query = query.where(_in_grids(m.grid_ids))
    rows = (await session.execute(query)).all()
    entries = await _moderation_entries(session, m.community.id)
    sees_hidden = m.has(Role.chair, Role.auditor)  # a grid member sees that, not what
    return [
        HiddenComment(
            _view(row[: len(_VIEW_COLUMNS)], sees_hidden),
            row[-3],
            row[-2],
            row[-1],
            entries.get(row[0]),
        )
        for row in rows
    ]


async def _moderation_entries(session: AsyncSession, community_id: int) -> dict[int, int]:
    """The latest ``comment.moderated`` entry of each comment: moderation is rare, so the
    community's few such entries are read whole rather than searched inside their JSON."""
    rows = await session.execute(
        select(LogEntry.id, LogEntry.payload)
        .where(LogEntry.community_id == community_id, LogEntry.type == "comment.moderated")
        .order_by(LogEntry.id)
    )
    found: dict[int, int] = {}
    for entry_id, payload in rows.all():
        if isinstance(payload.get("comment"), int):
            found[payload["comment"]] = entry_id
    return found


# --- the chair's summary ------------------------------------------------------------------------


async def publish_summary(
    session: AsyncSession,
    m: Membership,
    chair: Account,
    item: AgendaItem,
    rows: Sequence[threads.PointRow],
    *,
    now: datetime | None = None,
) -> ItemSummary:
    """The chair's summary of the arguments for and against, each point naming the comments it
    draws on (comments of this item). Replaces an earlier summary; one ``summary.published``
    entry; the item's followers are told. Commits."""
    now = now or utcnow()
    if not m.has(Role.chair):
        raise DeliberationError("not_chair")
    if item.status not in SUMMARY_STATUSES:
        raise DeliberationError("summary_not_now", status=item.status)
    try:
        points = threads.summary_points(rows)
    except threads.ThreadError as error:
        raise DeliberationError(error.code, **error.details) from None
    cited = sorted({c for point in points for c in point.comments})
    if cited:
        known = set(
            (
                await session.execute(
                    select(Comment.id).where(Comment.item_id == item.id, Comment.id.in_(cited))
                )
            ).scalars()
        )
        for point in points:
            for comment_id in point.comments:
                if comment_id not in known:
                    raise DeliberationError(
                        "unknown_comment",
                        field=f"comments_{point.row}",
                        comment=comment_id,
                        point=point.row,
                    )
    payload = [point.payload() for point in points]
    entry_id = await log.append(
        session, m.community.id, "summary.published", {"item": item.number, "points": payload}
    )
    summary = await session.get(ItemSummary, item.id)
    if summary is None:
        summary = ItemSummary(item_id=item.id, community_id=m.community.id, published_by=chair.id)
        session.add(summary)
    summary.points = payload
    summary.published_by = chair.id  # type: ignore[assignment]  # a stored account has an id
    summary.published_at = now
    summary.entry_id = entry_id
    followers = (
        await session.execute(select(ItemFollow.account_id).where(ItemFollow.item_id == item.id))
    ).scalars()
    await notify(
        session,
        m.community.id,
        list(followers),
        "item_status",
        {"item": item.number, "title": item.title, "status": item.status, "event": "summary"},
        thread_url(m.community.slug, item.number) + "#summary",
        exclude=chair.id,
    )
    await session.commit()
    return summary


async def comment_count(session: AsyncSession, item: AgendaItem) -> int:
    return int(
        (
            await session.execute(
                select(func.count()).select_from(Comment).where(Comment.item_id == item.id)
            )
        ).scalar_one()
    )


async def top_comments(
    session: AsyncSession, item: AgendaItem, limit: int = 30
) -> list[CommentView]:
    """The most supported visible comments, for the chair writing a summary."""
    rows = await session.execute(
        select(*_VIEW_COLUMNS)
        .join(Account, Account.id == Comment.author_id)
        .where(Comment.item_id == item.id, Comment.hidden_at.is_(None))
        .order_by(Comment.agree_count.desc(), Comment.id)
        .limit(limit)
    )
    return [_view(row, True) for row in rows]
