"""A ballot as data: its definition, its frozen roll, the answers a voter may give, which casts
count, and the tally, all plain functions that the server and the verifier share.

The definition is a JSON-able dict (``Definition.to_dict``) stored with the ballot and written in
full into ``ballot.opened``; every count is a pure function of that entry, the roll it carries and
the ``ballot.cast`` entries, so ``yishi-verify`` recounts with the very code the server used.

Answers map a question id to: an option id (yes/no/abstain, single choice), a list of option ids
in any order (approval, participatory budget; normalised to sorted), or a ranking (IRV, STV,
Schulze; best first).

Which cast counts, per elector (roll-call ballots): the elector's own casts (online or on paper)
override a proxy's; when revoting is allowed a later cast replaces an earlier one of the same
channel, and an online cast replaces a paper form (a grid member's entry never replaces what the
voter cast online); otherwise the first counts. A secret ballot carries no elector, so it cannot be replaced: revoting is refused
there, a proxy's ballot stands once cast, and every cast counts; participation is recorded apart
and published, sorted, when the ballot closes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

from ballots import methods
from ballots.methods import YES_NO_ABSTAIN, BallotInvalid
from ballots.rules import Decision, Roll, Rule, Vote, decide, exact_text

Method = Literal[
    "yes_no_abstain",
    "single_choice",
    "approval",
    "instant_runoff",
    "stv",
    "schulze",
    "equal_shares",
]
METHODS: tuple[Method, ...] = (
    "yes_no_abstain",
    "single_choice",
    "approval",
    "instant_runoff",
    "stv",
    "schulze",
    "equal_shares",
)
RANKED: frozenset[str] = frozenset({"instant_runoff", "stv", "schulze"})
SETS: frozenset[str] = frozenset({"approval", "equal_shares"})
ELECTORATES = ("owners", "adults", "households", "list")
CHANNELS = ("online", "paper", "proxy")
SECRECY = ("roll_call", "secret")
REVOTING = ("last", "first")
RULES = ("consultation", "civil_code_278", "residents_meeting")
MAX_OPTIONS = 200
MAX_QUESTIONS = 20
MAX_TEXT = 4000


@dataclass(frozen=True)
class Problem:
    """Something that keeps a definition from opening; ``field`` says where, ``code`` what."""

    code: str
    field: str
    details: dict[str, str] = dataclasses.field(default_factory=dict)


class DefinitionError(ValueError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(", ".join(f"{p.field}: {p.code}" for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Option:
    id: str
    label: str
    cost: Decimal | None = None  # participatory budget projects only


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    method: Method
    options: tuple[Option, ...]
    seats: int = 1  # approval top-N and STV
    max_picks: int | None = None  # approval and participatory budget
    budget: Decimal | None = None  # participatory budget

    @property
    def option_ids(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.options)


@dataclass(frozen=True)
class Definition:
    title: str
    description: str
    questions: tuple[Question, ...]
    rule: Rule
    secrecy: Literal["roll_call", "secret"]
    revoting: Literal["last", "first"]
    channels: tuple[str, ...]
    opens_at: datetime
    closes_at: datetime
    electorate: Literal["owners", "adults", "households", "list"]
    seed: str
    named: tuple[str, ...] = ()  # person refs, for a named list
    agenda_item: str | None = None
    paper_double_entry: bool = False
    proxy_limit: int = 3
    early_close: bool = False
    objection_days: int = 7

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "agenda_item": self.agenda_item,
            "questions": [
                {
                    "id": q.id,
                    "text": q.text,
                    "method": q.method,
                    "options": [
                        {"id": o.id, "label": o.label}
                        | ({"cost": str(o.cost)} if o.cost is not None else {})
                        for o in q.options
                    ],
                    "seats": q.seats,
                    "max_picks": q.max_picks,
                    "budget": None if q.budget is None else str(q.budget),
                }
                for q in self.questions
            ],
            "rule": self.rule.to_dict(),
            "secrecy": self.secrecy,
            "revoting": self.revoting,
            "channels": list(self.channels),
            "paper_double_entry": self.paper_double_entry,
            "proxy_limit": self.proxy_limit,
            "opens_at": iso_utc(self.opens_at),
            "closes_at": iso_utc(self.closes_at),
            "early_close": self.early_close,
            "objection_days": self.objection_days,
            "electorate": self.electorate,
            "named": list(self.named),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Definition:
        """Rebuild a definition, or raise ``DefinitionError`` listing every malformed field.

        This checks shape (types, known names, well-formed numbers and times); ``problems``
        checks whether a well-formed definition may open."""
        found: list[Problem] = []

        def get(key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
            if key not in data:
                if default is ...:
                    found.append(Problem("missing", key))
                return None if default is ... else default
            value = data[key]
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
                found.append(Problem("wrong_type", key))
                return None if default is ... else default
            return value

        def choice(key: str, allowed: Sequence[str], default: Any = ...) -> Any:
            value = get(key, str, default)
            if value is not None and value not in allowed:
                found.append(Problem("unknown_value", key, {"value": str(value)}))
            return value

        title = get("title", str)
        description = get("description", str, "")
        agenda_item = get("agenda_item", (str, type(None)), None)
        secrecy = choice("secrecy", SECRECY)
        revoting = choice("revoting", REVOTING)
        electorate = choice("electorate", ELECTORATES)
        channels = get("channels", list) or []
        for i, c in enumerate(channels):
            if c not in CHANNELS:
                found.append(Problem("unknown_value", f"channels[{i}]", {"value": str(c)}))
        named = get("named", list, [])
        if not all(isinstance(n, str) for n in named):
            found.append(Problem("wrong_type", "named"))
        seed = get("seed", str)
        opens_at = _time(data.get("opens_at"), "opens_at", found)
        closes_at = _time(data.get("closes_at"), "closes_at", found)
        double = get("paper_double_entry", bool, False)
        proxy_limit = get("proxy_limit", int, 3)
        early_close = get("early_close", bool, False)
        objection_days = get("objection_days", int, 7)
        rule = None
        raw_rule = get("rule", dict)
        if raw_rule is not None:
            try:
                rule = Rule.from_dict(raw_rule)
            except (KeyError, ValueError, TypeError):
                found.append(Problem("invalid", "rule"))
            else:
                if rule.name not in RULES:
                    found.append(Problem("unknown_value", "rule", {"value": rule.name}))
        questions = []
        for qi, raw in enumerate(get("questions", list) or []):
            question = _question(raw, f"questions[{qi}]", found)
            if question is not None:
                questions.append(question)
        if found:
            raise DefinitionError(found)
        return cls(
            title=title,
            description=description,
            agenda_item=agenda_item,
            questions=tuple(questions),
            rule=cast(Rule, rule),
            secrecy=secrecy,
            revoting=revoting,
            channels=tuple(channels),
            opens_at=cast(datetime, opens_at),
            closes_at=cast(datetime, closes_at),
            electorate=electorate,
            named=tuple(named),
            seed=seed,
            paper_double_entry=double,
            proxy_limit=proxy_limit,
            early_close=early_close,
            objection_days=objection_days,
        )

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)


def iso_utc(moment: datetime) -> str:
    """A moment as the log writes it: UTC to the second, with a Z (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: object, key: str, found: list[Problem]) -> datetime | None:
    if not isinstance(value, str):
        found.append(Problem("missing" if value is None else "wrong_type", key))
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        found.append(Problem("invalid_time", key, {"value": value}))
        return None
    if moment.tzinfo is None:
        found.append(Problem("invalid_time", key, {"value": value}))
        return None
    return moment.astimezone(UTC).replace(microsecond=0)  # as to_dict writes it


