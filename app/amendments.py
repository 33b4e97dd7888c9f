"""Amendments stored: proposing a change to an item's text, the author accepting or rejecting it,
the chair putting a disputed one to a vote and applying the vote's result.

A proposal is residents' text and writes no log entry; each decision is one ``amendment.decided``
entry, written in the same transaction as the rows it changes. An accepted amendment makes the
item's next revision: the item's text changes only where its revision is still the one the
amendment was written for, so two decisions can never both apply to the same text. The rules
themselves are ``deliberation.amendments``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import ballots, log
from app.i18n import gettext as _
from app.items import DeliberationError
from app.models import (
    Account,
    AgendaItem,
    Amendment,
    Ballot,
    BallotStatus,
    Community,
    ItemEvent,
    ItemFollow,
    ItemRevision,
    Role,
    RoleGrant,
    utcnow,
)
from app.notify import notify
from ballots.ballot import MAX_TEXT
from deliberation import amendments as rules
from deliberation.amendments import AmendmentRefused, Segment, Status
from deliberation.items import consultation_open
from deliberation.text import BODY_MAX, REASON_MAX, TextError, clean_text, render_markdown

MAX_NUMBER = 2**31 - 1
# a preliminary result is open to objections (询异公示): only a final one settles an amendment
COUNTED = (BallotStatus.final,)


def amendment_path(slug: str, item_number: int, number: int | None = None) -> str:
    path = f"/c/{slug}/items/{item_number}/amendments"
    return path if number is None else f"{path}/{number}"


def body_sha256(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def is_open(item: AgendaItem, now: datetime | None = None) -> bool:
    return consultation_open(
        item.status, item.consultation_opens_at, item.consultation_closes_at, now or utcnow()
    )


# --- reading -------------------------------------------------------------------------------------


async def get_amendment(session: AsyncSession, item: AgendaItem, number: int) -> Amendment:
    if not 0 < number <= MAX_NUMBER:
        raise DeliberationError("no_such_amendment", number=number)
    found = (
        await session.execute(
            select(Amendment).where(Amendment.item_id == item.id, Amendment.number == number)
        )
    ).scalar_one_or_none()
    if found is None:
        raise DeliberationError("no_such_amendment", number=number)
    return found


async def list_amendments(session: AsyncSession, item: AgendaItem) -> list[Amendment]:
    """Newest first."""
    found = await session.execute(
        select(Amendment).where(Amendment.item_id == item.id).order_by(Amendment.number.desc())
    )
    return list(found.scalars())


async def item_revisions(session: AsyncSession, item: AgendaItem) -> list[ItemRevision]:
    """Oldest first."""
    found = await session.execute(
        select(ItemRevision).where(ItemRevision.item_id == item.id).order_by(ItemRevision.revision)
    )
    return list(found.scalars())


async def revision_body(session: AsyncSession, item: AgendaItem, revision: int) -> str | None:
    """The item's text at ``revision`` (None if that version was not kept)."""
    if revision == item.revision:
        return item.body
    return (
        await session.execute(
            select(ItemRevision.body).where(
                ItemRevision.item_id == item.id, ItemRevision.revision == revision
            )
        )
    ).scalar_one_or_none()


async def amendment_diff(
    session: AsyncSession, item: AgendaItem, amendment: Amendment
) -> list[Segment] | None:
    """The amendment against the text it was written for."""
    base = await revision_body(session, item, amendment.base_revision)
    return None if base is None else rules.diff_texts(base, amendment.body)


async def changes_since(
    session: AsyncSession, item: AgendaItem, revision: int
) -> list[Segment] | None:
    """What changed in the item's text from ``revision`` to now."""
    base = await revision_body(session, item, revision)
    return None if base is None else rules.diff_texts(base, item.body)


async def display_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    found = await session.execute(
        select(Account.id, Account.display_name).where(Account.id.in_(ids))
    )
    return {account_id: name for account_id, name in found.all()}


def ballot_counted(ballot: Ballot | None) -> bool:
    return ballot is not None and ballot.status in COUNTED and ballot.tally is not None


def ballot_passed(ballot: Ballot) -> bool:
    """Whether the ballot's first question, a yes/no motion, passed under its rule: the decision
    the tally records for it (``passed`` and ``valid``)."""
    questions = (ballot.tally or {}).get("questions") or []
    if not questions:
        return False
    first = questions[0]
    decision = first.get("decision") or {}
    return (
        first.get("method") == "yes_no_abstain"
        and decision.get("passed") is True
        and decision.get("valid") is True
    )


# --- small helpers -------------------------------------------------------------------------------


async def _abort(session: AsyncSession) -> None:
    """Roll back a refused action and reload what the caller holds (the pages still show it)."""
    await session.rollback()
    for loaded in list(session.identity_map.values()):
        await session.refresh(loaded)


