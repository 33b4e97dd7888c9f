"""How ballots read in words, numbers and charts: labels, problems and decisions in plain
sentences, Beijing time, the definition form, and the results page's view of a tally."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app import ballots as actions
from app.charts import Bar, bar_chart_svg, percent_bar_svg, threshold_bar_svg
from app.i18n import gettext as _
from app.models import Ballot, BallotStatus
from ballots.ballot import MAX_QUESTIONS, RANKED, Problem
from ballots.rules import Rule, civil_code_278, consultation, residents_meeting

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
YES_NO_ABSTAIN_LABELS = ("同意", "反对", "弃权")


# --- words ---------------------------------------------------------------------------------------


def rule_choices() -> dict[str, tuple[Rule, str]]:
    """The rules a chair may pick, by form key, each with its name in words."""
    return {
        "consultation": (consultation(), _("Consultation (advisory, simple majority)")),
        "c278_ordinary": (
            civil_code_278("ordinary"),
            _("Owners' common decision, Civil Code art. 278: ordinary matter"),
        ),
        "c278_major": (
            civil_code_278("major"),
            _("Owners' common decision, Civil Code art. 278: major matter"),
        ),
        "c278_pre2021_ordinary": (
            civil_code_278("ordinary", "pre2021"),
            _("Owners' common decision under the pre-2021 Property Law: ordinary matter"),
        ),
        "c278_pre2021_major": (
            civil_code_278("major", "pre2021"),
            _("Owners' common decision under the pre-2021 Property Law: major matter"),
        ),
        "residents_meeting": (residents_meeting(), _("Residents' meeting")),
    }


def rule_key(rule: dict[str, Any]) -> str:
    params = rule.get("params") or {}
    if rule.get("name") == "civil_code_278":
        version = "_pre2021" if params.get("version") == "pre2021" else ""
        return f"c278{version}_{params.get('matter', 'ordinary')}"
    return str(rule.get("name", "consultation"))


def rule_name(rule: dict[str, Any]) -> str:
    found = rule_choices().get(rule_key(rule))
    return found[1] if found else str(rule.get("name"))


def method_labels() -> dict[str, str]:
    return {
        "yes_no_abstain": _("Yes / no / abstain"),
        "single_choice": _("Single choice"),
        "approval": _("Approval (tick any number; top seats win)"),
        "instant_runoff": _("Ranked, one winner (instant runoff)"),
        "stv": _("Ranked, several seats (single transferable vote)"),
        "schulze": _("Ranked, pairwise comparison (Schulze)"),
        "equal_shares": _("Participatory budget (method of equal shares)"),
    }


def electorate_labels() -> dict[str, str]:
    return {
        "owners": _("Owners, one vote per owner weighted by exclusive floor area"),
        "adults": _("Adult residents"),
        "households": _("One vote per household"),
        "list": _("A named list of people from the register"),
    }


def channel_labels() -> dict[str, str]:
    return {
        "online": _("Online"),
        "paper": _("Paper forms entered by grid members"),
        "proxy": _("Proxies"),
    }


def status_label(status: str) -> str:
    labels: dict[str, str] = {
        BallotStatus.draft: _("Draft"),
        BallotStatus.open: _("Open"),
        BallotStatus.closed: _("Closed, awaiting the count"),
        BallotStatus.tallied: _("Preliminary result"),
        BallotStatus.final: _("Final result"),
    }
    return labels.get(status, status)


def threshold_words(t: dict[str, Any]) -> str:
    """A threshold of a rule as a sentence: what must exceed or reach which share of what."""
    counted = {
        ("participating", "area"): _("the floor area of those taking part"),
        ("participating", "heads"): _("the number of people taking part"),
        ("approving", "area"): _("the floor area voting yes"),
        ("approving", "heads"): _("the number voting yes"),
    }
    base = {
        ("roll", "area"): _("the total floor area on the roll"),
        ("roll", "heads"): _("everyone on the roll"),
        ("participating", "area"): _("the floor area taking part"),
        ("participating", "heads"): _("those taking part"),
        ("decisive", "area"): _("the floor area voting yes or no"),
        ("decisive", "heads"): _("the yes and no votes"),
    }
    measure = str(t.get("measure"))
    return _(
        "%(stage)s %(counted)s is %(compare)s %(fraction)s of %(base)s.",
        stage=_("Valid only if") if t.get("stage") == "quorum" else _("Passes only if"),
        counted=counted.get((str(t.get("counted")), measure), measure),
        compare=_("more than") if t.get("strict") else _("at least"),
        fraction=t.get("fraction"),
        base=base.get((str(t.get("base")), measure), str(t.get("base"))),
    )


def problem_message(problem: Problem) -> str:
    """A problem of a definition (``ballots.ballot.problems``, ``check_ballot`` or the form) as a
    sentence for the chair, shown beside the field it is about."""
    code, where, d = problem.code, problem.field, problem.details
    leaf = re.sub(r"^questions\[\d+\]\.?", "", where)
    leaf = re.sub(r"\[\d+\]", "", leaf)
    if code == "required":
        return {
            "title": _("Give the ballot a title."),
            "text": _("Write the question."),
            "options": _("Every option needs a label."),
            "budget": _("Give the total budget of the participatory budget."),
        }.get(leaf, _("This is required."))
    if code == "missing":
        return _("This is required.")
    if code == "duplicate_id":
        return {
            "questions": _("Two questions have the same id."),
            "channels": _("A way of voting is listed twice."),
        }.get(leaf, _("Two options are the same; give each option its own line."))
    if code == "too_many":
        return _("At most %(max)s are allowed.", max=d.get("max", ""))
    if code == "out_of_range":
        if leaf == "seats":
            return _("The number of seats must be at least 1 and less than the number of options.")
        if leaf == "max_picks":
            return _("The most picks must be at least 1 and at most the number of options.")
        return _("Choose a number from %(min)s to %(max)s.", min=d.get("min"), max=d.get("max"))
    messages = {
        "wrong_type": _("This value has the wrong form."),
        "unknown_value": _("“%(value)s” is not one of the choices.", value=d.get("value", "")),
        "invalid": _("The decision rule is not valid."),
        "invalid_time": _("Enter a date and a time."),
        "not_a_positive_number": _(
            "“%(value)s” is not a positive number.", value=d.get("value", "")
        ),
        "not_a_whole_number": _("Enter a whole number."),
        "too_long": _("At most %(max)s characters.", max=d.get("max", "")),
        "no_questions": _("Add at least one question."),
        "closes_before_opening": _("The ballot must close after it opens."),
        "closes_in_past": _("The closing time has already passed."),
        "no_channels": _("Choose at least one way to vote."),
        "empty_list": _("List at least one register reference, one per line."),
        "list_not_used": _(
            "The list of names is used only when the electorate is a named list: clear it or "
            "choose that electorate."
        ),
        "weak_seed": _("The tie-break seed is too short."),
        "rule_needs_owners": _(
            "An owners' common decision (Civil Code art. 278) needs the owners as the electorate."
        ),
        "early_close_not_allowed": _(
            "Only a consultation may be closed early: the law and the notice promise voters "
            "the whole window."
        ),
        "secret_revoting": _(
            "A secret ballot cannot let voters change their vote: choose “the first vote counts”."
        ),
        "secret_area_rule": _(
            "A secret ballot cannot measure approval by floor area: this rule needs a roll-call "
            "ballot."
        ),
        "double_entry_without_paper": _("Double entry of paper forms needs the paper channel."),
        "empty_roll": _("Nobody in the register belongs to this electorate today."),
        "unknown_person": _(
            "%(count)s reference(s) are not in the register, for example %(ref)s.",
            count=d.get("count", "1"),
            ref=d.get("ref", ""),
        ),
        "yes_no_abstain_options": _(
            "A yes/no/abstain question has exactly three options: yes, no and abstain."
        ),
        "too_few_options": _("Give at least %(min)s options, one per line.", min=d.get("min", 2)),
        "seats_not_used": _("Only approval and single transferable vote questions have seats."),
        "max_picks_not_used": _(
            "Only approval and participatory budget questions limit the number of picks."
        ),
        "cost_required": _("Give each project its cost, as “label | cost”."),
        "costs_not_used": _("Only a participatory budget has a budget and costs."),
    }
    return messages.get(code, code)


def form_field(where: str) -> str:
    """The form input a problem's field belongs to: ``questions[1].options[2].cost`` is the
    second question's options box, ``q1_options``."""
    found = re.match(r"questions\[(\d+)\](?:\.(\w+))?", where)
    if found:
        leaf = found.group(2)
        if leaf in (None, "id"):
            return f"q{found.group(1)}_text"
        return f"q{found.group(1)}_{leaf}"
    return re.sub(r"\[\d+\]$", "", where)


