"""Agenda items stored: drafting, attachments, publishing, co-signing, the chair's steps, the
decision and implementation. Each action checks state, writes its rows and appends its log entry
in one transaction, and writes nothing when refused. The life cycle itself is
``deliberation.items``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from app import log
from app.models import (
    Account,
    AgendaItem,
    Ballot,
    BallotStatus,
    Building,
    Community,
    Grid,
    ItemAttachment,
    ItemCosign,
    ItemEvent,
    ItemFollow,
    ItemRevision,
    LogEntry,
    Meeting,
    Person,
    Role,
    RoleGrant,
    utcnow,
)
from app.notify import notify
from app.rules import current_threshold
from ballots.ballot import iso_utc
from deliberation.attachments import AttachmentRefused, Checked, check_attachment, check_count
from deliberation.items import (
    AUTHOR,
    CHAIR,
    SYSTEM,
    TRANSITIONS,
    Category,
    Outcome,
    Progress,
    Status,
    Transition,
    TransitionRefused,
    transition,
)
from deliberation.text import (
    BODY_MAX,
    COMMENT_MAX,
    REASON_MAX,
    TITLE_MAX,
    TextError,
    clean_line,
    clean_text,
    plain_summary,
    render_markdown,
)

MAX_ID = 2**31 - 1
PAGE_SIZE = 20
PROGRESS_MAX = COMMENT_MAX
COUNTED = (BallotStatus.tallied, BallotStatus.final)  # a ballot whose result may decide an item


class DeliberationError(Exception):
    """A refused deliberation action. ``code`` is stable (the pages word it); ``details`` say
    where (a field name, a limit)."""

    def __init__(self, code: str, **details: Any) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details


async def get_item(session: AsyncSession, community_id: int, number: int) -> AgendaItem:
    if not 0 < number <= MAX_ID:
        raise DeliberationError("no_such_item", number=number)
    item = (
        await session.execute(
            select(AgendaItem).where(
                AgendaItem.community_id == community_id, AgendaItem.number == number
            )
        )
    ).scalar_one_or_none()
    if item is None:
        raise DeliberationError("no_such_item", number=number)
    return item


# --- small helpers -----------------------------------------------------------------------------


async def _abort(session: AsyncSession) -> None:
    """Roll back a refused action and reload what the caller holds (a rollback expires every
    loaded object, and the pages still show the item)."""
    await session.rollback()
    for loaded in list(session.identity_map.values()):
        await session.refresh(loaded)


def _text_refused(error: TextError) -> DeliberationError:
    return DeliberationError(error.code, field=error.field, limit=error.limit, length=error.length)


def _insert_ignoring_duplicates(session: AsyncSession, table: Any) -> Any:
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def body_sha256(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def item_path(slug: str, number: int) -> str:
    return f"/c/{slug}/items/{number}"


async def _slug(session: AsyncSession, community_id: int) -> str:
    community = await session.get(Community, community_id)
    assert community is not None
    return community.slug


def _step(item: AgendaItem, action: str) -> Transition:
    try:
        return transition(action, item.status)
    except TransitionRefused:
        raise DeliberationError("wrong_status", action=action, status=item.status) from None


def _require_author(item: AgendaItem, actor: Account) -> None:
    if item.author_id != actor.id:
        raise DeliberationError("not_author")


async def is_chair(session: AsyncSession, community_id: int, account_id: int) -> bool:
    found = await session.execute(
        select(RoleGrant.id).where(
            RoleGrant.community_id == community_id,
            RoleGrant.account_id == account_id,
            RoleGrant.role == Role.chair,
        )
    )
    return found.first() is not None


async def _require_chair(session: AsyncSession, item: AgendaItem, actor: Account) -> None:
    # The pages' guards already ask; the action asks again so that no other caller skips it.
    if not await is_chair(session, item.community_id, actor.id):
        raise DeliberationError("not_chair")


async def chair_ids(session: AsyncSession, community_id: int) -> list[int]:
    rows = await session.execute(
        select(RoleGrant.account_id).where(
            RoleGrant.community_id == community_id, RoleGrant.role == Role.chair
        )
    )
    return list(rows.scalars())


async def follower_ids(session: AsyncSession, item: AgendaItem) -> list[int]:
    rows = await session.execute(select(ItemFollow.account_id).where(ItemFollow.item_id == item.id))
    return list(rows.scalars())


async def _follow(session: AsyncSession, item: AgendaItem, account_id: int) -> None:
    await session.execute(
        _insert_ignoring_duplicates(session, ItemFollow.__table__).values(
            item_id=item.id, account_id=account_id, community_id=item.community_id
        )
    )


async def _tell(
    session: AsyncSession,
    item: AgendaItem,
    status: str,
    actor_id: int | None,
    also: Iterable[int] = (),
) -> None:
    recipients = [*await follower_ids(session, item), *also]
    await notify(
        session,
        item.community_id,
        recipients,
        "item_status",
        {"item": item.number, "title": item.title, "status": status},
        item_path(await _slug(session, item.community_id), item.number),
        exclude=actor_id,
    )


# --- drafting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A file as the browser sent it."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class DraftFields:
    title: str
    body: str
    body_html: str
    category: str
    scope_building_id: int | None
    scope_grid_id: int | None


async def check_scope(
    session: AsyncSession, community_id: int, scope: str
) -> tuple[int | None, int | None]:
    """``""`` (the whole community), ``building:<id>`` or ``grid:<id>`` of this community:
    (building id, grid id)."""
    scope = (scope or "").strip()
    if not scope:
        return None, None
    kind, _, raw = scope.partition(":")
    if kind in ("building", "grid") and raw.isdecimal() and 0 < int(raw) <= MAX_ID:
        table: Any = Building if kind == "building" else Grid
        found = await session.get(table, int(raw))
        if found is not None and found.community_id == community_id:
            return (found.id, None) if kind == "building" else (None, found.id)
    raise DeliberationError("bad_scope", field="scope")


async def check_draft(
    session: AsyncSession,
    community_id: int,
    title: object,
    body: object,
    category: object,
    scope: str,
) -> DraftFields:
    """The draft's fields as they will be stored, or the first refusal (naming its field)."""
    try:
        clean_title = clean_line(title, "title", TITLE_MAX)
        clean_body = clean_text(body, "body", BODY_MAX)
    except TextError as error:
        raise _text_refused(error) from None
    if category not in set(Category):
        raise DeliberationError("bad_category", field="category")
    building_id, grid_id = await check_scope(session, community_id, scope)
    return DraftFields(
        title=clean_title,
        body=clean_body,
        body_html=render_markdown(clean_body),
        category=str(category),
        scope_building_id=building_id,
        scope_grid_id=grid_id,
    )


