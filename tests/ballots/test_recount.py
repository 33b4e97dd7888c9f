"""Recounting an exported ballots CSV: bad rows are reported with their line numbers, and a
recount of the server's export gives the server's own tally entry, for every method and rule."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest

from ballots.ballot import Cast, Definition, Elector, counted_casts, tally
from ballots.recount import (
    RecountError,
    Spec,
    read_rows,
    recount,
    render,
)
from ballots.replay import translator
from ballots.rules import civil_code_278, consultation, residents_meeting

HEADER = "elector,units,area,channel,question,answer\n"
EN = translator("en")


def problems(data: str | bytes, spec: Spec | None = None) -> list[str]:
    with pytest.raises(RecountError) as caught:
        recount(data, spec or Spec("yes_no_abstain"))
    return [p.text(EN) for p in caught.value.problems]


# --- reading the CSV ---------------------------------------------------------------------------


def test_rows_are_read_with_their_line_numbers() -> None:
    rows = read_rows(HEADER + "1-1-101,1-1-101 1-1-201,80.5,online,q1,yes\n\n,,,paper,q2,b a\n")
    assert [(r.line, r.elector, r.units, r.area, r.answer) for r in rows] == [
        (2, "1-1-101", ("1-1-101", "1-1-201"), Decimal("80.5"), ("yes",)),
        (4, "", (), None, ("b", "a")),
    ]


def test_columns_may_come_in_any_order_and_a_bom_is_fine() -> None:
    data = "\ufeffquestion,answer,elector,units,area,channel\nq1,no,P1,,0,proxy\n".encode()
    [row] = read_rows(data)
    assert (row.question, row.answer, row.elector, row.channel) == ("q1", ("no",), "P1", "proxy")


def test_every_bad_row_is_reported_with_its_line() -> None:
    data = HEADER + (
        "A,a,80,online,q1,yes\n"  # fine
        "B,b,eighty,online,q1,yes\n"
        "C,c,-1,online,q1,yes\n"
        "D,d,10,fax,q1,yes\n"
        "E,e,10,online,q1\n"
        "F,f,10,online,q1,\n"
        "G,g,10,online,,yes\n"
    )
    assert problems(data) == [
        "line 3: bad area “eighty”: expected a number of m² ≥ 0",
        "line 4: bad area “-1”: expected a number of m² ≥ 0",
        "line 5: unknown channel “fax” (expected online, paper or proxy)",
        "line 6: expected 6 fields, found 5",
        "line 7: the answer is empty",
        "line 8: the question is empty",
    ]


def test_a_missing_column_an_empty_file_and_bad_bytes() -> None:
    assert problems("elector,units,channel,question,answer\n") == [
        "line 1: the header has no column area"
    ]
    assert problems("") == [
        "the file is empty; it needs the header elector,units,area,channel,question,answer"
    ]
    assert problems(b"\xff\xfe") == ["the file is not UTF-8 text (byte 0)"]


def test_answers_are_checked_against_the_method_with_line_numbers() -> None:
    ranked = HEADER + ",,,online,q1,a b\n,,,online,q1,b b\n,,,online,q1,c a\n"
    assert problems(ranked, Spec("instant_runoff", options=("a", "b"))) == [
        "line 3: option “b” appears twice",
        "line 4: unknown option “c”",
    ]
    assert problems(HEADER + "A,,,online,q1,yes no\nB,,,online,q1,maybe\n") == [
        "line 2: expected one option, found 2",
        "line 3: unknown option “maybe”",
    ]
    assert problems(HEADER + "A,,,online,q1,a b a\n", Spec("approval")) == [
        "line 2: option “a” appears twice"
    ]


def test_one_ballot_per_elector_and_no_mixing_of_secret_and_named_rows() -> None:
    data = HEADER + "A,,,online,q1,yes\nB,,,online,q1,no\nA,,,paper,q1,no\n,,,online,q1,yes\n"
    assert problems(data) == [
        "line 4: A has a second ballot (the first is on line 2)",
        "line 5: the elector is empty, but other rows name theirs",
    ]


def test_the_question_is_the_only_one_or_the_one_asked_for() -> None:
    data = HEADER + "A,,,online,q1,yes\nA,,,online,q2,x\nB,,,online,q2,y\n"
    assert problems(data) == ["the file has several questions (q1, q2); choose one with --question"]
    assert recount(data, Spec("single_choice", question="q2")).entry["counts"] == {
        "x": "1",
        "y": "1",
    }
    nobody = recount(data, Spec("yes_no_abstain", question="q9"))
    assert (nobody.ballots, nobody.entry["counts"]["yes"]) == (0, "0")
    assert problems(HEADER) == ["the file has no ballots; name the question with --question"]


def test_options_are_the_union_seen_unless_given() -> None:
    data = HEADER + ",,,online,q1,b\n,,,online,q1,a\n"
    assert list(recount(data, Spec("single_choice")).entry["counts"]) == ["a", "b"]
    given = recount(data, Spec("single_choice", options=("c", "b", "a"))).entry
    assert given["counts"] == {"c": "0", "b": "1", "a": "1"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (Spec("single_choice", seats=2), "--seats applies to approval and stv only"),
        (Spec("stv", seats=3), "--seats must be between 1 and 2 for 3 options"),
        (Spec("equal_shares"), "equal_shares needs --budget and --costs"),
        (
            Spec("equal_shares", budget=Decimal(9), costs={"a": Decimal(1), "b": Decimal(2)}),
            "--costs gives no cost for option c",  # c is in the file
        ),
        (Spec("approval", budget=Decimal(9)), "--budget and --costs apply to equal_shares only"),
        (Spec("approval", roll_heads=9), "--roll-heads and --roll-area apply with --rule only"),
        (
            Spec("approval", options=("a",)),
            "the question needs at least two options; give them with --options",
        ),
    ],
)
def test_parameters_that_do_not_fit_the_method(spec: Spec, message: str) -> None:
    data = HEADER + ",,,online,q1,a b\n,,,online,q1,c\n"
    assert problems(data, spec) == [message]


def test_spec_from_command_line_text() -> None:
    spec = Spec.from_text(
        "equal_shares", options="a, b", budget="100", costs="a=60,b=40.5", roll_area="0"
    )
    assert spec.options == ("a", "b")
    assert spec.costs == {"a": Decimal(60), "b": Decimal("40.5")}
    assert (spec.budget, spec.roll_area) == (Decimal(100), Decimal(0))
    for kwargs, message in [
        ({"budget": "lots"}, "--budget must be a positive number, not “lots”"),
        ({"budget": "0"}, "--budget must be a positive number, not “0”"),
        ({"costs": "a=1,a=2"}, "--costs takes id=cost pairs separated by commas, each id once"),
        ({"costs": "a"}, "--costs takes id=cost pairs separated by commas, each id once"),
        ({"options": "a,,b"}, "--options must be distinct ids separated by commas"),
        ({"rule": "majority"}, "unknown rule majority"),
    ]:
        with pytest.raises(RecountError) as caught:
            Spec.from_text("equal_shares", **kwargs)
        assert [p.text(EN) for p in caught.value.problems] == [message]
    with pytest.raises(RecountError):
        Spec.from_text("borda")


# --- the recount is the server's count ---------------------------------------------------------


def export(definition: Definition, roll: list[Elector], casts: list[Cast]) -> str:
    """What app.ballots.counted_csv writes for these casts."""
    by_code = {e.code: e for e in roll}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("elector", "units", "area", "channel", "question", "answer"))
    for c in counted_casts(definition, casts):
        e = by_code.get(c.elector or "")
        for q in definition.questions:
            answer = c.answers[q.id]
            writer.writerow(
                [
                    c.elector or "",
                    " ".join(e.units) if e else "",
                    str(e.area) if e else "",
                    c.channel,
                    q.id,
                    answer if isinstance(answer, str) else " ".join(answer),
                ]
            )
    return out.getvalue()


def options(*ids: str, costs: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    return [
        {"id": o, "label": o} | ({"cost": str(costs[i])} if costs else {})
        for i, o in enumerate(ids)
    ]


QUESTIONS = [
    {
        "id": "motion",
        "text": "t",
        "method": "yes_no_abstain",
        "options": options("yes", "no", "abstain"),
    },
    {
        "id": "colour",
        "text": "t",
        "method": "single_choice",
        "options": options("red", "green", "blue"),
    },
    {
        "id": "board",
        "text": "t",
        "method": "approval",
        "options": options("a", "b", "c", "d"),
        "seats": 2,
    },
    {"id": "chair", "text": "t", "method": "instant_runoff", "options": options("a", "b", "c")},
    {
        "id": "council",
        "text": "t",
        "method": "stv",
        "options": options("a", "b", "c", "d"),
        "seats": 2,
    },
    {"id": "motto", "text": "t", "method": "schulze", "options": options("x", "y", "z")},
    {
        "id": "budget",
        "text": "t",
        "method": "equal_shares",
        "options": options("p", "q", "r", costs=(60000, 30000, 25000)),
        "budget": "100000",
    },
]
ANSWERS = [
    {
        "motion": "yes",
        "colour": "red",
        "board": ["a", "b"],
        "chair": ["a", "b"],
        "council": ["a", "b", "c"],
        "motto": ["x", "y"],
        "budget": ["p"],
    },
    {
        "motion": "no",
        "colour": "green",
        "board": ["b"],
        "chair": ["b", "c"],
        "council": ["b", "a"],
        "motto": ["y", "z", "x"],
        "budget": ["q", "r"],
    },
    {
        "motion": "yes",
        "colour": "red",
        "board": ["c", "d"],
        "chair": ["c", "b"],
        "council": ["c"],
        "motto": ["z"],
        "budget": ["p", "r"],
    },
    {
        "motion": "abstain",
        "colour": "blue",
        "board": ["a"],
        "chair": ["a", "c"],
        "council": ["d", "a"],
        "motto": ["x", "z"],
        "budget": ["q"],
    },
    {
        "motion": "yes",
        "colour": "green",
        "board": ["a", "d"],
        "chair": ["b"],
        "council": ["a"],
        "motto": ["y"],
        "budget": ["p", "q"],
    },
]
ROLL = [
    Elector(f"1-1-{100 + i}", (f"1-1-{100 + i}",), Decimal(area), "1", "g")
    for i, area in enumerate(["80.5", "62", "95.25", "70", "110", "54", "88"])
]
SEED = "a1b2c3d4e5f6a7b8"


def ballot(rule: dict[str, Any], **changes: Any) -> Definition:
    return Definition.from_dict(
        {
            "title": "t",
            "questions": QUESTIONS,
            "rule": rule,
            "secrecy": "roll_call",
            "revoting": "last",
            "channels": ["online", "paper", "proxy"],
            "opens_at": "2026-01-01T00:00:00Z",
            "closes_at": "2026-01-08T00:00:00Z",
            "electorate": "owners",
            "seed": SEED,
        }
        | changes
    )


def server_and_recount(
    definition: Definition, rule: str | None
) -> tuple[dict[str, Any], dict[str, Any], str]:
    channels = ["online", "paper", "proxy", "online", "online"]
    casts = [
        Cast(None if definition.secrecy == "secret" else ROLL[i].code, a, channels[i])
        for i, a in enumerate(ANSWERS)
    ]
    voters = [e.code for e in ROLL[: len(ANSWERS)]]
    server = tally(definition, ROLL, counted_casts(definition, casts), voters)
    return server, dict(enumerate(server["questions"])), export(definition, ROLL, casts)


def spec_for(question: dict[str, Any], rule: str | None, **extra: Any) -> Spec:
    costs = (
        {o["id"]: Decimal(o["cost"]) for o in question["options"]}
        if question["method"] == "equal_shares"
        else None
    )
    return Spec(
        question["method"],
        question=question["id"],
        seats=question.get("seats", 1),
        options=tuple(o["id"] for o in question["options"]),
        budget=Decimal(question["budget"]) if "budget" in question else None,
        costs=costs,
        seed=SEED,
        rule=rule,
        **extra,
    )


ROLL_HEADS, ROLL_AREA = len(ROLL), sum((e.area for e in ROLL), Decimal(0))


@pytest.mark.parametrize("position", range(len(QUESTIONS)), ids=[q["method"] for q in QUESTIONS])
@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("civil_code_278:ordinary", civil_code_278("ordinary")),
        ("civil_code_278:major", civil_code_278("major")),
        ("civil_code_278:major:pre2021", civil_code_278("major", "pre2021")),
        ("consultation", consultation()),
    ],
)
def test_recounting_the_export_gives_the_servers_entry(position: int, name: str, rule: Any) -> None:
    definition = ballot(rule.to_dict())
    _, server, data = server_and_recount(definition, name)
    spec = spec_for(QUESTIONS[position], name, roll_heads=ROLL_HEADS, roll_area=ROLL_AREA)
    result = recount(data, spec)
    assert result.entry == server[position]
    assert result.ballots == len(ANSWERS)


def test_a_residents_meeting_needs_only_the_headcount() -> None:
    definition = ballot(residents_meeting().to_dict(), electorate="adults")
    roll = [Elector(e.code, (), Decimal(0), "1", "g") for e in ROLL]
    casts = [Cast(roll[i].code, a, "online") for i, a in enumerate(ANSWERS)]
    server = tally(definition, roll, casts, [e.code for e in roll[:5]])["questions"][0]
    data = export(definition, roll, casts)
    spec = spec_for(QUESTIONS[0], "residents_meeting", roll_heads=7)
    assert recount(data, spec).entry == server
    assert server["decision"]["valid"] is True


def test_a_secret_export_recounts_the_same() -> None:
    """Only the participants' floor area is missing: a secret export carries no areas."""
    definition = ballot(consultation().to_dict(), secrecy="secret", revoting="first")
    _, server, data = server_and_recount(definition, "consultation")
    assert data.splitlines()[1].startswith(",,,online,motion,yes")
    for position, question in enumerate(QUESTIONS):
        entry = recount(data, spec_for(question, "consultation", roll_heads=7)).entry
        assert {k: v for k, v in entry.items() if k != "decision"} == {
            k: v for k, v in server[position].items() if k != "decision"
        }
    ours, theirs = (
        recount(data, spec_for(QUESTIONS[0], "consultation", roll_heads=7)).entry["decision"],
        server[0]["decision"],
    )
    for key in ("passed", "valid", "participating_heads", "approving_heads", "thresholds"):
        assert ours[key] == theirs[key]