def _decimal(value: object, where: str, found: list[Problem]) -> Decimal | None:
    try:
        number = Decimal(str(value)) if isinstance(value, str | int) else None
    except InvalidOperation:
        number = None
    if number is None or isinstance(value, bool) or not number.is_finite() or number <= 0:
        found.append(Problem("not_a_positive_number", where, {"value": str(value)}))
        return None
    return number


def _question(raw: object, where: str, found: list[Problem]) -> Question | None:
    if not isinstance(raw, dict):
        found.append(Problem("wrong_type", where))
        return None
    before = len(found)
    qid, text, method = raw.get("id"), raw.get("text"), raw.get("method")
    if not isinstance(qid, str) or not qid:
        found.append(Problem("missing", f"{where}.id"))
    if not isinstance(text, str):
        found.append(Problem("missing", f"{where}.text"))
    if method not in METHODS:
        found.append(Problem("unknown_value", f"{where}.method", {"value": str(method)}))
    seats, max_picks = raw.get("seats", 1), raw.get("max_picks")
    if not isinstance(seats, int) or isinstance(seats, bool):
        found.append(Problem("wrong_type", f"{where}.seats"))
    if max_picks is not None and (not isinstance(max_picks, int) or isinstance(max_picks, bool)):
        found.append(Problem("wrong_type", f"{where}.max_picks"))
    budget = raw.get("budget")
    budget_value = None if budget is None else _decimal(budget, f"{where}.budget", found)
    options = []
    raw_options = raw.get("options")
    if not isinstance(raw_options, list):
        found.append(Problem("wrong_type", f"{where}.options"))
        raw_options = []
    for oi, option in enumerate(raw_options):
        at = f"{where}.options[{oi}]"
        if (
            not isinstance(option, dict)
            or not isinstance(option.get("id"), str)
            or not isinstance(option.get("label"), str)
        ):
            found.append(Problem("wrong_type", at))
            continue
        cost = option.get("cost")
        options.append(
            Option(
                option["id"],
                option["label"],
                None if cost is None else _decimal(cost, f"{at}.cost", found),
            )
        )
    if len(found) > before:
        return None
    return Question(
        id=cast(str, qid),
        text=cast(str, text),
        method=cast(Method, method),
        options=tuple(options),
        seats=seats,
        max_picks=max_picks,
        budget=budget_value,
    )