def check_uploads(uploads: Sequence[Upload], existing: int = 0) -> list[Checked]:
    """Every file checked by its content; the first refusal names the file and the reason."""
    uploads = [u for u in uploads if u.filename or u.data]
    try:
        check_count(existing, len(uploads), uploads[-1].filename if uploads else "")
        return [check_attachment(u.filename, u.data) for u in uploads]
    except AttachmentRefused as refused:
        raise DeliberationError(
            "attachment_" + refused.code,
            field="attachments",
            filename=refused.filename,
            limit=refused.limit,
        ) from None


def _attachment_rows(
    item: AgendaItem, actor: Account, files: list[Checked]
) -> list[ItemAttachment]:
    return [
        ItemAttachment(
            community_id=item.community_id,
            item_id=item.id,
            filename=f.filename,
            media_type=f.media_type,
            size=f.size,
            sha256=f.sha256,
            data=f.data,
            uploaded_by=actor.id,
        )
        for f in files
    ]


async def create_draft(
    session: AsyncSession,
    community_id: int,
    actor: Account,
    person: Person | None,
    *,
    title: object,
    body: object,
    category: object,
    scope: str = "",
    uploads: Sequence[Upload] = (),
) -> AgendaItem:
    """A private draft, numbered per community (numbers are stable: #n for good). Only a person
    of this community's register may draft. No log entry: nothing is public yet."""
    if person is None or person.community_id != community_id or person.account_id != actor.id:
        raise DeliberationError("not_in_register")
    fields = await check_draft(session, community_id, title, body, category, scope)
    files = check_uploads(uploads)
    for _attempt in range(5):
        number = (
            await session.execute(
                select(func.coalesce(func.max(AgendaItem.number), 0)).where(
                    AgendaItem.community_id == community_id
                )
            )
        ).scalar_one() + 1
        now = utcnow()
        item = AgendaItem(
            community_id=community_id,
            number=number,
            title=fields.title,
            body=fields.body,
            body_html=fields.body_html,
            category=fields.category,
            scope_building_id=fields.scope_building_id,
            scope_grid_id=fields.scope_grid_id,
            author_id=actor.id,
            author_person_id=person.id,
            status=Status.draft,
            created_at=now,
            updated_at=now,
        )
        session.add(item)
        try:
            await session.flush()
        except IntegrityError:  # another draft took the number
            await _abort(session)
            continue
        session.add_all(_attachment_rows(item, actor, files))
        await session.commit()
        return item
    raise DeliberationError("busy")