def _refused(error: AmendmentRefused, item: AgendaItem) -> DeliberationError:
    return DeliberationError(error.code, revision=item.revision)


def _clean(value: object, field: str, limit: int, *, required: bool) -> str:
    try:
        return clean_text(value, field, limit, required=required)
    except TextError as error:
        raise DeliberationError(
            error.code, field=error.field, limit=error.limit, length=error.length
        ) from None


async def _require_chair(session: AsyncSession, community_id: int, actor: Account) -> None:
    # The pages' guards already ask; the action asks again so that no other caller skips it.
    found = await session.execute(
        select(RoleGrant.id).where(
            RoleGrant.community_id == community_id,
            RoleGrant.account_id == actor.id,
            RoleGrant.role == Role.chair,
        )
    )
    if found.first() is None:
        raise DeliberationError("not_chair")


async def _follow(session: AsyncSession, item: AgendaItem, account_id: int) -> None:
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(ItemFollow)
        .values(item_id=item.id, account_id=account_id, community_id=item.community_id)
        .on_conflict_do_nothing()
    )


async def _followers(session: AsyncSession, item: AgendaItem) -> set[int]:
    found = await session.execute(
        select(ItemFollow.account_id).where(ItemFollow.item_id == item.id)
    )
    return set(found.scalars())


async def _tell(
    session: AsyncSession,
    community: Community,
    item: AgendaItem,
    amendment: Amendment,
    status: str,
    actor: Account,
) -> None:
    """The amendment's author, the item's author and its followers hear of a decision."""
    recipients = {amendment.author_id, item.author_id} | await _followers(session, item)
    await notify(
        session,
        item.community_id,
        recipients,
        "amendment",
        {
            "item": item.number,
            "title": item.title,
            "amendment": amendment.number,
            "status": str(status),
        },
        amendment_path(community.slug, item.number, amendment.number),
        exclude=actor.id,
    )


# --- proposing -----------------------------------------------------------------------------------


async def propose(
    session: AsyncSession,
    community: Community,
    item: AgendaItem,
    actor: Account,
    body: object,
    rationale: object,
    base_revision: int,
    now: datetime | None = None,
) -> Amendment:
    """A resident's proposed text for the item, against the revision their form showed. Refused
    while the consultation is closed, for empty, over-long or unchanged text, and when the item's
    text changed after the form was opened (``stale_base``). The item's author is told."""
    now = now or utcnow()
    if not is_open(item, now):
        raise DeliberationError("consultation_closed")
    text = _clean(body, "body", BODY_MAX, required=True)
    why = _clean(rationale, "rationale", REASON_MAX, required=False)
    try:
        rules.check_proposal(
            consultation_is_open=True,
            base_revision=base_revision,
            item_revision=item.revision,
            current_body=item.body,
            proposed_body=text,
        )
    except AmendmentRefused as error:
        raise _refused(error, item) from None
    for _attempt in range(5):
        number = (
            await session.execute(
                select(func.coalesce(func.max(Amendment.number), 0)).where(
                    Amendment.item_id == item.id
                )
            )
        ).scalar_one() + 1
        amendment = Amendment(
            community_id=item.community_id,
            item_id=item.id,
            number=number,
            author_id=actor.id,
            base_revision=base_revision,
            body=text,
            rationale=why,
            status=Status.proposed,
            created_at=now,
        )
        session.add(amendment)
        try:
            await session.flush()
            await _follow(session, item, actor.id)
            await notify(
                session,
                item.community_id,
                [item.author_id],
                "amendment",
                {
                    "item": item.number,
                    "title": item.title,
                    "amendment": number,
                    "status": "proposed",
                },
                amendment_path(community.slug, item.number, number),
                exclude=actor.id,
            )
            await session.commit()
        except IntegrityError:  # someone else took the number
            await _abort(session)
            continue
        return amendment
    raise DeliberationError("busy")


# --- deciding ------------------------------------------------------------------------------------


def _entry(item: AgendaItem, amendment: Amendment, decision: str, **extra: Any) -> dict[str, Any]:
    return {
        "item": item.number,
        "amendment": amendment.number,
        "decision": str(decision),
        "base_revision": amendment.base_revision,
        **extra,
    }


