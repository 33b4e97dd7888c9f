"""Participatory budget: Method of Equal Shares with completion, and greedy by approval, against
pabutools on random small elections."""

import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pabutools.election import ApprovalBallot, ApprovalProfile, Cost_Sat, Instance, Project
from pabutools.fractions import frac
from pabutools.rules import greedy_utilitarian_welfare, method_of_equal_shares
from pabutools.tiebreaking import TieBreakingRule

from ballots.methods import BallotInvalid, count_equal_shares, count_greedy_approval, lot_order

COSTS = {"A1": 33, "A2": 33, "A3": 33, "B": 33}
MAJORITY_AND_MINORITY = [(("A1", "A2", "A3"), 1)] * 6 + [(("B",), 1)] * 4


def test_equal_shares_funds_the_minority_that_greedy_ignores() -> None:
    greedy = count_greedy_approval(MAJORITY_AND_MINORITY, COSTS, 100, "s")
    assert set(greedy.winners) == {"A1", "A2", "A3"} and greedy.method == "greedy"
    mes = count_equal_shares(MAJORITY_AND_MINORITY, COSTS, 100, "s")
    assert "B" in mes.winners and len(mes.winners) == 3
    assert mes.cost == 99 and mes.budget == 100 and mes.method == "equal_shares"
    assert mes.votes == {"A1": 6, "A2": 6, "A3": 6, "B": 4}
    assert mes.share == 11  # the budget per voter was raised from 10 to 11 by the completion
    # the majority's first project is the earliest of its three in the lot order
    assert mes.winners[0] == next(p for p in lot_order("s", COSTS) if p != "B")


def test_completion_fills_what_equal_shares_leaves() -> None:
    ballots = [(("Y",), 1), (("Z",), 1), (("Y", "X"), 1)]
    costs = {"X": 50, "Y": 20, "Z": 60}
    mes = count_equal_shares(ballots, costs, 100, "s")
    # Y at 10 + 10; raising the share from 100/3 by 1% steps, at 60 X and Z would both be bought
    # (130 > 100), so the run at 179/3 is kept ({Y}) and the greedy completion adds X
    assert mes.share == Fraction(179, 3)
    assert mes.winners == ("Y", "X") and mes.completed == ("X",)
    assert mes.cost == 70


def test_unapproved_projects_are_never_funded() -> None:
    mes = count_equal_shares([(("A",), 1)], {"A": 10, "B": 1}, 100, "s")
    assert mes.winners == ("A",)
    assert count_greedy_approval([(("A",), 1)], {"A": 10, "B": 1}, 100, "s").winners == ("A",)


def test_area_weighted_budget_and_decimal_costs() -> None:
    ballots = [(("A",), Decimal("87.35")), (("B",), Decimal("12.65"))]
    mes = count_equal_shares(ballots, {"A": Decimal("50.5"), "B": Decimal("40")}, 90, "s")
    assert mes.votes == {"A": Decimal("87.35"), "B": Decimal("12.65")}
    assert mes.winners == ("A",) and mes.cost == Decimal("50.5")
    assert mes.total_weight == 100


def test_no_ballots_funds_nothing() -> None:
    mes = count_equal_shares([], {"A": 10}, 100, "s")
    assert mes.winners == () and mes.cost == 0 and mes.ballots == 0


def test_pb_ballots_are_validated() -> None:
    with pytest.raises(BallotInvalid) as excinfo:
        count_equal_shares([(("A", "B"), 1)], {"A": 1, "B": 1}, 10, "s", max_picks=1)
    assert excinfo.value.code == "too_many_approvals"


@pytest.mark.parametrize(("costs", "budget"), [({"A": 0}, 10), ({"A": 1}, -1), ({"A": 1.5}, 10)])
def test_costs_and_budget_must_be_positive_exact_numbers(costs, budget) -> None:
    with pytest.raises(ValueError, match="costs"):
        count_equal_shares([], costs, budget, "s")


@st.composite
def elections(draw: st.DrawFn) -> tuple[dict[str, int], int, list[tuple[tuple[str, ...], int]]]:
    names = [f"p{i}" for i in range(draw(st.integers(1, 6)))]
    costs = {n: draw(st.integers(1, 20)) for n in names}
    budget = draw(st.integers(1, 60))
    picks = st.lists(st.sampled_from(names), min_size=1, unique=True).map(tuple)
    ballots = draw(st.lists(st.tuples(picks, st.integers(1, 4)), min_size=1, max_size=8))
    return costs, budget, [(p, 1) for p, n in ballots for _ in range(n)]