async def update_draft(
    session: AsyncSession,
    item: AgendaItem,
    actor: Account,
    *,
    title: object,
    body: object,
    category: object,
    scope: str = "",
    uploads: Sequence[Upload] = (),
) -> AgendaItem:
    """Change a draft (its author only); added files join those already attached."""
    _require_author(item, actor)
    if item.status != Status.draft:
        raise DeliberationError("not_draft")
    fields = await check_draft(session, item.community_id, title, body, category, scope)
    files = check_uploads(uploads, await attachment_count(session, item))
    done = await session.execute(
        update(AgendaItem)
        .where(AgendaItem.id == item.id, AgendaItem.status == Status.draft)
        .values(
            title=fields.title,
            body=fields.body,
            body_html=fields.body_html,
            category=fields.category,
            scope_building_id=fields.scope_building_id,
            scope_grid_id=fields.scope_grid_id,
            updated_at=utcnow(),
        )
    )
    if done.rowcount != 1:
        await _abort(session)
        raise DeliberationError("not_draft")
    session.add_all(_attachment_rows(item, actor, files))
    await session.commit()
    await session.refresh(item)
    return item


async def attachment_count(session: AsyncSession, item: AgendaItem) -> int:
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(ItemAttachment)
                .where(ItemAttachment.item_id == item.id)
            )
        ).scalar_one()
    )


async def attachments_of(session: AsyncSession, item: AgendaItem) -> list[ItemAttachment]:
    """The item's attachments without their bytes (the page lists them; the bytes are served
    one at a time)."""
    rows = await session.execute(
        select(ItemAttachment)
        .options(defer(ItemAttachment.data))
        .where(ItemAttachment.item_id == item.id)
        .order_by(ItemAttachment.id)
    )
    return list(rows.scalars())


async def get_attachment(
    session: AsyncSession, item: AgendaItem, attachment_id: int
) -> ItemAttachment:
    if not 0 < attachment_id <= MAX_ID:
        raise DeliberationError("no_such_attachment")
    found = await session.get(ItemAttachment, attachment_id)
    if found is None or found.item_id != item.id or found.community_id != item.community_id:
        raise DeliberationError("no_such_attachment")
    return found


async def delete_attachment(
    session: AsyncSession, item: AgendaItem, actor: Account, attachment_id: int
) -> None:
    """A draft's author takes a file off again; once published, attachments stay."""
    _require_author(item, actor)
    if item.status != Status.draft:
        raise DeliberationError("not_draft")
    attachment = await get_attachment(session, item, attachment_id)
    await session.execute(
        delete(ItemAttachment).where(
            ItemAttachment.id == attachment.id, ItemAttachment.item_id == item.id
        )
    )
    await session.commit()


