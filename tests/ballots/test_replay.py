"""The ballots replay in yishi-verify: two ballots that replay cleanly (roll-call with online,
proxy and paper casts; secret), then one tampering per rule, each caught by its own issue code;
and the real command on a bundle written by hand."""

from __future__ import annotations

import copy
import gettext
import json
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from audit.checkpoint import Checkpoint, community_origin, sign_checkpoint
from audit.entries import Entry, encode_entry
from audit.merkle import leaf_hash, tree_root
from audit.note import generate_signer
from ballots import verify
from ballots.ballot import Cast, Definition, Elector, counted_casts, roll_digest, tally
from ballots.replay import DOMAIN, LOCALE_DIR, BallotReplay, translator
from ballots.rules import civil_code_278, consultation

SLUG = "z"
OPENS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
CLOSES = OPENS + 7 * 86_400_000
DAY = 86_400_000

Log = list[tuple[str, int, dict[str, Any]]]  # (type, t, payload)


def definition(**changes: Any) -> dict[str, Any]:
    yes_no = [{"id": o, "label": o} for o in ("yes", "no", "abstain")]
    data: dict[str, Any] = {
        "title": "Repaint the stairwells",
        "description": "",
        "agenda_item": None,
        "questions": [
            {"id": "q1", "text": "Repaint?", "method": "yes_no_abstain", "options": yes_no},
            {
                "id": "q2",
                "text": "Colour",
                "method": "instant_runoff",
                "options": [{"id": c, "label": c} for c in ("white", "green", "blue")],
            },
            {
                "id": "q3",
                "text": "Which days may the painters work?",
                "method": "approval",
                "options": [{"id": d, "label": d} for d in ("mon", "tue", "wed")],
            },
        ],
        "rule": civil_code_278("ordinary").to_dict(),
        "secrecy": "roll_call",
        "revoting": "first",
        "channels": ["online", "paper", "proxy"],
        "paper_double_entry": True,
        "proxy_limit": 1,
        "opens_at": "2026-01-01T00:00:00Z",
        "closes_at": "2026-01-08T00:00:00Z",
        "early_close": False,
        "objection_days": 7,
        "electorate": "owners",
        "named": [],
        "seed": "0123456789abcdef",
    }
    return data | changes


ROLL = [
    Elector("1-1-101", ("1-1-101",), Decimal("80.5"), "1", "grid 1"),
    Elector("1-1-102", ("1-1-102", "1-1-202"), Decimal("150"), "1", "grid 1"),
    Elector("1-1-103", ("1-1-103",), Decimal("60"), "1", "grid 1"),
    Elector("1-1-104", ("1-1-104",), Decimal("70"), "1", "grid 1"),
]
YES_WHITE = {"q1": "yes", "q2": ["white", "green"], "q3": ["mon", "wed"]}
NO_BLUE = {"q1": "no", "q2": ["blue"], "q3": ["tue"]}


def opened(number: int, data: dict[str, Any], roll: list[Elector]) -> dict[str, Any]:
    return {
        "ballot": number,
        "definition": data,
        "roll": [e.to_dict() for e in roll],
        "roll_digest": roll_digest(roll),
        "roll_size": len(roll),
        "opened_by": 1,
    }


def published(data: dict[str, Any], roll: list[Elector], log: Log, number: int) -> dict[str, Any]:
    """The tally.published payload the server would write after ``log``."""
    d = Definition.from_dict(data)
    casts = [
        Cast(p.get("elector"), p["answers"], p.get("channel", ""))
        for kind, _, p in log
        if kind == "ballot.cast" and p["ballot"] == number
    ]
    closed = next(p for kind, _, p in log if kind == "ballot.closed" and p["ballot"] == number)
    participants = [row["elector"] for row in closed["participation"]]
    return {
        "ballot": number,
        "result": tally(d, roll, counted_casts(d, casts), participants),
        "objection_until": "2026-01-15T00:00:01Z",
    }


