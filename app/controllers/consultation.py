"""Consultation pages: an item's thread of comments, posting and replying, edits and their
history, reactions, reports, moderation and the chair's summary.

The thread is read a page at a time: twenty top-level comments, each with all its replies (a
consultation of two thousand comments would otherwise weigh megabytes on a resident's phone).
Plain links lead from page to page; with htmx, "show more threads" appends the next page in
place. A comment's permalink lands on the page that holds its thread.

Everything works as plain forms (post/redirect/get, back to the comment's anchor on its page).
With htmx a new comment, a reaction, a report or a moderation swaps in only what changed: the
server names the place with ``HX-Retarget``/``HX-Reswap``, and a refusal comes back as a 4xx
fragment for the form's error slot (the thread page tells htmx to swap those 4xx answers). The
rules themselves are in ``app.consultation`` and ``deliberation.threads``; the checks here only
word refusals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from app import consultation as actions
from app.auth import Membership, community_guard, resident_guard
from app.controllers.ballot_views import local_time
from app.controllers.items import status_label
from app.i18n import current_language, ngettext
from app.i18n import gettext as _
from app.items import MAX_ID, DeliberationError, get_item
from app.models import Account, AgendaItem, Comment, ItemSummary, Role
from app.web import page, safe_next
from deliberation import threads
from deliberation.items import MODERATION_REASONS, REPORT_REASONS, Status
from deliberation.text import COMMENT_MAX, render_markdown

public = community_guard()
chair_guard = community_guard(Role.chair)
moderator_guard = community_guard(Role.grid_member, Role.chair)
moderation_readers = community_guard(Role.grid_member, Role.chair, Role.auditor)
SUMMARY_ROWS = 6


# --- words -------------------------------------------------------------------------------------


def reason_label(code: str | None) -> str:
    labels = {
        "personal_attack": _("a personal attack"),
        "private_data": _("someone's private data"),
        "off_topic": _("off topic"),
        "spam": _("advertising or repeated posts"),
        "illegal": _("content against the law"),
        "other": _("another reason"),
    }
    return labels.get(code or "", code or "")


def reaction_label(kind: str) -> str:
    labels = {"agree": _("Agree"), "disagree": _("Disagree"), "question": _("Question")}
    return labels.get(kind, kind)


def field_label(name: str) -> str:
    if name.startswith(("text_", "side_", "comments_")):
        kind, _sep, number = name.partition("_")
        words = {
            "text": _("Point %(n)s: its text"),
            "side": _("Point %(n)s: for or against"),
            "comments": _("Point %(n)s: the comments it draws on"),
        }
        return words[kind] % {"n": number}
    labels = {"body": _("Your comment"), "note": _("Note"), "reason": _("Reason")}
    return labels.get(name, name)


def _when(value: Any) -> str:
    return local_time(value) if isinstance(value, datetime) else ""


_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "no_such_item": lambda d: _("There is no agenda item number %(number)s.", **d),
    "no_such_comment": lambda d: _("There is no comment number %(comment)s.", **d),
    "no_such_parent": lambda d: _(
        "The comment you are replying to is not part of this consultation."
    ),
    "consultation_closed": lambda d: (
        _(
            "The consultation has not opened yet: it opens at %(opens)s.",
            opens=_when(d.get("opens_at")),
        )
        if d.get("not_yet")
        else _("The consultation is closed: comments, replies and reactions are no longer taken.")
    ),
    "text_empty": lambda d: _(
        "%(field)s is empty: please write something.", field=field_label(d["field"])
    ),
    "text_too_long": lambda d: _(
        "%(field)s is too long: %(length)s characters, at most %(limit)s.",
        field=field_label(d["field"]),
        length=d.get("length"),
        limit=d.get("limit"),
    ),
    "too_deep": lambda d: _(
        "This thread is %(limit)s replies deep, the most it can hold: reply to an earlier comment.",
        **d,
    ),
    "rate_limited": lambda d: _(
        "You have posted %(limit)s comments in the past hour, the most allowed. You may post again at %(at)s.",
        limit=d.get("limit"),
        at=_when(d.get("retry_at")),
    ),
    "not_in_register": lambda d: _("Only people in the community's register may take part."),
    "not_author": lambda d: _("Only the author of a comment may edit it."),
    "comment_hidden": lambda d: _("This comment was hidden by a moderator."),
    "unknown_reaction": lambda d: _("Choose agree, disagree or question."),
    "own_comment": lambda d: _("You cannot react to your own comment."),
    "unknown_reason": lambda d: _("Choose a reason from the list."),
    "already_reported": lambda d: _(
        "You have already reported this comment; a moderator will look at it."
    ),
    "already_hidden": lambda d: _("This comment is already hidden."),
    "not_hidden": lambda d: _("This comment is not hidden."),
    "outside_grid": lambda d: _(
        "This comment is outside your grid: its author does not live in a grid you look after. "
        "Only their own grid member or the chair may moderate it."
    ),
    "not_moderator": lambda d: _("Only grid members and the chair may moderate comments."),
    "not_chair": lambda d: _("Only the chair may publish the summary."),
    "summary_not_now": lambda d: _(
        "A summary can be published only while the item is in consultation or being decided."
    ),
    "no_points": lambda d: _("Write at least one point."),
    "too_many_points": lambda d: _("At most %(limit)s points.", **d),
    "bad_side": lambda d: _("Point %(point)s: choose “for” or “against”.", **d),
    "bad_comment_ids": lambda d: _(
        "Point %(n)s: “%(value)s” is not a comment number. Write numbers such as 12, 15.",
        n=str(d.get("field", "")).rpartition("_")[2],
        value=d.get("value"),
    ),
    "unknown_comment": lambda d: _(
        "Point %(point)s: comment %(comment)s is not part of this consultation.", **d
    ),
}
_STATUS = {
    "no_such_item": 404,
    "no_such_comment": 404,
    "consultation_closed": 409,
    "too_deep": 409,
    "rate_limited": 429,
    "not_in_register": 403,
    "not_author": 403,
    "comment_hidden": 409,
    "own_comment": 403,
    "already_reported": 409,
    "already_hidden": 409,
    "not_hidden": 409,
    "outside_grid": 403,
    "not_moderator": 403,
    "not_chair": 403,
    "summary_not_now": 409,
}


def message(error: DeliberationError) -> str:
    make = _MESSAGES.get(error.code)
    if make is None:
        return _("This could not be done (%(code)s).", code=error.code)
    return make(dict(error.details))


def status_of(error: DeliberationError) -> int:
    return _STATUS.get(error.code, 400)


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def _error_fragment(error: DeliberationError, slot: str) -> Template:
    """A refusal for htmx: the message, swapped into the form's error slot."""
    return Template(
        template_name="consultation/_error.html",
        context={"error": message(error)},
        status_code=status_of(error),
        headers={"HX-Retarget": f"#{slot}", "HX-Reswap": "innerHTML"},
    )