def test_without_a_rule_there_is_no_decision() -> None:
    definition = ballot(consultation().to_dict())
    _, server, data = server_and_recount(definition, None)
    entry = recount(data, spec_for(QUESTIONS[0], None)).entry
    assert entry["decision"] is None
    assert entry["counts"] == server[0]["counts"] and entry["area"] == server[0]["area"]


def test_rules_need_the_roll_totals_they_measure() -> None:
    definition = ballot(consultation().to_dict())
    _, _, data = server_and_recount(definition, None)
    q = QUESTIONS[0]
    for extra, message in [
        ({}, "the rule civil_code_278:major needs the roll's headcount: give --roll-heads"),
        (
            {"roll_heads": 7},
            "the rule civil_code_278:major needs the roll's floor area: give --roll-area",
        ),
        ({"roll_heads": 4, "roll_area": ROLL_AREA}, "--roll-heads 4 is fewer than the 5 who voted"),
        (
            {"roll_heads": 7, "roll_area": Decimal(10)},
            "--roll-area 10 is less than the 417.75 m² that voted",
        ),
        (
            {"roll_heads": 5, "roll_area": ROLL_AREA},
            "everyone on the roll voted, so --roll-area must be the area that voted",
        ),
    ]:
        assert problems(data, spec_for(q, "civil_code_278:major", **extra)) == [message]


