"""Counting methods: plain functions from weighted ballots to a result, with exact arithmetic.

Every ``count_*`` function takes ``ballots`` as ``(choice, weight)`` pairs. The weight is ``1``
for a headcount ballot or a ``Decimal`` floor area such as ``Decimal("87.35")``; identical
ballots are aggregated before counting, so the work grows with the number of *distinct* ballots.
Weights are scaled to integers by their largest number of decimal places, so counting is integer
or rational arithmetic and results are reported as ``Decimal``. No float decides anything: Equal
Shares uses float copies only to pre-sort budgets and to skip projects clearly out of reach, and
sums integer weights in float64 only below 2**53, where that is exact.

Who counts what (our own code counts everything; the libraries cross-check it in the tests):

- yes/no/abstain, single choice, approval with top-N: own code (a weighted sum).
- instant-runoff: own code. Cross-checked against pref_voting ``instant_runoff`` and
  pyrankvote ``instant_runoff_voting``, and against our STV with one seat.
- single transferable vote: own code, Scottish STV (Scottish Local Government Elections Order
  2007, rules 45-52): integer Droop quota ``floor(valid / (seats + 1)) + 1``; every surplus is
  transferred, largest first, by the weighted inclusive Gregory method: each paper of the elected
  candidate moves on at ``surplus x its value / candidate's total``, truncated to five decimal
  places; an excluded candidate's papers move on at their current value, all in one stage; when the
  continuing candidates are no more than the seats left, they are all elected. A weighted paper
  carries ``weight x value``. Cross-checked against pref_voting ``stv_scottish``, which is
  float-based (its authors flag it as not yet vetted) and took ~9 s for 100,000 ballots against
  our ~0.5 s; pyrankvote's STV does not transfer surpluses by Gregory, so it is no oracle here.
- Schulze: own code, winning-votes strength, widest paths by Floyd-Warshall; a ranked voter
  prefers every ranked option to every unranked one. Cross-checked against pref_voting
  ``beat_path`` with the winning-votes strength, and against the Condorcet winner.
- participatory budget, Method of Equal Shares: own code, exact, with cost utilities (a voter's
  satisfaction is the cost of the funded projects they approved, as equalshares.net recommends
  for approval ballots). Completion as equalshares.net's "Add1U" and pabutools'
  ``voter_budget_increment``: raise every voter's budget by a step (default 1% of the initial
  share) and rerun until the outcome exhausts the budget or overspends it, keep the last run
  within budget, then fill what is left greedily by approval (the utilitarian completion).
  Cross-checked against pabutools ``method_of_equal_shares`` + ``greedy_utilitarian_welfare``,
  which agree exactly but need ~25 s for one run on 100,000 ballots (the completion makes dozens
  of runs); ours takes ~35 ms a run by counting voters per budget class with numpy and keeping
  the budgets as gmpy2 rationals.
- greedy by approval: own code, cross-checked against pabutools ``greedy_utilitarian_welfare``.

Ties are never broken by ``random``: the *lot order* of a ballot is its options sorted by
``SHA-256(seed + option id)`` (UTF-8, hex digest compared as text), and the seed is part of the
ballot's definition in the log. Earlier in the lot order is favoured: it wins a tie for a seat and
survives a tie for exclusion. STV and IRV first look back at earlier stages (Scottish rules 49/51:
the most recent earlier stage where the tied options differed) and draw the lot only if they were
equal at every stage.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt
from gmpy2 import mpq

Weight = Decimal | int
K = TypeVar("K", bound=Hashable)
R = TypeVar("R", bound=Hashable)

YES, NO, ABSTAIN = "yes", "no", "abstain"
YES_NO_ABSTAIN = (YES, NO, ABSTAIN)
_STV_PLACES = 5  # Scottish rule 48(3): transfer values to five decimal places, remainder ignored
_STV_UNIT = 10**_STV_PLACES


class BallotInvalid(ValueError):
    """A ballot that the method cannot count; ``code`` is stable, the app words it."""

    def __init__(self, code: str, **details: object) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details


# --- tie-breaking -------------------------------------------------------------------------------


def lot_order(seed: str, options: Iterable[str]) -> tuple[str, ...]:
    """The options sorted by SHA-256(seed + option id): the seeded order that decides ties."""
    return tuple(
        sorted(options, key=lambda o: (hashlib.sha256((seed + o).encode()).hexdigest(), o))
    )


@dataclass(frozen=True)
class TieBreak:
    """A tie the count had to break, for the record: who was tied, who was chosen, and how."""

    tied: tuple[str, ...]
    chosen: str
    by: Literal["history", "lot"]


# --- validation of one ballot -------------------------------------------------------------------


def check_choice(choice: str, options: Collection[str]) -> str:
    """One option out of ``options`` (single choice; yes/no/abstain with YES_NO_ABSTAIN)."""
    if choice not in options:
        raise BallotInvalid("unknown_option", option=choice)
    return choice


def check_approval(
    picks: Collection[str], options: Collection[str], max_picks: int | None = None
) -> frozenset[str]:
    """A non-empty set of known options, at most ``max_picks`` of them."""
    if not picks:
        raise BallotInvalid("empty_approval")
    seen: set[str] = set()
    for pick in picks:
        if pick not in options:
            raise BallotInvalid("unknown_option", option=pick)
        if pick in seen:
            raise BallotInvalid("repeated_option", option=pick)
        seen.add(pick)
    if max_picks is not None and len(seen) > max_picks:
        raise BallotInvalid("too_many_approvals", picks=len(seen), max_picks=max_picks)
    return frozenset(seen)


def check_ranking(ranking: Sequence[str], options: Collection[str]) -> tuple[str, ...]:
    """A non-empty ranking of known options, each at most once; it need not rank them all."""
    if not ranking:
        raise BallotInvalid("empty_ranking")
    seen: set[str] = set()
    for option in ranking:
        if option not in options:
            raise BallotInvalid("unknown_option", option=option)
        if option in seen:
            raise BallotInvalid("repeated_option", option=option)
        seen.add(option)
    return tuple(ranking)


def check_weight(weight: object) -> Decimal:
    """A positive, finite int or Decimal (a float would make the count inexact)."""
    if isinstance(weight, bool) or not isinstance(weight, int | Decimal):
        raise BallotInvalid("invalid_weight", weight=str(weight))
    value = Decimal(weight)
    if not value.is_finite() or value <= 0:
        raise BallotInvalid("invalid_weight", weight=str(weight))
    return value


def _aggregate(
    ballots: Iterable[tuple[R, Weight]], check: Callable[[R], K]
) -> tuple[dict[K, int], int, int]:
    """Distinct valid ballots with integer total weights, the weights' decimal places, and the
    number of ballots read.

    Weights are scaled by 10**places, ``places`` being the most decimal places of any weight, so
    every count is an integer in units of 10**-places. ``check`` runs once per distinct raw ballot.
    """
    raw: dict[K, Decimal | int] = {}
    checked: dict[R, K] = {}
    n = 0
    for choice, weight in ballots:
        n += 1
        key = checked.get(choice)
        if key is None:
            key = checked[choice] = check(choice)
        # headcount weights are plain ints: skip the Decimal round trip for them
        value = weight if type(weight) is int and weight > 0 else check_weight(weight)
        raw[key] = raw.get(key, 0) + value
    places = max(
        (-int(w.as_tuple().exponent) for w in raw.values() if isinstance(w, Decimal)), default=0
    )
    places = max(places, 0)
    return {k: int(Decimal(w).scaleb(places)) for k, w in raw.items()}, places, n


def _to_decimal(value: int, places: int) -> Decimal:
    return Decimal(value).scaleb(-places)


# --- single-round methods -----------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Per-option totals (weight) and the winners, best first."""

    counts: dict[str, Decimal]
    winners: tuple[str, ...]
    ballots: int
    total_weight: Decimal
    tie_breaks: tuple[TieBreak, ...] = ()


