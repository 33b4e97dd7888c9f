"""An agenda item's life cycle, as data: its statuses, the actions that move it and who may
take them, the co-signing threshold and when its consultation takes comments.

    draft ──publish──▶ collecting ──(threshold reached)──▶ submitted ──accept──▶ on_agenda
                           │                                   │
                           └──────────────decline──────────────┴──▶ declined
    on_agenda ──open_consultation──▶ consultation ──close_consultation──▶ deciding
    deciding ──decide──▶ decided ──progress(in_progress)──▶ implementing
    decided | implementing ──progress(done | abandoned)──▶ closed;  decided(rejected) ──close──▶ closed
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Final


class Status(enum.StrEnum):
    draft = "draft"
    collecting = "collecting"  # published, gathering co-signatures (附议)
    submitted = "submitted"  # enough support: before the chair
    declined = "declined"
    on_agenda = "on_agenda"
    consultation = "consultation"
    deciding = "deciding"
    decided = "decided"
    implementing = "implementing"
    closed = "closed"


class Category(enum.StrEnum):
    parking = "parking"
    security = "security"
    greening = "greening"
    facilities = "facilities"
    budget = "budget"
    other = "other"


class Outcome(enum.StrEnum):
    adopted = "adopted"
    rejected = "rejected"


class Progress(enum.StrEnum):
    in_progress = "in_progress"
    done = "done"
    abandoned = "abandoned"


AUTHOR: Final = "author"
CHAIR: Final = "chair"
SYSTEM: Final = "system"  # the co-sign that reaches the threshold moves the item by itself


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[Status]
    target: Status
    by: str


TRANSITIONS: Final = {
    t.action: t
    for t in (
        Transition("publish", frozenset({Status.draft}), Status.collecting, AUTHOR),
        Transition("threshold_reached", frozenset({Status.collecting}), Status.submitted, SYSTEM),
        Transition(
            "decline", frozenset({Status.collecting, Status.submitted}), Status.declined, CHAIR
        ),
        Transition("accept", frozenset({Status.submitted}), Status.on_agenda, CHAIR),
        Transition("open_consultation", frozenset({Status.on_agenda}), Status.consultation, CHAIR),
        Transition("close_consultation", frozenset({Status.consultation}), Status.deciding, CHAIR),
        Transition("decide", frozenset({Status.deciding}), Status.decided, CHAIR),
        Transition(
            "progress", frozenset({Status.decided, Status.implementing}), Status.implementing, CHAIR
        ),
        Transition("close", frozenset({Status.decided, Status.implementing}), Status.closed, CHAIR),
    )
}


class TransitionRefused(ValueError):
    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"{action} is not possible from {status}")
        self.action = action
        self.status = status


def transition(action: str, status: str) -> Transition:
    """The transition ``action`` takes from ``status``, or ``TransitionRefused``."""
    found = TRANSITIONS.get(action)
    if found is None or Status(status) not in found.sources:
        raise TransitionRefused(action, status)
    return found


def cosign_threshold(residents: int, household_permille: int, households: int) -> int:
    """Support needed to put an item before the chair: the fixed number of residents, or the
    share of households if that is larger; never less than one."""
    by_households = math.ceil(households * household_permille / 1000)
    return max(1, residents, by_households)


def consultation_open(
    status: str, opens_at: datetime | None, closes_at: datetime | None, now: datetime
) -> bool:
    """Comments and amendments are taken while the consultation is open, within its dates."""
    return (
        status == Status.consultation
        and opens_at is not None
        and closes_at is not None
        and opens_at <= now < closes_at
    )


# The fixed reasons a moderator may give for hiding a comment.
MODERATION_REASONS: Final = (
    "personal_attack",  # insults, threats, harassment
    "private_data",  # someone's phone number, address, ID number
    "off_topic",
    "spam",  # advertising, repeated posts
    "illegal",  # content that breaks the law
)
REPORT_REASONS: Final = (*MODERATION_REASONS, "other")
REACTIONS: Final = ("agree", "disagree", "question")
