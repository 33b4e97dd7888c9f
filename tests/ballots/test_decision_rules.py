"""Decision rules: thresholds as data, exact boundaries, and the art. 278 counting rules."""

import json
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ballots.methods import BallotInvalid
from ballots.rules import (
    Roll,
    Rule,
    Vote,
    civil_code_278,
    consultation,
    decide,
    residents_meeting,
)

# 30 owners with 10 m² each: 2/3 is 20 heads and 200 m², 3/4 of 20 is 15, 1/2 of 20 is 10.
ROLL = Roll(total_area=Decimal(300), total_heads=30)


def owners(yes: int, no: int = 0, abstain: int = 0, area: str = "10") -> list[Vote]:
    choices = ["yes"] * yes + ["no"] * no + ["abstain"] * abstain
    return [Vote(f"o{i}", (f"u{i}",), Decimal(area), c) for i, c in enumerate(choices)]


def check(decision, code):
    return next(c for c in decision.thresholds if c.threshold.code == code)


def test_rules_round_trip_through_json() -> None:
    for rule in (
        consultation(),
        residents_meeting(),
        *(civil_code_278(m, v) for m in ("ordinary", "major") for v in ("2021", "pre2021")),
    ):
        data = json.loads(json.dumps(rule.to_dict()))
        assert Rule.from_dict(data) == rule
    major = civil_code_278("major").to_dict()
    assert major["params"] == {"matter": "major", "version": "2021"}
    assert [t["fraction"] for t in major["thresholds"]] == ["2/3", "2/3", "3/4", "3/4"]


def test_a_bad_threshold_is_refused() -> None:
    data = civil_code_278("major").to_dict()
    data["thresholds"][0]["base"] = "everyone"
    with pytest.raises(ValueError, match="threshold"):
        Rule.from_dict(data)
    data["thresholds"][0]["base"] = "roll"
    data["thresholds"][0]["fraction"] = "4/3"
    with pytest.raises(ValueError, match="threshold"):
        Rule.from_dict(data)


def test_no_such_rule() -> None:
    with pytest.raises(ValueError, match="278"):
        civil_code_278("urgent", "2021")  # type: ignore[arg-type]


def test_278_participation_exactly_two_thirds_is_valid() -> None:
    decision = decide(civil_code_278("ordinary"), owners(yes=11, no=9), ROLL)
    assert decision.valid and decision.passed
    assert check(decision, "participation_area").required == 200
    assert check(decision, "participation_heads").actual == 20


def test_278_participation_just_under_two_thirds_by_area_is_invalid() -> None:
    votes = [*owners(yes=11, no=8), Vote("o19", ("u19",), Decimal("9.99"), "yes")]
    decision = decide(civil_code_278("ordinary"), votes, ROLL)
    assert not decision.valid and not decision.passed
    assert decision.participating_area == Decimal("199.99")
    assert not check(decision, "participation_area").met
    assert check(decision, "participation_heads").met
    assert decision.reasons[-1].code == "quorum_not_met"


def test_278_participation_just_under_two_thirds_by_heads_is_invalid() -> None:
    votes = owners(yes=19, area="10.6")  # 201.4 m² but only 19 heads
    decision = decide(civil_code_278("ordinary"), votes, ROLL)
    assert not decision.valid and check(decision, "participation_area").met


def test_278_ordinary_exactly_half_fails_and_just_over_passes() -> None:
    half = decide(civil_code_278("ordinary"), owners(yes=10, no=10), ROLL)
    assert half.valid and not half.passed
    assert not check(half, "approval_heads").met and check(half, "approval_heads").required == 10
    assert half.reasons[-1].code == "rejected"
    # one more yes head but exactly half the area: area fails, so the motion fails
    votes = [*owners(yes=10, no=9), Vote("o19", ("u19",), Decimal(0), "yes")]
    votes[10] = Vote("o10", ("u10",), Decimal(20), "no")
    mixed = decide(civil_code_278("ordinary"), votes, ROLL)
    assert mixed.approving_heads == 11 and mixed.approving_area == 100
    assert mixed.participating_area == 200 and not mixed.passed
    over = decide(civil_code_278("ordinary"), owners(yes=11, no=9), ROLL)
    assert over.passed and over.reasons[-1].code == "passed"