# --- publishing and co-signing -----------------------------------------------------------------


async def publish(session: AsyncSession, item: AgendaItem, actor: Account) -> int:
    """The author makes the draft public: it starts collecting co-signatures until the
    community's threshold, fixed now. Revision 1 of the text is kept; the author follows."""
    _require_author(item, actor)
    _step(item, "publish")
    threshold = await current_threshold(session, item.community_id)
    now = utcnow()
    entry_id = await log.append(
        session,
        item.community_id,
        "item.transitioned",
        {
            "item": item.number,
            "action": "publish",
            "from": Status.draft.value,
            "to": Status.collecting.value,
            "title": item.title,
            "body_sha256": body_sha256(item.body),
            "category": item.category,
            "threshold": threshold,
        },
    )
    done = await session.execute(
        update(AgendaItem)
        .where(AgendaItem.id == item.id, AgendaItem.status == Status.draft)
        .values(
            status=Status.collecting,
            cosign_threshold=threshold,
            cosign_count=0,
            revision=1,
            published_at=now,
            updated_at=now,
        )
    )
    if done.rowcount != 1:
        await _abort(session)
        raise DeliberationError("wrong_status", action="publish", status=item.status)
    session.add(
        ItemRevision(
            community_id=item.community_id,
            item_id=item.id,
            revision=1,
            title=item.title,
            body=item.body,
            created_by=actor.id,
            created_at=now,
        )
    )
    session.add(
        ItemEvent(
            community_id=item.community_id,
            item_id=item.id,
            action="publish",
            from_status=Status.draft,
            to_status=Status.collecting,
            actor_id=actor.id,
            entry_id=entry_id,
            created_at=now,
        )
    )
    await _follow(session, item, actor.id)
    await session.commit()
    await session.refresh(item)
    return entry_id


@dataclass(frozen=True)
class CosignResult:
    entry_id: int
    count: int
    threshold: int
    submitted: bool  # this co-sign reached the threshold


async def cosign(
    session: AsyncSession, item: AgendaItem, actor: Account, person: Person | None
) -> CosignResult:
    """A person of the register supports a published item, once. The count is raised in the
    database (``cosign_count + 1 … RETURNING``) so that co-signs in parallel all count; the one
    that reaches the threshold puts the item before the chair in the same transaction."""
    if person is None or person.community_id != item.community_id or person.account_id != actor.id:
        raise DeliberationError("not_in_register")
    if item.status == Status.draft:
        raise DeliberationError("no_such_item", number=item.number)
    if person.id == item.author_person_id or actor.id == item.author_id:
        raise DeliberationError("own_item")
    if item.status != Status.collecting:
        raise DeliberationError("not_collecting", status=item.status)
    already = await session.execute(
        select(ItemCosign.person_id).where(
            ItemCosign.item_id == item.id, ItemCosign.person_id == person.id
        )
    )
    if already.first() is not None:
        raise DeliberationError("already_cosigned")
    now = utcnow()
    session.add(
        ItemCosign(
            item_id=item.id,
            person_id=person.id,
            community_id=item.community_id,
            account_id=actor.id,
            created_at=now,
        )
    )
    try:
        await session.flush()  # the primary key stops a second co-sign racing this one
    except IntegrityError:
        await _abort(session)
        raise DeliberationError("already_cosigned") from None
    raised = (
        await session.execute(
            update(AgendaItem)
            .where(AgendaItem.id == item.id, AgendaItem.status == Status.collecting)
            .values(cosign_count=AgendaItem.cosign_count + 1, updated_at=now)
            .returning(AgendaItem.cosign_count, AgendaItem.cosign_threshold)
        )
    ).first()
    if raised is None:  # the item moved on meanwhile
        await _abort(session)
        raise DeliberationError("not_collecting", status=item.status)
    count, threshold = int(raised[0]), int(raised[1])
    entry_id = await log.append(
        session,
        item.community_id,
        "item.cosigned",
        {"item": item.number, "count": count, "threshold": threshold},
    )
    await _follow(session, item, actor.id)
    submitted = count >= threshold
    if submitted:
        step = TRANSITIONS["threshold_reached"]
        # Our row lock on the item is held since the UPDATE: nobody else can move it now.
        await session.execute(
            update(AgendaItem)
            .where(AgendaItem.id == item.id)
            .values(status=step.target, updated_at=now)
        )
        session.add(
            ItemEvent(
                community_id=item.community_id,
                item_id=item.id,
                action=step.action,
                from_status=Status.collecting,
                to_status=step.target,
                actor_id=None,
                entry_id=entry_id,
                created_at=now,
            )
        )
        await _tell(
            session,
            item,
            Status.submitted,
            actor.id,
            also=await chair_ids(session, item.community_id),
        )
    await session.commit()
    await session.refresh(item)
    return CosignResult(entry_id, count, threshold, submitted)