def _top(
    counts: Mapping[str, int], seats: int, seed: str
) -> tuple[tuple[str, ...], tuple[TieBreak, ...]]:
    """The ``seats`` options with the highest counts, a tie at the boundary broken by lot."""
    lot = {o: i for i, o in enumerate(lot_order(seed, counts))}
    ranked = sorted(counts, key=lambda o: (-counts[o], lot[o]))
    winners = tuple(ranked[:seats])
    if seats >= len(ranked) or counts[ranked[seats - 1]] != counts[ranked[seats]]:
        return winners, ()
    boundary = counts[ranked[seats - 1]]
    tied = tuple(o for o in ranked if counts[o] == boundary)
    chosen = tuple(o for o in winners if counts[o] == boundary)
    return winners, tuple(TieBreak(tied, o, "lot") for o in chosen)


def _tally(
    totals: Mapping[str, int],
    places: int,
    ballots: int,
    winners: tuple[str, ...],
    tie_breaks: tuple[TieBreak, ...] = (),
) -> Tally:
    return Tally(
        counts={o: _to_decimal(t, places) for o, t in totals.items()},
        winners=winners,
        ballots=ballots,
        total_weight=_to_decimal(sum(totals.values()), places),
        tie_breaks=tie_breaks,
    )


def count_yes_no_abstain(ballots: Iterable[tuple[str, Weight]]) -> Tally:
    """Totals for yes, no and abstain; the winner is yes or no if it has more, none on a tie.

    Whether a motion carries is for a decision rule (``ballots.rules``) to say; this is the count.
    """
    weights, places, n = _aggregate(ballots, lambda c: check_choice(c, YES_NO_ABSTAIN))
    totals = {o: weights.get(o, 0) for o in YES_NO_ABSTAIN}
    winners: tuple[str, ...] = ()
    if totals[YES] != totals[NO]:
        winners = (YES,) if totals[YES] > totals[NO] else (NO,)
    return _tally(totals, places, n, winners)


