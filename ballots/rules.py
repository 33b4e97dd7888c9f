"""Decision rules: does a yes/no/abstain vote carry the motion, and why.

A rule is data: a ``Rule`` holds its thresholds as exact fractions, serialises to a JSON-able dict
(fractions as "2/3") to be stored with the ballot and written into the log, and is rebuilt from
that dict by ``Rule.from_dict``. ``decide`` applies any rule to the votes and the roll's totals.

Rules offered (``consultation``, ``civil_code_278``, ``residents_meeting``):

- Consultation (协商): advisory; passes when yes is more than half of yes + no, by headcount.
  Abstentions are reported but count neither way.
- Owners' common decision, PRC Civil Code art. 278 (2021): valid only if owners with at least 2/3
  of the total exclusive area and at least 2/3 of all owners by headcount take part; an ordinary
  matter then needs more than 1/2 of the participating area and of the participating headcount
  to agree, a major one (art. 278 items 6-8) at least 3/4 of each. In Chinese statutes "以上"
  includes the number itself and "过半数" means more than half.
- The same under the Property Law of 2007 (art. 76), in force before 2021 (``version="pre2021"``):
  no participation quorum; a major matter (items 5-6: maintenance funds, rebuilding) needs owners
  with at least 2/3 of the total area and at least 2/3 of all owners to agree, any other matter
  more than 1/2 of each — measured against all owners, not the participants.
- Residents' meeting (居民会议): valid with more than half of the adult residents (or household
  representatives) present; passes with yes from more than half of those present.

Counting (art. 278, as Beijing's housing authority runs it): each ``Vote`` is one head's ballot
for one or more units. Records with the same ``head`` are merged: an owner of several units votes
for each, their areas add up, and they count as one head (so do the developer's unsold units,
filed under one head); a head's units must all carry the same choice. A unit may appear once (a
co-owned unit has one vote). Nobody who did not vote is ever counted as agreeing: approval is
measured from the yes votes only.

Every comparison is exact (``Fraction``/``Decimal``); the result lists each threshold with its
required and actual value and machine-readable reasons from which the app words the explanation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal, cast

from ballots.methods import ABSTAIN, NO, YES, YES_NO_ABSTAIN, BallotInvalid

Measure = Literal["area", "heads"]
Counted = Literal["participating", "approving"]
Base = Literal["roll", "participating", "decisive"]
Stage = Literal["quorum", "approval"]


@dataclass(frozen=True)
class Threshold:
    """``counted`` (by ``measure``) must exceed (``strict``) or reach ``fraction`` of ``base``.

    Bases: ``roll`` is everyone entitled to vote, ``participating`` everyone who voted (or, for a
    meeting, was present), ``decisive`` the yes and no votes only.
    """

    code: str
    stage: Stage
    counted: Counted
    measure: Measure
    base: Base
    fraction: Fraction
    strict: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "stage": self.stage,
            "counted": self.counted,
            "measure": self.measure,
            "base": self.base,
            "fraction": str(self.fraction),
            "strict": self.strict,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Threshold:
        threshold = cls(
            code=str(data["code"]),
            stage=cast(Stage, data["stage"]),
            counted=cast(Counted, data["counted"]),
            measure=cast(Measure, data["measure"]),
            base=cast(Base, data["base"]),
            fraction=Fraction(str(data["fraction"])),
            strict=bool(data["strict"]),
        )
        allowed = (
            (threshold.stage, ("quorum", "approval")),
            (threshold.counted, ("participating", "approving")),
            (threshold.measure, ("area", "heads")),
            (threshold.base, ("roll", "participating", "decisive")),
        )
        if any(value not in values for value, values in allowed) or not (
            0 <= threshold.fraction <= 1
        ):
            raise ValueError(f"not a threshold: {dict(data)}")
        return threshold


@dataclass(frozen=True)
class Rule:
    """A decision rule as data: its name, the parameters it was built from, its thresholds."""

    name: str
    params: tuple[tuple[str, str], ...]
    thresholds: tuple[Threshold, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "params": dict(self.params),
            "thresholds": [t.to_dict() for t in self.thresholds],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Rule:
        params = cast(Mapping[str, str], data["params"])
        thresholds = cast(Iterable[Mapping[str, object]], data["thresholds"])
        return cls(
            name=str(data["name"]),
            params=tuple(sorted((str(k), str(v)) for k, v in params.items())),
            thresholds=tuple(Threshold.from_dict(t) for t in thresholds),
        )


HALF, TWO_THIRDS, THREE_QUARTERS = Fraction(1, 2), Fraction(2, 3), Fraction(3, 4)


def consultation() -> Rule:
    """Simple majority of the yes and no votes, by headcount; abstentions only reported."""
    return Rule(
        "consultation",
        (),
        (Threshold("majority_heads", "approval", "approving", "heads", "decisive", HALF, True),),
    )


def civil_code_278(
    matter: Literal["ordinary", "major"], version: Literal["2021", "pre2021"] = "2021"
) -> Rule:
    """Owners' common decision: Civil Code art. 278 (2021) or Property Law art. 76 (pre2021)."""
    if matter not in ("ordinary", "major") or version not in ("2021", "pre2021"):
        raise ValueError(f"no such art. 278 rule: {matter!r}, {version!r}")
    params = (("matter", matter), ("version", version))
    if version == "pre2021":
        share, strict = (TWO_THIRDS, False) if matter == "major" else (HALF, True)
        return Rule(
            "civil_code_278",
            params,
            tuple(
                Threshold(f"approval_{m}", "approval", "approving", m, "roll", share, strict)
                for m in ("area", "heads")
            ),
        )
    share, strict = (THREE_QUARTERS, False) if matter == "major" else (HALF, True)
    quorum = tuple(
        Threshold(f"participation_{m}", "quorum", "participating", m, "roll", TWO_THIRDS, False)
        for m in ("area", "heads")
    )
    approval = tuple(
        Threshold(f"approval_{m}", "approval", "approving", m, "participating", share, strict)
        for m in ("area", "heads")
    )
    return Rule("civil_code_278", params, quorum + approval)


