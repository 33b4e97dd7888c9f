"""Recounting an exported ballots CSV with the server's own code (``yishi tally``).

The CSV is what the server exports for a closed ballot (``app.ballots.counted_csv``)::

    elector,units,area,channel,question,answer

one row per counted ballot and question. ``elector`` is the elector's code on the roll (empty in
a secret ballot), ``units`` the units it votes for (space-separated), ``area`` their exclusive
floor area in m² (empty in a secret ballot), ``channel`` online, paper or proxy (empty in a
secret ballot, whose casts do not say how they came), and ``answer``
one option id, or space-separated option ids: any order for approval and participatory budget,
best first for a ranking.

The rows of one question become the counted casts of a one-question ballot and go through
``ballots.ballot.tally``, so the result has the shape of a question entry in the server's
``tally.published`` (counts by headcount, by area where the rows carry areas, the winners, the
rule's decision). Ties are broken by the ballot's seed, which is ``definition.seed`` in its
``ballot.opened`` log entry: without it (``seed=""``) a tie may be broken differently.

Everything here is a pure function; bad input raises ``RecountError`` listing every problem,
with the CSV line where there is one.
"""

from __future__ import annotations

import csv
import gettext
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, cast

from audit.verify import N_
from ballots.ballot import (
    CHANNELS,
    METHODS,
    RANKED,
    SETS,
    Cast,
    Definition,
    Elector,
    Method,
    Option,
    Question,
    check_answers,
    counted_casts,
    tally,
)
from ballots.methods import YES_NO_ABSTAIN, BallotInvalid
from ballots.rules import Rule, civil_code_278, consultation, residents_meeting

CSV_HEADER: Final = ("elector", "units", "area", "channel", "question", "answer")
RULE_NAMES: Final = (
    "consultation",
    "civil_code_278:ordinary",
    "civil_code_278:major",
    "civil_code_278:ordinary:pre2021",
    "civil_code_278:major:pre2021",
    "residents_meeting",
)
MAX_PROBLEMS: Final = 50


@dataclass(frozen=True)
class Problem:
    """One reason the input cannot be counted: an English msgid with ``{name}`` placeholders,
    and the CSV line it is on (None: not about a line, e.g. an option)."""

    message: str
    line: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, tr: gettext.NullTranslations) -> str:
        body = tr.gettext(self.message).format(**self.params)
        if self.line is None:
            return body
        return tr.gettext("line {line}: {problem}").format(line=self.line, problem=body)


