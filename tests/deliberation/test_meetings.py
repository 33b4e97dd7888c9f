"""The meeting rule and the checks of a meeting's notice and record, as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from deliberation.items import Outcome
from deliberation.meetings import (
    AGENDA_MAX,
    COUNT_MAX,
    RESIDENTS_MEETING,
    MeetingRule,
    Vote,
    check_notice,
    check_record,
    outcome,
    passes,
    quorate,
    votes_record,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attendance", "eligible", "expected"),
    [
        (51, 100, True),
        (50, 100, False),  # exactly half is not more than half
        (3, 5, True),
        (2, 5, False),
        (1, 1, True),
        (0, 1, False),
        (0, 0, False),  # nobody entitled: nothing can be decided
    ],
)
def test_quorum_is_more_than_half_of_those_entitled(
    attendance: int, eligible: int, expected: bool
) -> None:
    assert quorate(attendance, eligible) is expected


@pytest.mark.parametrize(
    ("votes_for", "present", "expected"),
    [(6, 10, True), (5, 10, False), (3, 5, True), (2, 5, False), (0, 0, False)],
)
def test_an_item_needs_a_majority_of_those_present(
    votes_for: int, present: int, expected: bool
) -> None:
    assert passes(votes_for, present) is expected


def test_abstentions_and_silence_count_against() -> None:
    # 5 for, 2 against: a majority of the votes cast, but not of the 11 present
    assert outcome(11, 20, Vote(1, 5, 2, 0)) == Outcome.rejected
    assert outcome(11, 20, Vote(1, 6, 2, 3)) == Outcome.adopted


def test_nothing_is_adopted_without_a_quorum() -> None:
    assert outcome(10, 20, Vote(1, 10, 0, 0)) == Outcome.rejected
    assert outcome(11, 20, Vote(1, 11, 0, 0)) == Outcome.adopted


def test_the_rule_is_data() -> None:
    assert RESIDENTS_MEETING.to_dict() == {"quorum": "1/2", "majority": "1/2"}
    two_thirds = MeetingRule(quorum=Fraction(2, 3), majority=Fraction(1, 2))
    assert quorate(7, 10, two_thirds) and not quorate(6, 10, two_thirds)
    assert outcome(7, 10, Vote(1, 4, 3, 0), two_thirds) == Outcome.adopted


def test_votes_record_gives_each_item_its_outcome() -> None:
    record = votes_record(30, 50, [Vote(3, 20, 5, 5), Vote(7, 10, 15, 5)])
    assert record == [
        {"item": 3, "for": 20, "against": 5, "abstain": 5, "outcome": "adopted"},
        {"item": 7, "for": 10, "against": 15, "abstain": 5, "outcome": "rejected"},
    ]
    assert all(type(v["outcome"]) is str for v in record)  # plain JSON for the log


def codes(found: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(p.code, p.field) for p in found]


def test_a_good_record_has_no_problems() -> None:
    assert check_record(30, 50, {3: (20, 5, 5), 7: (None, None, None)}) == []
    assert check_record(0, 50, {}) == []  # nobody came: recorded, decides nothing


def test_record_counts_must_be_numbers_and_not_negative() -> None:
    assert codes(check_record(None, 50, {})) == [("not_a_number", "attendance")]
    assert codes(check_record(10, -1, {})) == [("negative", "eligible")]
    assert codes(check_record(10, 50, {3: (5, -1, 0)})) == [("negative", "v3-against")]
    assert codes(check_record(10, 50, {3: (5, None, 0)})) == [("not_a_number", "v3-against")]
    assert codes(check_record(COUNT_MAX + 1, COUNT_MAX + 2, {})) == [
        ("too_large", "eligible"),
        ("too_large", "attendance"),
    ]


def test_no_more_present_than_entitled_and_no_more_votes_than_present() -> None:
    assert codes(check_record(51, 50, {})) == [("more_present_than_eligible", "attendance")]
    found = check_record(10, 50, {3: (5, 5, 1), 4: (10, 0, 0)})
    assert codes(found) == [("more_votes_than_present", "v3-for")]
    assert found[0].details == {"item": 3, "votes": 11, "a": 10}
    assert codes(check_record(1, 0, {})) == [("no_one_eligible", "eligible")]


def test_notice_checks() -> None:
    later = NOW + timedelta(days=3)
    assert check_notice("Parking", "residents", "Hall", later, [1, 2], NOW) == []
    assert codes(check_notice("", "residents", "", later, [], NOW)) == [
        ("empty", "title"),
        ("empty", "place"),
    ]
    assert codes(check_notice("x", "party", "Hall", later, [], NOW)) == [("unknown_kind", "kind")]
    assert codes(check_notice("x", "owners", "Hall", NOW, [], NOW)) == [
        ("in_the_past", "starts_at")
    ]
    assert codes(check_notice("x", "owners", "Hall", None, [], NOW)) == [("bad_time", "starts_at")]
    assert codes(check_notice("x", "council", "Hall", NOW + timedelta(days=400), [], NOW)) == [
        ("too_far_ahead", "starts_at")
    ]
    assert codes(check_notice("x", "council", "Hall", later, [1, 1], NOW)) == [
        ("agenda_repeated", "agenda")
    ]
    many = list(range(1, AGENDA_MAX + 2))
    assert codes(check_notice("x", "council", "Hall", later, many, NOW)) == [
        ("agenda_too_long", "agenda")
    ]
    assert codes(check_notice("x" * 121, "council", "p" * 121, later, [], NOW)) == [
        ("too_long", "title"),
        ("too_long", "place"),
    ]
