"""Threads as plain data: paths, trees built and sorted at every level, the reading-order walk
that renders any depth without recursion, pages of threads, reactions, moderation rights, the
posting limit and the chair's summary."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from deliberation import threads
from deliberation.threads import Node, PointRow, Step, ThreadError

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@dataclass
class C:
    id: int
    parent_id: int | None
    created_at: datetime
    agree_count: int = 0
    hidden: bool = False


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def shape(nodes: list[Node[C]]) -> list[tuple[int, list[object]]]:
    return [(n.comment.id, shape(n.children)) for n in nodes]


def render(steps: list[Step[C]]) -> str:
    """The markup the thread page makes from the walk, as tokens: balanced iff the walk is."""
    out = []
    for s in steps:
        out.append(f"<li{s.comment.id}>")
        if s.replies:
            out.append("<ol>")
        else:
            out.append("</li>")
            out.extend(["</ol>", "</li>"] * s.closes)
    return "".join(out)


def nest(nodes: list[Node[C]]) -> str:
    """The same markup, written recursively from the tree."""
    out = []
    for n in nodes:
        out.append(f"<li{n.comment.id}>")
        if n.children:
            out.append("<ol>" + nest(n.children) + "</ol>")
        out.append("</li>")
    return "".join(out)


# --- paths ---------------------------------------------------------------------------------------


def test_paths_are_zero_padded_ids_from_the_root_and_sort_as_the_tree_reads() -> None:
    root = threads.comment_path(None, 7)
    child = threads.comment_path(root, 12)
    assert root == "0000000007" and child == "00000000070000000012"
    assert sorted([child, threads.comment_path(None, 10), root]) == [root, child, "0000000010"]
    assert len(threads.comment_path("0" * 990, 2**31 - 1)) == threads.PATH_MAX
    with pytest.raises(ValueError):
        threads.comment_path(None, 0)


def test_reply_depth_stops_where_the_path_column_ends() -> None:
    assert threads.reply_depth(None) == 0
    assert threads.reply_depth(3) == 4
    assert threads.reply_depth(threads.MAX_DEPTH - 1) == threads.MAX_DEPTH
    with pytest.raises(ThreadError) as refused:
        threads.reply_depth(threads.MAX_DEPTH)
    assert refused.value.code == "too_deep" and refused.value.details["limit"] == 100


# --- trees and sorting ---------------------------------------------------------------------------


def test_siblings_sort_newest_first_at_every_level() -> None:
    comments = [
        C(1, None, at(0)),
        C(2, 1, at(1)),
        C(3, 1, at(5)),
        C(4, None, at(2)),
        C(5, 3, at(6)),
        C(6, 3, at(7)),
        C(7, 1, at(3)),
    ]
    assert shape(threads.build_thread(comments)) == [
        (4, []),
        (1, [(3, [(6, []), (5, [])]), (7, []), (2, [])]),
    ]


def test_most_supported_sorts_by_agree_count_then_newest_at_every_level() -> None:
    comments = [
        C(1, None, at(0), agree_count=1),
        C(2, None, at(1), agree_count=5),
        C(3, None, at(2), agree_count=1),
        C(4, 1, at(3), agree_count=0),
        C(5, 1, at(4), agree_count=2),
        C(6, 1, at(5), agree_count=2),
    ]
    tree = threads.build_thread(comments, "supported")
    assert shape(tree) == [(2, []), (3, []), (1, [(6, []), (5, []), (4, [])])]
    # an unknown sort is the default
    assert shape(threads.build_thread(comments, "loudest"))[0][0] == 3
    assert threads.sort_key("loudest") == "newest" and threads.sort_key("supported") == "supported"


def test_hidden_parents_keep_their_replies_and_order_does_not_depend_on_input_order() -> None:
    comments = [
        C(1, None, at(0), hidden=True),
        C(2, 1, at(1)),
        C(3, 2, at(2), hidden=True),
        C(4, 3, at(3)),
    ]
    tree = threads.build_thread(comments)
    assert shape(tree) == [(1, [(2, [(3, [(4, [])])])])]
    shuffled = comments[:]
    random.Random(5).shuffle(shuffled)
    assert shape(threads.build_thread(shuffled)) == shape(tree)


def test_a_comment_whose_parent_is_missing_starts_its_own_tree() -> None:
    tree = threads.build_thread([C(5, 99, at(0)), C(6, None, at(1))])
    assert shape(tree) == [(6, []), (5, [])]


def test_a_deep_chain_builds_and_walks_without_recursion() -> None:
    depth = 5_000  # far beyond Python's recursion limit
    chain = [C(1, None, at(0))] + [C(i, i - 1, at(i)) for i in range(2, depth + 1)]
    steps = threads.walk(threads.build_thread(chain))
    assert [s.depth for s in steps] == list(range(depth))
    assert steps[0].descendants == depth - 1 and steps[0].replies == 1
    assert steps[-1].replies == 0 and steps[-1].closes == depth - 1
    assert render(steps).count("<ol>") == render(steps).count("</ol>") == depth - 1


def test_many_siblings() -> None:
    siblings = [C(1, None, at(0))] + [
        C(i, 1, at(i % 97), agree_count=i % 7) for i in range(2, 3002)
    ]
    steps = threads.walk(threads.build_thread(siblings, "supported"))
    assert steps[0].replies == 3000 and steps[0].descendants == 3000
    replies = [s.comment for s in steps[1:]]
    keys = [(c.agree_count, c.created_at, c.id) for c in replies]
    assert keys == sorted(keys, reverse=True)
    assert steps[-1].closes == 1 and all(s.closes == 0 for s in steps[1:-1])


def test_the_walk_opens_and_closes_lists_exactly_as_the_tree_nests() -> None:
    rng = random.Random(2026)
    for _round in range(30):
        comments: list[C] = []
        for i in range(1, rng.randint(1, 150)):
            parent = rng.choice([None, *[c.id for c in comments]]) if comments else None
            comments.append(C(i, parent, at(rng.randint(0, 50)), rng.randint(0, 4)))
        for sort in threads.SORTS:
            tree = threads.build_thread(comments, sort)
            steps = threads.walk(tree)
            assert render(steps) == nest(tree)
            assert len(steps) == len(comments)
            assert sum(1 for s in steps if s.depth == 0) == len(tree)


def test_subtree_sizes() -> None:
    comments = [
        C(1, None, at(0)),
        C(2, 1, at(1)),
        C(3, 2, at(2)),
        C(4, 1, at(3)),
        C(5, None, at(4)),
    ]
    steps = {s.comment.id: s for s in threads.walk(threads.build_thread(comments))}
    assert (steps[1].replies, steps[1].descendants) == (2, 3)
    assert (steps[2].replies, steps[2].descendants) == (1, 1)
    assert (steps[5].replies, steps[5].descendants) == (0, 0)
    assert threads.walk([]) == []


# --- reactions, moderation, limits --------------------------------------------------------------


def test_a_subtree_is_a_range_of_paths() -> None:
    rng = random.Random(5)
    paths: dict[int, str] = {}
    parents: dict[int, int | None] = {}
    for cid in range(1, 400):
        parent = rng.choice([None, *paths]) if paths and rng.random() < 0.8 else None
        parents[cid] = parent
        paths[cid] = threads.comment_path(paths[parent] if parent else None, cid)

    def under(cid: int, ancestor: int) -> bool:
        while cid is not None:
            if cid == ancestor:
                return True
            cid = parents[cid]  # type: ignore[assignment]
        return False

    for ancestor in rng.sample(sorted(paths), 40):
        lo, hi = threads.subtree_range(paths[ancestor])
        inside = {cid for cid, p in paths.items() if lo <= p < hi}
        assert inside == {cid for cid in paths if under(cid, ancestor)}
    for cid, path in paths.items():
        root = cid
        while parents[root] is not None:
            root = parents[root]  # type: ignore[assignment]
        assert threads.root_id(path) == root
    assert threads.subtree_range("0000000009") == ("0000000009", "0000000010")
    assert threads.subtree_range("00000000070000000099") == (
        "00000000070000000099",
        "00000000070000000100",
    )
    for bad in ("", "123", "00000000011"):
        with pytest.raises(ValueError):
            threads.subtree_range(bad)


def test_pages_of_threads() -> None:
    assert threads.THREADS_PER_PAGE == 20
    assert [threads.page_count(n) for n in (0, 1, 20, 21, 40, 41, 209)] == [1, 1, 1, 2, 2, 3, 11]
    page = threads.thread_page(2, 45)
    assert (page.number, page.pages, page.offset, page.first, page.last) == (2, 3, 20, 21, 40)
    assert (page.previous, page.next) == (1, 3)
    last = threads.thread_page(3, 45)
    assert (last.first, last.last, last.previous, last.next) == (41, 45, 2, None)
    empty = threads.thread_page(1, 0)
    assert (empty.pages, empty.first, empty.last, empty.previous, empty.next) == (
        1,
        0,
        0,
        None,
        None,
    )
    for number, count in ((0, 45), (4, 45), (2, 0), (-1, 10)):
        with pytest.raises(ThreadError) as refused:
            threads.thread_page(number, count)
        assert refused.value.code == "no_such_page"
        assert refused.value.details == {"page": number, "pages": threads.page_count(count)}
    assert [threads.page_of(p) for p in (0, 19, 20, 39, 40, 208)] == [1, 1, 2, 2, 3, 11]
    assert threads.thread_page(3, 10, per_page=4).first == 9
    # every thread is on exactly one page, and page_of finds it there
    for count in (1, 19, 20, 21, 209):
        pages = [threads.thread_page(n, count) for n in range(1, threads.page_count(count) + 1)]
        seen = [(i, p.number) for p in pages for i in range(p.first, p.last + 1)]
        assert [i for i, _n in seen] == list(range(1, count + 1))
        assert all(threads.page_of(i - 1) == n for i, n in seen)


def test_reacting_again_takes_back_and_another_kind_replaces() -> None:
    assert threads.react(None, "agree") == threads.ReactionChange("agree", None, "agree")
    assert threads.react("agree", "agree") == threads.ReactionChange(None, "agree", None)
    assert threads.react("agree", "question") == threads.ReactionChange(
        "question", "agree", "question"
    )
    with pytest.raises(ThreadError) as refused:
        threads.react(None, "love")
    assert refused.value.code == "unknown_reaction"


def test_who_may_moderate() -> None:
    assert threads.moderator_capacity(True, [], []) == "chair"
    assert threads.moderator_capacity(True, [2], [1]) == "chair"
    assert threads.moderator_capacity(False, [2], [2, 3]) == "grid_member"
    assert threads.moderator_capacity(False, [2], [1]) is None
    assert threads.moderator_capacity(False, [], []) is None
    assert threads.moderator_capacity(False, [2], []) is None  # author outside every grid


def test_posting_limit_names_when_one_may_post_again() -> None:
    now = at(120)
    assert threads.next_post_at([], 3, now) is None
    recent = [at(70), at(80), at(100)]
    assert threads.next_post_at(recent[:2], 3, now) is None
    assert threads.next_post_at(recent, 3, now) == at(130)  # the 1:10 comment leaves the window
    assert threads.next_post_at([at(10), *recent], 3, now) == at(130)  # older ones do not count
    assert threads.next_post_at(recent, 2, now) == at(140)
    assert threads.next_post_at([], 0, now) == now + timedelta(hours=1)


# --- the chair's summary -------------------------------------------------------------------------


def test_comment_numbers_as_typed() -> None:
    assert threads.parse_comment_ids("12, 15，#20 c31、12", "comments_1") == [12, 15, 20, 31]
    assert threads.parse_comment_ids("  ", "comments_1") == []
    for bad in ("12a", "-3", "0", "99999999999", "x"):
        with pytest.raises(ThreadError) as refused:
            threads.parse_comment_ids(bad, "comments_2")
        assert refused.value.code == "bad_comment_ids"
        assert refused.value.details["field"] == "comments_2"


def test_summary_points_skip_blank_rows_and_name_the_bad_field() -> None:
    points = threads.summary_points(
        [
            PointRow("for", "  More spaces for residents ", "3, 4"),
            PointRow("for", "", ""),
            PointRow("against", "Costs\r\nmoney", ""),
        ]
    )
    assert [p.payload() for p in points] == [
        {"side": "for", "text": "More spaces for residents", "comments": [3, 4]},
        {"side": "against", "text": "Costs\nmoney", "comments": []},
    ]
    assert [p.row for p in points] == [1, 3]

    def refusal(rows: list[PointRow]) -> ThreadError:
        with pytest.raises(ThreadError) as refused:
            threads.summary_points(rows)
        return refused.value

    assert refusal([PointRow("for", "", "")]).code == "no_points"
    error = refusal([PointRow("for", "ok", ""), PointRow("sideways", "x", "")])
    assert (error.code, error.details["field"]) == ("bad_side", "side_2")
    error = refusal([PointRow("for", "x" * 1001, "")])
    assert (error.code, error.details["field"], error.details["limit"]) == (
        "text_too_long",
        "text_1",
        1000,
    )
    error = refusal([PointRow("for", "   ", "5")])
    assert (error.code, error.details["field"]) == ("text_empty", "text_1")
    error = refusal([PointRow("against", "ok", "five")])
    assert (error.code, error.details["field"]) == ("bad_comment_ids", "comments_1")
    too_many = [PointRow("for", f"point {i}", "") for i in range(threads.MAX_POINTS + 1)]
    assert refusal(too_many).code == "too_many_points"