def residents_meeting() -> Rule:
    """More than half of the adult residents (or household representatives) present; yes from
    more than half of those present."""
    return Rule(
        "residents_meeting",
        (),
        (
            Threshold("presence_heads", "quorum", "participating", "heads", "roll", HALF, True),
            Threshold(
                "approval_heads", "approval", "approving", "heads", "participating", HALF, True
            ),
        ),
    )


# --- deciding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    """One head's ballot: ``head`` counts once however many records carry it; ``units`` are the
    units it votes for (none for a resident), ``area`` their exclusive floor area in m²."""

    head: str
    units: tuple[str, ...]
    area: Decimal
    choice: str


@dataclass(frozen=True)
class Roll:
    """The roll's totals: all exclusive area and all heads entitled to vote."""

    total_area: Decimal
    total_heads: int


@dataclass(frozen=True)
class OptionTotal:
    heads: int
    area: Decimal


@dataclass(frozen=True)
class ThresholdCheck:
    """One threshold applied: ``actual`` against ``required`` (= fraction x base value)."""

    threshold: Threshold
    base_value: Decimal
    required: Fraction
    actual: Decimal
    met: bool


@dataclass(frozen=True)
class Reason:
    """A machine-readable step of the explanation; numbers are exact, as strings."""

    code: str
    numbers: dict[str, str]


@dataclass(frozen=True)
class Decision:
    rule: Rule
    passed: bool
    valid: bool  # every quorum threshold met
    participating_area: Decimal
    participating_heads: int
    approving_area: Decimal
    approving_heads: int
    options: dict[str, OptionTotal]  # yes, no, abstain by headcount and by area
    thresholds: tuple[ThresholdCheck, ...]
    reasons: tuple[Reason, ...]


def _merge(votes: Iterable[Vote]) -> dict[str, Vote]:
    """One record per head: units and areas added up, one choice, each unit voting once."""
    heads: dict[str, Vote] = {}
    units: set[str] = set()
    for vote in votes:
        if vote.choice not in YES_NO_ABSTAIN:
            raise BallotInvalid("unknown_option", option=vote.choice, head=vote.head)
        area = vote.area
        if (
            isinstance(area, bool)
            or not isinstance(area, Decimal | int)
            or not (Decimal(area).is_finite() and area >= 0)
        ):
            raise BallotInvalid("invalid_area", area=str(area), head=vote.head)
        for unit in vote.units:
            if unit in units:
                raise BallotInvalid("duplicate_unit", unit=unit, head=vote.head)
            units.add(unit)
        known = heads.get(vote.head)
        if known is None:
            heads[vote.head] = Vote(vote.head, tuple(vote.units), Decimal(area), vote.choice)
        elif known.choice != vote.choice:
            raise BallotInvalid("conflicting_choices", head=vote.head)
        else:
            heads[vote.head] = Vote(
                vote.head, known.units + tuple(vote.units), known.area + area, vote.choice
            )
    return heads


