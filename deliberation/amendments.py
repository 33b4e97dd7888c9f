"""Amendments: a resident's proposed change to an agenda item's text, the diff that shows it, and
the rules for deciding it.

The diff works for Chinese, which has no spaces to split words on: lines are matched first, then
the sentences within a changed block of lines, then the characters within changed sentences. Tiny unchanged runs between two changes
(a lone "的" or "在") are folded into the change, so that the result reads as whole phrases
replaced rather than as confetti. Every segment keeps its text exactly: joining the equal and
deleted segments gives the old text back, joining the equal and inserted ones gives the new.

    proposed ──accept (the item's author)──▶ accepted
    proposed ──reject (the item's author)──▶ rejected
    proposed ──put_to_vote (the chair)──▶ put_to_vote ──settle (the chair, ballot counted)──▶
        accepted (the vote passed and the text it changes is still current) | rejected
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from deliberation.items import Status as ItemStatus

Kind = Literal["equal", "insert", "delete", "skip"]
EQUAL: Final = "equal"
INSERT: Final = "insert"
DELETE: Final = "delete"
SKIP: Final = "skip"  # unchanged text left out of a compact diff (the segment holds it)

# An unchanged run shorter than this between two changes is shown as part of the change.
MIN_EQUAL: Final = 3
# Below this share of common characters (of the shorter side) a changed block is shown replaced
# as a whole: a diff of two unrelated paragraphs, character by character, is noise.
MIN_SIMILARITY: Final = 0.3
# Character matching is quadratic in the worst case (~0.15 s at this size, for text of only a few
# distinct characters); a pair of changed sentences larger than this (characters of one times
# characters of the other) is shown replaced whole.
CHAR_DIFF_LIMIT: Final = 1_000_000
_SENTENCE_END: Final = re.compile(r"(?<=[。！？；!?;])")


@dataclass(frozen=True)
class Segment:
    kind: Kind
    text: str


def diff_texts(old: str, new: str) -> list[Segment]:
    """The change from ``old`` to ``new`` as segments: lines first, then characters within the
    changed lines. Within each change the deletion comes before the insertion."""
    a = old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    out: list[Segment] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            out.append(Segment(EQUAL, removed))
        elif tag == "delete":
            out.append(Segment(DELETE, removed))
        elif tag == "insert":
            out.append(Segment(INSERT, added))
        else:
            out.extend(_block_diff(removed, added))
    return _normalise(out)


def _sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE_END.split(text) if part]


def _block_diff(old: str, new: str) -> list[Segment]:
    """A changed block of lines: sentences matched first (a long paragraph with one sentence
    changed is diffed only there), then characters within the changed sentences."""
    a, b = _sentences(old), _sentences(new)
    if len(a) <= 1 and len(b) <= 1:
        return _char_diff(old, new)
    out: list[Segment] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            out.append(Segment(EQUAL, removed))
        elif tag == "delete":
            out.append(Segment(DELETE, removed))
        elif tag == "insert":
            out.append(Segment(INSERT, added))
        else:
            out.extend(_char_diff(removed, added))
    return out


def _char_diff(old: str, new: str) -> list[Segment]:
    if len(old) * len(new) > CHAR_DIFF_LIMIT:
        return [Segment(DELETE, old), Segment(INSERT, new)]
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    opcodes = matcher.get_opcodes()
    common = sum(i2 - i1 for tag, i1, i2, _j1, _j2 in opcodes if tag == "equal")
    if common < MIN_SIMILARITY * min(len(old), len(new)) or not common:
        return [Segment(DELETE, old), Segment(INSERT, new)]
    out: list[Segment] = []
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            out.append(Segment(EQUAL, old[i1:i2]))
        if tag in ("delete", "replace"):
            out.append(Segment(DELETE, old[i1:i2]))
        if tag in ("insert", "replace"):
            out.append(Segment(INSERT, new[j1:j2]))
    return _fold_tiny_equals(out)


def _fold_tiny_equals(segments: list[Segment]) -> list[Segment]:
    """Fold an unchanged run shorter than ``MIN_EQUAL`` (within one line) lying between two
    changes into both sides of the change around it."""
    out: list[Segment] = []
    for i, s in enumerate(segments):
        tiny = (
            s.kind == EQUAL
            and len(s.text) < MIN_EQUAL
            and "\n" not in s.text
            and 0 < i < len(segments) - 1
            and segments[i - 1].kind != EQUAL
            and segments[i + 1].kind != EQUAL
        )
        if tiny:
            out.extend((Segment(DELETE, s.text), Segment(INSERT, s.text)))
        else:
            out.append(s)
    return out


def _normalise(segments: Iterable[Segment]) -> list[Segment]:
    """Drop empty segments; make each run of changes one deletion followed by one insertion."""
    out: list[Segment] = []
    removed: list[str] = []
    added: list[str] = []

    def flush() -> None:
        if removed:
            out.append(Segment(DELETE, "".join(removed)))
        if added:
            out.append(Segment(INSERT, "".join(added)))
        removed.clear()
        added.clear()

    for s in segments:
        if not s.text:
            continue
        if s.kind == DELETE:
            removed.append(s.text)
        elif s.kind == INSERT:
            added.append(s.text)
        else:
            flush()
            if out and out[-1].kind == s.kind:
                out[-1] = Segment(s.kind, out[-1].text + s.text)
            else:
                out.append(s)
    flush()
    return out


def changed(segments: Iterable[Segment]) -> bool:
    return any(s.kind in (INSERT, DELETE) for s in segments)


def old_text(segments: Iterable[Segment]) -> str:
    return "".join(s.text for s in segments if s.kind in (EQUAL, DELETE, SKIP))


def new_text(segments: Iterable[Segment]) -> str:
    return "".join(s.text for s in segments if s.kind in (EQUAL, INSERT, SKIP))


def compact(segments: Sequence[Segment], context: int = 120) -> list[Segment]:
    """The diff with long unchanged stretches cut down to ``context`` characters either side of
    each change; what is left out becomes a ``skip`` segment (holding the text left out)."""
    if not changed(segments):
        return list(segments)
    out: list[Segment] = []
    last = len(segments) - 1
    for i, s in enumerate(segments):
        if s.kind != EQUAL:
            out.append(s)
            continue
        keep_head = context if i > 0 else 0  # after a change
        keep_tail = context if i < last else 0  # before a change
        if len(s.text) <= keep_head + keep_tail + context // 2:
            out.append(s)
            continue
        head, tail = s.text[:keep_head], s.text[len(s.text) - keep_tail :]
        middle = s.text[keep_head : len(s.text) - keep_tail]
        out.extend(
            seg
            for seg in (Segment(EQUAL, head), Segment(SKIP, middle), Segment(EQUAL, tail))
            if seg.text
        )
    return out


def change_counts(segments: Iterable[Segment]) -> tuple[int, int]:
    """Characters added and removed (whitespace aside)."""
    added = removed = 0
    for s in segments:
        size = sum(1 for c in s.text if not c.isspace())
        if s.kind == INSERT:
            added += size
        elif s.kind == DELETE:
            removed += size
    return added, removed


# --- the rules ----------------------------------------------------------------------------------


class Status(enum.StrEnum):
    proposed = "proposed"
    accepted = "accepted"
    rejected = "rejected"
    put_to_vote = "put_to_vote"


PENDING: Final = frozenset({Status.proposed, Status.put_to_vote})
# While the item is in these states its text may still change (by an amendment): before the
# decision. Accepting by its author also needs the consultation open; a vote may finish later.
TEXT_OPEN: Final = frozenset({ItemStatus.consultation, ItemStatus.deciding})

# Why an amendment put to a vote ended rejected.
VOTE_FAILED: Final = "vote_failed"
STALE_BASE: Final = "stale_base"
ITEM_DECIDED: Final = "item_decided"


class AmendmentRefused(ValueError):
    """An amendment action refused: ``code`` is stable (the pages word it)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def out_of_date(status: str, base_revision: int, item_revision: int) -> bool:
    """An amendment still waiting for a decision, written for a text that has changed since."""
    return status in PENDING and base_revision != item_revision


