"""Validation, the seeded lot, and the single-round methods."""

import hashlib
from decimal import Decimal

import pytest

from ballots.methods import (
    BallotInvalid,
    TieBreak,
    check_approval,
    check_choice,
    check_ranking,
    check_weight,
    count_approval,
    count_single_choice,
    count_yes_no_abstain,
    lot_order,
)

OPTIONS = ("a", "b", "c", "d")


def codes(excinfo: pytest.ExceptionInfo[BallotInvalid]) -> tuple[str, dict[str, object]]:
    return excinfo.value.code, excinfo.value.details


def test_lot_order_is_sha256_of_seed_and_option() -> None:
    expected = sorted(OPTIONS, key=lambda o: hashlib.sha256(f"seed-1{o}".encode()).hexdigest())
    assert lot_order("seed-1", OPTIONS) == tuple(expected)
    assert lot_order("seed-1", reversed(OPTIONS)) == tuple(expected)
    assert lot_order("seed-1", OPTIONS) != lot_order("seed-2", OPTIONS)


@pytest.mark.parametrize(
    ("ranking", "code", "details"),
    [
        ((), "empty_ranking", {}),
        (("a", "b", "a"), "repeated_option", {"option": "a"}),
        (("a", "z"), "unknown_option", {"option": "z"}),
    ],
)
def test_bad_rankings_are_refused_with_a_code(ranking, code, details) -> None:
    with pytest.raises(BallotInvalid) as excinfo:
        check_ranking(ranking, OPTIONS)
    assert codes(excinfo) == (code, details)


def test_partial_ranking_is_fine() -> None:
    assert check_ranking(["c", "a"], OPTIONS) == ("c", "a")


@pytest.mark.parametrize(
    ("picks", "code", "details"),
    [
        ((), "empty_approval", {}),
        (("a", "a"), "repeated_option", {"option": "a"}),
        (("a", "z"), "unknown_option", {"option": "z"}),
        (("a", "b", "c"), "too_many_approvals", {"picks": 3, "max_picks": 2}),
    ],
)
def test_bad_approvals_are_refused_with_a_code(picks, code, details) -> None:
    with pytest.raises(BallotInvalid) as excinfo:
        check_approval(picks, OPTIONS, max_picks=2)
    assert codes(excinfo) == (code, details)


def test_approval_within_the_limit() -> None:
    assert check_approval(["b", "a"], OPTIONS, max_picks=2) == frozenset({"a", "b"})
    assert check_approval(OPTIONS, OPTIONS) == frozenset(OPTIONS)


def test_unknown_choice() -> None:
    with pytest.raises(BallotInvalid) as excinfo:
        check_choice("maybe", ("yes", "no", "abstain"))
    assert codes(excinfo) == ("unknown_option", {"option": "maybe"})


@pytest.mark.parametrize(
    "weight", [0, -1, Decimal("-0.01"), Decimal("NaN"), Decimal("Infinity"), 1.5, True, "3"]
)
def test_bad_weights_are_refused(weight) -> None:
    with pytest.raises(BallotInvalid) as excinfo:
        check_weight(weight)
    assert excinfo.value.code == "invalid_weight"


def test_yes_no_abstain_by_area() -> None:
    ballots = [
        ("yes", Decimal("87.35")),
        ("no", Decimal("60.1")),
        ("abstain", Decimal("45")),
        ("yes", 1),
    ]
    tally = count_yes_no_abstain(ballots)
    assert tally.counts == {"yes": Decimal("88.35"), "no": Decimal("60.1"), "abstain": 45}
    assert str(tally.counts["yes"]) == "88.35"
    assert tally.winners == ("yes",)
    assert tally.ballots == 4
    assert tally.total_weight == Decimal("193.45")


def test_yes_no_tie_has_no_winner_and_no_wins() -> None:
    assert count_yes_no_abstain([("yes", 1), ("no", 1)]).winners == ()
    assert count_yes_no_abstain([("yes", 1), ("no", 2)]).winners == ("no",)
    empty = count_yes_no_abstain([])
    assert empty.winners == () and empty.ballots == 0 and empty.total_weight == 0


def test_bad_ballot_anywhere_refuses_the_count() -> None:
    with pytest.raises(BallotInvalid):
        count_yes_no_abstain([("yes", 1), ("perhaps", 1)])
    with pytest.raises(BallotInvalid):
        count_yes_no_abstain([("yes", 0)])


def test_single_choice_plurality() -> None:
    tally = count_single_choice([("a", 1), ("b", 1), ("b", 1)], OPTIONS, "s")
    assert tally.winners == ("b",)
    assert tally.counts == {"a": 1, "b": 2, "c": 0, "d": 0}
    assert tally.tie_breaks == ()


def test_single_choice_tie_goes_to_the_lot() -> None:
    order = lot_order("s", ("a", "b"))
    tally = count_single_choice([("a", 1), ("b", 1)], ("a", "b"), "s")
    assert tally.winners == (order[0],)
    assert tally.tie_breaks == (TieBreak(order, order[0], "lot"),)


def test_single_choice_without_ballots_has_no_winner() -> None:
    assert count_single_choice([], OPTIONS, "s").winners == ()


@pytest.mark.parametrize("options", [(), ("a", "a")])
def test_options_must_be_distinct_and_present(options) -> None:
    with pytest.raises(ValueError, match="options"):
        count_single_choice([], options, "s")


def test_approval_top_n_with_weights() -> None:
    ballots = [
        (("a", "b"), Decimal("10.5")),
        (["b", "c"], Decimal("3")),
        ({"c"}, 1),
        (("d",), Decimal("0.25")),
    ]
    tally = count_approval(ballots, OPTIONS, seats=2, seed="s", max_picks=2)
    assert tally.winners == ("b", "a")
    assert tally.counts == {
        "a": Decimal("10.5"),
        "b": Decimal("13.5"),
        "c": Decimal(4),
        "d": Decimal("0.25"),
    }
    assert tally.tie_breaks == ()


def test_approval_tie_at_the_boundary_is_drawn_and_recorded() -> None:
    ballots = [(("a", "b", "c"), 1), (("a",), 1)]
    tally = count_approval(ballots, ("a", "b", "c"), seats=2, seed="x")
    first = lot_order("x", ("b", "c"))[0]
    assert tally.winners == ("a", first)
    assert tally.tie_breaks == (TieBreak(lot_order("x", ("b", "c")), first, "lot"),)


def test_approval_over_the_limit_is_refused() -> None:
    with pytest.raises(BallotInvalid) as excinfo:
        count_approval([(("a", "b", "c"), 1)], OPTIONS, seats=1, seed="s", max_picks=2)
    assert excinfo.value.code == "too_many_approvals"


def test_approval_repeats_are_caught_before_aggregation() -> None:
    with pytest.raises(BallotInvalid) as excinfo:
        count_approval([(["a", "a"], 1)], OPTIONS, seats=1, seed="s")
    assert excinfo.value.code == "repeated_option"


@pytest.mark.parametrize("seats", [0, 5])
def test_seats_must_fit_the_options(seats) -> None:
    with pytest.raises(ValueError, match="seats"):
        count_approval([], OPTIONS, seats=seats, seed="s")