def pabutools_election(costs, budget, ballots, seed):
    approved = {p for picks, _ in ballots for p in picks}
    projects = {n: Project(n, c) for n, c in costs.items() if n in approved}
    instance = Instance(projects.values(), budget_limit=budget)
    profile = ApprovalProfile(
        [ApprovalBallot([projects[p] for p in picks]) for picks, _ in ballots]
    )
    rank = {p: i for i, p in enumerate(lot_order(seed, costs))}
    return instance, profile, TieBreakingRule(lambda _i, _p, project: rank[project.name])


SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(elections(), st.sampled_from(["", "seed", "种子"]), st.sampled_from([None, 1]))
def test_equal_shares_matches_pabutools(election, seed, step) -> None:
    costs, budget, ballots = election
    ours = count_equal_shares(ballots, costs, budget, seed, step=step)
    instance, profile, ties = pabutools_election(costs, budget, ballots, seed)
    increment = frac(budget, 100 * len(ballots)) if step is None else step
    mes = method_of_equal_shares(
        instance, profile, sat_class=Cost_Sat, voter_budget_increment=increment, tie_breaking=ties
    )
    completed = greedy_utilitarian_welfare(
        instance, profile, sat_class=Cost_Sat, initial_budget_allocation=mes, tie_breaking=ties
    )
    assert list(ours.winners) == [p.name for p in completed]
    assert list(ours.completed) == [p.name for p in completed[len(mes) :]]
    assert ours.cost <= budget


@SLOW
@given(elections(), st.sampled_from(["", "seed"]))
def test_greedy_matches_pabutools(election, seed) -> None:
    costs, budget, ballots = election
    ours = count_greedy_approval(ballots, costs, budget, seed)
    instance, profile, ties = pabutools_election(costs, budget, ballots, seed)
    theirs = greedy_utilitarian_welfare(instance, profile, sat_class=Cost_Sat, tie_breaking=ties)
    assert list(ours.winners) == [p.name for p in theirs]


@SLOW
@given(elections())
def test_aggregated_weights_count_like_repeated_ballots(election) -> None:
    costs, budget, ballots = election
    repeated = count_equal_shares(ballots, costs, budget, "s")
    weighted = count_equal_shares(
        [
            (picks, sum(1 for p, _ in ballots if p == picks))
            for picks in dict.fromkeys(p for p, _ in ballots)
        ],
        costs,
        budget,
        "s",
    )
    assert weighted.winners == repeated.winners and weighted.share == repeated.share
    assert Fraction(weighted.share or 0) > 0


def test_weights_beyond_exact_float_sums_are_refused() -> None:
    with pytest.raises(ValueError, match="exactly"):
        count_equal_shares([(("A",), 2**53)], {"A": 1}, 10, "s")


def test_money_a_hair_short_of_the_cost_is_not_enough() -> None:
    # the float estimate cannot tell 1e9 from 1e9 + 0.1: the exact count decides
    ballots = [(("X",), 1), (("Y",), 1)]
    costs = {"X": Decimal("1000000000.1"), "Y": Decimal("3000000000")}
    result = count_equal_shares(ballots, costs, 2_000_000_000, "s", step=Fraction(1, 10))
    assert result.share == Fraction(10000000001, 10)  # one step of 0.1 above the first share
    assert result.winners == ("X",)


def test_a_larger_random_election_matches_pabutools() -> None:
    rng = random.Random(7)
    costs = {f"p{i}": rng.randrange(5, 60) for i in range(12)}
    names = list(costs)
    ballots = [(tuple(rng.sample(names, rng.randint(1, 5))), 1) for _ in range(300)]
    ours = count_equal_shares(ballots, costs, 250, "seed")
    instance, profile, ties = pabutools_election(costs, 250, ballots, "seed")
    mes = method_of_equal_shares(
        instance,
        profile,
        sat_class=Cost_Sat,
        voter_budget_increment=frac(250, 100 * 300),
        tie_breaking=ties,
    )
    theirs = greedy_utilitarian_welfare(
        instance, profile, sat_class=Cost_Sat, initial_budget_allocation=mes, tie_breaking=ties
    )
    assert list(ours.winners) == [p.name for p in theirs]