def count_single_choice(
    ballots: Iterable[tuple[str, Weight]], options: Sequence[str], seed: str
) -> Tally:
    """Plurality: one choice per ballot; the option with the most weight wins."""
    _check_options(options)
    weights, places, n = _aggregate(ballots, lambda c: check_choice(c, options))
    totals = {o: weights.get(o, 0) for o in options}
    winners, ties = _top(totals, 1, seed) if n else ((), ())
    return _tally(totals, places, n, winners, ties)


def count_approval(
    ballots: Iterable[tuple[Collection[str], Weight]],
    options: Sequence[str],
    seats: int,
    seed: str,
    max_picks: int | None = None,
) -> Tally:
    """Approval with top-N: each ballot approves one to ``max_picks`` options; the ``seats``
    options with the most approval weight win, best first."""
    _check_seats(seats, options)
    weights, places, n = _aggregate(
        ((tuple(p), w) for p, w in ballots), lambda p: check_approval(p, options, max_picks)
    )
    totals = dict.fromkeys(options, 0)
    for picks, weight in weights.items():
        for option in picks:
            totals[option] += weight
    winners, ties = _top(totals, seats, seed) if n else ((), ())
    return _tally(totals, places, n, winners, ties)


def _check_options(options: Sequence[str]) -> None:
    if not options or len(set(options)) != len(options):
        raise ValueError("options must be a non-empty sequence of distinct ids")


def _check_seats(seats: int, options: Sequence[str]) -> None:
    _check_options(options)
    if not 1 <= seats <= len(options):
        raise ValueError(f"seats must be between 1 and {len(options)}, not {seats}")


# --- ranked methods -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One stage of an IRV or STV count: the votes each option holds at its end."""

    action: Literal["first", "surplus", "exclusion"]
    subject: str | None  # whose surplus moved on, or who was excluded
    totals: dict[str, Decimal]  # continuing and elected options
    non_transferable: Decimal  # exhausted papers and (STV) value lost to truncation
    elected: tuple[str, ...]  # elected at the end of this stage


