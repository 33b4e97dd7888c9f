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
