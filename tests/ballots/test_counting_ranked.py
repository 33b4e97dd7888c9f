"""IRV, Scottish STV and Schulze: worked examples, then our counts against independent libraries
(pref_voting, pyrankvote) and against each other on random small profiles."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pref_voting.iterative_methods import instant_runoff
from pref_voting.margin_based_methods import beat_path
from pref_voting.profiles_with_ties import ProfileWithTies
from pref_voting.proportional_methods import stv_scottish
from pyrankvote import Ballot, Candidate, instant_runoff_voting

from ballots.methods import (
    BallotInvalid,
    TieBreak,
    count_instant_runoff,
    count_schulze,
    count_stv,
    lot_order,
)


def expand(profile: list[tuple[str, int]]) -> list[tuple[tuple[str, ...], int]]:
    return [(tuple(r), 1) for r, n in profile for _ in range(n)]


SCOTTISH = expand([("AB", 40), ("AC", 20), ("B", 15), ("CD", 14), ("DC", 11)])


def test_scottish_stv_worked_example() -> None:
    result = count_stv(SCOTTISH, "ABCD", seats=2, seed="s")
    assert result.quota == 34  # floor(100 / 3) + 1
    assert result.winners == ("A", "C")
    first, surplus, exclude_d, exclude_b = result.stages
    assert first.elected == ("A",) and first.totals["A"] == 60
    # A's surplus 26 moves at 26/60 = 0.43333 (five places, remainder ignored) per paper
    assert surplus.action == "surplus" and surplus.subject == "A"
    assert surplus.totals == {
        "A": 34,
        "B": Decimal("32.33320"),
        "C": Decimal("22.66660"),
        "D": 11,
    }
    assert surplus.non_transferable == Decimal("0.00020")
    assert exclude_d.subject == "D" and exclude_d.totals["C"] == Decimal("33.66660")
    # two continuing for one seat: exclude B, then C is the only one left
    assert exclude_b.subject == "B" and exclude_b.elected == ("C",)
    assert exclude_b.non_transferable == Decimal("32.33340")
    assert result.first_preferences == {"A": 60, "B": 15, "C": 14, "D": 11}
    assert result.tie_breaks == () and result.ballots == 100 and result.total_weight == 100


def test_instant_runoff_majority_and_runoff() -> None:
    assert count_instant_runoff(SCOTTISH, "ABCD", "s").winners == ("A",)
    profile = expand([("AB", 4), ("BA", 3), ("CB", 2)])
    result = count_instant_runoff(profile, "ABC", "s")
    assert result.winners == ("B",)
    assert [s.action for s in result.stages] == ["first", "exclusion"]
    assert result.stages[1].totals == {"A": 4, "B": 5}
    assert result.quota is None


def test_weighted_ranked_ballots() -> None:
    ballots = [(("A", "B"), Decimal("87.35")), (("B",), Decimal("60.10")), (("C", "B"), 30)]
    result = count_instant_runoff(ballots, "ABC", "s")
    assert result.first_preferences == {
        "A": Decimal("87.35"),
        "B": Decimal("60.10"),
        "C": Decimal("30"),
    }
    assert result.winners == ("B",)
    assert result.total_weight == Decimal("177.45")


def test_exclusion_tie_looks_back_before_drawing_lots() -> None:
    profile = expand([("A", 4), ("B", 3), ("CB", 1), ("D", 5), ("EC", 2)])
    result = count_instant_runoff(profile, "ABCDE", "s")
    # C (1) goes, B reaches 4; E (2) goes, its paper exhausts; A and B are tied at 4 and were
    # tied after C went, but at the first stage B had fewer: B is excluded by looking back
    assert [s.subject for s in result.stages[1:]] == ["C", "E", "B"]
    assert result.tie_breaks == (TieBreak(lot_order("s", "AB"), "B", "history"),)
    assert result.winners == ("D",)


def test_exclusion_tie_without_history_is_drawn() -> None:
    result = count_instant_runoff(expand([("A", 2), ("B", 2), ("C", 3)]), "ABC", "k")
    order = lot_order("k", "AB")
    assert result.tie_breaks == (TieBreak(order, order[1], "lot"),)
    assert result.stages[1].subject == order[1]  # the later in the lot order is excluded


def test_stv_fills_the_last_seats_when_candidates_run_out() -> None:
    result = count_stv(expand([("A", 5), ("B", 1)]), "ABC", seats=2, seed="s")
    assert set(result.winners) == {"A", "B"}


def test_stv_with_every_candidate_elected_at_once() -> None:
    result = count_stv(expand([("A", 5), ("B", 5)]), "AB", seats=2, seed="s")
    assert result.stages[0].elected == result.winners
    assert set(result.winners) == {"A", "B"}


def test_no_ballots_elects_nobody() -> None:
    result = count_stv([], "ABC", seats=2, seed="s")
    assert result.winners == () and result.stages == () and result.ballots == 0
    assert count_schulze([], "AB", "s").winners == ()


def test_ranked_ballots_are_validated() -> None:
    with pytest.raises(BallotInvalid) as excinfo:
        count_stv([(("A", "A"), 1)], "AB", seats=1, seed="s")
    assert excinfo.value.code == "repeated_option"
    with pytest.raises(ValueError, match="seats"):
        count_stv([], "AB", seats=3, seed="s")


WIKIPEDIA_SCHULZE = expand(
    [
        ("ACBED", 5),
        ("ADECB", 5),
        ("BEDAC", 8),
        ("CABED", 3),
        ("CAEBD", 7),
        ("CBADE", 2),
        ("DCEBA", 7),
        ("EBADC", 8),
    ]
)


def test_schulze_reference_example() -> None:
    result = count_schulze(WIKIPEDIA_SCHULZE, "ABCDE", "s")
    assert result.winners == ("E",)
    assert result.ranking == ("E", "A", "C", "B", "D")
    assert result.pairwise["A"]["B"] == 20 and result.pairwise["B"]["A"] == 25
    assert result.strongest_paths["A"]["B"] == 28 and result.strongest_paths["E"]["D"] == 31
    assert result.tie_breaks == ()


def test_schulze_full_tie_is_ordered_by_lot() -> None:
    result = count_schulze(expand([("AB", 1), ("BA", 1)]), "AB", "q")
    assert result.ranking == lot_order("q", "AB")
    assert result.tie_breaks[0].by == "lot"


def test_schulze_unranked_options_come_last() -> None:
    result = count_schulze(expand([("B", 3), ("CA", 2)]), "ABC", "s")
    assert result.pairwise["B"]["A"] == 3 and result.pairwise["A"]["B"] == 2
    assert result.winners == ("B",)


# --- properties ------------------------------------------------------------------------------

CANDIDATES = "ABCDE"


@st.composite
def profiles(draw: st.DrawFn, full: bool = False) -> tuple[str, list[tuple[str, int]]]:
    candidates = CANDIDATES[: draw(st.integers(2, 5))]
    rankings = st.permutations(candidates).flatmap(
        lambda p: st.just(p) if full else st.integers(1, len(p)).map(lambda k: p[:k])
    )
    profile = draw(
        st.lists(st.tuples(rankings.map("".join), st.integers(1, 30)), min_size=1, max_size=8)
    )
    return candidates, profile


def pref_profile(candidates: str, profile: list[tuple[str, int]]) -> ProfileWithTies:
    rankings = [{c: i + 1 for i, c in enumerate(r)} for r, _ in profile]
    return ProfileWithTies(rankings, rcounts=[n for _, n in profile], candidates=list(candidates))


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(profiles())
def test_irv_matches_pref_voting_and_pyrankvote(case) -> None:
    candidates, profile = case
    ours = count_instant_runoff(expand(profile), candidates, "seed")
    assume(not ours.tie_breaks)  # the libraries break ties their own ways
    assert list(ours.winners) == instant_runoff(pref_profile(candidates, profile))
    people = {c: Candidate(c) for c in candidates}
    ballots = [Ballot([people[c] for c in r]) for r, n in profile for _ in range(n)]
    theirs = instant_runoff_voting(list(people.values()), ballots).get_winners()
    assert [c.name for c in theirs] == list(ours.winners)


@FAST
@given(profiles(), st.text(max_size=4))
def test_irv_is_stv_with_one_seat(case, seed) -> None:
    candidates, profile = case
    ballots = expand(profile)
    assert count_instant_runoff(ballots, candidates, seed).winners == (
        count_stv(ballots, candidates, 1, seed).winners
    )


@FAST
@given(profiles(), st.integers(1, 4))
def test_stv_matches_pref_voting_scottish_stv(case, seats) -> None:
    candidates, profile = case
    assume(seats <= len(candidates))
    ours = count_stv(expand(profile), candidates, seats, "seed")
    assume(all(t.by == "history" for t in ours.tie_breaks))  # pref_voting draws lots at random
    theirs = stv_scottish(pref_profile(candidates, profile), num_seats=seats)
    assert sorted(ours.winners) == theirs


@FAST
@given(profiles(), st.integers(1, 4))
def test_stv_invariants(case, seats) -> None:
    candidates, profile = case
    assume(seats <= len(candidates))
    result = count_stv(expand(profile), candidates, seats, "seed")
    assert len(result.winners) == seats == len(set(result.winners))
    total = sum(n for _, n in profile)
    for stage in result.stages:  # no vote is created or lost except by truncation/exhaustion
        assert sum(stage.totals.values()) + stage.non_transferable == total
        assert stage.non_transferable >= 0


@FAST
@given(profiles())
def test_schulze_matches_pref_voting_beat_path(case) -> None:
    candidates, profile = case
    ours = count_schulze(expand(profile), candidates, "seed")
    prof = pref_profile(candidates, profile)
    prof.use_extended_strict_preference()  # ranked before unranked, as we count
    theirs = beat_path(prof, strength_function=lambda a, b: prof.support(a, b))
    paths = ours.strongest_paths
    unbeaten = [a for a in candidates if all(paths[a][b] >= paths[b][a] for b in paths[a])]
    assert unbeaten == theirs
    assert ours.winners[0] in theirs
    assert sorted(ours.ranking) == list(candidates)


@FAST
@given(profiles(full=True))
def test_schulze_elects_the_condorcet_winner(case) -> None:
    candidates, profile = case
    ours = count_schulze(expand(profile), candidates, "seed")
    d = ours.pairwise
    condorcet = [a for a in candidates if all(d[a][b] > d[b][a] for b in d[a])]
    if condorcet:
        assert ours.winners == (condorcet[0],)


def test_stv_surplus_too_small_for_five_places_is_lost() -> None:
    # quota 1,000,001; A's surplus of 2 over 1,000,003 papers is 0.000001 a paper: truncated to 0
    ballots = [(("A", "B"), 1_000_003), (("B",), 1_000_000), (("C",), 999_997)]
    result = count_stv(ballots, "ABC", seats=2, seed="s")
    surplus = result.stages[1]
    assert surplus.action == "surplus" and surplus.totals["B"] == 1_000_000
    assert surplus.non_transferable == 2
    assert result.winners == ("A", "B")


def test_stv_with_area_weights() -> None:
    ballots = [(("A", "B"), Decimal("87.35")), (("B", "A"), Decimal("50.10")), (("C",), 30)]
    result = count_stv(ballots, "ABC", seats=2, seed="s")
    assert result.quota == 56  # floor(167.45 / 3) + 1
    assert result.winners == ("A", "B")
    # A's surplus 31.35 of 87.35 moves at 0.35890 (0.358900... truncated) per unit of area
    assert result.stages[1].totals["B"] == Decimal("50.10") + Decimal("87.35") * Decimal("0.35890")
