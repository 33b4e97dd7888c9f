"""Consultation threads as plain data: where a comment sits in its tree, how a tree is built and
sorted from the rows of one ordered query and walked for rendering without recursion, how the
threads are cut into pages, how a reaction changes the counts, who may moderate, the posting
limit and the chair's summary.

A comment's ``path`` is the zero-padded ids from its thread's root down to itself, so ordering by
path reads whole subtrees in one query, and a range of paths is a whole subtree. The column holds
1,000 characters: with ten digits an id (enough for any 32-bit id) a thread may be 100 comments
deep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Generic, Protocol, TypeVar

from deliberation.items import REACTIONS
from deliberation.text import TextError, clean_text

PATH_WIDTH: Final = 10
PATH_MAX: Final = 1000
MAX_DEPTH: Final = PATH_MAX // PATH_WIDTH - 1  # depth counts from 0 at a thread's root
SORTS: Final = ("newest", "supported")
THREADS_PER_PAGE: Final = 20  # top-level comments a page shows, each with all its replies
SIDES: Final = ("for", "against")
POINT_MAX: Final = 1_000
MAX_POINTS: Final = 20
RATE_WINDOW: Final = timedelta(hours=1)


class ThreadError(ValueError):
    """Input the thread rules refuse: ``code`` is stable, ``details`` say where."""

    def __init__(self, code: str, **details: object) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details


# --- where a comment sits --------------------------------------------------------------------


def comment_path(parent_path: str | None, comment_id: int) -> str:
    """The path of a comment: its parent's path (none for a thread's root) and its own id."""
    if not 0 < comment_id < 10**PATH_WIDTH:
        raise ValueError(f"comment id {comment_id} does not fit a path segment")
    return f"{parent_path or ''}{comment_id:0{PATH_WIDTH}d}"


def root_id(path: str) -> int:
    """The id of the thread's root: the first segment of a comment's path."""
    return int(path[:PATH_WIDTH])


def subtree_range(path: str) -> tuple[str, str]:
    """The paths of a comment and all its replies are exactly those ``lo <= p < hi``: the same
    first segments, the last one unchanged. Digits only, so any collation orders them alike."""
    if not path or len(path) % PATH_WIDTH:
        raise ValueError(f"not a comment path: {path!r}")
    last = int(path[-PATH_WIDTH:]) + 1
    return path, f"{path[:-PATH_WIDTH]}{last:0{PATH_WIDTH}d}"


def reply_depth(parent_depth: int | None) -> int:
    """The depth of a new comment under a parent of this depth (None: a new thread); a reply
    that would not fit in the path is refused."""
    depth = 0 if parent_depth is None else parent_depth + 1
    if depth > MAX_DEPTH:
        raise ThreadError("too_deep", limit=MAX_DEPTH + 1)
    return depth


# --- trees --------------------------------------------------------------------------------------


class Threaded(Protocol):
    """What the tree needs of a comment."""

    @property
    def id(self) -> int: ...

    @property
    def parent_id(self) -> int | None: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def agree_count(self) -> int: ...


C = TypeVar("C", bound=Threaded)


@dataclass(eq=False)
class Node(Generic[C]):
    comment: C
    children: list[Node[C]] = field(default_factory=list)


def sort_key(sort: str) -> str:
    """A known sort, or the default (newest first)."""
    return sort if sort in SORTS else SORTS[0]


def _newest(node: Node[C]) -> tuple[datetime, int]:
    return node.comment.created_at, node.comment.id


def _supported(node: Node[C]) -> tuple[int, datetime, int]:
    return node.comment.agree_count, node.comment.created_at, node.comment.id


def build_thread(comments: Iterable[C], sort: str = "newest") -> list[Node[C]]:
    """The comments as trees, siblings sorted at every level: newest first, or most supported
    (agree count, then newest). A comment whose parent is not among them starts a tree."""
    nodes = [Node(c) for c in comments]
    by_id = {node.comment.id: node for node in nodes}
    roots: list[Node[C]] = []
    for node in nodes:
        parent = by_id.get(node.comment.parent_id) if node.comment.parent_id is not None else None
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    key = _supported if sort_key(sort) == "supported" else _newest
    roots.sort(key=key, reverse=True)
    for node in nodes:
        if len(node.children) > 1:
            node.children.sort(key=key, reverse=True)
    return roots


# --- pages of threads ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a consultation: ``number`` of ``pages`` (from 1; a consultation without
    comments has one, empty), showing top-level threads ``first`` to ``last`` (from 1; 0 and 0
    when there are none) of ``threads``. ``offset`` is how many threads come before it."""

    number: int
    pages: int
    threads: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page

    @property
    def first(self) -> int:
        return self.offset + 1 if self.threads else 0

    @property
    def last(self) -> int:
        return min(self.offset + self.per_page, self.threads)

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def page_count(threads: int, per_page: int = THREADS_PER_PAGE) -> int:
    """How many pages ``threads`` top-level comments fill: at least one."""
    return max(1, -(-threads // per_page))


def thread_page(number: int, threads: int, per_page: int = THREADS_PER_PAGE) -> Page:
    """Page ``number`` of a consultation with ``threads`` top-level comments; a page beyond the
    last (or below the first) is refused: links to pages never break, as comments are never
    deleted and the count only grows."""
    pages = page_count(threads, per_page)
    if not 1 <= number <= pages:
        raise ThreadError("no_such_page", page=number, pages=pages)
    return Page(number, pages, threads, per_page)


def page_of(position: int, per_page: int = THREADS_PER_PAGE) -> int:
    """The page of the thread at ``position`` (from 0) in the page order."""
    return position // per_page + 1


@dataclass(frozen=True, slots=True)
class Step(Generic[C]):
    """One comment in reading order. ``replies``: its direct replies; ``descendants``: its whole
    subtree below it; ``closes``: after a comment without replies, how many enclosing reply
    lists end with it (the page closes that many lists)."""

    comment: C
    depth: int
    replies: int
    descendants: int
    closes: int


def walk(roots: Sequence[Node[C]]) -> list[Step[C]]:
    """The trees in reading order (each comment before its replies), without recursion, so a
    thread of any depth renders as a flat loop that opens and closes nested lists."""
    order: list[tuple[Node[C], int]] = []
    stack = [(root, 0) for root in reversed(roots)]
    while stack:
        node, depth = stack.pop()
        order.append((node, depth))
        stack.extend((child, depth + 1) for child in reversed(node.children))
    # subtree sizes, children before parents
    sizes: dict[int, int] = {}
    for node, _depth in reversed(order):
        sizes[id(node)] = 1 + sum(sizes[id(child)] for child in node.children)
    steps = []
    for index, (node, depth) in enumerate(order):
        following = order[index + 1][1] if index + 1 < len(order) else 0
        closes = 0 if node.children else depth - following
        steps.append(
            Step(node.comment, depth, len(node.children), sizes[id(node)] - 1, max(closes, 0))
        )
    return steps


# --- reactions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReactionChange:
    """What a click does: the reader's reaction afterwards, and the counts to move."""

    after: str | None
    decrement: str | None
    increment: str | None


def react(current: str | None, chosen: str) -> ReactionChange:
    """The same kind again takes the reaction back; another kind replaces it."""
    if chosen not in REACTIONS:
        raise ThreadError("unknown_reaction", kind=chosen)
    if current == chosen:
        return ReactionChange(None, chosen, None)
    return ReactionChange(chosen, current, chosen)


# --- moderation and limits --------------------------------------------------------------------


def moderator_capacity(
    is_chair: bool, moderator_grids: Iterable[int], author_grids: Iterable[int]
) -> str | None:
    """In what capacity someone may moderate a comment: a chair any comment, a grid member those
    whose author lives in one of their grids; None if they may not."""
    if is_chair:
        return "chair"
    if set(moderator_grids) & set(author_grids):
        return "grid_member"
    return None


def next_post_at(
    recent: Sequence[datetime], limit: int, now: datetime, window: timedelta = RATE_WINDOW
) -> datetime | None:
    """None if one more comment is allowed now, given the times of one's comments; otherwise
    when the oldest comment within the window leaves it (and a comment is allowed again)."""
    inside = sorted(t for t in recent if t > now - window)
    if len(inside) < max(limit, 0):
        return None
    if not inside or limit <= 0:
        return now + window
    return inside[len(inside) - limit] + window


# --- the chair's summary -------------------------------------------------------------------------

_ID_SEPARATORS = re.compile(r"[\s,，、;；]+")
_ID = re.compile(r"#?c?(\d{1,10})", re.IGNORECASE)


def parse_comment_ids(text: str, field: str) -> list[int]:
    """Comment numbers as the chair types them: "12, 15 #20 c31"; in order, each once."""
    found: list[int] = []
    for part in _ID_SEPARATORS.split(text.strip()):
        if not part:
            continue
        match = _ID.fullmatch(part)
        if match is None or not 0 < int(match.group(1)) < 2**31:
            raise ThreadError("bad_comment_ids", field=field, value=part)
        number = int(match.group(1))
        if number not in found:
            found.append(number)
    return found


@dataclass(frozen=True)
class PointRow:
    """One row of the summary form, as typed."""

    side: str
    text: str
    comments: str


@dataclass(frozen=True)
class Point:
    """A point of the summary; ``row`` is the form row it came from (numbered from 1)."""

    row: int
    side: str
    text: str
    comments: tuple[int, ...]

    def payload(self) -> dict[str, object]:
        """As the log and the stored summary keep it."""
        return {"side": self.side, "text": self.text, "comments": list(self.comments)}


def summary_points(rows: Sequence[PointRow]) -> list[Point]:
    """The summary's points from its form rows: blank rows are skipped; a point needs a side,
    a text of at most 1,000 characters, and well-formed comment numbers. Field names in the
    errors are those of the form: side_N, text_N, comments_N."""
    points: list[Point] = []
    for number, row in enumerate(rows, 1):
        if not row.text.strip() and not row.comments.strip():
            continue
        if row.side not in SIDES:
            raise ThreadError("bad_side", field=f"side_{number}", point=number)
        try:
            text = clean_text(row.text, f"text_{number}", POINT_MAX)
        except TextError as error:
            raise ThreadError(
                f"text_{error.code}",
                field=error.field,
                limit=error.limit,
                length=error.length,
                point=number,
            ) from None
        comments = parse_comment_ids(row.comments, f"comments_{number}")
        points.append(Point(number, row.side, text, tuple(comments)))
    if not points:
        raise ThreadError("no_points", field="text_1")
    if len(points) > MAX_POINTS:
        raise ThreadError("too_many_points", limit=MAX_POINTS)
    return points
