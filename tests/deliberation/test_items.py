"""An item's life cycle as data: which action moves which status, who takes it, the co-signing
threshold and when a consultation takes comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deliberation.items import (
    AUTHOR,
    CHAIR,
    SYSTEM,
    TRANSITIONS,
    Status,
    TransitionRefused,
    consultation_open,
    cosign_threshold,
    transition,
)

# The whole graph, written out once more by hand: a changed transition must change this test.
EXPECTED = {
    ("publish", "draft"): ("collecting", AUTHOR),
    ("threshold_reached", "collecting"): ("submitted", SYSTEM),
    ("decline", "collecting"): ("declined", CHAIR),
    ("decline", "submitted"): ("declined", CHAIR),
    ("accept", "submitted"): ("on_agenda", CHAIR),
    ("open_consultation", "on_agenda"): ("consultation", CHAIR),
    ("close_consultation", "consultation"): ("deciding", CHAIR),
    ("decide", "deciding"): ("decided", CHAIR),
    ("progress", "decided"): ("implementing", CHAIR),
    ("progress", "implementing"): ("implementing", CHAIR),
    ("close", "decided"): ("closed", CHAIR),
    ("close", "implementing"): ("closed", CHAIR),
}


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
@pytest.mark.parametrize("status", [s.value for s in Status])
def test_every_action_from_every_status(action: str, status: str) -> None:
    expected = EXPECTED.get((action, status))
    if expected is None:
        with pytest.raises(TransitionRefused) as refused:
            transition(action, status)
        assert (refused.value.action, refused.value.status) == (action, status)
    else:
        found = transition(action, status)
        assert (found.target.value, found.by) == expected


def test_unknown_actions_and_statuses_are_refused() -> None:
    with pytest.raises(TransitionRefused):
        transition("reopen", "closed")
    with pytest.raises(ValueError):
        transition("publish", "archived")


def test_every_status_is_reachable_from_a_draft() -> None:
    reached = {Status.draft}
    changed = True
    while changed:
        changed = False
        for t in TRANSITIONS.values():
            if t.sources & reached and t.target not in reached:
                reached.add(t.target)
                changed = True
    assert reached == set(Status)


def test_declined_and_closed_are_the_ends() -> None:
    for end in (Status.declined, Status.closed):
        assert not any(end in t.sources for t in TRANSITIONS.values())


@pytest.mark.parametrize(
    ("residents", "permille", "households", "expected"),
    [
        (20, 0, 3880, 20),  # a fixed number of residents
        (20, 10, 3880, 39),  # 1 % of 3,880 households is 38.8: rounded up
        (20, 10, 1000, 20),  # the larger of the two
        (0, 0, 0, 1),  # never less than one
        (0, 10, 1, 1),
        (5, 1000, 4, 5),
        (2, 1000, 4, 4),
    ],
)
def test_cosign_threshold(residents: int, permille: int, households: int, expected: int) -> None:
    assert cosign_threshold(residents, permille, households) == expected


def test_consultation_open_only_within_its_dates_and_status() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    opens, closes = now - timedelta(days=1), now + timedelta(days=1)
    assert consultation_open("consultation", opens, closes, now)
    assert consultation_open("consultation", now, closes, now)  # from the opening moment
    assert not consultation_open("consultation", opens, now, now)  # not at the closing moment
    assert not consultation_open("consultation", now + timedelta(seconds=1), closes, now)
    assert not consultation_open("deciding", opens, closes, now)
    assert not consultation_open("consultation", None, closes, now)
    assert not consultation_open("consultation", opens, None, now)