def roll_call_log() -> Log:
    """Ballot 1: an owners' ballot; 1-1-102's proxy votes, then 1-1-102 votes in person (which
    counts); a paper form entered twice; 1-1-104 does not vote."""
    data = definition()
    log: Log = [
        ("ballot.opened", OPENS - 60_000, opened(1, data, ROLL)),
        ("ballot.proxy", OPENS + 1000, {"ballot": 1, "principal": "1-1-102", "holder": "P0009"}),
        ("ballot.cast", OPENS + 2000, cast(1, "online", YES_WHITE, "1-1-101")),
        ("ballot.cast", OPENS + 3000, cast(1, "proxy", NO_BLUE, "1-1-102", holder="P0009")),
        (
            "ballot.cast",
            OPENS + 4000,
            cast(1, "paper", YES_WHITE, "1-1-103", serial="A-0001", entered_by=[7, 8]),
        ),
        ("ballot.cast", OPENS + 5000, cast(1, "online", YES_WHITE, "1-1-102")),
        (
            "ballot.closed",
            CLOSES,
            {
                "ballot": 1,
                "by": "schedule",
                "participation": [
                    {"elector": "1-1-101", "channel": "online"},
                    {"elector": "1-1-102", "channel": "online"},
                    {"elector": "1-1-103", "channel": "paper"},
                ],
            },
        ),
    ]
    log.append(("tally.published", CLOSES + 1000, published(data, ROLL, log, 1)))
    log.append(("tally.final", CLOSES + 7 * DAY + 2000, {"ballot": 1}))
    return log


def cast(
    number: int, channel: str, answers: dict[str, Any], elector: str, **extra: Any
) -> dict[str, Any]:
    return {"ballot": number, "channel": channel, "answers": answers, "elector": elector} | extra


SECRET_ROLL = [Elector(f"P{i:04d}", (), Decimal(0), "2", "grid 2") for i in range(1, 6)]


def secret_log() -> Log:
    """Ballot 2: a secret consultation of residents; one vote by proxy."""
    data = definition(
        secrecy="secret",
        electorate="adults",
        rule=consultation().to_dict(),
        channels=["online", "proxy"],
        paper_double_entry=False,
        early_close=True,
    )
    log: Log = [
        ("ballot.opened", OPENS, opened(2, data, SECRET_ROLL)),
        ("ballot.proxy", OPENS + 1000, {"ballot": 2, "principal": "P0003", "holder": "P0001"}),
        # secret casts carry no channel: the participation list says who came how
        ("ballot.cast", OPENS + 2000, {"ballot": 2, "answers": YES_WHITE}),
        ("ballot.cast", OPENS + 3000, {"ballot": 2, "answers": NO_BLUE}),
        ("ballot.cast", OPENS + 4000, {"ballot": 2, "answers": YES_WHITE}),
        (
            "ballot.closed",
            OPENS + DAY,  # the chair closes early: the definition allows it
            {
                "ballot": 2,
                "by": "chair",
                "participation": [
                    {"elector": "P0001", "channel": "online"},
                    {"elector": "P0002", "channel": "online"},
                    {"elector": "P0003", "channel": "proxy", "proxy": True},
                ],
            },
        ),
    ]
    log.append(("tally.published", OPENS + DAY + 1000, published(data, SECRET_ROLL, log, 2)))
    return log


def replay(log: Log, lang: str = "en") -> list[Any]:
    observer = BallotReplay(lang)
    found: list[Any] = []
    for index, (kind, t, payload) in enumerate(log):
        found += observer.observe(index, Entry(index, kind, SLUG, t, payload))
    found += observer.finish()
    return found


def codes(log: Log) -> set[str]:
    return {i.code for i in replay(log)}


def test_good_ballots_replay_cleanly() -> None:
    assert replay(roll_call_log()) == []
    assert replay(secret_log()) == []
    # interleaved, with entries of other kinds between them
    a, b = roll_call_log(), secret_log()
    mixed = sorted(a + b + [("comment.moderated", OPENS, {"reason": "x"})], key=lambda e: e[1])
    assert replay(mixed) == []


