"""The amendment diff (Chinese text without spaces, insertions, deletions, several lines) and the
rules for proposing and deciding amendments, as plain functions."""

from __future__ import annotations

import itertools
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliberation.amendments import (
    DELETE,
    EQUAL,
    INSERT,
    ITEM_DECIDED,
    SKIP,
    STALE_BASE,
    VOTE_FAILED,
    AmendmentRefused,
    Segment,
    Status,
    change_counts,
    changed,
    check_author_decision,
    check_proposal,
    check_put_to_vote,
    compact,
    diff_texts,
    new_text,
    old_text,
    out_of_date,
    settle_outcome,
)


def marked(segments: list[Segment]) -> str:
    """The diff in wdiff notation, for readable assertions."""
    marks = {EQUAL: "{}", DELETE: "[-{}-]", INSERT: "{{+{}+}}", SKIP: "…"}
    return "".join(marks[s.kind].format(s.text) for s in segments)


# --- the diff ------------------------------------------------------------------------------------


def test_chinese_words_are_replaced_whole_not_character_by_character() -> None:
    old = "我们应该在北门安装摄像头"
    new = "我们必须在南门安装两个摄像头"
    segments = diff_texts(old, new)
    # the lone 在 between two changes is folded into one change: phrases, not confetti
    assert marked(segments) == "我们[-应该在北-]{+必须在南+}门安装{+两个+}摄像头"
    assert old_text(segments) == old and new_text(segments) == new


def test_pure_insertion_and_pure_deletion() -> None:
    assert marked(diff_texts("停车位不够", "小区停车位严重不够")) == "{+小区+}停车位{+严重+}不够"
    assert marked(diff_texts("小区停车位严重不够", "停车位不够")) == "[-小区-]停车位[-严重-]不够"
    assert marked(diff_texts("", "新的文字")) == "{+新的文字+}"
    assert marked(diff_texts("旧的文字", "")) == "[-旧的文字-]"


def test_identical_texts_have_no_change() -> None:
    segments = diff_texts("一样的文字\n第二行", "一样的文字\n第二行")
    assert segments == [Segment(EQUAL, "一样的文字\n第二行")]
    assert not changed(segments)
    assert diff_texts("", "") == []


def test_several_lines_unchanged_lines_stay_whole() -> None:
    old = "第一条：安装门禁。\n第二条：增加停车位。\n第三条：绿化。"
    new = "第一条：安装门禁。\n第二条：增加电动车充电桩。\n第三条：绿化。\n第四条：设置快递柜。"
    segments = diff_texts(old, new)
    assert marked(segments) == (
        "第一条：安装门禁。\n第二条：增加[-停车位-]{+电动车充电桩+}。\n第三条：绿化。"
        "{+\n第四条：设置快递柜。+}"
    )
    assert old_text(segments) == old and new_text(segments) == new


def test_a_deleted_line_and_an_added_line() -> None:
    old = "甲\n乙\n丙\n"
    new = "甲\n丙\n丁\n"
    assert marked(diff_texts(old, new)) == "甲\n[-乙\n-]丙\n{+丁\n+}"


def test_unrelated_rewrites_show_as_one_replacement() -> None:
    # one character in common (车) is a coincidence, not a shared phrase
    assert marked(diff_texts("停车位不够", "业主委员会决定明年修建立体车库")) == (
        "[-停车位不够-]{+业主委员会决定明年修建立体车库+}"
    )
    assert marked(diff_texts("停车位不够。", "业主委员会决定明年修建立体车库。")) == (
        "[-停车位不够-]{+业主委员会决定明年修建立体车库+}。"
    )


def test_each_change_is_one_deletion_then_one_insertion() -> None:
    segments = diff_texts("abc def ghi jkl", "abX deY ghZ jkl")
    for first, second in itertools.pairwise(segments):
        assert first.kind != second.kind  # runs are merged
        assert (first.kind, second.kind) != (INSERT, DELETE)


def test_english_still_reads_by_phrase() -> None:
    segments = diff_texts(
        "Install two cameras at the north gate.", "Install four cameras at the south gate."
    )
    assert marked(segments) == ("Install [-two-]{+four+} cameras at the [-nor-]{+sou+}th gate.")


def test_markup_is_kept_as_text() -> None:
    """The diff holds text; escaping is the template's job (tested on the pages)."""
    segments = diff_texts("正文", "正文<script>alert(1)</script>")
    assert Segment(INSERT, "<script>alert(1)</script>") in segments


def test_a_long_paragraph_is_diffed_sentence_by_sentence() -> None:
    sentences = [f"第{i}句说明停车的安排。" for i in range(300)]
    old = "".join(sentences)
    changed_sentences = list(sentences)
    changed_sentences[150] = "第150句说明电动车充电的安排。"
    segments = diff_texts(old, "".join(changed_sentences))
    assert [s.kind for s in segments] == [EQUAL, DELETE, INSERT, EQUAL]
    assert (segments[1].text, segments[2].text) == ("停车", "电动车充电")


def test_huge_blocks_are_replaced_whole_without_a_quadratic_diff() -> None:
    rng = random.Random(5)
    old = "".join(rng.choice("的是在了") for _ in range(20_000))
    new = "".join(rng.choice("的是在了") for _ in range(20_000))
    started = time.perf_counter()
    assert [s.kind for s in diff_texts(old, new)] == [DELETE, INSERT]
    assert time.perf_counter() - started < 2