def decide(
    rule: Rule,
    votes: Iterable[Vote],
    roll: Roll,
    present: int | None = None,
    participating_area: Decimal | None = None,
) -> Decision:
    """Apply ``rule`` to the votes cast against the roll's totals.

    ``present`` is a meeting's attendance: those present who did not vote take part (they count
    in the participating headcount) but do not agree. Without it, participants are the voters.
    ``participating_area`` likewise gives the participants' area when it is known apart from the
    votes (a secret ballot's votes carry no area; its participation list does).
    """
    if roll.total_heads <= 0 or roll.total_area < 0:
        raise ValueError("the roll needs at least one head and a non-negative area")
    heads = _merge(votes)
    options = {
        o: OptionTotal(
            heads=sum(1 for v in heads.values() if v.choice == o),
            area=sum((v.area for v in heads.values() if v.choice == o), Decimal(0)),
        )
        for o in YES_NO_ABSTAIN
    }
    participating_heads = len(heads)
    if present is not None:
        if present < participating_heads:
            raise ValueError(f"{participating_heads} voted but only {present} were present")
        participating_heads = present
    voted_area = sum((t.area for t in options.values()), Decimal(0))
    if participating_area is None:
        participating_area = voted_area
    elif participating_area < voted_area:
        raise ValueError(f"{voted_area} m² voted but only {participating_area} m² took part")
    if participating_heads > roll.total_heads or participating_area > roll.total_area:
        raise ValueError("more heads or area took part than the roll holds")
    values: dict[tuple[str, Measure], Decimal] = {
        ("roll", "area"): roll.total_area,
        ("roll", "heads"): Decimal(roll.total_heads),
        ("participating", "area"): participating_area,
        ("participating", "heads"): Decimal(participating_heads),
        ("decisive", "area"): options[YES].area + options[NO].area,
        ("decisive", "heads"): Decimal(options[YES].heads + options[NO].heads),
        ("approving", "area"): options[YES].area,
        ("approving", "heads"): Decimal(options[YES].heads),
    }
    checks = []
    for t in rule.thresholds:
        base = values[(t.base, t.measure)]
        actual = values[(t.counted, t.measure)]
        required = t.fraction * Fraction(base)
        met = Fraction(actual) > required if t.strict else Fraction(actual) >= required
        checks.append(ThresholdCheck(t, base, required, actual, met))
    valid = all(c.met for c in checks if c.threshold.stage == "quorum")
    passed = valid and all(c.met for c in checks if c.threshold.stage == "approval")
    reasons = [
        Reason(
            "turnout",
            {
                "participating_heads": str(participating_heads),
                "participating_area": str(participating_area),
                "roll_heads": str(roll.total_heads),
                "roll_area": str(roll.total_area),
                # said aloud because some tools count non-voters as agreeing; this never does
                "not_voting_heads": str(roll.total_heads - participating_heads),
                "not_voting_area": str(roll.total_area - participating_area),
            },
        ),
        *(
            Reason(
                f"{c.threshold.code}_{'met' if c.met else 'not_met'}",
                {
                    "actual": str(c.actual),
                    "required": exact_text(c.required),
                    "fraction": str(c.threshold.fraction),
                    "strict": "true" if c.threshold.strict else "false",
                    "base": str(c.base_value),
                },
            )
            for c in checks
        ),
    ]
    if options[ABSTAIN].heads:
        reasons.append(
            Reason(
                "abstentions",
                {"heads": str(options[ABSTAIN].heads), "area": str(options[ABSTAIN].area)},
            )
        )
    outcome = "passed" if passed else ("rejected" if valid else "quorum_not_met")
    reasons.append(Reason(outcome, {}))
    return Decision(
        rule=rule,
        passed=passed,
        valid=valid,
        participating_area=participating_area,
        participating_heads=participating_heads,
        approving_area=options[YES].area,
        approving_heads=options[YES].heads,
        options=options,
        thresholds=tuple(checks),
        reasons=tuple(reasons),
    )


def exact_text(value: Fraction) -> str:
    """A Decimal string when the fraction terminates (2/3 of 120 = "80"), else "p/q"."""
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return str(value)
    return str(Decimal(value.numerator) / Decimal(value.denominator))