async def _apply(
    session: AsyncSession,
    item: AgendaItem,
    amendment: Amendment,
    actor: Account,
    expected: Status,
    now: datetime,
    **extra: Any,
) -> int:
    """Make the amendment's text the item's next revision; written only if the item is still at
    the amendment's base revision and the amendment still ``expected``. Returns the entry id;
    the caller commits."""
    revision = amendment.base_revision + 1
    moved = await session.execute(
        update(AgendaItem)
        .where(AgendaItem.id == item.id, AgendaItem.revision == amendment.base_revision)
        .values(
            body=amendment.body,
            body_html=render_markdown(amendment.body),
            revision=revision,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        await _abort(session)
        raise DeliberationError(rules.STALE_BASE, revision=item.revision)
    await _decide(session, item, amendment, actor, expected, Status.accepted, now)
    session.add(
        ItemRevision(
            community_id=item.community_id,
            item_id=item.id,
            revision=revision,
            title=item.title,
            body=amendment.body,
            amendment_id=amendment.id,
            created_by=actor.id,
            created_at=now,
        )
    )
    entry_id = await log.append(
        session,
        item.community_id,
        "amendment.decided",
        _entry(
            item,
            amendment,
            Status.accepted,
            revision=revision,
            body_sha256=body_sha256(amendment.body),
            **extra,
        ),
    )
    await _set_entry(session, amendment, entry_id)
    # the item's history shows its text changing, beside its transitions
    session.add(
        ItemEvent(
            community_id=item.community_id,
            item_id=item.id,
            action="amend",
            from_status=item.status,
            to_status=item.status,
            actor_id=actor.id,
            entry_id=entry_id,
            created_at=now,
        )
    )
    return entry_id


async def _decide(
    session: AsyncSession,
    item: AgendaItem,
    amendment: Amendment,
    actor: Account,
    expected: Status,
    status: Status,
    now: datetime,
    note: str | None = None,
    ballot_id: int | None = None,
) -> None:
    values: dict[str, Any] = {
        "status": status,
        "decided_by": actor.id,
        "decided_at": now,
        "decision_note": note,
    }
    if ballot_id is not None:
        values["ballot_id"] = ballot_id
    done = await session.execute(
        update(Amendment)
        .where(Amendment.id == amendment.id, Amendment.status == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # decided by someone else meanwhile
        await _abort(session)
        raise DeliberationError(
            "not_proposed" if expected == Status.proposed else "not_put_to_vote"
        )


async def _set_entry(session: AsyncSession, amendment: Amendment, entry_id: int) -> None:
    await session.execute(
        update(Amendment)
        .where(Amendment.id == amendment.id)
        .values(entry_id=entry_id)
        .execution_options(synchronize_session=False)
    )


async def _finish(session: AsyncSession, *loaded: Any) -> None:
    await session.commit()
    for row in loaded:
        await session.refresh(row)


async def accept(
    session: AsyncSession,
    community: Community,
    item: AgendaItem,
    amendment: Amendment,
    actor: Account,
    now: datetime | None = None,
) -> int:
    """The item's author takes the amendment into the text, while the consultation is open and
    only if the text is still the one it was written for."""
    now = now or utcnow()
    try:
        rules.check_author_decision(
            accepting=True,
            actor_id=actor.id,
            item_author_id=item.author_id,
            status=amendment.status,
            consultation_is_open=is_open(item, now),
            base_revision=amendment.base_revision,
            item_revision=item.revision,
        )
    except AmendmentRefused as error:
        raise _refused(error, item) from None
    entry_id = await _apply(session, item, amendment, actor, Status.proposed, now)
    await _tell(session, community, item, amendment, Status.accepted, actor)
    await _finish(session, item, amendment)
    return entry_id


async def reject(
    session: AsyncSession,
    community: Community,
    item: AgendaItem,
    amendment: Amendment,
    actor: Account,
    note: object = "",
    now: datetime | None = None,
) -> int:
    """The item's author declines a proposed amendment, with an optional note to its author."""
    now = now or utcnow()
    try:
        rules.check_author_decision(
            accepting=False,
            actor_id=actor.id,
            item_author_id=item.author_id,
            status=amendment.status,
            consultation_is_open=is_open(item, now),
            base_revision=amendment.base_revision,
            item_revision=item.revision,
        )
    except AmendmentRefused as error:
        raise _refused(error, item) from None
    text = _clean(note, "note", REASON_MAX, required=False) or None
    await _decide(session, item, amendment, actor, Status.proposed, Status.rejected, now, text)
    entry_id = await log.append(
        session, item.community_id, "amendment.decided", _entry(item, amendment, Status.rejected)
    )
    await _set_entry(session, amendment, entry_id)
    await _tell(session, community, item, amendment, Status.rejected, actor)
    await _finish(session, amendment)
    return entry_id


# --- voting --------------------------------------------------------------------------------------


def plain_diff(segments: list[Segment], limit: int = MAX_TEXT) -> str:
    """The diff in plain words, for a ballot's description (which shows no markup)."""
    parts = []
    for s in rules.compact(segments, context=60):
        if s.kind == rules.INSERT:
            parts.append(_("[added: %(text)s]", text=s.text))
        elif s.kind == rules.DELETE:
            parts.append(_("[removed: %(text)s]", text=s.text))
        elif s.kind == rules.SKIP:
            parts.append("…")
        else:
            parts.append(s.text)
    text = "".join(parts)
    if len(text) > limit:
        tail = "…\n" + _("(Shortened: the whole change is on the amendment's page.)")
        text = text[: limit - len(tail)] + tail
    return text


def ballot_definition(
    community: Community, item: AgendaItem, amendment: Amendment, segments: list[Segment]
) -> dict[str, Any]:
    """A draft ballot on adopting the amendment: the chair completes it (dates, electorate)."""
    data = ballots.blank_definition()
    title = _(
        "Amendment %(k)s to item #%(n)s: %(title)s",
        k=amendment.number,
        n=item.number,
        title=item.title,
    )
    data["title"] = title if len(title) <= 200 else title[:199] + "…"
    head = _(
        "Proposed change to the text of item #%(n)s. Read it in full at %(path)s",
        n=item.number,
        path=amendment_path(community.slug, item.number, amendment.number),
    )
    data["description"] = head + "\n\n" + plain_diff(segments, MAX_TEXT - len(head) - 2)
    data["agenda_item"] = str(item.number)
    data["questions"][0]["text"] = _(
        "Should amendment %(k)s be adopted into the text of item #%(n)s?",
        k=amendment.number,
        n=item.number,
    )
    return data


async def put_to_vote(
    session: AsyncSession,
    community: Community,
    item: AgendaItem,
    amendment: Amendment,
    actor: Account,
    now: datetime | None = None,
) -> Ballot:
    """The chair puts a disputed amendment to a vote: a draft ballot asking whether to adopt it.

    Creating the ballot commits on its own (``app.ballots.create_ballot`` numbers it); the
    amendment then moves to ``put_to_vote`` with its log entry in a second transaction, and if
    that is refused (decided meanwhile) the fresh draft, which nobody has seen and the log never
    named, is deleted again."""
    now = now or utcnow()
    await _require_chair(session, item.community_id, actor)
    try:
        rules.check_put_to_vote(
            status=amendment.status,
            item_status=item.status,
            base_revision=amendment.base_revision,
            item_revision=item.revision,
        )
    except AmendmentRefused as error:
        raise _refused(error, item) from None
    segments = rules.diff_texts(item.body, amendment.body)
    data = ballot_definition(community, item, amendment, segments)
    try:
        ballot = await ballots.create_ballot(session, community, actor, data)
    except ballots.BallotError as error:
        raise DeliberationError("busy", ballot_error=error.code) from None
    try:
        await _decide(
            session,
            item,
            amendment,
            actor,
            Status.proposed,
            Status.put_to_vote,
            now,
            ballot_id=ballot.id,
        )
    except DeliberationError:
        await session.execute(
            delete(Ballot).where(Ballot.id == ballot.id, Ballot.status == BallotStatus.draft)
        )
        await session.commit()
        raise
    entry_id = await log.append(
        session,
        item.community_id,
        "amendment.decided",
        _entry(item, amendment, Status.put_to_vote, ballot=ballot.number),
    )
    await _set_entry(session, amendment, entry_id)
    await _tell(session, community, item, amendment, Status.put_to_vote, actor)
    await _finish(session, amendment)
    return ballot


@dataclass(frozen=True)
class Settled:
    status: Status
    reason: str | None
    entry_id: int


async def settle(
    session: AsyncSession,
    community: Community,
    item: AgendaItem,
    amendment: Amendment,
    actor: Account,
    now: datetime | None = None,
) -> Settled:
    """The chair applies a counted vote: passed, the amendment is accepted into the text (unless
    the text changed meanwhile or the item was decided: then it is rejected, saying why);
    failed, it is rejected."""
    now = now or utcnow()
    await _require_chair(session, item.community_id, actor)
    ballot = None if amendment.ballot_id is None else await session.get(Ballot, amendment.ballot_id)
    try:
        status, reason = rules.settle_outcome(
            status=amendment.status,
            ballot_counted=ballot_counted(ballot),
            passed=ballot is not None and ballot_passed(ballot),
            item_status=item.status,
            base_revision=amendment.base_revision,
            item_revision=item.revision,
        )
    except AmendmentRefused as error:
        raise _refused(error, item) from None
    assert ballot is not None
    if status == Status.accepted:
        entry_id = await _apply(
            session, item, amendment, actor, Status.put_to_vote, now, ballot=ballot.number
        )
    else:
        # a vote's outcome carries a reason code, not a person's words (see the pages)
        await _decide(
            session, item, amendment, actor, Status.put_to_vote, Status.rejected, now, reason
        )
        entry_id = await log.append(
            session,
            item.community_id,
            "amendment.decided",
            _entry(item, amendment, Status.rejected, ballot=ballot.number),
        )
        await _set_entry(session, amendment, entry_id)
    await _tell(session, community, item, amendment, status, actor)
    await _finish(session, item, amendment)
    return Settled(status, reason, entry_id)