# --- reading -----------------------------------------------------------------------------------


async def item_or_404(db: AsyncSession, m: Membership, number: int) -> AgendaItem:
    """An item whose consultation may be read: any but a draft (its author's alone)."""
    try:
        item = await get_item(db, m.community.id, number)
    except DeliberationError:
        raise NotFoundException() from None
    if item.status == Status.draft:
        raise NotFoundException()
    return item


async def comment_or_404(
    db: AsyncSession, m: Membership, comment_id: int
) -> tuple[Comment, AgendaItem]:
    try:
        comment, item = await actions.get_comment(db, m.community.id, comment_id)
    except DeliberationError:
        raise NotFoundException() from None
    if item.status == Status.draft:
        raise NotFoundException()
    return comment, item


@dataclass
class Thread:
    """What the thread page (and each fragment of it) needs to know about the reader. The
    markup asks these for every comment, so the answers that do not depend on the comment are
    worked out once, here."""

    m: Membership
    item: AgendaItem
    reader_id: int | None
    is_open: bool
    sort: str = "newest"
    steps: list[threads.Step[actions.CommentView]] = field(default_factory=list)
    count: int = 0  # the item's comments, on every page
    page: threads.Page = field(default_factory=lambda: threads.thread_page(1, 0))
    shown_from: int = 1  # the first page on screen (htmx appends the next ones below it)
    ids: set[int] = field(default_factory=set)  # the comments on this page
    reactions: dict[int, str] = field(default_factory=dict)
    moderatable: set[int] | None = field(default_factory=set)  # None: every author's
    summary: ItemSummary | None = None
    summary_seq: int | None = None
    failed_parent: int | None = None  # the form a refused comment came from (0: top level)
    failed_body: str = ""
    error: str | None = None

    def __post_init__(self) -> None:
        self.slug = self.m.community.slug
        self.url = actions.thread_url(self.slug, self.item.number)
        self.post_url = f"/c/{self.slug}/items/{self.item.number}/comments"
        self.comments = f"/c/{self.slug}/comments/"  # + id + /react, /report …
        self.takes_part = self.reader_id is not None and self.m.person is not None
        self.may_post = self.takes_part and self.is_open
        self.is_moderator = self.m.has(Role.chair, Role.grid_member)
        self.sees_hidden = self.m.has(Role.chair, Role.auditor)
        self.names = self.m.sees_names()  # residents' names are for the community's own people

    def may_reply(self, c: actions.CommentView) -> bool:
        return self.may_post and c.hidden_reason is None

    def may_react(self, c: actions.CommentView) -> bool:
        return self.may_post and c.author_id != self.reader_id and c.hidden_reason is None

    def may_edit(self, c: actions.CommentView) -> bool:
        return self.is_open and c.author_id == self.reader_id and c.hidden_reason is None

    def may_report(self, c: actions.CommentView) -> bool:
        return self.takes_part and c.author_id != self.reader_id and c.hidden_reason is None

    def may_moderate(self, c: actions.CommentView) -> bool:
        return self.is_moderator and (self.moderatable is None or c.author_id in self.moderatable)

    def comment_link(self, comment_id: int) -> str:
        """To a comment: its anchor when it is on this page, else its permalink."""
        if comment_id in self.ids:
            return f"#c{comment_id}"
        return f"{self.comments}{comment_id}"

    def page_link(self, number: int) -> str:
        return actions.page_url(self.slug, self.item.number, number, self.sort)

    def more_link(self, number: int) -> str:
        """The next page for htmx to append, saying which page the screen starts at."""
        return f"{self.page_link(number)}&from={self.shown_from}"

    @property
    def shown_first(self) -> int:
        """The first thread on screen: that of the first page shown."""
        return min((self.shown_from - 1) * self.page.per_page + 1, self.page.first)