texts = st.text(alphabet="甲乙丙丁的在。？ a\n", max_size=60)


@settings(max_examples=300, deadline=None)
@given(texts, texts)
def test_the_diff_always_gives_back_both_texts(old: str, new: str) -> None:
    segments = diff_texts(old, new)
    assert old_text(segments) == old
    assert new_text(segments) == new
    assert all(s.text for s in segments)
    assert changed(segments) == (old != new)
    compacted = compact(segments, context=3)
    assert old_text(compacted) == old and new_text(compacted) == new


def test_compact_keeps_context_around_changes() -> None:
    old = "开头" + "甲" * 100 + "旧" + "乙" * 100 + "结尾"
    new = "开头" + "甲" * 100 + "新" + "乙" * 100 + "结尾"
    segments = compact(diff_texts(old, new), context=5)
    assert marked(segments) == "…甲甲甲甲甲[-旧-]{+新+}乙乙乙乙乙…"
    assert old_text(segments) == old  # what is left out is kept in the skip segment
    # a short text is left as it is
    short = diff_texts("甲旧乙", "甲新乙")
    assert compact(short, context=5) == short


def test_change_counts_ignore_whitespace() -> None:
    assert change_counts(diff_texts("停车 位", "停车 位\n\n新增 一行")) == (4, 0)


# --- the rules -----------------------------------------------------------------------------------


def proposal(**changes: object) -> None:
    values: dict[str, object] = {
        "consultation_is_open": True,
        "base_revision": 2,
        "item_revision": 2,
        "current_body": "现在的文字",
        "proposed_body": "修改后的文字",
    }
    values.update(changes)
    check_proposal(**values)  # type: ignore[arg-type]


def test_proposal_rules() -> None:
    proposal()
    with pytest.raises(AmendmentRefused, match="consultation_closed"):
        proposal(consultation_is_open=False)
    with pytest.raises(AmendmentRefused, match=STALE_BASE):
        proposal(base_revision=1)
    with pytest.raises(AmendmentRefused, match="unchanged"):
        proposal(proposed_body="现在的文字")


def decision(**changes: object) -> None:
    values: dict[str, object] = {
        "accepting": True,
        "actor_id": 7,
        "item_author_id": 7,
        "status": Status.proposed,
        "consultation_is_open": True,
        "base_revision": 3,
        "item_revision": 3,
    }
    values.update(changes)
    check_author_decision(**values)  # type: ignore[arg-type]


def test_only_the_items_author_decides_a_proposed_amendment() -> None:
    decision()
    decision(accepting=False)
    with pytest.raises(AmendmentRefused, match="not_author"):
        decision(actor_id=8)
    with pytest.raises(AmendmentRefused, match="not_author"):
        decision(actor_id=8, accepting=False)
    for status in (Status.accepted, Status.rejected, Status.put_to_vote):
        with pytest.raises(AmendmentRefused, match="not_proposed"):
            decision(status=status)


def test_accepting_needs_the_consultation_open_and_the_current_text() -> None:
    with pytest.raises(AmendmentRefused, match="consultation_closed"):
        decision(consultation_is_open=False)
    with pytest.raises(AmendmentRefused, match=STALE_BASE):
        decision(base_revision=2)
    # rejecting a pending proposal is always possible
    decision(accepting=False, consultation_is_open=False, base_revision=2)


def test_putting_to_a_vote() -> None:
    check_put_to_vote(
        status="proposed", item_status="consultation", base_revision=1, item_revision=1
    )
    check_put_to_vote(status="proposed", item_status="deciding", base_revision=1, item_revision=1)
    with pytest.raises(AmendmentRefused, match="not_proposed"):
        check_put_to_vote(
            status="put_to_vote", item_status="consultation", base_revision=1, item_revision=1
        )
    with pytest.raises(AmendmentRefused, match="text_fixed"):
        check_put_to_vote(
            status="proposed", item_status="decided", base_revision=1, item_revision=1
        )
    with pytest.raises(AmendmentRefused, match=STALE_BASE):
        check_put_to_vote(
            status="proposed", item_status="consultation", base_revision=1, item_revision=2
        )


def settled(**changes: object) -> tuple[Status, str | None]:
    values: dict[str, object] = {
        "status": Status.put_to_vote,
        "ballot_counted": True,
        "passed": True,
        "item_status": "consultation",
        "base_revision": 4,
        "item_revision": 4,
    }
    values.update(changes)
    return settle_outcome(**values)  # type: ignore[arg-type]


def test_settling_a_vote() -> None:
    assert settled() == (Status.accepted, None)
    assert settled(item_status="deciding") == (Status.accepted, None)
    assert settled(passed=False) == (Status.rejected, VOTE_FAILED)
    assert settled(base_revision=3) == (Status.rejected, STALE_BASE)
    assert settled(item_status="decided") == (Status.rejected, ITEM_DECIDED)
    with pytest.raises(AmendmentRefused, match="ballot_not_counted"):
        settled(ballot_counted=False)
    with pytest.raises(AmendmentRefused, match="not_put_to_vote"):
        settled(status=Status.proposed)


def test_out_of_date_only_while_waiting() -> None:
    assert out_of_date("proposed", 1, 2)
    assert out_of_date("put_to_vote", 1, 2)
    assert not out_of_date("proposed", 2, 2)
    assert not out_of_date("accepted", 1, 2)
    assert not out_of_date("rejected", 1, 2)