@dataclass(frozen=True)
class RankedResult:
    """An IRV or STV count: winners in order of election and every stage that led there."""

    winners: tuple[str, ...]
    first_preferences: dict[str, Decimal]
    stages: tuple[Stage, ...]
    quota: Decimal | None  # STV's quota; IRV needs a majority of the papers still in play
    ballots: int
    total_weight: Decimal
    tie_breaks: tuple[TieBreak, ...]


def _ranked_profile(
    ballots: Iterable[tuple[Sequence[str], Weight]], options: Sequence[str]
) -> tuple[list[tuple[int, ...]], list[int], int, int]:
    """Distinct rankings as option indices, their integer weights, decimal places, ballots read."""
    _check_options(options)
    index = {o: i for i, o in enumerate(options)}
    weights, places, n = _aggregate(
        ((tuple(r), w) for r, w in ballots), lambda r: check_ranking(r, index)
    )
    rankings = [tuple(index[o] for o in r) for r in weights]
    return rankings, list(weights.values()), places, n


class _Tiebreaker:
    """Scottish rules 49/51: look back to the most recent stage where the tied options differed,
    narrowing the tie stage by stage; if they were equal at every stage, the seeded lot decides."""

    def __init__(self, options: Sequence[str], seed: str) -> None:
        self.options = options
        self.lot = {options.index(o): i for i, o in enumerate(lot_order(seed, options))}
        self.history: list[list[int]] = []
        self.record: list[TieBreak] = []

    def pick(self, tied: list[int], highest: bool) -> int:
        if len(tied) == 1:
            return tied[0]
        names = tuple(self.options[c] for c in sorted(tied, key=self.lot.__getitem__))
        narrowed = list(tied)
        for totals in reversed(self.history):
            values = [totals[c] for c in narrowed]
            extreme = max(values) if highest else min(values)
            better = [c for c in narrowed if totals[c] == extreme]
            if len(better) < len(narrowed):
                narrowed = better
                if len(narrowed) == 1:
                    self.record.append(TieBreak(names, self.options[narrowed[0]], "history"))
                    return narrowed[0]
        # earlier in the lot order wins a seat and survives an exclusion
        chosen = (min if highest else max)(narrowed, key=self.lot.__getitem__)
        self.record.append(TieBreak(names, self.options[chosen], "lot"))
        return chosen

    def order(self, options: list[int], totals: list[int]) -> list[int]:
        """Options by descending totals, each tie broken as above."""
        ordered: list[int] = []
        rest = list(options)
        while rest:
            top = max(totals[c] for c in rest)
            chosen = self.pick([c for c in rest if totals[c] == top], highest=True)
            ordered.append(chosen)
            rest.remove(chosen)
        return ordered


_CONTINUING, _ELECTED, _EXCLUDED = 0, 1, 2
_Paper = tuple[int, int, int]  # (distinct ranking, position in it, value per unit weight)


def _move(
    papers: list[_Paper],
    rankings: list[tuple[int, ...]],
    weights: list[int],
    status: list[int],
    piles: list[list[_Paper]],
    totals: list[int],
    value: Callable[[int], int],
) -> None:
    """Move papers to their next continuing preference, at the value ``value(old value)``."""
    for i, pos, old in papers:
        new = value(old)
        if not new:
            continue
        ranking = rankings[i]
        for nxt in range(pos + 1, len(ranking)):
            c = ranking[nxt]
            if status[c] == _CONTINUING:
                piles[c].append((i, nxt, new))
                totals[c] += weights[i] * new
                break


def count_instant_runoff(
    ballots: Iterable[tuple[Sequence[str], Weight]], options: Sequence[str], seed: str
) -> RankedResult:
    """Instant-runoff for one seat: exclude the option with the fewest votes, one at a time,
    until one holds more than half of the papers still in play (or is the last one left)."""
    return _ranked_count(ballots, options, 1, seed, quota_rule=False)


def count_stv(
    ballots: Iterable[tuple[Sequence[str], Weight]],
    options: Sequence[str],
    seats: int,
    seed: str,
) -> RankedResult:
    """Single transferable vote, Scottish rules (see the module docstring)."""
    return _ranked_count(ballots, options, seats, seed, quota_rule=True)