async def has_cosigned(session: AsyncSession, item: AgendaItem, person_id: int) -> bool:
    found = await session.execute(
        select(ItemCosign.person_id).where(
            ItemCosign.item_id == item.id, ItemCosign.person_id == person_id
        )
    )
    return found.first() is not None


async def cosigner_names(session: AsyncSession, item: AgendaItem) -> list[str]:
    rows = await session.execute(
        select(Account.display_name)
        .join(ItemCosign, ItemCosign.account_id == Account.id)
        .where(ItemCosign.item_id == item.id)
        .order_by(ItemCosign.created_at, ItemCosign.person_id)
    )
    return list(rows.scalars())


# --- following ---------------------------------------------------------------------------------


async def follow(session: AsyncSession, item: AgendaItem, actor: Account) -> None:
    if item.status == Status.draft and item.author_id != actor.id:
        raise DeliberationError("no_such_item", number=item.number)
    await _follow(session, item, actor.id)
    await session.commit()


async def unfollow(session: AsyncSession, item: AgendaItem, actor: Account) -> None:
    await session.execute(
        delete(ItemFollow).where(ItemFollow.item_id == item.id, ItemFollow.account_id == actor.id)
    )
    await session.commit()


async def is_following(session: AsyncSession, item: AgendaItem, account_id: int) -> bool:
    found = await session.execute(
        select(ItemFollow.account_id).where(
            ItemFollow.item_id == item.id, ItemFollow.account_id == account_id
        )
    )
    return found.first() is not None


# --- the chair's steps -------------------------------------------------------------------------


async def _move(
    session: AsyncSession,
    item: AgendaItem,
    actor: Account,
    action: str,
    *,
    extra: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    note: str | None = None,
    target: Status | None = None,
) -> int:
    """One transition by the chair (whom the caller has checked): the log entry, the item's new
    status (only if nobody moved it meanwhile), the history event, the followers told. Commits."""
    step = _step(item, action)
    source = item.status
    to = target or step.target
    now = utcnow()
    entry_id = await log.append(
        session,
        item.community_id,
        "item.transitioned",
        {"item": item.number, "action": action, "from": source, "to": str(to), **(extra or {})},
    )
    done = await session.execute(
        update(AgendaItem)
        # the status and the text the chair saw: an amendment taken in meanwhile stops the step
        .where(
            AgendaItem.id == item.id,
            AgendaItem.status == source,
            AgendaItem.revision == item.revision,
        )
        .values(status=to, updated_at=now, **(values or {}))
    )
    if done.rowcount != 1:
        await _abort(session)
        raise DeliberationError("wrong_status", action=action, status=item.status)
    session.add(
        ItemEvent(
            community_id=item.community_id,
            item_id=item.id,
            action=action,
            from_status=source,
            to_status=to,
            note=note,
            note_html=render_markdown(note) if note else None,
            actor_id=actor.id,
            entry_id=entry_id,
            created_at=now,
        )
    )
    await _tell(session, item, to, actor.id)
    await session.commit()
    await session.refresh(item)
    return entry_id