def check_proposal(
    *,
    consultation_is_open: bool,
    base_revision: int,
    item_revision: int,
    current_body: str,
    proposed_body: str,
) -> None:
    """A proposal is taken while the consultation is open, for the text as it stands now, and
    only if it changes that text."""
    if not consultation_is_open:
        raise AmendmentRefused("consultation_closed")
    if base_revision != item_revision:
        raise AmendmentRefused(STALE_BASE)
    if proposed_body == current_body:
        raise AmendmentRefused("unchanged")


def check_author_decision(
    *,
    accepting: bool,
    actor_id: int,
    item_author_id: int,
    status: str,
    consultation_is_open: bool,
    base_revision: int,
    item_revision: int,
) -> None:
    """The item's author accepts or rejects a proposed amendment. Accepting also needs the
    consultation open and the amendment written for the current text (else it would silently
    undo what changed since); rejecting does not (a pending proposal may always be declined)."""
    if actor_id != item_author_id:
        raise AmendmentRefused("not_author")
    if status != Status.proposed:
        raise AmendmentRefused("not_proposed")
    if accepting:
        if not consultation_is_open:
            raise AmendmentRefused("consultation_closed")
        if base_revision != item_revision:
            raise AmendmentRefused(STALE_BASE)


def check_put_to_vote(
    *, status: str, item_status: str, base_revision: int, item_revision: int
) -> None:
    """The chair puts a disputed amendment to a vote: one still proposed, for the current text of
    an item that has not been decided yet."""
    if status != Status.proposed:
        raise AmendmentRefused("not_proposed")
    if item_status not in TEXT_OPEN:
        raise AmendmentRefused("text_fixed")
    if base_revision != item_revision:
        raise AmendmentRefused(STALE_BASE)


def settle_outcome(
    *,
    status: str,
    ballot_counted: bool,
    passed: bool,
    item_status: str,
    base_revision: int,
    item_revision: int,
) -> tuple[Status, str | None]:
    """What a counted vote makes of an amendment: accepted if it passed and the text it changes
    is still the item's current text before the decision; otherwise rejected, with the reason."""
    if status != Status.put_to_vote:
        raise AmendmentRefused("not_put_to_vote")
    if not ballot_counted:
        raise AmendmentRefused("ballot_not_counted")
    if not passed:
        return Status.rejected, VOTE_FAILED
    if item_status not in TEXT_OPEN:
        return Status.rejected, ITEM_DECIDED
    if base_revision != item_revision:
        return Status.rejected, STALE_BASE
    return Status.accepted, None