def _ranked_count(
    ballots: Iterable[tuple[Sequence[str], Weight]],
    options: Sequence[str],
    seats: int,
    seed: str,
    quota_rule: bool,
) -> RankedResult:
    _check_seats(seats, options)
    rankings, weights, places, n = _ranked_profile(ballots, options)
    if not n:
        zero = dict.fromkeys(options, Decimal(0))
        return RankedResult((), zero, (), None, 0, Decimal(0), ())
    unit = _STV_UNIT if quota_rule else 1  # paper values in units of 10**-5 for STV
    vote_places = places + (_STV_PLACES if quota_rule else 0)
    count = len(options)
    status = [_CONTINUING] * count
    piles: list[list[_Paper]] = [[] for _ in options]
    totals = [0] * count
    for i, ranking in enumerate(rankings):
        piles[ranking[0]].append((i, 0, unit))
        totals[ranking[0]] += weights[i] * unit
    valid = sum(weights) * unit
    quota = (sum(weights) // (10**places * (seats + 1)) + 1) * 10**places * unit
    first = {o: _to_decimal(totals[c], vote_places) for c, o in enumerate(options)}
    ties = _Tiebreaker(options, seed)
    elected: list[int] = []
    pending: list[int] = []  # elected with a surplus not yet transferred
    stages: list[Stage] = []

    def end_stage(action: Literal["first", "surplus", "exclusion"], subject: int | None) -> None:
        ties.history.append(list(totals))
        newly: list[int] = []
        continuing = [c for c in range(count) if status[c] == _CONTINUING]
        if quota_rule:
            newly = ties.order([c for c in continuing if totals[c] >= quota], totals)
        else:
            active = sum(totals[c] for c in continuing)
            newly = [c for c in continuing if 2 * totals[c] > active or len(continuing) == 1]
        if len(elected) + len(newly) < seats and len(continuing) - len(newly) <= seats - len(
            elected
        ) - len(newly):
            newly = newly + ties.order([c for c in continuing if c not in newly], totals)
        newly = newly[: seats - len(elected)]
        for c in newly:
            status[c] = _ELECTED
            elected.append(c)
            if totals[c] > quota:
                pending.append(c)
        stages.append(
            Stage(
                action=action,
                subject=None if subject is None else options[subject],
                totals={
                    options[c]: _to_decimal(totals[c], vote_places)
                    for c in range(count)
                    if status[c] != _EXCLUDED
                },
                non_transferable=_to_decimal(
                    valid - sum(t for c, t in enumerate(totals) if status[c] != _EXCLUDED),
                    vote_places,
                ),
                elected=tuple(options[c] for c in newly),
            )
        )

    end_stage("first", None)
    while len(elected) < seats:
        if pending:
            # Scottish rule 49: the largest surplus first
            top = max(totals[c] for c in pending)
            donor = ties.pick([c for c in pending if totals[c] == top], highest=True)
            pending.remove(donor)
            surplus, held = totals[donor] - quota, totals[donor]
            papers, piles[donor] = piles[donor], []
            totals[donor] = quota
            # surplus x value / total, to five decimal places, remainder ignored
            transfer = {v: surplus * v // held for v in {v for _, _, v in papers}}
            _move(papers, rankings, weights, status, piles, totals, transfer.__getitem__)
            end_stage("surplus", donor)
        else:
            continuing = [c for c in range(count) if status[c] == _CONTINUING]
            low = min(totals[c] for c in continuing)
            loser = ties.pick([c for c in continuing if totals[c] == low], highest=False)
            status[loser] = _EXCLUDED
            papers, piles[loser] = piles[loser], []
            totals[loser] = 0
            _move(papers, rankings, weights, status, piles, totals, lambda v: v)
            end_stage("exclusion", loser)
    return RankedResult(
        winners=tuple(options[c] for c in elected),
        first_preferences=first,
        stages=tuple(stages),
        quota=_to_decimal(quota, vote_places) if quota_rule else None,
        ballots=n,
        total_weight=_to_decimal(sum(weights), places),
        tie_breaks=tuple(ties.record),
    )


@dataclass(frozen=True)
class SchulzeResult:
    """Schulze: the winner, a full ranking, and the matrices an auditor can check."""

    winners: tuple[str, ...]
    ranking: tuple[str, ...]
    pairwise: dict[str, dict[str, Decimal]]  # weight preferring the row option to the column one
    strongest_paths: dict[str, dict[str, Decimal]]
    ballots: int
    total_weight: Decimal
    tie_breaks: tuple[TieBreak, ...]


def count_schulze(
    ballots: Iterable[tuple[Sequence[str], Weight]], options: Sequence[str], seed: str
) -> SchulzeResult:
    """Schulze (winning votes). The ranking is Schulze's order, completed by the lot where it
    leaves options unordered: repeatedly take, among the options left, those no other option left
    beats by path strength, and rank first the earliest of them in the lot order."""
    rankings, weights, places, n = _ranked_profile(ballots, options)
    count = len(options)
    d = [[0] * count for _ in options]
    everyone = set(range(count))
    for ranking, weight in zip(rankings, weights, strict=True):
        below = everyone - set(ranking)
        for a in reversed(ranking):
            row = d[a]
            for b in below:
                row[b] += weight
            below.add(a)
    p = [[d[a][b] if d[a][b] > d[b][a] else 0 for b in range(count)] for a in range(count)]
    for k in range(count):
        for a in range(count):
            if a == k:
                continue
            via = p[a][k]
            row, krow = p[a], p[k]
            for b in range(count):
                if b != a and b != k:
                    row[b] = max(row[b], min(via, krow[b]))
    lot = {options.index(o): i for i, o in enumerate(lot_order(seed, options))}
    left = list(range(count))
    ranking_out: list[int] = []
    tie_breaks: list[TieBreak] = []
    while left and n:
        unbeaten = [a for a in left if all(p[a][b] >= p[b][a] for b in left)]
        chosen = min(unbeaten, key=lot.__getitem__)
        if len(unbeaten) > 1:
            names = tuple(options[c] for c in sorted(unbeaten, key=lot.__getitem__))
            tie_breaks.append(TieBreak(names, options[chosen], "lot"))
        ranking_out.append(chosen)
        left.remove(chosen)

    def matrix(m: list[list[int]]) -> dict[str, dict[str, Decimal]]:
        return {
            options[a]: {options[b]: _to_decimal(m[a][b], places) for b in range(count) if b != a}
            for a in range(count)
        }

    return SchulzeResult(
        winners=(options[ranking_out[0]],) if ranking_out else (),
        ranking=tuple(options[c] for c in ranking_out),
        pairwise=matrix(d),
        strongest_paths=matrix(p),
        ballots=n,
        total_weight=_to_decimal(sum(weights), places),
        tie_breaks=tuple(tie_breaks) if ranking_out else (),
    )


# --- participatory budget -----------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetResult:
    """Funded projects in order of selection, with the approval weight of every project."""

    method: Literal["equal_shares", "greedy"]
    winners: tuple[str, ...]
    votes: dict[str, Decimal]
    cost: Decimal  # of the funded projects
    budget: Decimal
    ballots: int
    total_weight: Decimal
    completed: tuple[str, ...] = ()  # winners added by the greedy completion (equal shares)
    share: Fraction | None = None  # equal shares: budget per unit of weight in the run kept


def _pb_profile(
    ballots: Iterable[tuple[Collection[str], Weight]],
    costs: Mapping[str, Weight],
    budget: Weight,
    max_picks: int | None,
) -> tuple[list[str], list[Fraction], list[tuple[int, ...]], list[int], int, int]:
    projects = list(costs)
    _check_options(projects)
    if any(_positive_or_none(costs[p]) is None for p in projects) or (
        _positive_or_none(budget) is None
    ):
        raise ValueError("project costs and the budget must be positive ints or Decimals")
    index = {p: i for i, p in enumerate(projects)}
    weights, places, n = _aggregate(
        ((tuple(p), w) for p, w in ballots), lambda p: check_approval(p, index, max_picks)
    )
    groups = [tuple(sorted(index[p] for p in picks)) for picks in weights]
    fcosts = [Fraction(Decimal(costs[p])) for p in projects]
    return projects, fcosts, groups, list(weights.values()), places, n


def _positive_or_none(value: object) -> Decimal | None:
    try:
        return check_weight(value)
    except BallotInvalid:
        return None


def _votes(groups: list[tuple[int, ...]], weights: list[int], count: int) -> list[int]:
    votes = [0] * count
    for group, weight in zip(groups, weights, strict=True):
        for p in group:
            votes[p] += weight
    return votes


def _greedy(
    start: list[int], votes: list[int], costs: list[Fraction], budget: Fraction, lot: list[int]
) -> list[int]:
    """Add projects by descending approval weight (then lot) while they fit the budget."""
    left = budget - sum(costs[p] for p in start)
    added: list[int] = []
    for p in sorted(range(len(costs)), key=lambda p: (-votes[p], lot[p])):
        if votes[p] and p not in start and costs[p] <= left:
            added.append(p)
            left -= costs[p]
    return added


def _equal_shares_run(
    voters: int,
    supporters: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]],
    costs: list[Fraction],
    share: Fraction,
    lot: list[int],
) -> list[int]:
    """One run of the Method of Equal Shares with cost utilities, ``share`` per unit of weight.

    ``supporters[p]`` holds the voter groups approving project p and their integer weights (as
    float64, exact below 2**53). Groups whose budgets are equal form one budget class, so a
    purchase updates a few exact rationals (gmpy2's mpq, a fast Fraction) and every group's
    class id (a numpy array). A project's price per unit of utility, rho, only rises as budgets
    fall, so a heap of stale rhos is a heap of lower bounds: only the top needs recomputing.
    """
    budgets = [mpq(share.numerator, share.denominator)]  # per unit of weight, by class id
    class_of = {budgets[0]: 0}
    # float copies of the budgets: a cheap first ordering, and affordability when it is clear
    approx = np.full(64, float(budgets[0]))
    cls = np.zeros(voters, dtype=np.int32)  # each voter group's class; -1 once spent
    price = [mpq(c.numerator, c.denominator) for c in costs]
    heap = [(mpq(1, int(w.sum())), lot[p], p) for p, (_, w) in enumerate(supporters) if len(w)]
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap:
        _, rank, p = heapq.heappop(heap)
        alive, weight = supporters[p]
        classes = cls[alive]
        if classes.min() < 0:
            keep = classes >= 0
            alive, weight, classes = alive[keep], weight[keep], classes[keep]
            supporters[p] = alive, weight
        sums = np.bincount(classes, weights=weight)
        ids = np.flatnonzero(sums)
        held = sums[ids]
        rough = approx[ids]
        cost = price[p]
        if float(rough @ held) < float(cost) * (1 - 1e-9):
            continue  # unaffordable now, and budgets never grow back
        # floats put them almost in order; an exact sort of a sorted run is a linear check
        ranked = ids[np.argsort(rough, kind="stable")].tolist()
        ranked.sort(key=budgets.__getitem__)
        weight_of = dict(zip(ids.tolist(), held.astype(np.int64).tolist(), strict=True))
        rich = sum(weight_of.values())
        remaining = cost
        # the poorest pay all they have until the rest can split what remains equally
        for k in ranked:
            if budgets[k] * rich >= remaining:
                pay = remaining / rich
                break
            remaining -= budgets[k] * weight_of[k]
            rich -= weight_of[k]
        else:
            continue  # unaffordable after all (the floats were too close to tell)
        rho = pay / cost
        if heap and (rho, rank) > heap[0][:2]:
            heapq.heappush(heap, (rho, rank, p))
            continue
        chosen.append(p)
        remap = np.arange(len(budgets), dtype=np.int32)
        for k in ranked:
            left = budgets[k] - pay
            if left <= 0:
                remap[k] = -1
            elif left in class_of:  # joins the voters who already had that budget
                remap[k] = class_of[left]
            else:
                remap[k] = class_of[left] = len(budgets)
                budgets.append(left)
                if len(budgets) > len(approx):
                    approx = np.concatenate([approx, approx])
                approx[remap[k]] = float(left)
        cls[alive] = remap[classes]
    return chosen