def test_a_unit_voted_twice_is_bad_input() -> None:
    data = HEADER + "A,1-1-101,50,online,q1,yes\nB,1-1-101,50,online,q1,yes\n"
    spec = Spec(
        "yes_no_abstain", rule="civil_code_278:ordinary", roll_heads=3, roll_area=Decimal(200)
    )
    assert problems(data, spec) == ["unit 1-1-101 is voted for by two electors"]


# --- the readable report -----------------------------------------------------------------------


def test_the_report_reads_in_english_and_chinese() -> None:
    definition = ballot(civil_code_278("ordinary").to_dict())
    _, _, data = server_and_recount(definition, None)
    spec = spec_for(QUESTIONS[0], "civil_code_278:ordinary", roll_heads=7, roll_area=ROLL_AREA)
    result = recount(data, spec)
    english = render(result, EN)
    assert english.splitlines()[:5] == [
        "Question motion (yes / no / abstain): 5 ballots counted",
        "  option   votes  area (m²)",
        "  yes      3      285.75",
        "  no       1      62.00",  # the count's exact scale, as the server publishes it
        "  abstain  1      70.00",
    ]
    assert "Rule civil_code_278: passed" in english
    assert "  approval_heads: 3 (needs > 2.5, 1/2 of 5): met" in english
    chinese = render(result, translator("zh_CN"))
    assert "问题 motion（同意 / 反对 / 弃权）：计入 5 张选票" in chinese
    assert "表决规则 civil_code_278：通过" in chinese


@pytest.mark.parametrize(
    "position", range(1, len(QUESTIONS)), ids=[q["method"] for q in QUESTIONS[1:]]
)
def test_every_method_renders(position: int) -> None:
    definition = ballot(consultation().to_dict())
    _, server, data = server_and_recount(definition, None)
    text = render(recount(data, spec_for(QUESTIONS[position], None)), EN)
    assert text.startswith(f"Question {QUESTIONS[position]['id']} (")
    assert "Winners: " + ", ".join(server[position]["winners"]) in text