class ReplyCounts(dict[int, str]):
    """ "3 replies", worded once per number (a page asks for it under every comment with
    replies; subscripting is cheaper from a template than a call)."""

    def __missing__(self, n: int) -> str:
        self[n] = ngettext("%(num)s reply", "%(num)s replies", n)
        return self[n]


@dataclass(frozen=True)
class Words:
    """The labels of the comment markup in one language: translated once, not per comment."""

    agree: str
    disagree: str
    question: str
    reply: str
    your_reply: str
    post_reply: str
    edit: str
    edited: str
    proposer: str
    resident: str
    read_hidden: str
    report: str
    report_form: str
    report_reason: str
    report_note: str
    send_report: str
    moderate: str
    hide_reason: str
    hide_hint: str
    hide: str
    restore_hint: str
    restore: str
    hidden_notes: dict[str, str]
    report_options: Markup
    report_reasons: tuple[tuple[str, str], ...]
    moderation_options: Markup
    comment_max: int = COMMENT_MAX
    # after a comment that ends reply lists: close that many (constant markup)
    closers: tuple[Markup, ...] = tuple(
        Markup("</ol></details></li>") * n for n in range(threads.MAX_DEPTH + 2)
    )

    replies: ReplyCounts = field(default_factory=lambda: ReplyCounts())


def _options(codes: tuple[str, ...]) -> Markup:
    option = Markup('<option value="{}">{}</option>')
    return Markup("").join(option.format(code, reason_label(code)) for code in codes)


@cache
def words(language: str) -> Words:
    return Words(
        agree=reaction_label("agree"),
        disagree=reaction_label("disagree"),
        question=reaction_label("question"),
        reply=_("Reply"),
        your_reply=_("Your reply"),
        post_reply=_("Post reply"),
        edit=_("Edit"),
        edited=_("edited"),
        proposer=_("proposer"),
        resident=_("a resident"),
        read_hidden=_("Read the hidden text (chairs and auditors only)"),
        report=_("Report"),
        report_form=_("Open the report form"),
        report_reason=_("What is wrong with it?"),
        report_note=_("Note for the moderator (optional)"),
        send_report=_("Send the report"),
        moderate=_("Moderate"),
        hide_reason=_("Reason for hiding"),
        hide_hint=_("The fact and the reason are written to the public log; the author is told."),
        hide=_("Hide this comment"),
        restore_hint=_("Showing it again is written to the public log."),
        restore=_("Show this comment again"),
        hidden_notes={
            code: _("Hidden by a moderator: %(reason)s", reason=reason_label(code))
            for code in REPORT_REASONS
        },
        report_options=_options(REPORT_REASONS),
        report_reasons=tuple((code, reason_label(code)) for code in REPORT_REASONS),
        moderation_options=_options(MODERATION_REASONS),
    )