def test_a_ballot_closed_without_tally_and_a_log_cut_mid_ballot_are_fine() -> None:
    assert replay(roll_call_log()[:7]) == []
    assert replay(roll_call_log()[:3]) == []


def test_the_good_tallies_say_what_happened() -> None:
    result = roll_call_log()[7][2]["result"]
    q1 = result["questions"][0]
    assert q1["counts"] == {"yes": "3", "no": "0", "abstain": "0"}  # 1-1-102's own vote counts
    assert q1["decision"]["passed"] is True
    secret = secret_log()[6][2]["result"]
    assert secret["questions"][0]["counts"] == {"yes": "2", "no": "1", "abstain": "0"}


# --- one tampering per rule --------------------------------------------------------------------


def at(log: Log, i: int) -> dict[str, Any]:
    return log[i][2]


def retally(log: Log) -> None:
    """Publish the tally the server would have published for the changed log, so only the rule
    under test fails."""
    for i, (kind, t, payload) in enumerate(log):
        if kind == "tally.published":
            number = payload["ballot"]
            data = next(
                p["definition"] for k, _, p in log if k == "ballot.opened" and p["ballot"] == number
            )
            roll = ROLL if number == 1 else SECRET_ROLL
            log[i] = (kind, t, published(data, roll, log[:i], number))


def set_t(log: Log, i: int, t: int) -> None:
    log[i] = (log[i][0], t, log[i][2])


Tamper = Callable[[Log], None]


def _opened_twice(log: Log) -> None:
    log.insert(1, copy.deepcopy(log[0]))


def _bad_definition(log: Log) -> None:
    at(log, 0)["definition"]["secrecy"] = "whispered"


def _digest(log: Log) -> None:
    at(log, 0)["roll"][0]["area"] = "800.5"


def _size(log: Log) -> None:
    at(log, 0)["roll_size"] = 5


def _unsorted_roll(log: Log) -> None:
    at(log, 0)["roll"].reverse()


def _unknown_ballot(log: Log) -> None:
    at(log, 2)["ballot"] = 9


def _cast_after_close(log: Log) -> None:
    log.insert(7, ("ballot.cast", CLOSES + 10, cast(1, "online", NO_BLUE, "1-1-104")))


def _cast_before_opening(log: Log) -> None:
    set_t(log, 2, OPENS - 1)


def _cast_after_closing_time(log: Log) -> None:
    log.insert(6, ("ballot.cast", CLOSES + 1001, cast(1, "online", YES_WHITE, "1-1-104")))
    at(log, 7)["participation"].append({"elector": "1-1-104", "channel": "online"})
    retally(log)


def _channel(log: Log) -> None:
    at(log, 0)["definition"]["channels"] = ["online", "proxy"]  # paper not offered
    at(log, 0)["definition"]["paper_double_entry"] = False
    at(log, 4)["entered_by"] = [7]


def _invalid_answer(log: Log) -> None:
    at(log, 2)["answers"] = YES_WHITE | {"q1": "perhaps"}


def _not_normalised(log: Log) -> None:
    at(log, 2)["answers"] = YES_WHITE | {"q3": ["wed", "mon"]}  # approvals are logged sorted


def _not_on_roll(log: Log) -> None:
    at(log, 2)["elector"] = "9-9-999"


def _proxy_without_grant(log: Log) -> None:
    del log[1]


def _proxy_holder(log: Log) -> None:
    at(log, 3)["holder"] = "P0010"


def _serial_reused(log: Log) -> None:
    at(log, 4)["serial"] = "A-0001"
    log.insert(5, ("ballot.cast", OPENS + 4500, copy.deepcopy(at(log, 4)) | {"elector": "1-1-104"}))
    at(log, 5)["entered_by"] = [8, 9]


def _single_entry(log: Log) -> None:
    at(log, 4)["entered_by"] = [7, 7]