def count_equal_shares(
    ballots: Iterable[tuple[Collection[str], Weight]],
    costs: Mapping[str, Weight],
    budget: Weight,
    seed: str,
    max_picks: int | None = None,
    step: Fraction | None = None,
) -> BudgetResult:
    """Method of Equal Shares with cost utilities, completed as the module docstring says.

    ``costs`` maps each project id to its cost; each ballot approves one to ``max_picks`` of them.
    ``step`` is the raise of every voter's budget per unit of weight between runs (default: 1% of
    the initial share). A project nobody approved is never funded.
    """
    projects, fcosts, groups, weights, places, n = _pb_profile(ballots, costs, budget, max_picks)
    limit = Fraction(Decimal(budget))
    lot_rank = {p: i for i, p in enumerate(lot_order(seed, projects))}
    lot = [lot_rank[p] for p in projects]
    votes = _votes(groups, weights, len(projects))
    members: list[list[int]] = [[] for _ in projects]
    for g, group in enumerate(groups):
        for p in group:
            members[p].append(g)
    if sum(weights) >= 2**53:
        raise ValueError("total weight too large to count exactly")
    weight_array = np.array(weights, dtype=np.float64)
    supporters = [
        (np.array(m, dtype=np.int32), weight_array[np.array(m, dtype=np.int32)]) for m in members
    ]
    approved = [p for p in range(len(projects)) if votes[p]]
    total = sum(weights)
    chosen: list[int] = []
    share = Fraction(0)
    if total:
        # shares per scaled unit of weight inside; reported per unit of weight
        share = limit / total
        raise_by = share / 100 if step is None else Fraction(step) / 10**places
        while True:
            outcome = _equal_shares_run(len(groups), list(supporters), fcosts, share, lot)
            spent = sum(fcosts[p] for p in outcome)
            if spent > limit:
                share -= raise_by
                break
            chosen = outcome
            if all(p in outcome or spent + fcosts[p] > limit for p in approved):
                break
            share += raise_by
    completion = _greedy(chosen, votes, fcosts, limit, lot)
    winners = chosen + completion
    return BudgetResult(
        method="equal_shares",
        winners=tuple(projects[p] for p in winners),
        votes={o: _to_decimal(v, places) for o, v in zip(projects, votes, strict=True)},
        cost=_fraction_to_decimal(sum((fcosts[p] for p in winners), Fraction(0))),
        budget=Decimal(budget),
        ballots=n,
        total_weight=_to_decimal(total, places),
        completed=tuple(projects[p] for p in completion),
        share=share * 10**places,
    )