def _words() -> dict[str, Any]:
    """What every template of this module gets besides its own context."""
    return {
        "w": words(current_language()),
        "reason_label": reason_label,
        "local_time": local_time,
        "comment_max": COMMENT_MAX,
        "moderation_reasons": [(code, reason_label(code)) for code in MODERATION_REASONS],
    }


async def reader_thread(
    db: AsyncSession, m: Membership, account: Account | None, item: AgendaItem
) -> Thread:
    """The reader's side of a thread without its comments (for fragments)."""
    return Thread(m, item, account.id if account else None, actions.is_open(item))


async def full_thread(
    db: AsyncSession,
    m: Membership,
    account: Account | None,
    item: AgendaItem,
    sort: str,
    page: int = 1,
) -> Thread:
    """A page of the thread in a few queries, however many comments it has: the counts, the
    page's threads with their authors' names, the reader's reactions, whose comments the
    reader may moderate, the summary. ``no_such_page`` beyond the last page."""
    t = await reader_thread(db, m, account, item)
    t.sort = threads.sort_key(sort)
    found = await actions.thread_page(db, item, page, t.sort, sees_hidden=t.sees_hidden)
    comments = found.views
    t.steps = threads.walk(threads.build_thread(comments, t.sort))
    t.count = found.comments
    t.page = found.page
    t.shown_from = found.page.number
    t.ids = {c.id for c in comments}
    if account is not None and t.takes_part:
        t.reactions = await actions.reactions_of(db, item, account.id)
    if t.is_moderator:
        t.moderatable = await actions.moderatable_authors(db, m, {c.author_id for c in comments})
    t.summary = await actions.summary_of(db, item)
    if t.summary is not None:
        t.summary_seq = (await actions.entry_seqs(db, [t.summary.entry_id])).get(
            t.summary.entry_id or 0
        )
    return t


def _thread_page(
    request: Request[Any, Any, Any], t: Thread, status_code: int = 200, notice: str | None = None
) -> Template:
    return page(
        request,
        "consultation/thread.html",
        status_code,
        m=t.m,
        t=t,
        item=t.item,
        notice=notice,
        status_label=status_label,
        summary_points=_summary_points(t.summary),
        summary_open=t.item.status in actions.SUMMARY_STATUSES,
        **_words(),
    )


def _summary_points(summary: ItemSummary | None) -> dict[str, list[dict[str, Any]]]:
    points: dict[str, list[dict[str, Any]]] = {"for": [], "against": []}
    for point in summary.points if summary else []:
        points.setdefault(str(point.get("side")), []).append(point)
    return points


NOTICES = {
    "posted": lambda: _("Your comment is posted."),
    "edited": lambda: _("Your comment is changed; the earlier text is kept in its history."),
    "reported": lambda: _("Thank you. A moderator will look at this comment."),
    "hidden": lambda: _("The comment is hidden, and the public log records it."),
    "restored": lambda: _("The comment is shown again, and the public log records it."),
    "summary": lambda: _("The summary is published, and the public log records it."),
}


def _back(t_url: str, comment_id: int | None = None, done: str | None = None) -> Redirect:
    """303 back to a page of the thread, at the comment."""
    query = f"{'&' if '?' in t_url else '?'}{urlencode({'done': done})}" if done else ""
    anchor = f"#c{comment_id}" if comment_id else ""
    return Redirect(path=f"{t_url}{query}{anchor}", status_code=303)


async def _back_to(
    db: AsyncSession, slug: str, item: AgendaItem, comment: Comment, done: str | None = None
) -> Redirect:
    """303 to the comment on the page that holds its thread (in the default order)."""
    number = await actions.page_of_comment(db, comment)
    return _back(actions.page_url(slug, item.number, number), comment.id, done)


def _page_number(value: str | None) -> int:
    """The page asked for: 1 when none; 0 (no such page) for anything but a page number."""
    if value is None or value == "":
        return 1
    return int(value) if value.isdecimal() and len(value) <= 6 else 0