def _revote(log: Log) -> None:
    log.insert(3, ("ballot.cast", OPENS + 2500, cast(1, "online", NO_BLUE, "1-1-101")))


def _proxy_after_own(log: Log) -> None:
    log.insert(
        6, ("ballot.proxy", OPENS + 5500, {"ballot": 1, "principal": "1-1-101", "holder": "P8"})
    )
    log.insert(7, ("ballot.cast", OPENS + 6000, cast(1, "proxy", NO_BLUE, "1-1-101", holder="P8")))


def _proxy_principal_not_on_roll(log: Log) -> None:
    at(log, 1)["principal"] = "9-9-999"


def _second_proxy(log: Log) -> None:
    log.insert(
        2, ("ballot.proxy", OPENS + 1500, {"ballot": 1, "principal": "1-1-102", "holder": "P7"})
    )


def _proxy_limit(log: Log) -> None:  # proxy_limit is 1
    log.insert(
        2, ("ballot.proxy", OPENS + 1500, {"ballot": 1, "principal": "1-1-104", "holder": "P0009"})
    )


def _proxy_after_vote(log: Log) -> None:
    log.insert(
        3, ("ballot.proxy", OPENS + 2500, {"ballot": 1, "principal": "1-1-101", "holder": "P5"})
    )


def _participant_not_on_roll(log: Log) -> None:
    at(log, 6)["participation"].append({"elector": "9-9-999", "channel": "online"})


def _participant_twice(log: Log) -> None:
    at(log, 6)["participation"].insert(1, {"elector": "1-1-101", "channel": "online"})


def _participation_mismatch(log: Log) -> None:
    at(log, 6)["participation"].pop(0)


def _participation_channel(log: Log) -> None:
    at(log, 6)["participation"][1] = {"elector": "1-1-102", "channel": "proxy", "proxy": True}


def _closed_twice(log: Log) -> None:
    log.insert(7, copy.deepcopy(log[6]))


def _closed_early(log: Log) -> None:
    set_t(log, 6, CLOSES - 1)
    at(log, 6)["by"] = "chair"  # the definition does not allow an early close


def _tally_differs(log: Log) -> None:
    at(log, 7)["result"]["questions"][1]["winners"] = ["blue"]


def _tally_turnout_differs(log: Log) -> None:
    at(log, 7)["result"]["turnout"]["roll_area"] = "1000"


def _tally_before_close(log: Log) -> None:
    log.insert(6, ("tally.published", CLOSES - 10, copy.deepcopy(at(log, 7))))


def _tally_twice(log: Log) -> None:
    log.insert(8, copy.deepcopy(log[7]))


def _final_without_tally(log: Log) -> None:
    del log[7]


def _final_early(log: Log) -> None:
    set_t(log, 8, CLOSES + 2 * DAY)


def _final_twice(log: Log) -> None:
    log.append(copy.deepcopy(log[8]))


def _malformed(log: Log) -> None:
    del at(log, 3)["channel"]


