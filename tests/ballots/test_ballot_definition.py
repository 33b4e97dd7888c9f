"""The pure ballot core: definitions, their problems, answers, which casts count, the tally."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ballots.ballot import (
    Cast,
    Definition,
    DefinitionError,
    Elector,
    check_answers,
    counted_casts,
    problems,
    roll_digest,
    tally,
)
from ballots.methods import BallotInvalid
from ballots.rules import civil_code_278, consultation, residents_meeting

YES_NO = [
    {"id": "yes", "label": "同意"},
    {"id": "no", "label": "反对"},
    {"id": "abstain", "label": "弃权"},
]


def data(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "加装电梯",
        "description": "",
        "agenda_item": None,
        "questions": [
            {"id": "q1", "text": "是否同意?", "method": "yes_no_abstain", "options": YES_NO}
        ],
        "rule": consultation().to_dict(),
        "secrecy": "roll_call",
        "revoting": "last",
        "channels": ["online", "paper", "proxy"],
        "opens_at": "2026-12-01T00:00:00Z",
        "closes_at": "2026-12-08T00:00:00Z",
        "electorate": "owners",
        "seed": "0123456789abcdef0123",
    }
    base.update(changes)
    return base


def codes(definition: Definition, roll_size: int | None = 10) -> list[str]:
    return [p.code for p in problems(definition, roll_size)]


def test_round_trip_keeps_every_field() -> None:
    definition = Definition.from_dict(data(rule=civil_code_278("major").to_dict()))
    again = Definition.from_dict(definition.to_dict())
    assert again == definition
    assert definition.opens_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert codes(definition) == []


def test_malformed_definition_names_every_bad_field() -> None:
    raw = data(title=5, closes_at="next week", method="x")
    raw["questions"] = [{"id": "q1", "text": "t", "method": "dice", "options": []}]
    del raw["secrecy"]
    with pytest.raises(DefinitionError) as error:
        Definition.from_dict(raw)
    found = {(p.field, p.code) for p in error.value.problems}
    assert found == {
        ("title", "wrong_type"),
        ("secrecy", "missing"),
        ("closes_at", "invalid_time"),
        ("questions[0].method", "unknown_value"),
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"questions": []}, ["no_questions"]),
        ({"closes_at": "2026-11-30T00:00:00Z"}, ["closes_before_opening"]),
        ({"secrecy": "secret"}, ["secret_revoting"]),
        (
            {
                "secrecy": "secret",
                "revoting": "first",
                "rule": civil_code_278("ordinary").to_dict(),
            },
            ["secret_area_rule"],
        ),
        (
            {"electorate": "adults", "rule": civil_code_278("ordinary").to_dict()},
            ["rule_needs_owners"],
        ),
        ({"early_close": True, "rule": residents_meeting().to_dict()}, ["early_close_not_allowed"]),
        ({"channels": []}, ["no_channels"]),
        ({"electorate": "list"}, ["empty_list"]),
        ({"seed": "short"}, ["weak_seed"]),
        ({"proxy_limit": 0}, ["out_of_range"]),
        ({"paper_double_entry": True, "channels": ["online"]}, ["double_entry_without_paper"]),
    ],
)
def test_problems_keep_a_ballot_from_opening(changes: dict[str, Any], expected: list[str]) -> None:
    assert codes(Definition.from_dict(data(**changes))) == expected


def test_question_problems() -> None:
    questions = [
        {"id": "q1", "text": "", "method": "yes_no_abstain", "options": YES_NO[:2]},
        {
            "id": "q2",
            "text": "选举",
            "method": "stv",
            "seats": 3,
            "options": [{"id": "a", "label": "甲"}, {"id": "b", "label": "乙"}],
        },
        {
            "id": "q3",
            "text": "预算",
            "method": "equal_shares",
            "options": [{"id": "a", "label": "甲"}, {"id": "b", "label": "乙", "cost": "10"}],
        },
        {
            "id": "q4",
            "text": "单选",
            "method": "single_choice",
            "max_picks": 2,
            "options": [{"id": "a", "label": "甲"}, {"id": "a", "label": "乙"}],
        },
    ]
    found = {(p.field, p.code) for p in problems(Definition.from_dict(data(questions=questions)))}
    assert found == {
        ("questions[0].text", "required"),
        ("questions[0].options", "yes_no_abstain_options"),
        ("questions[1].seats", "out_of_range"),
        ("questions[2].budget", "required"),
        ("questions[2].options", "cost_required"),
        ("questions[3].options", "duplicate_id"),
        ("questions[3].max_picks", "max_picks_not_used"),
    }


def test_an_empty_roll_cannot_open() -> None:
    assert codes(Definition.from_dict(data()), roll_size=0) == ["empty_roll"]


APPROVAL = {
    "id": "q2",
    "text": "选出两位",
    "method": "approval",
    "seats": 2,
    "max_picks": 2,
    "options": [{"id": c, "label": c} for c in "abc"],
}
RANKED = {
    "id": "q3",
    "text": "排序",
    "method": "schulze",
    "options": [{"id": c, "label": c} for c in "abc"],
}


@pytest.mark.parametrize(
    ("answers", "code", "question"),
    [
        ({"q1": "yes", "q2": ["a"]}, "unanswered", "q3"),
        ({"q1": "maybe", "q2": ["a"], "q3": ["a"]}, "unknown_option", "q1"),
        ({"q1": "yes", "q2": ["a", "b", "c"], "q3": ["a"]}, "too_many_approvals", "q2"),
        ({"q1": "yes", "q2": ["a"], "q3": ["a", "b", "a"]}, "repeated_option", "q3"),
        ({"q1": "yes", "q2": "a", "q3": ["a"]}, "list_expected", "q2"),
        ({"q1": "yes", "q2": ["a"], "q3": ["a"], "q9": "x"}, "unknown_question", "q9"),
    ],
)
def test_bad_answers_name_the_question(answers: dict[str, Any], code: str, question: str) -> None:
    definition = Definition.from_dict(data(questions=[data()["questions"][0], APPROVAL, RANKED]))
    with pytest.raises(BallotInvalid) as invalid:
        check_answers(definition, answers)
    assert invalid.value.code == code
    assert invalid.value.details["question"] == question


def test_answers_are_normalised() -> None:
    definition = Definition.from_dict(data(questions=[data()["questions"][0], APPROVAL, RANKED]))
    clean = check_answers(definition, {"q1": "no", "q2": ["b", "a"], "q3": ["c", "a"]})
    assert clean == {"q1": "no", "q2": ["a", "b"], "q3": ["c", "a"]}


def cast(elector: str | None, answer: str, channel: str = "online") -> Cast:
    return Cast(elector, {"q1": answer}, channel)


def test_which_casts_count() -> None:
    casts = [
        cast("A", "yes"),
        cast("A", "no"),
        cast("B", "yes", "proxy"),
        cast("B", "no"),
        cast("B", "yes", "proxy"),
    ]
    last = counted_casts(Definition.from_dict(data()), casts)
    assert [(c.elector, c.answers["q1"]) for c in last] == [("A", "no"), ("B", "no")]
    first = counted_casts(Definition.from_dict(data(revoting="first")), casts)
    assert [(c.elector, c.answers["q1"]) for c in first] == [("A", "yes"), ("B", "no")]
    secret = Definition.from_dict(data(secrecy="secret", revoting="first", electorate="adults"))
    assert len(counted_casts(secret, [cast(None, "yes"), cast(None, "no")])) == 2


def elector(code: str, area: str) -> Elector:
    return Elector(code, (code,), Decimal(area), "1", "第一网格")


ROLL = [elector("1-1-101", "86.45"), elector("1-1-102", "60.00"), elector("2-1-201", "120.50")]


def test_roll_digest_ignores_order_and_sees_every_change() -> None:
    assert roll_digest(ROLL) == roll_digest(list(reversed(ROLL)))
    changed = [*ROLL[:2], elector("2-1-201", "120.51")]
    assert roll_digest(changed) != roll_digest(ROLL)


def test_art_278_tally_reports_heads_area_and_why() -> None:
    definition = Definition.from_dict(data(rule=civil_code_278("ordinary").to_dict()))
    counted = counted_casts(
        definition, [cast("1-1-101", "yes"), cast("2-1-201", "yes"), cast("1-1-102", "no")]
    )
    result = tally(definition, ROLL, counted, ["1-1-101", "1-1-102", "2-1-201"])
    q = result["questions"][0]
    assert q["counts"] == {"yes": "2", "no": "1", "abstain": "0"}
    assert q["area"] == {"yes": "206.95", "no": "60.00", "abstain": "0.00"}
    decision = q["decision"]
    assert decision["passed"] is True
    assert decision["approving_area"] == "206.95"
    assert [t["code"] for t in decision["thresholds"] if t["met"]] == [
        "participation_area",
        "participation_heads",
        "approval_area",
        "approval_heads",
    ]
    assert result["turnout"] == {
        "heads": 3,
        "area": "266.95",
        "roll_heads": 3,
        "roll_area": "266.95",
    }


def test_secret_tally_takes_participating_area_from_the_participation_list() -> None:
    rule = civil_code_278("ordinary").to_dict()
    rule["thresholds"] = [
        t for t in rule["thresholds"] if t["measure"] == "area" and t["stage"] == "quorum"
    ]
    definition = Definition.from_dict(data(secrecy="secret", revoting="first", rule=rule))
    result = tally(definition, ROLL, [cast(None, "yes"), cast(None, "no")], ["1-1-101", "2-1-201"])
    decision = result["questions"][0]["decision"]
    assert decision["participating_area"] == "206.95"
    assert decision["valid"] is True  # 206.95 of 266.95 m² is more than two thirds
    assert result["questions"][0].get("area") is None  # nothing links a choice to an area


def test_stv_and_budget_questions_count_by_headcount() -> None:
    stv = {
        "id": "q1",
        "text": "选举",
        "method": "stv",
        "seats": 2,
        "options": [{"id": c, "label": c} for c in "abcd"],
    }
    budget = {
        "id": "q2",
        "text": "预算",
        "method": "equal_shares",
        "budget": "100",
        "options": [
            {"id": "x", "label": "x", "cost": "60"},
            {"id": "y", "label": "y", "cost": "50"},
            {"id": "z", "label": "z", "cost": "40"},
        ],
    }
    definition = Definition.from_dict(data(questions=[stv, budget], electorate="adults"))
    voters = [
        Cast(
            f"P{i}",
            {"q1": ["a", "b"] if i % 3 else ["c", "d"], "q2": ["x", "z"] if i % 2 else ["y"]},
            "online",
        )
        for i in range(9)
    ]
    roll = [Elector(f"P{i}", (), Decimal(0), "1", "g") for i in range(9)]
    result = tally(definition, roll, counted_casts(definition, voters), [f"P{i}" for i in range(9)])
    election, pb = result["questions"]
    assert election["winners"] == ["a", "c"]
    assert election["quota"] == "4.00000"
    assert pb["winners"] == ["y", "z"]  # y: 5 voters pay 10 each; z: 4 pay 10 each
    assert pb["greedy"]["winners"] == ["y", "z"]  # x (60) no longer fits beside y
    assert election["decision"] is None  # consultation has no quorum to judge