def problems(definition: Definition, roll_size: int | None = None) -> list[Problem]:
    """Everything that keeps a well-formed definition from opening (an empty list: it may open).

    ``roll_size`` is the number of electors the register gives today (None: not known yet)."""
    found: list[Problem] = []
    if not definition.title.strip():
        found.append(Problem("required", "title"))
    if len(definition.title) > 200:
        found.append(Problem("too_long", "title", {"max": "200"}))
    if len(definition.description) > MAX_TEXT:
        found.append(Problem("too_long", "description", {"max": str(MAX_TEXT)}))
    if not definition.questions:
        found.append(Problem("no_questions", "questions"))
    if len(definition.questions) > MAX_QUESTIONS:
        found.append(Problem("too_many", "questions", {"max": str(MAX_QUESTIONS)}))
    if len({q.id for q in definition.questions}) != len(definition.questions):
        found.append(Problem("duplicate_id", "questions"))
    for i, q in enumerate(definition.questions):
        found.extend(_question_problems(definition, q, f"questions[{i}]"))
    if definition.closes_at <= definition.opens_at:
        found.append(Problem("closes_before_opening", "closes_at"))
    if not definition.channels:
        found.append(Problem("no_channels", "channels"))
    if len(set(definition.channels)) != len(definition.channels):
        found.append(Problem("duplicate_id", "channels"))
    if not 1 <= definition.proxy_limit <= 20:
        found.append(Problem("out_of_range", "proxy_limit", {"min": "1", "max": "20"}))
    if not 0 <= definition.objection_days <= 60:
        found.append(Problem("out_of_range", "objection_days", {"min": "0", "max": "60"}))
    if definition.electorate == "list" and not definition.named:
        found.append(Problem("empty_list", "named"))
    if definition.electorate != "list" and definition.named:
        found.append(Problem("list_not_used", "named"))
    if len(definition.seed) < 16:
        found.append(Problem("weak_seed", "seed"))
    rule = definition.rule
    if rule.name == "civil_code_278" and definition.electorate != "owners":
        found.append(Problem("rule_needs_owners", "electorate"))
    if rule.name != "consultation" and definition.early_close:
        # the law and the meeting's notice promise owners the whole window
        found.append(Problem("early_close_not_allowed", "early_close"))
    if definition.secrecy == "secret":
        if definition.revoting == "last":
            found.append(Problem("secret_revoting", "revoting"))
        if any(t.measure == "area" and t.stage == "approval" for t in rule.thresholds):
            found.append(Problem("secret_area_rule", "secrecy"))
    if definition.paper_double_entry and "paper" not in definition.channels:
        found.append(Problem("double_entry_without_paper", "paper_double_entry"))
    if roll_size == 0:
        found.append(Problem("empty_roll", "electorate"))
    return found