async def accept(session: AsyncSession, item: AgendaItem, actor: Account) -> int:
    """Put a submitted item on the agenda."""
    await _require_chair(session, item, actor)
    return await _move(session, item, actor, "accept")


async def decline(session: AsyncSession, item: AgendaItem, actor: Account, reason: object) -> int:
    """Decline an item that is collecting or submitted, with a public reason."""
    await _require_chair(session, item, actor)
    _step(item, "decline")
    try:
        text = clean_text(reason, "reason", REASON_MAX)
    except TextError as error:
        raise _text_refused(error) from None
    return await _move(
        session,
        item,
        actor,
        "decline",
        extra={"reason": text},
        values={"declined_reason": text},
        note=text,
    )


async def open_consultation(
    session: AsyncSession,
    item: AgendaItem,
    actor: Account,
    opens_at: datetime | None,
    closes_at: datetime | None,
    now: datetime | None = None,
) -> int:
    """Open the item's consultation between two moments; closing must follow opening and lie
    ahead."""
    await _require_chair(session, item, actor)
    _step(item, "open_consultation")
    if opens_at is None:
        raise DeliberationError("bad_time", field="opens_at")
    if closes_at is None:
        raise DeliberationError("bad_time", field="closes_at")
    if closes_at <= opens_at:
        raise DeliberationError("closes_before_opens", field="closes_at")
    if closes_at <= (now or utcnow()):
        raise DeliberationError("closes_in_past", field="closes_at")
    return await _move(
        session,
        item,
        actor,
        "open_consultation",
        extra={"opens_at": iso_utc(opens_at), "closes_at": iso_utc(closes_at)},
        values={"consultation_opens_at": opens_at, "consultation_closes_at": closes_at},
    )


async def close_consultation(session: AsyncSession, item: AgendaItem, actor: Account) -> int:
    """End the consultation: the item awaits its decision."""
    await _require_chair(session, item, actor)
    return await _move(session, item, actor, "close_consultation")


PREPARE_FROM = frozenset({Status.on_agenda, Status.consultation, Status.deciding})


async def prepare_ballot(
    session: AsyncSession, community: Community, item: AgendaItem, actor: Account
) -> Ballot:
    """A draft ballot on the item for the chair to complete (or the one already linked). The
    ballot's definition names the item; the item keeps the ballot that will decide it."""
    from app import ballots  # the ballots layer is only needed here

    await _require_chair(session, item, actor)
    if item.community_id != community.id:
        raise DeliberationError("no_such_item", number=item.number)
    if item.status not in PREPARE_FROM:
        raise DeliberationError("wrong_status", action="prepare_ballot", status=item.status)
    if item.decision_ballot_id is not None:
        existing = await session.get(Ballot, item.decision_ballot_id)
        if existing is not None:
            return existing
    data = ballots.blank_definition()
    data["title"] = item.title[:200]
    data["description"] = plain_summary(item.body, 1000)
    data["agenda_item"] = str(item.number)
    data["questions"][0]["text"] = item.title
    ballot = await ballots.create_ballot(session, community, actor, data)  # commits
    await session.execute(
        update(AgendaItem)
        .where(AgendaItem.id == item.id, AgendaItem.decision_ballot_id.is_(None))
        .values(decision_ballot_id=ballot.id, updated_at=utcnow())
    )
    await session.commit()
    await session.refresh(item)
    return ballot


def ballot_outcome(ballot: Ballot) -> str | None:
    """Adopted or rejected, from the decision the ballot's rule took on its first question;
    None while it has no counted result or the question carries no decision."""
    if ballot.status not in COUNTED or not ballot.tally:
        return None
    questions = ballot.tally.get("questions") or []
    decision = questions[0].get("decision") if questions else None
    if not decision:
        return None
    return Outcome.adopted if decision.get("passed") else Outcome.rejected