ROLL_CALL_TAMPERING: list[tuple[str, Tamper]] = [
    ("ballot_opened_twice", _opened_twice),
    ("ballot_definition_invalid", _bad_definition),
    ("ballot_roll_digest_mismatch", _digest),
    ("ballot_roll_size_mismatch", _size),
    ("ballot_roll_invalid", _unsorted_roll),
    ("ballot_unknown", _unknown_ballot),
    ("ballot_not_open", _cast_after_close),
    ("ballot_outside_window", _cast_before_opening),
    ("ballot_outside_window", _cast_after_closing_time),
    ("ballot_channel_not_allowed", _channel),
    ("ballot_answers_invalid", _invalid_answer),
    ("ballot_answers_not_normalised", _not_normalised),
    ("ballot_elector_not_on_roll", _not_on_roll),
    ("ballot_proxy_missing", _proxy_without_grant),
    ("ballot_proxy_holder_mismatch", _proxy_holder),
    ("ballot_paper_serial_reused", _serial_reused),
    ("ballot_paper_entry", _single_entry),
    ("ballot_revote_refused", _revote),
    ("ballot_proxy_after_own", _proxy_after_own),
    ("ballot_proxy_not_on_roll", _proxy_principal_not_on_roll),
    ("ballot_proxy_twice", _second_proxy),
    ("ballot_proxy_limit", _proxy_limit),
    ("ballot_proxy_after_vote", _proxy_after_vote),
    ("ballot_participation_not_on_roll", _participant_not_on_roll),
    ("ballot_participation_duplicate", _participant_twice),
    ("ballot_participation_mismatch", _participation_mismatch),
    ("ballot_participation_channel", _participation_channel),
    ("ballot_closed_twice", _closed_twice),
    ("ballot_closed_early", _closed_early),
    ("ballot_tally_differs", _tally_differs),
    ("ballot_tally_differs", _tally_turnout_differs),
    ("ballot_tally_not_closed", _tally_before_close),
    ("ballot_tally_twice", _tally_twice),
    ("ballot_final_without_tally", _final_without_tally),
    ("ballot_final_early", _final_early),
    ("ballot_final_twice", _final_twice),
    ("ballot_entry_malformed", _malformed),
]


@pytest.mark.parametrize(
    ("code", "tamper"), ROLL_CALL_TAMPERING, ids=[t.__name__ for _, t in ROLL_CALL_TAMPERING]
)
def test_each_tampering_of_a_roll_call_ballot_is_caught(code: str, tamper: Tamper) -> None:
    log = roll_call_log()
    tamper(log)
    found = codes(log)
    assert code in found, found


def test_tally_differs_names_the_ballot_the_entry_and_the_question() -> None:
    log = roll_call_log()
    _tally_differs(log)
    [found] = replay(log)
    assert found.code == "ballot_tally_differs"
    assert found.index == 7
    assert found.params == {"ballot": 1, "question": "q2", "index": 7}
    assert found.message.format(**found.params) == (
        "entry 7: the published tally of ballot 1 differs from the recount at question q2"
    )
    [zh] = replay(log, "zh")
    assert (
        zh.message.format(**zh.params)
        == "第 7 条：表决 1 公布的计票结果在问题 q2 上与重新计票不一致"
    )


def test_a_tally_that_cannot_be_recounted_is_reported() -> None:
    log = roll_call_log()
    _participant_not_on_roll(log)
    assert codes(log) == {
        "ballot_participation_not_on_roll",
        "ballot_participation_mismatch",
        "ballot_tally_failed",
    }


def _secret_names(log: Log) -> None:
    at(log, 2)["elector"] = "P0002"


def _secret_too_many_proxy_casts(log: Log) -> None:
    del log[1]


def _secret_count(log: Log) -> None:
    at(log, 5)["participation"].pop()


def _secret_channel_in_cast(log: Log) -> None:
    at(log, 3)["channel"] = "proxy"  # would single out the one proxy voter


def _secret_channels(log: Log) -> None:
    at(log, 5)["participation"][2] = {"elector": "P0003", "channel": "paper"}


def _secret_tally(log: Log) -> None:
    at(log, 6)["result"]["questions"][0]["counts"]["yes"] = "3"


SECRET_TAMPERING: list[tuple[str, Tamper]] = [
    ("ballot_secret_names_elector", _secret_names),
    ("ballot_proxy_missing_secret", _secret_too_many_proxy_casts),
    ("ballot_participation_count", _secret_count),
    ("ballot_secret_names_elector", _secret_channel_in_cast),
    ("ballot_channel_not_allowed", _secret_channels),
    ("ballot_tally_differs", _secret_tally),
]


@pytest.mark.parametrize(
    ("code", "tamper"), SECRET_TAMPERING, ids=[t.__name__ for _, t in SECRET_TAMPERING]
)
def test_each_tampering_of_a_secret_ballot_is_caught(code: str, tamper: Tamper) -> None:
    log = secret_log()
    tamper(log)
    found = codes(log)
    assert code in found, found


