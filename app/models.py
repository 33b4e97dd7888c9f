"""Tables of the application: communities, the register, accounts and roles.

Every domain row carries ``community_id`` and every uniqueness rule includes it, so that the data
can be distributed by community and one community's rows never collide with another's.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    LargeBinary,
    Numeric,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

# Constraint names are stable so that migrations can refer to them on every database.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=DateTimeUTC(timezone=True), **kwargs)


class Relation(enum.StrEnum):
    """How a person is linked to a unit in the register."""

    owner = "owner"
    co_owner = "co_owner"
    tenant = "tenant"
    family = "family"


OWNING_RELATIONS = frozenset({Relation.owner, Relation.co_owner})


class Role(enum.StrEnum):
    """Roles within one community. Resident and owner are derived from the register."""

    resident = "resident"
    owner = "owner"
    grid_member = "grid_member"
    chair = "chair"
    auditor = "auditor"
    admin = "admin"


GRANTED_ROLES = (Role.grid_member, Role.chair, Role.auditor, Role.admin)


class Community(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=100)
    address: str = Field(default="", max_length=200)
    # How many of the community's witnesses must cosign a checkpoint for it to count.
    witness_quorum: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = _utc(default_factory=utcnow)


class Grid(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("community_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    number: int
    name: str = Field(max_length=50)


class Building(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("community_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    grid_id: int = Field(foreign_key="grid.id", index=True)
    number: str = Field(max_length=20)


class Unit(SQLModel, table=True):
    """A dwelling (户) with its exclusive floor area as in the property register."""

    __table_args__ = (
        UniqueConstraint("community_id", "building_id", "entrance", "number"),
        CheckConstraint("floor_area > 0", name="floor_area_positive"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    building_id: int = Field(foreign_key="building.id", index=True)
    entrance: str = Field(max_length=10)
    number: str = Field(max_length=20)
    floor_area: Decimal = Field(sa_column=Column(Numeric(10, 2), nullable=False))


class Person(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("community_id", "ref"),
        UniqueConstraint("community_id", "phone"),
        UniqueConstraint("community_id", "account_id"),
        Index("ix_person_community_id_name", "community_id", "name"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    # The residents' committee's own reference for the person; the import matches people on it.
    ref: str = Field(max_length=40)
    name: str = Field(max_length=60)
    phone: str | None = Field(default=None, max_length=11)
    birth_year: int | None = None
    # An organisation (the developer holding unsold units) counts as one owner.
    is_organisation: bool = False
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)


class UnitLink(SQLModel, table=True):
    """A person's link to a unit: owner, co-owner, tenant or family member, with dates."""

    __tablename__ = "unit_link"
    __table_args__ = (UniqueConstraint("community_id", "unit_id", "person_id", "relation"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    relation: str = Field(max_length=10)
    since: date | None = None
    until: date | None = None
    # The household's representative where a decision counts one voice per household.
    is_representative: bool = False


class Account(SQLModel, table=True):
    """A sign-in identity. A person of any community may be linked to it."""

    id: int | None = Field(default=None, primary_key=True)
    username: str | None = Field(default=None, max_length=40, unique=True)
    phone: str | None = Field(default=None, max_length=11, unique=True)
    display_name: str = Field(max_length=60)
    email: str | None = Field(default=None, max_length=200)  # for notices, if the person wants them
    password_hash: str = Field(max_length=200)
    is_active: bool = True
    created_at: datetime = _utc(default_factory=utcnow)
    password_changed_at: datetime = _utc(default_factory=utcnow)
    last_sign_in_at: datetime | None = _utc(default=None)


class RoleGrant(SQLModel, table=True):
    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("community_id", "account_id", "role", "grid_id"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    role: str = Field(max_length=20)
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    granted_at: datetime = _utc(default_factory=utcnow)
    granted_by: int | None = Field(default=None, foreign_key="account.id")


class ActivationCode(SQLModel, table=True):
    """A one-time code printed on an invitation letter; only its keyed hash is stored."""

    __tablename__ = "activation_code"
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _utc(default_factory=utcnow)
    expires_at: datetime = _utc()
    used_at: datetime | None = _utc(default=None)


class RegisterChange(SQLModel, table=True):
    """Who changed what in the register, and when."""

    __tablename__ = "register_change"
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="account.id")
    at: datetime = _utc(default_factory=utcnow, index=True)
    entity: str = Field(max_length=20)
    entity_id: int
    action: str = Field(max_length=20)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# ---------------------------------------------------------------- the public log (audit/)


class CommunityKey(SQLModel, table=True):
    """The community's log signing key; the private part is encrypted with the app secret.

    The first key is the log's trust anchor. A later key takes over once the ``key.rotated``
    entry announcing it (signed by the old key) is in the log."""

    __tablename__ = "community_key"
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    vkey: str = Field(max_length=200)
    skey_encrypted: str = Field(max_length=400)
    rotation_entry_id: int | None = Field(default=None, foreign_key="log_entry.id")
    created_at: datetime = _utc(default_factory=utcnow)


class LogEntry(SQLModel, table=True):
    """One entry of a community's log. Written pending (no ``seq``) in the transaction of the
    action it records; the sequencer later gives it its place, time and canonical bytes."""

    __tablename__ = "log_entry"
    __table_args__ = (
        # Also serves the sequencer's search for pending entries (seq IS NULL).
        UniqueConstraint("community_id", "seq"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    type: str = Field(max_length=40, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc(default_factory=utcnow)
    seq: int | None = None
    t: int | None = Field(default=None, sa_type=BigInteger)
    line: str | None = Field(default=None, sa_type=Text)
    leaf_hash: bytes | None = Field(default=None, sa_type=LargeBinary(32))


class LogNode(SQLModel, table=True):
    """A perfect subtree of a community's Merkle tree: level L, index i covers the leaves
    i·2^L … (i+1)·2^L − 1. Inclusion and consistency proofs read O(log n) of these."""

    __tablename__ = "log_node"
    community_id: int = Field(foreign_key="community.id", primary_key=True)
    level: int = Field(primary_key=True)
    idx: int = Field(primary_key=True, sa_type=BigInteger)
    hash: bytes = Field(sa_type=LargeBinary(32))


class LogHead(SQLModel, table=True):
    """The integrated size of a community's log; its row is the sequencer's lock."""

    __tablename__ = "log_head"
    community_id: int = Field(foreign_key="community.id", primary_key=True)
    size: int = 0
    t_last: int = Field(default=0, sa_type=BigInteger)
    root: bytes = Field(sa_type=LargeBinary(32))


class SignedCheckpoint(SQLModel, table=True):
    __tablename__ = "checkpoint"
    __table_args__ = (UniqueConstraint("community_id", "size"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    size: int
    root: bytes = Field(sa_type=LargeBinary(32))
    note: str = Field(sa_type=Text)
    created_at: datetime = _utc(default_factory=utcnow)


class Witness(SQLModel, table=True):
    """A witness that cosigns this community's checkpoints (C2SP tlog-witness)."""

    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    name: str = Field(max_length=200)
    vkey: str = Field(max_length=300)
    url: str = Field(max_length=300)  # the submission prefix; add-checkpoint is under it
    last_size: int = 0  # the size the witness last cosigned, as it told us
    created_at: datetime = _utc(default_factory=utcnow)


class Cosignature(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("checkpoint_id", "witness_id"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    checkpoint_id: int = Field(foreign_key="checkpoint.id", index=True)
    witness_id: int = Field(foreign_key="witness.id")
    line: str = Field(max_length=400)  # the note signature line, as the witness returned it
    created_at: datetime = _utc(default_factory=utcnow)


# ---------------------------------------------------------------- ballots (ballots/)


class BallotStatus(enum.StrEnum):
    draft = "draft"
    open = "open"  # frozen and logged; casting within the definition's window
    closed = "closed"  # no more casting; the tally is being computed
    tallied = "tallied"  # preliminary result, open to objections
    final = "final"


class Ballot(SQLModel, table=True):
    """A ballot: its definition (``ballots.ballot.Definition`` as a dict), frozen when opened.

    ``number`` names it in the log and in URLs; the opening, closing and tally entries are kept
    so pages can link to them."""

    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        Index("ix_ballot_status_closes_at", "status", "closes_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    number: int
    title: str = Field(max_length=200)
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default=BallotStatus.draft, max_length=10)
    revision: int = 1  # bumped by every edit of a draft; a stale form is refused
    created_by: int = Field(foreign_key="account.id")
    created_at: datetime = _utc(default_factory=utcnow)
    opens_at: datetime | None = _utc(default=None)
    closes_at: datetime | None = _utc(default=None)
    opened_at: datetime | None = _utc(default=None)
    opened_entry_id: int | None = Field(default=None, foreign_key="log_entry.id")
    roll_digest: str | None = Field(default=None, max_length=64)
    roll_size: int | None = None
    closed_at: datetime | None = _utc(default=None)
    closed_by: int | None = Field(default=None, foreign_key="account.id")
    closed_entry_id: int | None = Field(default=None, foreign_key="log_entry.id")
    tally: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    tally_entry_id: int | None = Field(default=None, foreign_key="log_entry.id")
    objection_until: datetime | None = _utc(default=None)
    final_entry_id: int | None = Field(default=None, foreign_key="log_entry.id")


class BallotElector(SQLModel, table=True):
    """One elector of a ballot's frozen roll (``ballots.ballot.Elector``)."""

    __tablename__ = "ballot_elector"
    ballot_id: int = Field(foreign_key="ballot.id", primary_key=True)
    code: str = Field(max_length=60, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    units: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    area: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    building: str = Field(max_length=20)
    grid: str = Field(max_length=50)
    grid_id: int | None = Field(default=None, foreign_key="grid.id")


class BallotCaster(SQLModel, table=True):
    """Who may cast for an elector: the unit's owners, the household, or the person."""

    __tablename__ = "ballot_caster"
    __table_args__ = (Index("ix_ballot_caster_ballot_id_code", "ballot_id", "code"),)
    ballot_id: int = Field(foreign_key="ballot.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    code: str = Field(max_length=60, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)


class BallotParticipation(SQLModel, table=True):
    """This elector took part, and how. Its key is the only way to find a row: no id, no time,
    and on SQLite no rowid, so nothing orders it against the anonymous ``ballot.cast`` entries of
    a secret ballot. ``entry_id`` (roll-call only) is the elector's latest cast."""

    __tablename__ = "ballot_participation"
    __table_args__ = {"sqlite_with_rowid": False}
    ballot_id: int = Field(foreign_key="ballot.id", primary_key=True)
    elector: str = Field(max_length=60, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    channel: str = Field(max_length=10)
    via_proxy: bool = False
    entry_id: int | None = Field(default=None, foreign_key="log_entry.id")


class BallotProxy(SQLModel, table=True):
    """A proxy (委托): ``principal`` lets the holder cast for them. ``slot`` counts the holder's
    proxies from 1, so a unique key enforces the limit even under concurrent grants."""

    __tablename__ = "ballot_proxy"
    __table_args__ = (
        UniqueConstraint("ballot_id", "principal"),
        UniqueConstraint("ballot_id", "holder_id", "slot"),
        UniqueConstraint("ballot_id", "serial"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    ballot_id: int = Field(foreign_key="ballot.id", index=True)
    principal: str = Field(max_length=60)
    holder_id: int = Field(foreign_key="person.id", index=True)
    slot: int
    serial: str | None = Field(default=None, max_length=40)  # the written form, if any
    entered_by: int | None = Field(default=None, foreign_key="account.id")
    entry_id: int | None = Field(default=None, foreign_key="log_entry.id")


class BallotPaper(SQLModel, table=True):
    """A paper form, by serial. With double entry the first grid member's reading waits here
    until a second grid member enters the same form, as a keyed digest (``reading``) of the
    serial, the voter and the answers: the answers themselves are never stored beside the
    voter, and the digest is dropped once the form is cast."""

    __tablename__ = "ballot_paper"
    # as for participation: no rowid, so insertion order does not follow the log's order
    __table_args__ = {"sqlite_with_rowid": False}
    ballot_id: int = Field(foreign_key="ballot.id", primary_key=True)
    serial: str = Field(max_length=40, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    elector: str = Field(max_length=60)
    reading: str | None = Field(default=None, max_length=64)
    first_by: int = Field(foreign_key="account.id")
    second_by: int | None = Field(default=None, foreign_key="account.id")
    counted: bool = False


# ---------------------------------------------------------------- deliberation (deliberation/)


class AgendaItem(SQLModel, table=True):
    """An agenda item (议题): drafted by a resident, co-signed, put on the agenda by the chair,
    consulted on, decided and implemented. ``status`` follows ``deliberation.items``;
    ``revision`` counts the body's versions (an amendment names the one it changes)."""

    __tablename__ = "agenda_item"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        Index("ix_agenda_item_community_id_status", "community_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    number: int
    title: str = Field(max_length=200)
    body: str = Field(sa_type=Text)  # Markdown source
    body_html: str = Field(sa_type=Text)  # rendered and sanitised when written
    revision: int = 1
    category: str = Field(max_length=20)
    scope_building_id: int | None = Field(default=None, foreign_key="building.id")
    scope_grid_id: int | None = Field(default=None, foreign_key="grid.id")
    author_id: int = Field(foreign_key="account.id", index=True)
    author_person_id: int | None = Field(default=None, foreign_key="person.id")
    status: str = Field(default="draft", max_length=20)
    cosign_threshold: int = 0  # fixed when published, from the community's setting
    cosign_count: int = 0
    declined_reason: str | None = Field(default=None, sa_type=Text)
    consultation_opens_at: datetime | None = _utc(default=None)
    consultation_closes_at: datetime | None = _utc(default=None)
    decision_ballot_id: int | None = Field(default=None, foreign_key="ballot.id")
    decision_meeting_id: int | None = Field(default=None, foreign_key="meeting.id")
    outcome: str | None = Field(default=None, max_length=20)  # adopted | rejected
    implementation: str | None = Field(default=None, max_length=20)  # in_progress|done|abandoned
    created_at: datetime = _utc(default_factory=utcnow)
    published_at: datetime | None = _utc(default=None)
    updated_at: datetime = _utc(default_factory=utcnow, index=True)


class DeliberationSettings(SQLModel, table=True):
    """A community's rules for agenda items: how much support puts an item before the chair."""

    __tablename__ = "deliberation_settings"
    community_id: int = Field(foreign_key="community.id", primary_key=True)
    cosign_residents: int = 20  # a fixed number of residents ...
    cosign_household_permille: int = 0  # ... or this share of households (10 = 1 %), if larger
    comments_per_hour: int = 20  # posting limit per account


class ItemRevision(SQLModel, table=True):
    """Each version of an item's text; an accepted amendment makes a new one."""

    __tablename__ = "item_revision"
    __table_args__ = (UniqueConstraint("item_id", "revision"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    item_id: int = Field(foreign_key="agenda_item.id", index=True)
    revision: int
    title: str = Field(max_length=200)
    body: str = Field(sa_type=Text)
    amendment_id: int | None = Field(default=None, foreign_key="amendment.id")
    created_by: int = Field(foreign_key="account.id")
    created_at: datetime = _utc(default_factory=utcnow)


class ItemAttachment(SQLModel, table=True):
    """An image or PDF attached to an item; its type is what its content says, not its name."""

    __tablename__ = "item_attachment"
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    item_id: int = Field(foreign_key="agenda_item.id", index=True)
    filename: str = Field(max_length=200)
    media_type: str = Field(max_length=40)
    size: int
    sha256: str = Field(max_length=64)
    data: bytes = Field(sa_type=LargeBinary)
    uploaded_by: int = Field(foreign_key="account.id")
    created_at: datetime = _utc(default_factory=utcnow)


class ItemCosign(SQLModel, table=True):
    """A resident's support (附议) for an item: one per person, never the author's own."""

    __tablename__ = "item_cosign"
    item_id: int = Field(foreign_key="agenda_item.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    created_at: datetime = _utc(default_factory=utcnow)


class ItemEvent(SQLModel, table=True):
    """One step of an item's history (a transition or a progress post), with its log entry."""

    __tablename__ = "item_event"
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    item_id: int = Field(foreign_key="agenda_item.id", index=True)
    action: str = Field(max_length=30)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    note: str | None = Field(default=None, sa_type=Text)  # reason or progress post (Markdown)
    note_html: str | None = Field(default=None, sa_type=Text)
    actor_id: int | None = Field(default=None, foreign_key="account.id")
    entry_id: int | None = Field(default=None, foreign_key="log_entry.id")
    created_at: datetime = _utc(default_factory=utcnow)


class ItemFollow(SQLModel, table=True):
    """Who hears about an item's changes: its author, co-signers, commenters and followers."""

    __tablename__ = "item_follow"
    item_id: int = Field(foreign_key="agenda_item.id", primary_key=True)
    account_id: int = Field(foreign_key="account.id", primary_key=True, index=True)
    community_id: int = Field(foreign_key="community.id", index=True)


class Comment(SQLModel, table=True):
    """A comment in an item's consultation. ``path`` is the zero-padded ids from the thread's
    root down to this comment, so one ordered query reads a whole tree."""

    __table_args__ = (
        Index("ix_comment_item_id_path", "item_id", "path"),
        Index("ix_comment_author_id_created_at", "author_id", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    item_id: int = Field(foreign_key="agenda_item.id")
    parent_id: int | None = Field(default=None, foreign_key="comment.id", index=True)
    path: str = Field(default="", max_length=1000)
    depth: int = 0
    author_id: int = Field(foreign_key="account.id")
    body: str = Field(sa_type=Text)  # Markdown source
    body_html: str = Field(sa_type=Text)  # rendered and sanitised when written
    revision: int = 1
    agree_count: int = 0
    disagree_count: int = 0
    question_count: int = 0
    hidden_reason: str | None = Field(default=None, max_length=30)
    hidden_by: int | None = Field(default=None, foreign_key="account.id")
    hidden_at: datetime | None = _utc(default=None)
    created_at: datetime = _utc(default_factory=utcnow)
    edited_at: datetime | None = _utc(default=None)


class CommentRevision(SQLModel, table=True):
    """An earlier text of an edited comment."""

    __tablename__ = "comment_revision"
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    comment_id: int = Field(foreign_key="comment.id", index=True)
    revision: int
    body: str = Field(sa_type=Text)
    created_at: datetime = _utc(default_factory=utcnow)


class CommentReaction(SQLModel, table=True):
    """One reaction per account and comment: agree, disagree or question."""

    __tablename__ = "comment_reaction"
    comment_id: int = Field(foreign_key="comment.id", primary_key=True)
    account_id: int = Field(foreign_key="account.id", primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    kind: str = Field(max_length=10)


class CommentReport(SQLModel, table=True):
    """A resident's report of a comment, for the moderators of its grid."""

    __tablename__ = "comment_report"
    __table_args__ = (UniqueConstraint("comment_id", "reporter_id"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    comment_id: int = Field(foreign_key="comment.id", index=True)
    reporter_id: int = Field(foreign_key="account.id")
    reason: str = Field(max_length=30)
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = _utc(default_factory=utcnow)
    resolved_at: datetime | None = _utc(default=None)
    resolved_by: int | None = Field(default=None, foreign_key="account.id")


class Amendment(SQLModel, table=True):
    """A proposed change to an item's text, against the revision it was written for."""

    __table_args__ = (UniqueConstraint("item_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    item_id: int = Field(foreign_key="agenda_item.id", index=True)
    number: int
    author_id: int = Field(foreign_key="account.id")
    base_revision: int
    body: str = Field(sa_type=Text)  # the whole proposed text
    rationale: str = Field(default="", sa_type=Text)
    status: str = Field(default="proposed", max_length=20)  # proposed|accepted|rejected|put_to_vote
    decided_by: int | None = Field(default=None, foreign_key="account.id")
    decided_at: datetime | None = _utc(default=None)
    decision_note: str | None = Field(default=None, sa_type=Text)
    ballot_id: int | None = Field(default=None, foreign_key="ballot.id")
    entry_id: int | None = Field(default=None, foreign_key="log_entry.id")
    created_at: datetime = _utc(default_factory=utcnow)


class ItemSummary(SQLModel, table=True):
    """The chair's summary of the arguments: ``points`` is a list of
    ``{"side": "for"|"against", "text": ..., "comments": [comment ids]}``."""

    __tablename__ = "item_summary"
    item_id: int = Field(foreign_key="agenda_item.id", primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    points: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    published_by: int = Field(foreign_key="account.id")
    published_at: datetime = _utc(default_factory=utcnow)
    entry_id: int | None = Field(default=None, foreign_key="log_entry.id")


class Meeting(SQLModel, table=True):
    """A meeting convened by the chair: where and when, its agenda, attendance and minutes."""

    __table_args__ = (UniqueConstraint("community_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    number: int
    title: str = Field(max_length=200)
    kind: str = Field(default="residents", max_length=20)  # residents | owners | council
    place: str = Field(max_length=200)
    starts_at: datetime = _utc()
    agenda: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="convened", max_length=20)  # convened | held | cancelled
    attendance: int | None = None  # people present
    eligible: int | None = None  # of how many entitled to attend
    # the votes taken, per agenda item: {"item": n, "for": a, "against": b, "abstain": c, "outcome"}
    votes: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    minutes: str | None = Field(default=None, sa_type=Text)
    minutes_html: str | None = Field(default=None, sa_type=Text)
    convened_by: int = Field(foreign_key="account.id")
    convened_entry_id: int | None = Field(default=None, foreign_key="log_entry.id")
    minutes_entry_id: int | None = Field(default=None, foreign_key="log_entry.id")
    created_at: datetime = _utc(default_factory=utcnow)


class Notification(SQLModel, table=True):
    """An in-app notice for one account. ``kind`` and ``params`` are rendered in the reader's
    language when shown."""

    __table_args__ = (Index("ix_notification_account_id_read_at", "account_id", "read_at"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    account_id: int = Field(foreign_key="account.id")
    kind: str = Field(max_length=30)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    link: str = Field(max_length=300)
    created_at: datetime = _utc(default_factory=utcnow)
    read_at: datetime | None = _utc(default=None)


class NotificationPreference(SQLModel, table=True):
    """Whether an account receives a kind of notice on a channel (in-app, e-mail, SMS)."""

    __tablename__ = "notification_preference"
    account_id: int = Field(foreign_key="account.id", primary_key=True)
    kind: str = Field(max_length=30, primary_key=True)
    channel: str = Field(max_length=10, primary_key=True)
    enabled: bool


class OutboxMessage(SQLModel, table=True):
    """An e-mail or SMS waiting for the sender, written in the same transaction as its cause."""

    __tablename__ = "outbox_message"
    # the claim: unsent, due, lease expired (app/notify.py)
    __table_args__ = (
        Index("ix_outbox_message_sent_at_next_attempt_at", "sent_at", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    account_id: int = Field(foreign_key="account.id")
    channel: str = Field(max_length=10)  # email | sms
    address: str = Field(max_length=200)
    subject: str = Field(max_length=200)
    body: str = Field(sa_type=Text)
    created_at: datetime = _utc(default_factory=utcnow)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = _utc(default=None)
    next_attempt_at: datetime = _utc(default_factory=utcnow)  # due from then (backoff)
    claimed_until: datetime | None = _utc(default=None)  # a sender's lease while it sends