def test_278_major_exactly_three_quarters_passes_just_under_fails() -> None:
    exact = decide(civil_code_278("major"), owners(yes=15, no=5), ROLL)
    assert exact.passed and check(exact, "approval_area").required == 150
    votes = owners(yes=15, no=5)
    votes[0] = Vote("o0", ("u0",), Decimal("9.99"), "yes")
    votes[19] = Vote("o19", ("u19",), Decimal("10.01"), "no")
    under = decide(civil_code_278("major"), votes, ROLL)
    assert under.participating_area == 200 and under.approving_area == Decimal("149.99")
    assert not under.passed and not check(under, "approval_area").met
    assert check(under, "approval_heads").met
    assert not decide(civil_code_278("major"), owners(yes=14, no=6), ROLL).passed


def test_abstentions_take_part_but_do_not_agree() -> None:
    decision = decide(civil_code_278("ordinary"), owners(yes=10, abstain=10), ROLL)
    assert decision.valid and not decision.passed
    assert decision.options["abstain"].heads == 10
    assert any(r.code == "abstentions" for r in decision.reasons)


def test_non_voters_are_never_counted_with_the_majority() -> None:
    # 20 of 30 vote (valid), 11 yes: passes on participants; the 10 silent owners count nowhere
    decision = decide(civil_code_278("ordinary"), owners(yes=11, no=9), ROLL)
    assert decision.approving_heads == 11
    turnout = decision.reasons[0]
    assert turnout.code == "turnout" and turnout.numbers["not_voting_heads"] == "10"
    # under the 2007 law the same votes fail: 11 of 30 heads is not more than half of all owners
    old = decide(civil_code_278("ordinary", "pre2021"), owners(yes=11, no=9), ROLL)
    assert old.valid and not old.passed
    assert check(old, "approval_heads").base_value == 30


def test_pre2021_measures_against_all_owners() -> None:
    ordinary = civil_code_278("ordinary", "pre2021")
    assert not decide(ordinary, owners(yes=15), ROLL).passed  # exactly half of all: not more
    assert decide(ordinary, owners(yes=16), ROLL).passed  # no participation quorum
    major = civil_code_278("major", "pre2021")
    exact = decide(major, owners(yes=20), ROLL)  # exactly 2/3 of all area and heads
    assert exact.passed and check(exact, "approval_area").required == 200
    assert not decide(major, owners(yes=19, no=11), ROLL).passed


def test_owner_of_several_units_counts_once_with_their_areas_added() -> None:
    votes = [
        Vote("zhang", ("1-101",), Decimal("87.35"), "yes"),
        Vote("zhang", ("1-102",), Decimal("60.10"), "yes"),
        Vote("li", ("2-201",), Decimal("95.20"), "no"),
        Vote("developer", ("9-101", "9-102", "9-103"), Decimal("300"), "no"),
    ]
    decision = decide(consultation(), votes, Roll(Decimal("1000"), 10))
    assert decision.options["yes"].heads == 1 and decision.options["yes"].area == Decimal("147.45")
    assert decision.options["no"].heads == 2 and decision.options["no"].area == Decimal("395.20")
    assert decision.participating_heads == 3


def test_a_head_cannot_split_its_units() -> None:
    votes = [
        Vote("zhang", ("1-101",), Decimal(80), "yes"),
        Vote("zhang", ("1-102",), Decimal(60), "no"),
    ]
    with pytest.raises(BallotInvalid) as excinfo:
        decide(consultation(), votes, ROLL)
    assert excinfo.value.code == "conflicting_choices"