def problems_by_field(found: list[Problem]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for p in found:
        message = problem_message(p)
        messages = grouped.setdefault(form_field(p.field), [])
        if message not in messages:
            messages.append(message)
    return grouped


def ballot_error_message(code: str) -> str:
    return {
        "frozen": _("The ballot has opened: its definition is frozen and can no longer change."),
        "stale_revision": _(
            "Someone else changed this draft after you opened the form. Your values are below; "
            "saving again replaces their change."
        ),
        "early_close_not_allowed": _(
            "This ballot may not be closed early: its definition promises voters the whole window."
        ),
        "not_open": _("The ballot is not open."),
        "closed": _("The ballot is already closed."),
        "busy": _("Another ballot was being created at the same moment. Please try again."),
        "definition_problems": _("The ballot cannot open until the problems below are solved."),
    }.get(code, code)


# --- times and numbers -----------------------------------------------------------------------------


def local_time(moment: datetime | str | None) -> str:
    """A time as people in the community read it (Beijing time)."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def local_input(value: str | None) -> str:
    return local_time(value).replace(" ", "T") if value else ""


def parse_local(value: str) -> datetime | None:
    """A datetime-local input (Beijing time) as UTC."""
    for pattern in (LOCAL_INPUT, LOCAL_INPUT + ":%S"):
        try:
            return (
                datetime.strptime(value.strip(), pattern).replace(tzinfo=SHANGHAI).astimezone(UTC)
            )
        except ValueError:
            continue
    return None


def exact(value: str) -> str:
    """A number from a tally; a fraction such as "8/3" also gets its decimal value."""
    if "/" in value:
        return f"{value} (≈ {float(Fraction(value)):.2f})"
    return value


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(Fraction(str(value)).numerator)) / Decimal(
            str(Fraction(str(value)).denominator)
        )
    except (ValueError, ZeroDivisionError, InvalidOperation):
        return Decimal(0)


def percent(part: Any, whole: Any) -> str:
    whole_value = _dec(whole)
    if whole_value <= 0:
        return "0%"
    return f"{(_dec(part) * 100 / whole_value):.1f}%"


# --- the definition form -------------------------------------------------------------------------


def form_from_definition(d: dict[str, Any]) -> dict[str, Any]:
    """What the edit form shows for a stored definition."""
    questions = []
    for q in d.get("questions", []):
        lines = [
            o["label"] + (f" | {o['cost']}" if o.get("cost") is not None else "")
            for o in q.get("options", [])
        ]
        questions.append(
            {
                "id": q.get("id", ""),
                "text": q.get("text", ""),
                "method": q.get("method", "yes_no_abstain"),
                "options": "\n".join(lines),
                "seats": str(q.get("seats", 1)),
                "max_picks": "" if q.get("max_picks") is None else str(q["max_picks"]),
                "budget": q.get("budget") or "",
            }
        )
    return {
        "title": d.get("title", ""),
        "description": d.get("description", ""),
        "agenda_item": d.get("agenda_item") or "",
        "electorate": d.get("electorate", "adults"),
        "named": "\n".join(d.get("named", [])),
        "rule": rule_key(d.get("rule", {})),
        "secrecy": d.get("secrecy", "roll_call"),
        "revoting": d.get("revoting", "last"),
        "channels": list(d.get("channels", [])),
        "paper_double_entry": bool(d.get("paper_double_entry")),
        "proxy_limit": str(d.get("proxy_limit", 3)),
        "opens_at": local_input(d.get("opens_at")),
        "closes_at": local_input(d.get("closes_at")),
        "early_close": bool(d.get("early_close")),
        "objection_days": str(d.get("objection_days", 7)),
        "questions": questions,
    }


def blank_question(questions: list[dict[str, Any]]) -> dict[str, Any]:
    used = {q["id"] for q in questions}
    n = len(questions) + 1
    while f"q{n}" in used:
        n += 1
    return {
        "id": f"q{n}",
        "text": "",
        "method": "yes_no_abstain",
        "options": "\n".join(YES_NO_ABSTAIN_LABELS),
        "seats": "1",
        "max_picks": "",
        "budget": "",
    }


def form_from_post(form: Any) -> tuple[dict[str, Any], str]:
    """The submitted form as the edit form shows it again, and the button pressed."""

    def text(key: str, limit: int = 10_000) -> str:
        return str(form.get(key, ""))[:limit].replace("\r\n", "\n")

    count = text("question_count", 4)
    questions = []
    for i in range(min(int(count) if count.isdecimal() else 0, MAX_QUESTIONS + 1)):
        questions.append(
            {
                "id": text(f"q{i}_id", 40) or f"q{i + 1}",
                "text": text(f"q{i}_text"),
                "method": text(f"q{i}_method", 40),
                "options": text(f"q{i}_options", 100_000),
                "seats": text(f"q{i}_seats", 10),
                "max_picks": text(f"q{i}_max_picks", 10),
                "budget": text(f"q{i}_budget", 40),
            }
        )
    model = {
        "title": text("title"),
        "description": text("description"),
        "agenda_item": text("agenda_item", 200),
        "electorate": text("electorate", 20),
        "named": text("named", 100_000),
        "rule": text("rule", 40),
        "secrecy": text("secrecy", 20),
        "revoting": text("revoting", 20),
        "channels": [str(c) for c in form.getall("channels", [])],
        "paper_double_entry": bool(form.get("paper_double_entry")),
        "proxy_limit": text("proxy_limit", 10),
        "opens_at": text("opens_at", 40),
        "closes_at": text("closes_at", 40),
        "early_close": bool(form.get("early_close")),
        "objection_days": text("objection_days", 10),
        "questions": questions,
    }
    return model, text("action", 40) or "save"


def apply_action(model: dict[str, Any], action: str) -> bool:
    """Add or remove a question; True when the form should simply be shown again."""
    if action == "add_question":
        if len(model["questions"]) < MAX_QUESTIONS:
            model["questions"].append(blank_question(model["questions"]))
        return True
    if action.startswith("remove_question:"):
        index = action.partition(":")[2]
        if index.isdecimal() and int(index) < len(model["questions"]):
            del model["questions"][int(index)]
        return True
    return False


def _options(
    q: dict[str, Any], previous: dict[str, Any] | None, where: str, found: list[Problem]
) -> list[dict[str, Any]]:
    lines = [line.strip() for line in q["options"].split("\n") if line.strip()]
    if q["method"] == "yes_no_abstain":
        labels = lines if len(lines) == 3 else list(YES_NO_ABSTAIN_LABELS)
        return [
            {"id": i, "label": label}
            for i, label in zip(("yes", "no", "abstain"), labels, strict=True)
        ]
    # stable ids: a label kept from the stored question keeps its id
    known: dict[str, list[str]] = {}
    taken: set[str] = set()
    for o in (previous or {}).get("options", []):
        if re.fullmatch(r"o\d+", o["id"]):
            known.setdefault(o["label"], []).append(o["id"])
            taken.add(o["id"])
    next_number = max((int(t[1:]) for t in taken), default=0) + 1
    options = []
    for i, line in enumerate(lines):
        label, bar, cost_text = line.partition("|")
        label, cost_text = label.strip(), cost_text.strip()
        if known.get(label):
            option_id = known[label].pop(0)
        else:
            option_id = f"o{next_number}"
            next_number += 1
        option: dict[str, Any] = {"id": option_id, "label": label}
        if bar:
            try:
                cost = Decimal(cost_text)
            except InvalidOperation:
                cost = None
            if cost is None or not cost.is_finite() or cost <= 0:
                found.append(
                    Problem(
                        "not_a_positive_number", f"{where}.options[{i}].cost", {"value": cost_text}
                    )
                )
            else:
                option["cost"] = cost_text
        options.append(option)
    return options


def definition_from_form(
    model: dict[str, Any], stored: dict[str, Any]
) -> tuple[dict[str, Any], list[Problem]]:
    """The definition dict the form describes, on top of the stored one (which keeps the seed),
    and what in the form could not be read."""
    found: list[Problem] = []

    def whole(key: str, value: str, default: int | None) -> int | None:
        if not value.strip():
            return default
        if not re.fullmatch(r"\s*\d{1,6}\s*", value):
            found.append(Problem("not_a_whole_number", key))
            return default
        return int(value)

    def moment(key: str) -> str:
        parsed = parse_local(model[key])
        if parsed is None:
            found.append(Problem("invalid_time", key))
            return str(stored.get(key, ""))
        return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")

    choice = rule_choices().get(model["rule"])
    if choice is None:
        found.append(Problem("unknown_value", "rule", {"value": model["rule"]}))
    previous = {q["id"]: q for q in stored.get("questions", [])}
    questions = []
    for i, q in enumerate(model["questions"]):
        where = f"questions[{i}]"
        budget = q["budget"].strip() or None
        questions.append(
            {
                "id": q["id"],
                "text": q["text"].strip(),
                "method": q["method"],
                "options": _options(q, previous.get(q["id"]), where, found),
                "seats": whole(f"{where}.seats", q["seats"], 1),
                "max_picks": whole(f"{where}.max_picks", q["max_picks"], None),
                "budget": budget,
            }
        )
    named = [line.strip() for line in model["named"].split("\n") if line.strip()]
    data = {
        **stored,
        "title": model["title"].strip(),
        "description": model["description"].strip(),
        "agenda_item": model["agenda_item"].strip() or None,
        "questions": questions,
        "rule": choice[0].to_dict() if choice else stored.get("rule"),
        "secrecy": model["secrecy"],
        "revoting": model["revoting"],
        "channels": model["channels"],
        "paper_double_entry": model["paper_double_entry"],
        "proxy_limit": whole("proxy_limit", model["proxy_limit"], 3),
        "opens_at": moment("opens_at"),
        "closes_at": moment("closes_at"),
        "early_close": model["early_close"],
        "objection_days": whole("objection_days", model["objection_days"], 7),
        "electorate": model["electorate"],
        "named": named,
    }
    return data, found


# --- the ballot in words and its results ---------------------------------------------------


def describe(d: dict[str, Any]) -> dict[str, Any]:
    """The definition in words, for the ballot page."""
    labels = method_labels()
    channels = channel_labels()
    questions = []
    for q in d.get("questions", []):
        extra = []
        if q.get("method") in ("approval", "stv"):
            extra.append(_("%(n)s seat(s)", n=q.get("seats", 1)))
        if q.get("max_picks") is not None:
            extra.append(_("at most %(n)s picks", n=q["max_picks"]))
        if q.get("budget") is not None:
            extra.append(_("budget %(amount)s yuan", amount=q["budget"]))
        questions.append(
            {
                "text": q.get("text", ""),
                "method": labels.get(q.get("method", ""), q.get("method")),
                "extra": extra,
                "options": q.get("options", []),
            }
        )
    rule = d.get("rule", {})
    return {
        "rule": rule_name(rule),
        "thresholds": [threshold_words(t) for t in rule.get("thresholds", [])],
        "electorate": electorate_labels().get(d.get("electorate", ""), d.get("electorate")),
        "named": d.get("named", []),
        "opens_at": local_time(d.get("opens_at")),
        "closes_at": local_time(d.get("closes_at")),
        "channels": [channels.get(c, c) for c in d.get("channels", [])],
        "secret": d.get("secrecy") == "secret",
        "revoting": d.get("revoting") == "last",
        "proxy_limit": d.get("proxy_limit"),
        "paper_double_entry": d.get("paper_double_entry"),
        "early_close": d.get("early_close"),
        "objection_days": d.get("objection_days"),
        "questions": questions,
    }


# --- results in words and charts ---------------------------------------------------------------------


def _measure_value(value: str, measure: str) -> str:
    return f"{exact(value)} m²" if measure == "area" else exact(value)


def threshold_check_words(check: dict[str, Any], rule_t: dict[str, Any]) -> str:
    what = {
        "participation_area": _("Floor area taking part"),
        "participation_heads": _("Owners taking part"),
        "presence_heads": _("People present"),
        "approval_area": _("Floor area voting yes"),
        "approval_heads": _("Heads voting yes"),
        "majority_heads": _("Yes votes"),
    }.get(check["code"], check["code"])
    measure = check["measure"]
    return _(
        "%(what)s: %(actual)s; required %(compare)s %(required)s (%(fraction)s of %(base)s). "
        "%(verdict)s",
        what=what,
        actual=_measure_value(check["actual"], measure),
        compare=_("more than") if check["strict"] else _("at least"),
        required=_measure_value(check["required"], measure),
        fraction=check["fraction"],
        base=_measure_value(check["base"], measure),
        verdict=_("Met.") if check["met"] else _("Not met."),
    )


def reason_words(reason: dict[str, Any], motion: bool) -> str | None:
    code, n = reason["code"], reason["numbers"]
    if code == "turnout" and _dec(n["roll_area"]) <= 0:
        return _(
            "%(heads)s of %(roll_heads)s electors took part. The %(absent)s who did not vote are "
            "never counted as agreeing.",
            heads=n["participating_heads"],
            roll_heads=n["roll_heads"],
            absent=n["not_voting_heads"],
        )
    if code == "turnout":
        return _(
            "%(heads)s of %(roll_heads)s electors took part (%(area)s of %(roll_area)s m²). The "
            "%(absent)s who did not vote are never counted as agreeing.",
            heads=n["participating_heads"],
            roll_heads=n["roll_heads"],
            area=n["participating_area"],
            roll_area=n["roll_area"],
            absent=n["not_voting_heads"],
        )
    if code == "abstentions" and _dec(n["area"]) <= 0:
        return _(
            "%(heads)s abstained: abstentions count neither for nor against.", heads=n["heads"]
        )
    if code == "abstentions":
        return _(
            "%(heads)s abstained (%(area)s m²): abstentions count neither for nor against.",
            heads=n["heads"],
            area=n["area"],
        )
    if code == "passed":
        return (
            _("Passed: every threshold of the rule was met.")
            if motion
            else _("Valid: enough electors took part.")
        )
    if code == "rejected":
        return _("Rejected: enough electors took part, but the approval threshold was not met.")
    if code == "quorum_not_met":
        return _("Not valid: too few electors took part, so the result cannot decide the matter.")
    return None  # thresholds are worded from the checks themselves


def decision_view(decision: dict[str, Any] | None, rule: dict[str, Any], motion: bool) -> Any:
    if decision is None:
        return None
    by_code = {t["code"]: t for t in rule.get("thresholds", [])}
    thresholds = []
    for check in decision["thresholds"]:
        words = threshold_check_words(check, by_code.get(check["code"], {}))
        svg = threshold_bar_svg(
            words,
            _dec(check["actual"]),
            _dec(check["base"]),
            _dec(check["required"]),
            bool(check["met"]),
            _(
                "%(actual)s of %(base)s; required: %(required)s",
                actual=_measure_value(check["actual"], check["measure"]),
                base=_measure_value(check["base"], check["measure"]),
                required=_measure_value(check["required"], check["measure"]),
            ),
        )
        thresholds.append({"words": words, "met": check["met"], "svg": svg})
    reasons = [w for r in decision["reasons"] if (w := reason_words(r, motion))]
    outcome = decision["reasons"][-1]["code"] if decision["reasons"] else ""
    return {
        "passed": decision["passed"],
        "valid": decision["valid"],
        "outcome": outcome,
        "outcome_words": reasons[-1] if reasons else "",
        "reasons": reasons[:-1],
        "thresholds": thresholds,
        "participating_heads": decision["participating_heads"],
        "participating_area": decision["participating_area"],
        "approving_heads": decision["approving_heads"],
        "approving_area": decision["approving_area"],
        "weighted": any(c["measure"] == "area" for c in decision["thresholds"]),
    }


def tie_words(tie: dict[str, Any], labels: dict[str, str]) -> str:
    return _(
        "A tie between %(tied)s was broken for %(chosen)s (%(by)s).",
        tied="、".join(labels.get(t, t) for t in tie["tied"]),
        chosen=labels.get(tie["chosen"], tie["chosen"]),
        by=_("by earlier stages") if tie["by"] == "history" else _("by the ballot's public seed"),
    )


def recount_command(
    q: dict[str, Any], n: int, seed: str, turnout: dict[str, Any], rule: dict[str, Any]
) -> str:
    """The ``yishi tally`` line that recounts this question from the counted-ballots CSV."""
    method = q["method"]
    words = ["yishi", "tally", f"ballot-{n}.csv", "--method", method, "--question", q["id"]]
    if method in ("approval", "stv"):
        words += ["--seats", str(q.get("seats", 1))]
    words += ["--options", ",".join(o["id"] for o in q["options"]), "--seed", seed]
    if method == "equal_shares":
        costs = ",".join(f"{o['id']}={o.get('cost', '')}" for o in q["options"])
        words += ["--budget", str(q.get("budget")), "--costs", costs]
    if method == "yes_no_abstain":
        params = rule.get("params") or {}
        name = str(rule.get("name"))
        if name == "civil_code_278":
            name += f":{params.get('matter')}"
            if params.get("version") == "pre2021":
                name += ":pre2021"
        words += ["--rule", name, "--roll-heads", str(turnout.get("roll_heads", 0))]
        if any(t.get("measure") == "area" for t in rule.get("thresholds", [])):
            words += ["--roll-area", str(turnout.get("roll_area", 0))]
    return shlex.join(words)


def question_view(
    q: dict[str, Any],
    result: dict[str, Any],
    rule: dict[str, Any],
    n: int,
    seed: str = "",
    turnout: dict[str, Any] | None = None,
) -> dict[str, Any]:
    turnout = turnout or {}
    labels = {o["id"]: o["label"] for o in q["options"]}
    method = result["method"]
    winners = set(result.get("winners", []))
    counts = result.get("counts", {})
    total = sum((_dec(v) for v in counts.values()), Decimal(0))
    area = result.get("area")
    area_total = sum((_dec(v) for v in (area or {}).values()), Decimal(0))
    rows = [
        {
            "label": labels.get(o, o),
            "heads": counts.get(o, "0"),
            "heads_pct": percent(counts.get(o, "0"), total),
            "area": None if area is None else area.get(o, "0"),
            "area_pct": None if area is None else percent(area.get(o, "0"), area_total),
            "winner": o in winners,
        }
        for o in labels
    ]
    heading = (
        _("First preferences by headcount")
        if method in RANKED
        else (_("Votes by headcount") if method != "equal_shares" else _("Approvals"))
    )
    view: dict[str, Any] = {
        "id": q["id"],
        "text": q["text"],
        "method": method,
        "method_label": method_labels().get(method, method),
        "rows": rows,
        "winners": [labels.get(w, w) for w in result.get("winners", [])],
        "heads_heading": heading,
        "chart_heads": bar_chart_svg(
            f"{q['text']}: {heading}",
            [
                Bar(r["label"], _dec(r["heads"]), f"{r['heads']} ({r['heads_pct']})", r["winner"])
                for r in rows
            ],
        ),
        "chart_area": None
        if area is None
        else bar_chart_svg(
            f"{q['text']}: {_('Votes by floor area')}",
            [Bar(r["label"], _dec(r["area"]), f"{r['area']} m²", r["winner"]) for r in rows],
        ),
        "ties": [tie_words(t, labels) for t in result.get("ties", [])],
        "decision": decision_view(result.get("decision"), rule, method == "yes_no_abstain"),
        "command": recount_command(q, n, seed, turnout, rule),
    }
    if method in ("instant_runoff", "stv"):
        actions_words = {
            "first": _("First preferences"),
            "surplus": _("Surplus of %(name)s transferred"),
            "exclusion": _("%(name)s excluded, votes transferred"),
        }
        view["quota"] = result.get("quota")
        view["stage_options"] = [labels[o] for o in labels]
        view["stages"] = [
            {
                "number": i + 1,
                "action": actions_words.get(s["action"], s["action"])
                % {"name": labels.get(s["subject"] or "", s["subject"] or "")},
                "totals": [s["totals"].get(o, "–") for o in labels],
                "non_transferable": s["non_transferable"],
                "elected": [labels.get(e, e) for e in s["elected"]],
            }
            for i, s in enumerate(result.get("stages", []))
        ]
    if method == "schulze":
        ranking = result.get("ranking", [])
        view["ranking"] = [labels.get(o, o) for o in ranking]
        pairwise = result.get("pairwise", {})
        view["pairwise_options"] = [labels.get(o, o) for o in ranking]
        view["pairwise"] = [
            {
                "label": labels.get(a, a),
                "cells": ["–" if a == b else pairwise.get(a, {}).get(b, "0") for b in ranking],
            }
            for a in ranking
        ]
    if method == "equal_shares":
        costs = {o["id"]: o.get("cost", "") for o in q["options"]}
        greedy = set(result.get("greedy", {}).get("winners", []))
        view["budget"] = {
            "budget": result.get("budget"),
            "cost": result.get("cost"),
            "greedy_cost": result.get("greedy", {}).get("cost"),
            "rows": [
                {
                    "label": labels[o],
                    "cost": costs.get(o, ""),
                    "votes": counts.get(o, "0"),
                    "shares": o in winners,
                    "greedy": o in greedy,
                }
                for o in labels
            ],
        }
    return view


async def results_view(db: AsyncSession, ballot: Ballot) -> dict[str, Any]:
    d = ballot.definition
    tally = ballot.tally or {}
    questions = {q["id"]: q for q in d["questions"]}
    turnout = tally.get("turnout", {})
    rows = []
    for level, heading in (("building", _("Building")), ("grid", _("Grid"))):
        found = await actions.turnout_by(db, ballot, level)
        rows.append(
            {
                "level": level,
                "heading": heading,
                "rows": [
                    {
                        "name": t.name,
                        "voted": t.voted,
                        "electors": t.electors,
                        "percent": f"{t.percent:.1f}%",
                        "svg": percent_bar_svg(
                            _(
                                "%(name)s: %(voted)s of %(electors)s took part",
                                name=t.name,
                                voted=t.voted,
                                electors=t.electors,
                            ),
                            t.percent,
                        ),
                    }
                    for t in found
                ],
            }
        )
    heads_pct = percent(turnout.get("heads", 0), turnout.get("roll_heads", 0))
    return {
        "questions": [
            question_view(questions[r["question"]], r, d["rule"], ballot.number, d["seed"], turnout)
            | {"n": i + 1}
            for i, r in enumerate(tally.get("questions", []))
        ],
        "turnout": turnout,
        "turnout_words": _(
            "%(heads)s of %(roll)s electors took part (%(pct)s).",
            heads=turnout.get("heads", 0),
            roll=turnout.get("roll_heads", 0),
            pct=heads_pct,
        ),
        "turnout_svg": percent_bar_svg(_("Turnout: %(pct)s", pct=heads_pct), float(heads_pct[:-1])),
        "weighted": d.get("electorate") == "owners",
        "area_pct": percent(turnout.get("area", 0), turnout.get("roll_area", 0)),
        "by": rows,
        "counted": tally.get("counted", 0),
    }