def count_greedy_approval(
    ballots: Iterable[tuple[Collection[str], Weight]],
    costs: Mapping[str, Weight],
    budget: Weight,
    seed: str,
    max_picks: int | None = None,
) -> BudgetResult:
    """Greedy by approval: fund projects by descending approval weight (ties by lot), skipping
    any that no longer fits, until none does. Shown beside equal shares for comparison."""
    projects, fcosts, groups, weights, places, n = _pb_profile(ballots, costs, budget, max_picks)
    lot_rank = {p: i for i, p in enumerate(lot_order(seed, projects))}
    votes = _votes(groups, weights, len(projects))
    winners = _greedy([], votes, fcosts, Fraction(Decimal(budget)), [lot_rank[p] for p in projects])
    return BudgetResult(
        method="greedy",
        winners=tuple(projects[p] for p in winners),
        votes={o: _to_decimal(v, places) for o, v in zip(projects, votes, strict=True)},
        cost=_fraction_to_decimal(sum((fcosts[p] for p in winners), Fraction(0))),
        budget=Decimal(budget),
        ballots=n,
        total_weight=_to_decimal(sum(weights), places),
    )


def _fraction_to_decimal(value: Fraction) -> Decimal:
    # costs are Decimals, so their sums terminate
    return Decimal(value.numerator) / Decimal(value.denominator)