def _question_problems(definition: Definition, q: Question, where: str) -> list[Problem]:
    found: list[Problem] = []
    ids = q.option_ids
    if not q.text.strip():
        found.append(Problem("required", f"{where}.text"))
    if q.method == "yes_no_abstain":
        if ids != YES_NO_ABSTAIN:
            found.append(Problem("yes_no_abstain_options", f"{where}.options"))
    elif len(ids) < 2:
        found.append(Problem("too_few_options", f"{where}.options", {"min": "2"}))
    if len(ids) > MAX_OPTIONS:
        found.append(Problem("too_many", f"{where}.options", {"max": str(MAX_OPTIONS)}))
    if len(set(ids)) != len(ids) or any(not o for o in ids):
        found.append(Problem("duplicate_id", f"{where}.options"))
    if any(not o.label.strip() for o in q.options):
        found.append(Problem("required", f"{where}.options"))
    if q.method in ("approval", "stv") and not 1 <= q.seats <= max(len(ids) - 1, 1):
        found.append(Problem("out_of_range", f"{where}.seats", {"min": "1"}))
    if q.method not in ("approval", "stv") and q.seats != 1:
        found.append(Problem("seats_not_used", f"{where}.seats"))
    if q.max_picks is not None:
        if q.method not in SETS:
            found.append(Problem("max_picks_not_used", f"{where}.max_picks"))
        elif not 1 <= q.max_picks <= len(ids):
            found.append(Problem("out_of_range", f"{where}.max_picks", {"min": "1"}))
    costed = [o.cost is not None for o in q.options]
    if q.method == "equal_shares":
        if q.budget is None:
            found.append(Problem("required", f"{where}.budget"))
        if not all(costed):
            found.append(Problem("cost_required", f"{where}.options"))
    elif q.budget is not None or any(costed):
        found.append(Problem("costs_not_used", f"{where}.options"))
    return found


# --- the roll ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Elector:
    """One vote on the roll. ``code`` names it in the public log (a unit label, or a person's
    register reference); ``units`` are the units it votes for and ``area`` their exclusive floor
    area (owners' ballots; otherwise empty and 0). Each elector counts as one head."""

    code: str
    units: tuple[str, ...]
    area: Decimal
    building: str
    grid: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "units": list(self.units),
            "area": str(self.area),
            "building": self.building,
            "grid": self.grid,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Elector:
        area = Decimal(str(data["area"]))
        if not area.is_finite() or area < 0:
            raise ValueError(f"elector {data.get('code')}: area {data['area']!r}")
        return cls(
            code=str(data["code"]),
            units=tuple(str(u) for u in data["units"]),
            area=area,
            building=str(data["building"]),
            grid=str(data["grid"]),
        )


def roll_digest(electors: Iterable[Elector]) -> str:
    """SHA-256 over the roll's canonical JSON lines, sorted by code: what ``ballot.opened``
    commits to, so the roll a count used can be checked against the one frozen at opening."""
    digest = hashlib.sha256()
    for elector in sorted(electors, key=lambda e: e.code):
        line = json.dumps(elector.to_dict(), sort_keys=True, separators=(",", ":"))
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def roll_totals(electors: Iterable[Elector]) -> Roll:
    electors = list(electors)
    return Roll(total_area=sum((e.area for e in electors), Decimal(0)), total_heads=len(electors))


# --- answers -----------------------------------------------------------------------------------


