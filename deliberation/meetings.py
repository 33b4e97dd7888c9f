"""Meetings convened by the chair, and the rule that decides what a meeting voted.

A residents' meeting (居民会议) is valid when more than half of those entitled to attend are
present (adult residents, or household representatives); an item passes with a majority of
those present, so abstaining and staying silent both count against it. The same headcount rule
serves an owners' meeting or a council meeting held in the room; a decision that the Civil Code
reserves to owners by floor area is taken by a ballot, not recorded here.

The rule's thresholds are data (``MeetingRule``), and every check is a plain function over plain
numbers, tested directly.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Final

from deliberation.items import Outcome, Status
from deliberation.text import BODY_MAX, TITLE_MAX

PLACE_MAX: Final = 120
MINUTES_MAX: Final = BODY_MAX
AGENDA_MAX: Final = 30  # items on one meeting's agenda
COUNT_MAX: Final = 1_000_000  # more people than any community has: a typing slip
CONVENE_AHEAD_MAX: Final = timedelta(days=366)
# Items a meeting may take up: accepted onto the agenda and not yet decided.
AGENDA_STATUSES: Final = frozenset({Status.on_agenda, Status.consultation, Status.deciding})


class Kind(enum.StrEnum):
    residents = "residents"  # 居民会议
    owners = "owners"  # 业主大会
    council = "council"  # 居民议事会 / committee


class MeetingStatus(enum.StrEnum):
    convened = "convened"
    held = "held"  # attendance, votes and minutes recorded
    cancelled = "cancelled"


@dataclass(frozen=True)
class MeetingRule:
    """More than ``quorum`` of those entitled present; an item passes with more than ``majority``
    of those present voting for it."""

    quorum: Fraction
    majority: Fraction

    def to_dict(self) -> dict[str, str]:
        return {"quorum": str(self.quorum), "majority": str(self.majority)}


RESIDENTS_MEETING: Final = MeetingRule(quorum=Fraction(1, 2), majority=Fraction(1, 2))


@dataclass(frozen=True)
class Problem:
    """Something wrong with a meeting's notice or record: ``code`` is stable (pages word it),
    ``field`` names the form input, ``details`` fill in the message."""

    code: str
    field: str
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Vote:
    """The count of one agenda item's vote at the meeting."""

    item: int
    for_: int
    against: int
    abstain: int


def quorate(attendance: int, eligible: int, rule: MeetingRule = RESIDENTS_MEETING) -> bool:
    """Whether enough of those entitled came for the meeting to decide anything."""
    return eligible > 0 and attendance > rule.quorum * eligible


def passes(votes_for: int, present: int, rule: MeetingRule = RESIDENTS_MEETING) -> bool:
    """A majority of those present, not of those who voted: abstentions count against."""
    return present > 0 and votes_for > rule.majority * present


def outcome(
    attendance: int, eligible: int, vote: Vote, rule: MeetingRule = RESIDENTS_MEETING
) -> Outcome:
    """Adopted only by a quorate meeting with a majority of those present for it."""
    if quorate(attendance, eligible, rule) and passes(vote.for_, attendance, rule):
        return Outcome.adopted
    return Outcome.rejected


def check_notice(
    title: str,
    kind: str,
    place: str,
    starts_at: datetime | None,
    agenda: list[int],
    now: datetime,
) -> list[Problem]:
    """What keeps a meeting from being convened. Text has already been through
    ``deliberation.text`` (empty means missing); the agenda is item numbers."""
    found = []
    if not title:
        found.append(Problem("empty", "title"))
    elif len(title) > TITLE_MAX:
        found.append(Problem("too_long", "title", {"limit": TITLE_MAX}))
    if kind not in Kind.__members__:
        found.append(Problem("unknown_kind", "kind"))
    if not place:
        found.append(Problem("empty", "place"))
    elif len(place) > PLACE_MAX:
        found.append(Problem("too_long", "place", {"limit": PLACE_MAX}))
    if starts_at is None:
        found.append(Problem("bad_time", "starts_at"))
    elif starts_at <= now:
        found.append(Problem("in_the_past", "starts_at"))
    elif starts_at - now > CONVENE_AHEAD_MAX:
        found.append(Problem("too_far_ahead", "starts_at", {"days": CONVENE_AHEAD_MAX.days}))
    if len(agenda) > AGENDA_MAX:
        found.append(Problem("agenda_too_long", "agenda", {"limit": AGENDA_MAX}))
    if len(set(agenda)) != len(agenda):
        found.append(Problem("agenda_repeated", "agenda"))
    return found


def check_record(
    attendance: int | None,
    eligible: int | None,
    votes: dict[int, tuple[int | None, int | None, int | None]],
) -> list[Problem]:
    """What is wrong with a meeting's recorded attendance and votes. ``votes`` maps each agenda
    item to its (for, against, abstain) as entered; all three missing means no vote was taken
    on that item. Fields are named ``attendance``, ``eligible`` and ``v<item>-for`` etc."""
    found = []
    for name, value in (("eligible", eligible), ("attendance", attendance)):
        if value is None:
            found.append(Problem("not_a_number", name))
        elif value < 0:
            found.append(Problem("negative", name))
        elif value > COUNT_MAX:
            found.append(Problem("too_large", name, {"limit": COUNT_MAX}))
    if eligible is not None and eligible == 0:
        found.append(Problem("no_one_eligible", "eligible"))
    counts_ok = not found
    if counts_ok and attendance is not None and eligible is not None and attendance > eligible:
        found.append(
            Problem("more_present_than_eligible", "attendance", {"a": attendance, "e": eligible})
        )
    for item, counts in votes.items():
        if all(c is None for c in counts):
            continue  # no vote taken on this item
        bad = False
        for side, value in zip(("for", "against", "abstain"), counts, strict=True):
            name = f"v{item}-{side}"
            if value is None:
                found.append(Problem("not_a_number", name, {"item": item}))
                bad = True
            elif value < 0:
                found.append(Problem("negative", name, {"item": item}))
                bad = True
            elif value > COUNT_MAX:
                found.append(Problem("too_large", name, {"item": item, "limit": COUNT_MAX}))
                bad = True
        if bad or attendance is None or attendance < 0:
            continue
        total = sum(c for c in counts if c is not None)
        if total > attendance:
            found.append(
                Problem(
                    "more_votes_than_present",
                    f"v{item}-for",
                    {"item": item, "votes": total, "a": attendance},
                )
            )
    return found


def votes_record(
    attendance: int, eligible: int, votes: list[Vote], rule: MeetingRule = RESIDENTS_MEETING
) -> list[dict[str, Any]]:
    """The votes as stored and logged, each with the outcome the rule gives it."""
    return [
        {
            "item": v.item,
            "for": v.for_,
            "against": v.against,
            "abstain": v.abstain,
            "outcome": str(outcome(attendance, eligible, v, rule)),
        }
        for v in votes
    ]