def test_a_unit_votes_once() -> None:
    votes = [
        Vote("zhang", ("1-101",), Decimal(80), "yes"),
        Vote("wang", ("1-101",), Decimal(80), "yes"),  # co-owner voting again
    ]
    with pytest.raises(BallotInvalid) as excinfo:
        decide(consultation(), votes, ROLL)
    assert excinfo.value.code == "duplicate_unit"


@pytest.mark.parametrize(
    ("vote", "code"),
    [
        (Vote("a", (), Decimal(1), "maybe"), "unknown_option"),
        (Vote("a", (), Decimal(-1), "yes"), "invalid_area"),
        (Vote("a", (), Decimal("NaN"), "yes"), "invalid_area"),
        (Vote("a", (), 1.5, "yes"), "invalid_area"),  # type: ignore[arg-type]
    ],
)
def test_bad_votes_are_refused(vote, code) -> None:
    with pytest.raises(BallotInvalid) as excinfo:
        decide(consultation(), [vote], ROLL)
    assert excinfo.value.code == code


def test_votes_beyond_the_roll_are_an_error() -> None:
    with pytest.raises(ValueError, match="roll"):
        decide(consultation(), owners(yes=31), ROLL)
    with pytest.raises(ValueError, match="roll"):
        decide(consultation(), owners(yes=1), Roll(Decimal(0), 0))
    with pytest.raises(ValueError, match="present"):
        decide(residents_meeting(), owners(yes=3), ROLL, present=2)


def test_consultation_is_a_majority_of_yes_and_no() -> None:
    tie = decide(consultation(), owners(yes=3, no=3, abstain=10), ROLL)
    assert tie.valid and not tie.passed
    assert check(tie, "majority_heads").required == 3
    passed = decide(consultation(), owners(yes=4, no=3, abstain=20), ROLL)
    assert passed.passed  # abstentions do not count against it
    assert decide(consultation(), [], ROLL).passed is False


def test_residents_meeting_quorum_and_majority_of_those_present() -> None:
    rule = residents_meeting()
    half = decide(rule, owners(yes=15, area="0"), ROLL)
    assert not half.valid  # exactly half present is not more than half
    present = decide(rule, owners(yes=8, no=5), ROLL, present=16)
    assert present.valid and not present.passed  # 8 of 16 present is not a majority
    assert present.participating_heads == 16 and check(present, "approval_heads").required == 8
    assert decide(rule, owners(yes=9, no=5), ROLL, present=16).passed


def test_reasons_carry_exact_numbers() -> None:
    decision = decide(
        civil_code_278("major"), owners(yes=15, no=5, area="10.01"), Roll(Decimal(299), 30)
    )
    reason = next(r for r in decision.reasons if r.code.startswith("approval_area"))
    assert reason.code == "approval_area_met"
    assert reason.numbers == {
        "actual": "150.15",
        "required": "150.15",
        "fraction": "3/4",
        "strict": "false",
        "base": "200.20",
    }
    quorum = next(r for r in decision.reasons if r.code.startswith("participation_area"))
    assert quorum.numbers["required"] == "598/3"  # 2/3 of 299 does not terminate


@given(
    st.integers(0, 40),
    st.integers(0, 40),
    st.integers(0, 40),
    st.integers(1, 60),
    st.sampled_from(["ordinary", "major"]),
)
def test_278_decision_is_the_law_in_integers(yes, no, abstain, extra, matter) -> None:
    # reference arithmetic with integers only: cross-multiply instead of dividing
    heads = yes + no + abstain
    roll = Roll(Decimal(10 * (heads + extra)), heads + extra)
    decision = decide(civil_code_278(matter), owners(yes, no, abstain), roll)
    valid = 3 * heads >= 2 * roll.total_heads
    agree = 4 * yes >= 3 * heads if matter == "major" else 2 * yes > heads
    assert decision.valid == valid
    assert decision.passed == (valid and agree)
    assert Fraction(decision.approving_area) == 10 * yes