def meeting_vote(meeting: Meeting, number: int) -> dict[str, Any] | None:
    for vote in meeting.votes or []:
        if vote.get("item") == number and vote.get("outcome") in set(Outcome):
            return vote
    return None


async def decision_meetings(session: AsyncSession, item: AgendaItem) -> list[Meeting]:
    """Held meetings of the community that took a vote on this item."""
    rows = await session.execute(
        select(Meeting)
        .where(Meeting.community_id == item.community_id, Meeting.status == "held")
        .order_by(Meeting.number)
    )
    return [m for m in rows.scalars() if meeting_vote(m, item.number) is not None]


async def decide_by_ballot(session: AsyncSession, item: AgendaItem, actor: Account) -> int:
    """The linked ballot's counted result decides the item; nobody types the outcome."""
    await _require_chair(session, item, actor)
    _step(item, "decide")
    ballot = await session.get(Ballot, item.decision_ballot_id) if item.decision_ballot_id else None
    if ballot is None or ballot.community_id != item.community_id:
        raise DeliberationError("no_ballot")
    # a preliminary result is open to objections (询异公示): only a final one decides
    if ballot.status != BallotStatus.final:
        raise DeliberationError("ballot_not_final", ballot=ballot.number)
    outcome = ballot_outcome(ballot)
    if outcome is None:
        raise DeliberationError("no_decision", ballot=ballot.number)
    if await _amended_since(session, item, ballot.opened_at):
        raise DeliberationError("amended_since_vote", ballot=ballot.number)
    return await _move(
        session,
        item,
        actor,
        "decide",
        extra={"outcome": str(outcome), "ballot": ballot.number, **_text_decided(item)},
        values={"outcome": str(outcome)},
    )


async def _amended_since(session: AsyncSession, item: AgendaItem, moment: datetime | None) -> bool:
    """Whether an amendment changed the item's text after the vote began: then the voters
    decided on another text, and their result cannot decide this one."""
    if moment is None:
        return False
    found = await session.execute(
        select(func.count())
        .select_from(ItemRevision)
        .where(
            ItemRevision.item_id == item.id,
            ItemRevision.amendment_id.is_not(None),
            ItemRevision.created_at > moment,
        )
    )
    return bool(found.scalar_one())


def _text_decided(item: AgendaItem) -> dict[str, Any]:
    """Which text the decision is about, for the log."""
    return {"revision": item.revision, "body_sha256": body_sha256(item.body)}


async def decide_by_meeting(
    session: AsyncSession, item: AgendaItem, actor: Account, meeting_number: int
) -> int:
    """A held meeting's vote on the item decides it, as its minutes record."""
    await _require_chair(session, item, actor)
    _step(item, "decide")
    meeting = None
    if 0 < meeting_number <= MAX_ID:
        meeting = (
            await session.execute(
                select(Meeting).where(
                    Meeting.community_id == item.community_id, Meeting.number == meeting_number
                )
            )
        ).scalar_one_or_none()
    if meeting is None:
        raise DeliberationError("no_such_meeting", field="meeting")
    if meeting.status != "held":
        raise DeliberationError("meeting_not_held", field="meeting", meeting=meeting.number)
    vote = meeting_vote(meeting, item.number)
    if vote is None:
        raise DeliberationError("no_meeting_vote", field="meeting", meeting=meeting.number)
    outcome = str(vote["outcome"])
    if await _amended_since(session, item, meeting.starts_at):
        raise DeliberationError("amended_since_vote", field="meeting", meeting=meeting.number)
    return await _move(
        session,
        item,
        actor,
        "decide",
        extra={"outcome": outcome, "meeting": meeting.number, **_text_decided(item)},
        values={"outcome": outcome, "decision_meeting_id": meeting.id},
    )