def check_answers(definition: Definition, answers: object) -> dict[str, Any]:
    """The voter's answers normalised for the log, or ``BallotInvalid`` naming the question.

    Every question must be answered (yes/no/abstain offers abstain)."""
    if not isinstance(answers, dict):
        raise BallotInvalid("not_an_answer_map")
    unknown = sorted(set(answers) - {q.id for q in definition.questions})
    if unknown:
        raise BallotInvalid("unknown_question", question=unknown[0])
    normal: dict[str, Any] = {}
    for q in definition.questions:
        if q.id not in answers or answers[q.id] in (None, "", []):
            raise BallotInvalid("unanswered", question=q.id)
        value = answers[q.id]
        try:
            if q.method in ("yes_no_abstain", "single_choice"):
                if not isinstance(value, str):
                    raise BallotInvalid("one_option_expected")
                normal[q.id] = methods.check_choice(value, q.option_ids)
            elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise BallotInvalid("list_expected")
            elif q.method in SETS:
                max_picks = q.max_picks
                normal[q.id] = sorted(methods.check_approval(value, q.option_ids, max_picks))
            else:
                normal[q.id] = list(methods.check_ranking(value, q.option_ids))
        except BallotInvalid as invalid:
            raise BallotInvalid(invalid.code, question=q.id, **invalid.details) from None
    return normal


# --- which casts count -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cast:
    """A ``ballot.cast`` entry as the count sees it, in log order. ``elector`` is None in a
    secret ballot."""

    elector: str | None
    answers: Mapping[str, Any]
    channel: str


def counted_casts(definition: Definition, casts: Iterable[Cast]) -> list[Cast]:
    """One cast per elector under the revoting policy (module docstring); in a secret ballot,
    every cast."""
    if definition.secrecy == "secret":
        return list(casts)
    chosen: dict[str, Cast] = {}
    for c in casts:
        if c.elector is None:
            raise ValueError("a roll-call cast must name its elector")
        known = chosen.get(c.elector)
        own_over_proxy = known is not None and known.channel == "proxy" and c.channel != "proxy"
        revote = (
            known is not None
            and definition.revoting == "last"
            and (
                known.channel == c.channel
                # the voter's own online ballot replaces a paper form entered for them
                or (known.channel == "paper" and c.channel == "online")
            )
        )
        if known is None or own_over_proxy or revote:
            chosen[c.elector] = c
    return sorted(chosen.values(), key=lambda c: cast(str, c.elector))


# --- the tally ---------------------------------------------------------------------------------


def tally(
    definition: Definition,
    electors: Sequence[Elector],
    counted: Sequence[Cast],
    participants: Iterable[str],
) -> dict[str, Any]:
    """The published result: per question the method's count by headcount (and by area where
    the ballot is roll-call and weighted by area), the decision rule applied, and the turnout.

    ``participants`` are the electors who took part (for a secret ballot, the participation
    list). Deterministic and JSON-able, so the verifier can compare it byte for byte."""
    by_code = {e.code: e for e in electors}
    taking_part = sorted(set(participants))
    missing = [code for code in taking_part if code not in by_code]
    if missing:
        raise ValueError(f"not on the roll: {missing[0]}")
    part_area = sum((by_code[c].area for c in taking_part), Decimal(0))
    roll = roll_totals(electors)
    weighted = definition.secrecy == "roll_call" and definition.electorate == "owners"
    results = []
    for q in definition.questions:
        entry: dict[str, Any] = {"question": q.id, "method": q.method}
        head_ballots = [(c.answers[q.id], 1) for c in counted]
        entry.update(_count(q, head_ballots, definition.seed))
        if weighted and q.method in ("yes_no_abstain", "single_choice", "approval"):
            area_ballots = [
                (c.answers[q.id], by_code[cast(str, c.elector)].area)
                for c in counted
                if by_code[cast(str, c.elector)].area > 0
            ]
            entry["area"] = _count(q, area_ballots, definition.seed)["counts"]
        entry["decision"] = _decision_dict(
            _decide(definition, q, counted, by_code, len(taking_part), part_area, roll)
        )
        results.append(entry)
    return {
        "counted": len(counted),
        "turnout": {
            "heads": len(taking_part),
            "area": str(part_area),
            "roll_heads": roll.total_heads,
            "roll_area": str(roll.total_area),
        },
        "questions": results,
    }