class RecountError(ValueError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = tuple(problems)


def _fail(message: str, line: int | None = None, **params: Any) -> RecountError:
    return RecountError([Problem(message, line, params)])


# --- the parameters ----------------------------------------------------------------------------


def rule_named(name: str) -> Rule:
    """The rule for one of ``RULE_NAMES``."""
    if name == "consultation":
        return consultation()
    if name == "residents_meeting":
        return residents_meeting()
    parts = name.split(":")
    if parts[0] == "civil_code_278" and len(parts) in (2, 3):
        matter, version = parts[1], parts[2] if len(parts) == 3 else "2021"
        if matter in ("ordinary", "major") and version in ("2021", "pre2021"):
            return civil_code_278(
                cast(Any, matter),
                cast(Any, version),
            )
    raise _fail(N_("unknown rule {rule}"), rule=name)


def _amount(text: str, what: str, *, zero: bool = False) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0 or (value == 0 and not zero):
        raise _fail(N_("{what} must be a positive number, not “{value}”"), what=what, value=text)
    return value


def _ids(text: str, what: str) -> tuple[str, ...]:
    ids = tuple(part.strip() for part in text.split(","))
    if not all(ids) or len(set(ids)) != len(ids):
        raise _fail(N_("{what} must be distinct ids separated by commas"), what=what)
    return ids


def parse_costs(text: str) -> dict[str, Decimal]:
    """``a=120000,b=80000`` as a mapping of option ids to costs."""
    costs: dict[str, Decimal] = {}
    for part in text.split(","):
        option, sep, amount = part.partition("=")
        option = option.strip()
        if not sep or not option or option in costs:
            raise _fail(N_("--costs takes id=cost pairs separated by commas, each id once"))
        costs[option] = _amount(amount, f"--costs {option}")
    return costs


@dataclass(frozen=True)
class Spec:
    """What to count: the method and its parameters (``yishi tally``'s options)."""

    method: Method
    question: str | None = None
    seats: int = 1
    options: tuple[str, ...] | None = None
    budget: Decimal | None = None
    costs: Mapping[str, Decimal] | None = None
    seed: str = ""
    rule: str | None = None
    roll_heads: int | None = None
    roll_area: Decimal | None = None

    @classmethod
    def from_text(
        cls,
        method: str,
        *,
        question: str | None = None,
        seats: int = 1,
        options: str | None = None,
        budget: str | None = None,
        costs: str | None = None,
        seed: str = "",
        rule: str | None = None,
        roll_heads: int | None = None,
        roll_area: str | None = None,
    ) -> Spec:
        """The spec from command-line text, or ``RecountError``."""
        if method not in METHODS:
            raise _fail(N_("unknown method {method}"), method=method)
        if rule is not None:
            rule_named(rule)
        return cls(
            method=method,
            question=question,
            seats=seats,
            options=None if options is None else _ids(options, "--options"),
            budget=None if budget is None else _amount(budget, "--budget"),
            costs=None if costs is None else parse_costs(costs),
            seed=seed,
            rule=rule,
            roll_heads=roll_heads,
            roll_area=None if roll_area is None else _amount(roll_area, "--roll-area", zero=True),
        )


# --- reading the CSV ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    line: int
    elector: str
    units: tuple[str, ...]
    area: Decimal | None  # None: not given (a secret ballot)
    channel: str
    question: str
    answer: tuple[str, ...]


def read_rows(data: bytes | str) -> list[Row]:
    """The CSV's rows, or ``RecountError`` listing every bad one with its line number."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise _fail(
                N_("the file is not UTF-8 text (byte {offset})"), offset=error.start
            ) from None
    reader = csv.reader(data.splitlines())
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise _fail(
            N_("the file is empty; it needs the header {header}"), header=",".join(CSV_HEADER)
        ) from None
    except csv.Error as error:
        raise _fail(N_("the header cannot be read: {detail}"), 1, detail=str(error)) from None
    missing = [name for name in CSV_HEADER if name not in header]
    if missing:
        raise _fail(N_("the header has no column {column}"), 1, column=missing[0])
    at = {name: header.index(name) for name in CSV_HEADER}
    rows: list[Row] = []
    problems: list[Problem] = []
    while len(problems) < MAX_PROBLEMS:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.append(
                Problem(
                    N_("the row cannot be read: {detail}"),
                    reader.line_num + 1,
                    {"detail": str(error)},
                )
            )
            break
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue  # a blank line
        if len(fields) != len(header):
            problems.append(
                Problem(
                    N_("expected {expected} fields, found {found}"),
                    line,
                    {"expected": len(header), "found": len(fields)},
                )
            )
            continue
        value = {name: fields[i].strip() for name, i in at.items()}
        area: Decimal | None = None
        if value["area"]:
            try:
                area = Decimal(value["area"])
            except InvalidOperation:
                area = Decimal("NaN")
            if not area.is_finite() or area < 0:
                problems.append(
                    Problem(
                        N_("bad area “{area}”: expected a number of m² ≥ 0"),
                        line,
                        {"area": value["area"]},
                    )
                )
                continue
        secret_row = not value["elector"] and not value["channel"]
        if value["channel"] not in CHANNELS and not secret_row:
            problems.append(
                Problem(
                    N_("unknown channel “{channel}” (expected online, paper or proxy)"),
                    line,
                    {"channel": value["channel"]},
                )
            )
            continue
        if not value["question"]:
            problems.append(Problem(N_("the question is empty"), line))
            continue
        answer = tuple(value["answer"].split())
        if not answer:
            problems.append(Problem(N_("the answer is empty"), line))
            continue
        rows.append(
            Row(
                line,
                value["elector"],
                tuple(value["units"].split()),
                area,
                value["channel"],
                value["question"],
                answer,
            )
        )
    if problems:
        raise RecountError(problems)
    return rows


# --- counting ----------------------------------------------------------------------------------

_ANSWER_PROBLEMS: Final = {
    "unknown_option": N_("unknown option “{option}”"),
    "repeated_option": N_("option “{option}” appears twice"),
    "one_option_expected": N_("expected one option, found {count}"),
    "too_many_approvals": N_("more options than the question has"),
}
_OPENS = datetime(2000, 1, 1, tzinfo=UTC)  # a recount has no window; the definition needs one
_CLOSES = datetime(2000, 1, 2, tzinfo=UTC)


def _pick_question(rows: Sequence[Row], wanted: str | None) -> str:
    found = list(dict.fromkeys(r.question for r in rows))
    if wanted is not None:
        return wanted  # no row for it: nobody voted, which counts as such
    if len(found) == 1:
        return found[0]
    if not found:
        raise _fail(N_("the file has no ballots; name the question with --question"))
    raise _fail(
        N_("the file has several questions ({questions}); choose one with --question"),
        questions=", ".join(found),
    )


def _options(spec: Spec, rows: Sequence[Row]) -> tuple[str, ...]:
    if spec.method == "yes_no_abstain":
        return YES_NO_ABSTAIN
    if spec.options is not None:
        return spec.options
    seen = sorted({o for r in rows for o in r.answer})
    if spec.method == "equal_shares" and spec.costs is not None:
        # the costed projects, and any the file names without a cost (an error, said later)
        return tuple(spec.costs) + tuple(o for o in seen if o not in spec.costs)
    return tuple(seen)


def _question(spec: Spec, qid: str, options: tuple[str, ...]) -> Question:
    method = spec.method
    if len(options) < (1 if method == "yes_no_abstain" else 2):
        raise _fail(N_("the question needs at least two options; give them with --options"))
    if method in ("approval", "stv"):
        if not 1 <= spec.seats <= max(len(options) - 1, 1):
            raise _fail(
                N_("--seats must be between 1 and {max} for {count} options"),
                max=max(len(options) - 1, 1),
                count=len(options),
            )
    elif spec.seats != 1:
        raise _fail(N_("--seats applies to approval and stv only"))
    costs: Mapping[str, Decimal] = {}
    if method == "equal_shares":
        if spec.budget is None or spec.costs is None:
            raise _fail(N_("equal_shares needs --budget and --costs"))
        costs = spec.costs
        uncosted = [o for o in options if o not in costs]
        if uncosted:
            raise _fail(N_("--costs gives no cost for option {option}"), option=uncosted[0])
    elif spec.budget is not None or spec.costs is not None:
        raise _fail(N_("--budget and --costs apply to equal_shares only"))
    return Question(
        id=qid,
        text=qid,
        method=method,
        options=tuple(Option(o, o, costs.get(o)) for o in options),
        seats=spec.seats,
        budget=spec.budget if method == "equal_shares" else None,
    )


def _casts(definition: Definition, rows: Sequence[Row]) -> list[Cast]:
    q = definition.questions[0]
    problems: list[Problem] = []
    casts: list[Cast] = []
    named = {bool(r.elector) for r in rows}
    seen: dict[str, int] = {}
    for r in rows:
        if len(named) > 1 and not r.elector:
            problems.append(Problem(N_("the elector is empty, but other rows name theirs"), r.line))
            continue
        if r.elector in seen:
            problems.append(
                Problem(
                    N_("{elector} has a second ballot (the first is on line {first})"),
                    r.line,
                    {"elector": r.elector, "first": seen[r.elector]},
                )
            )
            continue
        if r.elector:
            seen[r.elector] = r.line
        if q.method in ("yes_no_abstain", "single_choice"):
            if len(r.answer) != 1:
                problems.append(
                    Problem(
                        _ANSWER_PROBLEMS["one_option_expected"], r.line, {"count": len(r.answer)}
                    )
                )
                continue
            raw: Any = r.answer[0]
        else:
            raw = list(r.answer)
        try:
            answers = check_answers(definition, {q.id: raw})
        except BallotInvalid as invalid:
            message = _ANSWER_PROBLEMS.get(invalid.code, N_("invalid answer ({reason})"))
            params = {"reason": invalid.code, **{k: str(v) for k, v in invalid.details.items()}}
            problems.append(Problem(message, r.line, params))
            continue
        casts.append(Cast(r.elector or None, answers, r.channel))
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise RecountError(problems)
    return casts


def _roll(
    spec: Spec, rule: Rule, rows: Sequence[Row], casts: Sequence[Cast], weighted: bool
) -> list[Elector]:
    """The voters as electors, and enough electors who did not vote to make up the roll's
    totals that the rule measures against (``--roll-heads``, ``--roll-area``)."""
    by_elector = {r.elector: r for r in rows if r.elector}
    electors = []
    for i, c in enumerate(casts):
        row = by_elector.get(c.elector or "")
        if row is None:  # a secret ballot: an anonymous head
            electors.append(Elector(f"#{i + 1}", (), Decimal(0), "", ""))
        else:
            area = row.area if row.area is not None and weighted else Decimal(0)
            electors.append(Elector(row.elector, row.units, area, "", ""))
    voted_heads, voted_area = len(electors), sum((e.area for e in electors), Decimal(0))
    on_roll = {t.measure for t in rule.thresholds if t.base == "roll"}
    heads = spec.roll_heads if spec.roll_heads is not None else voted_heads
    area = spec.roll_area if spec.roll_area is not None else voted_area
    if spec.rule is None:  # no decision is made, but the count needs a roll of at least one
        heads = max(heads, 1)
    elif heads < 1:
        raise _fail(N_("--roll-heads must be at least 1"))
    if "heads" in on_roll and spec.roll_heads is None:
        raise _fail(
            N_("the rule {rule} needs the roll's headcount: give --roll-heads"), rule=spec.rule
        )
    if "area" in on_roll and spec.roll_area is None:
        raise _fail(
            N_("the rule {rule} needs the roll's floor area: give --roll-area"), rule=spec.rule
        )
    if heads < voted_heads:
        raise _fail(
            N_("--roll-heads {heads} is fewer than the {voted} who voted"),
            heads=heads,
            voted=voted_heads,
        )
    if area < voted_area:
        raise _fail(
            N_("--roll-area {area} is less than the {voted} m² that voted"),
            area=area,
            voted=voted_area,
        )
    if heads == voted_heads and area != voted_area:
        raise _fail(N_("everyone on the roll voted, so --roll-area must be the area that voted"))
    codes = {e.code for e in electors}
    absent = [f"~absent-{i}" for i in range(heads - voted_heads)]
    if codes & set(absent):
        raise _fail(N_("elector codes starting with ~absent- are reserved"))
    for i, code in enumerate(absent):
        electors.append(Elector(code, (), area - voted_area if i == 0 else Decimal(0), "", ""))
    return electors


@dataclass(frozen=True)
class Recounted:
    """``entry`` is shaped like a question entry of the server's tally (``decision`` is None
    without a rule); ``ballots`` is how many ballots it counted."""

    entry: dict[str, Any]
    ballots: int


def recount(data: bytes | str, spec: Spec) -> Recounted:
    """Count one question of an exported ballots CSV."""
    rows = read_rows(data)
    qid = _pick_question(rows, spec.question)
    rows = [r for r in rows if r.question == qid]
    if spec.rule is None and (spec.roll_heads is not None or spec.roll_area is not None):
        raise _fail(N_("--roll-heads and --roll-area apply with --rule only"))
    rule = rule_named(spec.rule) if spec.rule is not None else consultation()
    question = _question(spec, qid, _options(spec, rows))
    secret = not any(r.elector for r in rows)
    weighted = not secret and all(r.area is not None for r in rows) and any(r.area for r in rows)
    definition = Definition(
        title=qid,
        description="",
        questions=(question,),
        rule=rule,
        secrecy="secret" if secret else "roll_call",
        revoting="first",
        channels=CHANNELS,
        opens_at=_OPENS,
        closes_at=_CLOSES,
        electorate="owners" if weighted else "adults",
        seed=spec.seed,
    )
    casts = _casts(definition, rows)
    electors = _roll(spec, rule, rows, casts, weighted)
    counted = counted_casts(definition, casts)
    participants = [e.code for e in electors[: len(casts)]]
    try:
        result = tally(definition, electors, counted, participants)["questions"][0]
    except BallotInvalid as invalid:
        details = {k: str(v) for k, v in invalid.details.items()}
        if invalid.code == "duplicate_unit":
            raise _fail(
                N_("unit {unit} is voted for by two electors"), unit=details.get("unit", "?")
            ) from None
        raise _fail(N_("the ballots cannot be counted: {reason}"), reason=invalid.code) from None
    except ValueError as error:
        raise _fail(N_("the ballots cannot be counted: {reason}"), reason=str(error)) from None
    if spec.rule is None:
        result["decision"] = None
    return Recounted(cast(dict[str, Any], result), len(counted))


# --- the readable table ------------------------------------------------------------------------

METHOD_LABELS: Final = {
    "yes_no_abstain": N_("yes / no / abstain"),
    "single_choice": N_("single choice"),
    "approval": N_("approval"),
    "instant_runoff": N_("instant-runoff"),
    "stv": N_("single transferable vote"),
    "schulze": N_("Schulze"),
    "equal_shares": N_("Method of Equal Shares"),
}
_OUTCOMES: Final = {
    "passed": N_("passed"),
    "rejected": N_("rejected"),
    "quorum_not_met": N_("not valid: the quorum was not met"),
}


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]


def render(recounted: Recounted, tr: gettext.NullTranslations) -> str:
    """A recount as a readable report in ``tr``'s language."""
    _ = tr.gettext
    entry, ballots = recounted.entry, recounted.ballots
    method = str(entry["method"])
    lines = [
        _("Question {question} ({method}): {count} ballots counted").format(
            question=entry["question"], method=_(METHOD_LABELS[method]), count=ballots
        )
    ]
    if method in RANKED:
        column = _("first preferences")
    elif method in SETS:
        column = _("approvals")
    else:
        column = _("votes")
    header = [_("option"), column]
    area = entry.get("area")
    if area is not None:
        header.append(_("area (m²)"))
    table = [header]
    for option, count in entry["counts"].items():
        table.append([option, count] + ([area.get(option, "0")] if area is not None else []))
    lines += _table(table)
    winners = ", ".join(entry["winners"]) or "-"
    lines.append(_("Winners: {winners}").format(winners=winners))
    if entry.get("quota") is not None:
        lines.append(_("Quota: {quota}").format(quota=entry["quota"]))
    for n, stage in enumerate(entry.get("stages", []), start=1):
        totals = ", ".join(f"{o} {v}" for o, v in stage["totals"].items())
        if stage["action"] == "first":
            text = _("Stage {n}: first preferences ({totals})")
        elif stage["action"] == "surplus":
            text = _("Stage {n}: surplus of {subject} transferred ({totals})")
        else:
            text = _("Stage {n}: {subject} excluded ({totals})")
        elected = ", ".join(stage["elected"])
        if elected:
            text += "; " + _("elected: {elected}")
        lines.append(text.format(n=n, subject=stage["subject"], totals=totals, elected=elected))
    if entry.get("ranking"):
        lines.append(_("Ranking: {ranking}").format(ranking=" > ".join(entry["ranking"])))
    if method == "equal_shares":
        lines.append(
            _("Funded: {winners}, costing {cost} of the budget {budget}").format(
                winners=winners, cost=entry["cost"], budget=entry["budget"]
            )
        )
        greedy = entry["greedy"]
        lines.append(
            _("Greedy by votes would fund: {winners}, costing {cost}").format(
                winners=", ".join(greedy["winners"]) or "-", cost=greedy["cost"]
            )
        )
    for tie in entry.get("ties", []):
        how = _("by lot") if tie["by"] == "lot" else _("by an earlier stage")
        lines.append(
            _("Tie between {tied} broken {how}: {chosen}").format(
                tied=", ".join(tie["tied"]), chosen=tie["chosen"], how=how
            )
        )
    decision = entry.get("decision")
    if decision is not None:
        outcome = (
            "passed"
            if decision["passed"]
            else "rejected"
            if decision["valid"]
            else "quorum_not_met"
        )
        lines.append(
            _("Rule {rule}: {outcome}").format(rule=decision["rule"], outcome=_(_OUTCOMES[outcome]))
        )
        for check in decision["thresholds"]:
            sign = ">" if check["strict"] else "≥"
            lines.append(
                "  "
                + _(
                    "{code}: {actual} (needs {sign} {required}, {fraction} of {base}): {met}"
                ).format(
                    code=check["code"],
                    actual=check["actual"],
                    sign=sign,
                    required=check["required"],
                    fraction=check["fraction"],
                    base=check["base"],
                    met=_("met") if check["met"] else _("not met"),
                )
            )
    return "\n".join(lines)