async def post_progress(
    session: AsyncSession, item: AgendaItem, actor: Account, text: object, state: object
) -> int:
    """An implementation update on an adopted item: still in progress (-> implementing), or
    done / abandoned, which closes the item."""
    await _require_chair(session, item, actor)
    if state not in set(Progress):
        raise DeliberationError("bad_progress", field="state")
    action = "progress" if state == Progress.in_progress else "close"
    _step(item, action)
    if item.outcome != Outcome.adopted:
        raise DeliberationError("not_adopted")
    try:
        note = clean_text(text, "progress", PROGRESS_MAX)
    except TextError as error:
        raise _text_refused(error) from None
    return await _move(
        session,
        item,
        actor,
        action,
        extra={"progress": str(state)},
        values={"implementation": str(state)},
        note=note,
    )


async def close_rejected(session: AsyncSession, item: AgendaItem, actor: Account) -> int:
    """Close an item whose decision rejected it: there is nothing to implement."""
    await _require_chair(session, item, actor)
    _step(item, "close")
    if item.status != Status.decided or item.outcome != Outcome.rejected:
        raise DeliberationError("not_rejected")
    return await _move(session, item, actor, "close")


# --- reading -----------------------------------------------------------------------------------


def can_see(item: AgendaItem, account: Account | None) -> bool:
    """A draft is its author's alone; everything published is public."""
    return item.status != Status.draft or (account is not None and account.id == item.author_id)


@dataclass(frozen=True)
class ItemFilter:
    status: str | None = None
    category: str | None = None
    grid_id: int | None = None


async def list_items(
    session: AsyncSession, community_id: int, where: ItemFilter, page: int = 1
) -> tuple[list[AgendaItem], int]:
    """Published items, most recently updated first, one page at a time; and how many match."""
    conditions: list[Any] = [
        AgendaItem.community_id == community_id,
        AgendaItem.status != Status.draft,
    ]
    if where.status:
        conditions.append(AgendaItem.status == where.status)
    if where.category:
        conditions.append(AgendaItem.category == where.category)
    if where.grid_id is not None:
        in_grid = select(Building.id).where(
            Building.community_id == community_id, Building.grid_id == where.grid_id
        )
        conditions.append(
            or_(
                AgendaItem.scope_grid_id == where.grid_id,
                AgendaItem.scope_building_id.in_(in_grid),
            )
        )
    total = int(
        (
            await session.execute(select(func.count()).select_from(AgendaItem).where(*conditions))
        ).scalar_one()
    )
    rows = await session.execute(
        select(AgendaItem)
        .where(*conditions)
        .order_by(AgendaItem.updated_at.desc(), AgendaItem.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return list(rows.scalars()), total


async def drafts_of(session: AsyncSession, community_id: int, account_id: int) -> list[AgendaItem]:
    rows = await session.execute(
        select(AgendaItem)
        .where(
            AgendaItem.community_id == community_id,
            AgendaItem.author_id == account_id,
            AgendaItem.status == Status.draft,
        )
        .order_by(AgendaItem.updated_at.desc(), AgendaItem.id.desc())
    )
    return list(rows.scalars())


@dataclass(frozen=True)
class HistoryStep:
    event: ItemEvent
    seq: int | None  # the log entry's place, once the sequencer has given it one
    by: str  # author | chair | system


async def history(session: AsyncSession, item: AgendaItem) -> list[HistoryStep]:
    """The item's steps, oldest first, each with its log entry's place."""
    rows = await session.execute(
        select(ItemEvent, LogEntry.seq)
        .outerjoin(LogEntry, LogEntry.id == ItemEvent.entry_id)
        .where(ItemEvent.item_id == item.id)
        .order_by(ItemEvent.created_at, ItemEvent.id)
    )
    steps = []
    for event, seq in rows.all():
        known = TRANSITIONS.get(event.action)
        if known is not None:
            by = known.by
        elif event.actor_id is None:
            by = SYSTEM
        else:  # steps other parts of the app record (an amendment taken in, a summary)
            by = AUTHOR if event.actor_id == item.author_id else CHAIR
        steps.append(HistoryStep(event, seq, by))
    return steps