def test_a_broken_opening_is_reported_once_not_for_every_cast() -> None:
    log = roll_call_log()
    _bad_definition(log)
    assert [i.code for i in replay(log)] == ["ballot_definition_invalid"]


def test_malformed_payloads_never_raise() -> None:
    log = roll_call_log()
    for i, (_, _, payload) in enumerate(log):
        for key in payload:
            for odd in ({"not": "expected"}, None, [1], "x", 3):
                broken = copy.deepcopy(log)
                broken[i][2][key] = odd
                replay(broken)  # issues, never an exception


# --- the real command on a bundle --------------------------------------------------------------

HOST = "yishi.example"


def write_bundle(path: Path, log: Log) -> Path:
    origin = community_origin(HOST, SLUG)
    path.mkdir()
    lines = [encode_entry(Entry(i, kind, SLUG, t, p)) for i, (kind, t, p) in enumerate(log)]
    (path / "entries.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    signer = generate_signer(origin)
    (path / "log.vkey").write_text(signer.verifier().vkey() + "\n")
    root = tree_root([leaf_hash(line) for line in lines])
    (path / "checkpoint").write_bytes(sign_checkpoint(Checkpoint(origin, len(lines), root), signer))
    return path


def full_log() -> Log:
    return sorted(roll_call_log() + secret_log(), key=lambda e: e[1])


def test_yishi_verify_replays_the_ballots_of_a_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_bundle(tmp_path / "good", full_log())
    assert verify.main([str(good), "--lang", "en"]) == 0
    assert "every check holds" in capsys.readouterr().out

    log = full_log()
    i = next(j for j, e in enumerate(log) if e[0] == "tally.published" and e[2]["ballot"] == 1)
    log[i][2]["result"]["questions"][0]["decision"]["passed"] = False
    bad = write_bundle(tmp_path / "bad", log)
    assert verify.main([str(bad), "--json", "--lang", "en"]) == 1
    report = json.loads(capsys.readouterr().out)
    [found] = report["issues"]
    assert found["code"] == "ballot_tally_differs"
    assert found["index"] == i
    assert found["message"] == (
        f"entry {i}: the published tally of ballot 1 differs from the recount at question q1"
    )
    assert verify.main([str(bad)]) == 1  # Chinese by default
    out = capsys.readouterr().out
    assert (
        f"[ballot_tally_differs] 第 {i} 条：表决 1 公布的计票结果在问题 q1 上与重新计票不一致"
        in out
    )


def test_the_log_only_check_ignores_the_ballots(tmp_path: Path) -> None:
    log = full_log()
    next(p for kind, _, p in log if kind == "tally.published")["result"]["counted"] = 99
    bad = write_bundle(tmp_path / "bad", log)
    from audit.verify import main as log_only

    assert log_only([str(bad), "--lang", "en"]) == 0


def test_python_m_ballots_verify(tmp_path: Path) -> None:
    good = write_bundle(tmp_path / "good", full_log())
    done = subprocess.run(
        [sys.executable, "-m", "ballots.verify", str(good), "--lang", "en", "--jobs", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- the catalogue ------------------------------------------------------------------------------


def test_every_ballots_message_has_a_chinese_translation() -> None:
    found = extract_from_dir(str(LOCALE_DIR.parent), method_map=[("**.py", "python")])
    messages = {m for _, _, m, _, _ in found if isinstance(m, str)}
    assert "passed" in messages
    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as f:
        catalog = read_po(f)
    missing = sorted(m for m in messages if m not in catalog or not catalog[m].string)
    assert not missing, f"add zh_CN translations for: {missing}"
    expected = {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as f:
        compiled = {k: v for k, v in gettext.GNUTranslations(f)._catalog.items() if k}  # type: ignore[attr-defined]
    assert compiled == expected, "recompile: pybabel compile -D yishi-ballots -d ballots/locale"
    assert translator("zh").gettext("passed") == "通过"
    assert translator("en").gettext("passed") == "passed"