def _count(q: Question, ballots: list[tuple[Any, Any]], seed: str) -> dict[str, Any]:
    options = q.option_ids
    if q.method == "yes_no_abstain":
        t = methods.count_yes_no_abstain(ballots)
        return {"counts": _strs(t.counts), "winners": list(t.winners)}
    if q.method == "single_choice":
        t = methods.count_single_choice(ballots, options, seed)
        return {"counts": _strs(t.counts), "winners": list(t.winners), "ties": _ties(t)}
    if q.method == "approval":
        t = methods.count_approval(ballots, options, q.seats, seed, q.max_picks)
        return {"counts": _strs(t.counts), "winners": list(t.winners), "ties": _ties(t)}
    if q.method in ("instant_runoff", "stv"):
        r = (
            methods.count_instant_runoff(ballots, options, seed)
            if q.method == "instant_runoff"
            else methods.count_stv(ballots, options, q.seats, seed)
        )
        return {
            "counts": _strs(r.first_preferences),
            "winners": list(r.winners),
            "quota": None if r.quota is None else str(r.quota),
            "stages": [
                {
                    "action": s.action,
                    "subject": s.subject,
                    "totals": _strs(s.totals),
                    "non_transferable": str(s.non_transferable),
                    "elected": list(s.elected),
                }
                for s in r.stages
            ],
            "ties": _ties(r),
        }
    if q.method == "schulze":
        s = methods.count_schulze(ballots, options, seed)
        first = {o: 0 for o in options}
        for ranking, _ in ballots:
            first[ranking[0]] += 1
        return {
            "counts": {o: str(v) for o, v in first.items()},
            "winners": list(s.winners),
            "ranking": list(s.ranking),
            "pairwise": {a: _strs(row) for a, row in s.pairwise.items()},
            "ties": _ties(s),
        }
    costs = {o.id: cast(Decimal, o.cost) for o in q.options}
    budget = cast(Decimal, q.budget)
    shares = methods.count_equal_shares(ballots, costs, budget, seed, q.max_picks)
    greedy = methods.count_greedy_approval(ballots, costs, budget, seed, q.max_picks)
    return {
        "counts": _strs(shares.votes),
        "winners": list(shares.winners),
        "completed": list(shares.completed),
        "cost": str(shares.cost),
        "budget": str(budget),
        "greedy": {"winners": list(greedy.winners), "cost": str(greedy.cost)},
    }


def _strs(values: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}


def _ties(result: Any) -> list[dict[str, Any]]:
    return [{"tied": list(t.tied), "chosen": t.chosen, "by": t.by} for t in result.tie_breaks]


def _decide(
    definition: Definition,
    q: Question,
    counted: Sequence[Cast],
    by_code: Mapping[str, Elector],
    heads: int,
    area: Decimal,
    roll: Roll,
) -> Decision | None:
    """The rule applied to this question. Only the quorum thresholds apply to a question that is
    not yes/no (it has winners, not a motion); approval needs yes/no/abstain answers."""
    rule = definition.rule
    votes: list[Vote] = []
    if q.method != "yes_no_abstain":
        quorum = tuple(t for t in rule.thresholds if t.stage == "quorum")
        if not quorum:
            return None
        # the participants take part and nobody agrees: only the quorum is judged
        rule = Rule(rule.name, rule.params, quorum)
    elif definition.secrecy == "secret":
        # anonymous heads without area: a secret rule never measures approval by area
        votes = [Vote(f"#{i}", (), Decimal(0), c.answers[q.id]) for i, c in enumerate(counted)]
    else:
        for c in counted:
            e = by_code[cast(str, c.elector)]
            votes.append(Vote(e.code, e.units, e.area, c.answers[q.id]))
    return decide(rule, votes, roll, present=heads, participating_area=area)


def _decision_dict(decision: Decision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "rule": decision.rule.name,
        "passed": decision.passed,
        "valid": decision.valid,
        "participating_heads": decision.participating_heads,
        "participating_area": str(decision.participating_area),
        "approving_heads": decision.approving_heads,
        "approving_area": str(decision.approving_area),
        "options": {
            o: {"heads": t.heads, "area": str(t.area)} for o, t in decision.options.items()
        },
        "thresholds": [
            {
                "code": c.threshold.code,
                "stage": c.threshold.stage,
                "measure": c.threshold.measure,
                "fraction": str(c.threshold.fraction),
                "strict": c.threshold.strict,
                "base": str(c.base_value),
                "required": exact_text(c.required),
                "actual": str(c.actual),
                "met": c.met,
            }
            for c in decision.thresholds
        ],
        "reasons": [{"code": r.code, "numbers": r.numbers} for r in decision.reasons],
    }