async def _thread_or_404(
    db: AsyncSession,
    m: Membership,
    account: Account | None,
    item: AgendaItem,
    sort: str,
    page: int,
) -> Thread:
    try:
        return await full_thread(db, m, account, item, sort, page)
    except DeliberationError:  # no such page: links to pages never break, so a made-up one
        raise NotFoundException() from None


async def _thread_at(
    db: AsyncSession,
    m: Membership,
    account: Account | None,
    item: AgendaItem,
    comment: Comment | None,
) -> Thread:
    """The page holding this comment (the first page if none), for a refusal shown there."""
    page = await actions.page_of_comment(db, comment) if comment is not None else 1
    return await _thread_or_404(db, m, account, item, "newest", page)


# --- the thread --------------------------------------------------------------------------------


@get("/c/{slug:str}/items/{number:int}/consultation", guards=[public])
async def thread(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account | None,
    sort: str = "newest",
    done: str | None = None,
    p: str | None = None,
) -> Template:
    """A page of the thread; for htmx ("show more threads"), only the page's threads and the
    pager that follows them."""
    item = await item_or_404(db, membership, number)
    t = await _thread_or_404(db, membership, account, item, sort, _page_number(p))
    if is_htmx(request) and not request.headers.get("hx-history-restore-request"):
        first = _page_number(request.query_params.get("from"))
        t.shown_from = first if 1 <= first <= t.page.number else t.page.number
        return Template(
            template_name="consultation/_more.html",
            context={"m": membership, "t": t, "item": item, **_words()},
        )
    make = NOTICES.get(done or "")
    return _thread_page(request, t, notice=make() if make else None)


async def _parent_of(db: AsyncSession, item: AgendaItem, parent_id: int | None) -> Comment | None:
    """The comment a refused reply was for, if it is one of this item's."""
    if parent_id is None or not 0 < parent_id <= MAX_ID:
        return None
    found = await db.get(Comment, parent_id)
    return found if found is not None and found.item_id == item.id else None


def _parent_id(value: object) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    if not text.isdecimal() or len(text) > 10:
        raise DeliberationError("no_such_parent", comment=text)
    return int(text)


@post("/c/{slug:str}/items/{number:int}/comments", guards=[resident_guard])
async def post_comment(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    item = await item_or_404(db, membership, number)
    form = await request.form()
    body = str(form.get("body") or "")
    raw_parent = form.get("parent_id")
    slot = f"e{raw_parent}" if str(raw_parent or "").isdecimal() else "e-new"
    parent_id: int | None = None
    try:
        parent_id = _parent_id(raw_parent)
        comment = await actions.post_comment(db, membership, account, item, body, parent_id)
    except DeliberationError as error:
        if is_htmx(request):
            return _error_fragment(error, slot)
        parent = await _parent_of(db, item, parent_id)
        t = await _thread_at(db, membership, account, item, parent)
        t.error = message(error)
        t.failed_parent = parent.id if parent is not None else 0  # else: the new comment's form
        t.failed_body = body
        return _thread_page(request, t, status_of(error))
    if not is_htmx(request):
        return await _back_to(db, slug, item, comment, "posted")
    t = await reader_thread(db, membership, account, item)
    view = await actions.comment_view(db, comment.id, sees_hidden=t.sees_hidden)
    first_reply = False
    if comment.parent_id is not None:
        first_reply = await actions.first_reply(db, comment)
    if comment.parent_id is None:
        target, swap = "#thread", "afterbegin"
    elif first_reply:
        target, swap = f"#t{comment.parent_id}", "beforeend"
    else:
        target, swap = f"#r{comment.parent_id}", "afterbegin"
    return Template(
        template_name="consultation/_posted.html",
        context={
            "m": membership,
            "t": t,
            "c": view,
            "wrap": first_reply,
            "slot": slot,
            **_words(),
        },
        status_code=201,
        headers={"HX-Retarget": target, "HX-Reswap": swap},
    )


@get("/c/{slug:str}/comments/{comment_id:int}", guards=[public])
async def permalink(
    slug: str, comment_id: int, db: AsyncSession, membership: Membership
) -> Redirect:
    comment, item = await comment_or_404(db, membership, comment_id)
    return await _back_to(db, slug, item, comment)


@get("/c/{slug:str}/comments/{comment_id:int}/history", guards=[public])
async def history(
    request: Request[Any, Any, Any],
    slug: str,
    comment_id: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    """The comment's texts, newest first: the current one and each earlier one, rendered."""
    comment, item = await comment_or_404(db, membership, comment_id)
    readable = comment.hidden_at is None or membership.has(Role.chair, Role.auditor)
    versions: list[tuple[int, datetime, str]] = []
    if readable:
        versions.append(
            (comment.revision, comment.edited_at or comment.created_at, comment.body_html)
        )
        for earlier in reversed(await actions.revisions(db, comment)):
            versions.append((earlier.revision, earlier.created_at, render_markdown(earlier.body)))
    author = await db.get(Account, comment.author_id)
    return page(
        request,
        "consultation/history.html",
        m=membership,
        item=item,
        comment=comment,
        author=author.display_name if author else "",
        versions=versions,
        readable=readable,
        thread_url=actions.thread_url(slug, item.number),
        reason_label=reason_label,
        local_time=local_time,
    )


# --- editing -----------------------------------------------------------------------------------


def _edit_page(
    request: Request[Any, Any, Any],
    m: Membership,
    comment: Comment,
    item: AgendaItem,
    body: str,
    status_code: int = 200,
    error: DeliberationError | None = None,
) -> Template:
    blocked = error is not None and error.code not in {"text_empty", "text_too_long"}
    return page(
        request,
        "consultation/edit.html",
        status_code,
        m=m,
        item=item,
        comment=comment,
        body=body,
        error=message(error) if error else None,
        error_field=error.details.get("field") if error else None,
        blocked=blocked,
        thread_url=actions.thread_url(m.community.slug, item.number),
        comment_max=COMMENT_MAX,
    )


def _may_edit(comment: Comment, item: AgendaItem, account: Account) -> DeliberationError | None:
    if comment.author_id != account.id:
        return DeliberationError("not_author")
    if comment.hidden_at is not None:
        return DeliberationError("comment_hidden")
    if not actions.is_open(item):
        return DeliberationError("consultation_closed")
    return None


@get("/c/{slug:str}/comments/{comment_id:int}/edit", guards=[resident_guard])
async def edit_form(
    request: Request[Any, Any, Any],
    slug: str,
    comment_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Template:
    comment, item = await comment_or_404(db, membership, comment_id)
    refused = _may_edit(comment, item, account)
    if refused is not None:
        return _edit_page(request, membership, comment, item, "", status_of(refused), refused)
    return _edit_page(request, membership, comment, item, comment.body)


@post("/c/{slug:str}/comments/{comment_id:int}/edit", guards=[resident_guard])
async def edit(
    request: Request[Any, Any, Any],
    slug: str,
    comment_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    comment, item = await comment_or_404(db, membership, comment_id)
    body = str((await request.form()).get("body") or "")
    try:
        await actions.edit_comment(db, membership, account, comment, item, body)
    except DeliberationError as error:
        shown = body if error.code in {"text_empty", "text_too_long"} else ""
        return _edit_page(request, membership, comment, item, shown, status_of(error), error)
    return await _back_to(db, slug, item, comment, "edited")


# --- reactions and reports ---------------------------------------------------------------------


@post("/c/{slug:str}/comments/{comment_id:int}/react", guards=[resident_guard])
async def react(
    request: Request[Any, Any, Any],
    slug: str,
    comment_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    comment, item = await comment_or_404(db, membership, comment_id)
    kind = str((await request.form()).get("kind") or "")
    try:
        await actions.react(db, membership, account, comment, item, kind)
    except DeliberationError as error:
        if is_htmx(request):
            return _error_fragment(error, f"rxe{comment.id}")
        return await _refused_on_thread(request, db, membership, account, item, comment, error)
    if not is_htmx(request):
        return await _back_to(db, slug, item, comment)
    t = await reader_thread(db, membership, account, item)
    t.reactions = await actions.reactions_of(db, item, account.id)
    view = await actions.comment_view(db, comment.id, sees_hidden=t.sees_hidden)
    return Template(
        template_name="consultation/_reactions.html",
        context={"m": membership, "t": t, "c": view, **_words()},
        headers={"HX-Retarget": f"#rx{comment.id}", "HX-Reswap": "outerHTML"},
    )


async def _refused_on_thread(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    account: Account,
    item: AgendaItem,
    comment: Comment,
    error: DeliberationError,
) -> Template:
    """A refusal without JavaScript: the page holding the comment, with the message, in 4xx."""
    t = await _thread_at(db, m, account, item, comment)
    t.error = message(error)
    return _thread_page(request, t, status_of(error))


def _report_page(
    request: Request[Any, Any, Any],
    m: Membership,
    account: Account,
    comment: Comment,
    item: AgendaItem,
    view: actions.CommentView,
    status_code: int = 200,
    error: DeliberationError | None = None,
    reason: str = "",
    note: str = "",
) -> Template:
    """The report form on a page of its own (without JavaScript), or as a fragment that htmx
    puts in place when a reader opens "Report" under a comment: the thread carries only a link,
    not a form with its token and reasons under each of its comments."""
    t = Thread(m, item, account.id, actions.is_open(item))
    return page(
        request,
        "consultation/report.html",
        status_code,
        fragment="consultation/_report_form.html",
        m=m,
        t=t,
        item=item,
        c=view,
        error=message(error) if error else None,
        error_field=error.details.get("field") if error else None,
        blocked=error is not None and error.code in {"already_reported", "already_hidden"},
        reason=reason,
        note=note,
        back_url=actions.permalink(m.community.slug, comment.id),
        **_words(),
    )


@get("/c/{slug:str}/comments/{comment_id:int}/report", guards=[resident_guard])
async def report_form(
    request: Request[Any, Any, Any],
    slug: str,
    comment_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Template:
    comment, item = await comment_or_404(db, membership, comment_id)
    view = await actions.comment_view(db, comment.id, sees_hidden=False)
    if comment.hidden_at is not None:
        refused = DeliberationError("already_hidden")
        return _report_page(request, membership, account, comment, item, view, 409, refused)
    return _report_page(request, membership, account, comment, item, view)


@post("/c/{slug:str}/comments/{comment_id:int}/report", guards=[resident_guard])
async def report(
    request: Request[Any, Any, Any],
    slug: str,
    comment_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    comment, item = await comment_or_404(db, membership, comment_id)
    form = await request.form()
    reason, note = str(form.get("reason") or ""), str(form.get("note") or "")
    try:
        await actions.report_comment(db, membership, account, comment, reason, note)
    except DeliberationError as error:
        if is_htmx(request):
            return _error_fragment(error, f"re{comment.id}")
        view = await actions.comment_view(db, comment.id, sees_hidden=False)
        return _report_page(
            request,
            membership,
            account,
            comment,
            item,
            view,
            status_of(error),
            error,
            reason,
            note,
        )
    if not is_htmx(request):
        return await _back_to(db, slug, item, comment, "reported")
    return Template(template_name="consultation/_reported.html", context={})


# --- moderation --------------------------------------------------------------------------------


async def _moderate(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    account: Account,
    comment_id: int,
    hide: bool,
) -> Response[Any]:
    comment, item = await comment_or_404(db, m, comment_id)
    form = await request.form()
    back = safe_next(str(form.get("next") or ""), "")
    try:
        if hide:
            await actions.hide_comment(db, m, account, comment, item, str(form.get("reason") or ""))
        else:
            await actions.restore_comment(db, m, account, comment, item)
    except DeliberationError as error:
        if is_htmx(request):
            return _error_fragment(error, f"me{comment.id}")
        if back.startswith(f"/c/{m.community.slug}/moderation"):
            return await _moderation_page(request, db, m, status_of(error), message(error))
        return await _refused_on_thread(request, db, m, account, item, comment, error)
    done = "hidden" if hide else "restored"
    if not is_htmx(request):
        if back.startswith(f"/c/{m.community.slug}/moderation"):
            return Redirect(path=f"/c/{m.community.slug}/moderation?done={done}", status_code=303)
        return await _back_to(db, m.community.slug, item, comment, done)
    t = await reader_thread(db, m, account, item)
    t.moderatable = await actions.moderatable_authors(db, m, [comment.author_id])
    if t.takes_part:
        t.reactions = await actions.reactions_of(db, item, account.id)
    view = await actions.comment_view(db, comment.id, sees_hidden=t.sees_hidden)
    return Template(
        template_name="consultation/_article.html",
        context={"m": m, "t": t, "c": view, **_words()},
    )


@post("/c/{slug:str}/comments/{comment_id:int}/hide", guards=[moderator_guard])
async def hide(
    request: Request[Any, Any, Any],
    slug: str,
    comment_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    return await _moderate(request, db, membership, account, comment_id, hide=True)


@post("/c/{slug:str}/comments/{comment_id:int}/restore", guards=[moderator_guard])
async def restore(
    request: Request[Any, Any, Any],
    slug: str,
    comment_id: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    return await _moderate(request, db, membership, account, comment_id, hide=False)


async def _moderation_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    status_code: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Template:
    moderates = m.has(Role.chair, Role.grid_member)
    reports = await actions.open_reports(db, m) if moderates else []
    hidden = await actions.hidden_comments(db, m)
    seqs = await actions.entry_seqs(db, [h.entry_id for h in hidden])
    return page(
        request,
        "consultation/moderation.html",
        status_code,
        m=m,
        moderates=moderates,
        reports=reports,
        hidden=hidden,
        seqs=seqs,
        error=error,
        notice=notice,
        **_words(),
    )


@get("/c/{slug:str}/moderation", guards=[moderation_readers])
async def moderation(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    done: str | None = None,
) -> Template:
    """Reported comments waiting (the chair's: all; a grid member's: their grids'), and hidden
    comments with their text, reason and log entry (auditors read, never act)."""
    make = NOTICES.get(done or "")
    return await _moderation_page(request, db, membership, notice=make() if make else None)


# --- the chair's summary -----------------------------------------------------------------------


def _summary_rows(summary: ItemSummary | None) -> list[threads.PointRow]:
    rows = [
        threads.PointRow(
            str(p.get("side", "")),
            str(p.get("text", "")),
            ", ".join(str(c) for c in p.get("comments", [])),
        )
        for p in (summary.points if summary else [])
    ]
    blanks = max(SUMMARY_ROWS - len(rows), 2)
    return rows + [threads.PointRow("for", "", "") for _ in range(blanks)]


def _rows_from_form(form: Any) -> list[threads.PointRow]:
    rows = []
    for number in range(1, threads.MAX_POINTS + 3):
        if f"text_{number}" not in form and f"side_{number}" not in form:
            continue
        rows.append(
            threads.PointRow(
                str(form.get(f"side_{number}") or ""),
                str(form.get(f"text_{number}") or ""),
                str(form.get(f"comments_{number}") or ""),
            )
        )
    return rows


async def _summary_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    m: Membership,
    item: AgendaItem,
    rows: list[threads.PointRow],
    status_code: int = 200,
    error: DeliberationError | None = None,
) -> Template:
    return page(
        request,
        "consultation/summary.html",
        status_code,
        m=m,
        item=item,
        rows=rows,
        error=message(error) if error else None,
        error_field=error.details.get("field") if error else None,
        allowed=item.status in actions.SUMMARY_STATUSES,
        current=await actions.summary_of(db, item),
        top=await actions.top_comments(db, item),
        thread_url=actions.thread_url(m.community.slug, item.number),
        point_max=threads.POINT_MAX,
        local_time=local_time,
    )


@get("/c/{slug:str}/items/{number:int}/summary", guards=[chair_guard])
async def summary_form(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
) -> Template:
    item = await item_or_404(db, membership, number)
    rows = _summary_rows(await actions.summary_of(db, item))
    if item.status not in actions.SUMMARY_STATUSES:
        refused = DeliberationError("summary_not_now")
        return await _summary_page(request, db, membership, item, rows, 409, refused)
    return await _summary_page(request, db, membership, item, rows)


@post("/c/{slug:str}/items/{number:int}/summary", guards=[chair_guard])
async def publish_summary(
    request: Request[Any, Any, Any],
    slug: str,
    number: int,
    db: AsyncSession,
    membership: Membership,
    account: Account,
) -> Response[Any]:
    item = await item_or_404(db, membership, number)
    rows = _rows_from_form(await request.form())
    try:
        await actions.publish_summary(db, membership, account, item, rows)
    except DeliberationError as error:
        shown = rows + [threads.PointRow("for", "", "")] * max(0, SUMMARY_ROWS - len(rows))
        return await _summary_page(request, db, membership, item, shown, status_of(error), error)
    return Redirect(
        path=f"{actions.thread_url(slug, number)}?done=summary#summary", status_code=303
    )


ROUTES: list[Any] = [
    thread,
    post_comment,
    permalink,
    history,
    edit_form,
    edit,
    react,
    report_form,
    report,
    hide,
    restore,
    moderation,
    summary_form,
    publish_summary,
]
