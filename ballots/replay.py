"""Replaying every ballot in a log: the checks ``yishi-verify`` runs on ballot entries.

``BallotReplay`` rides the verifier's single pass over the entries (``audit.verify``'s
``EntryObserver``). For each ballot it rebuilds, from the log alone, what the server held: the
definition and the frozen roll from ``ballot.opened`` (checked against the digest and size
written beside them), the proxies, the casts in log order, the participation published at the
close, and then recounts the published tally with the very functions the server used
(``ballots.ballot``). Every rule the server enforces when it writes an entry is checked again
here, so a log that a server wrote by other rules, or that was edited, fails.

Messages are English msgids marked with ``N_``, translated from this package's own catalogue
(``ballots/locale``, domain ``yishi-ballots``) when the issue is made: audit's report renders an
observer's message as given, and audit may not know about ballots.
"""

from __future__ import annotations

import gettext
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import InvalidOperation
from pathlib import Path
from typing import Any, Final

from audit.entries import Entry
from audit.verify import N_, Issue, issue
from ballots.ballot import (
    CHANNELS,
    Cast,
    Definition,
    DefinitionError,
    Elector,
    check_answers,
    counted_casts,
    roll_digest,
    tally,
)
from ballots.methods import BallotInvalid

DOMAIN: Final = "yishi-ballots"
LOCALE_DIR: Final = Path(__file__).parent / "locale"
LANGUAGES: Final = {"zh": "zh_CN", "zh_CN": "zh_CN", "en": "en"}
CLOSE_GRACE_MS: Final = 1000  # a cast accepted just before the close may be logged just after


def translator(lang: str) -> gettext.NullTranslations:
    """The ballots catalogue for ``lang`` (zh, zh_CN or en); English msgids otherwise."""
    return gettext.translation(
        DOMAIN, LOCALE_DIR, languages=[LANGUAGES.get(lang, lang)], fallback=True
    )


class _Malformed(Exception):
    """A payload without the shape its type promises; ``detail`` names the field."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _get(payload: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = payload.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise _Malformed(key)
    return value


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@dataclass
class _Ballot:
    """What the log has said about one ballot so far."""

    number: int
    opened_at: int  # entry index of ballot.opened
    definition: Definition
    roll: dict[str, Elector]
    electors: list[Elector]
    casts: list[Cast] = field(default_factory=list)
    kinds: set[tuple[str, bool]] = field(default_factory=set)  # (elector, via proxy) cast so far
    proxies: dict[str, str] = field(default_factory=dict)  # principal -> holder
    held: Counter[str] = field(default_factory=Counter)  # holder -> proxies carried
    serials: set[str] = field(default_factory=set)  # paper serials used
    participants: list[str] | None = None  # set by ballot.closed
    objection_until: str | None = None  # set by tally.published
    final: bool = False

    @property
    def secret(self) -> bool:
        return self.definition.secrecy == "secret"


class BallotReplay:
    """An ``EntryObserver`` that replays and recounts every ballot in a log.

    ``lang`` picks the language of the issues' messages (zh or en)."""

    def __init__(self, lang: str = "en") -> None:
        self._tr = translator(lang)
        self._ballots: dict[int, _Ballot] = {}
        self._broken: set[int] = set()  # ballots whose opening was unusable: nothing to replay
        self._handlers = {
            "ballot.opened": self._opened,
            "ballot.proxy": self._proxy,
            "ballot.cast": self._cast,
            "ballot.closed": self._closed,
            "tally.published": self._published,
            "tally.final": self._final,
        }

    # --- the observer protocol ---

    def observe(self, index: int, entry: Entry) -> Iterable[Issue]:
        handler = self._handlers.get(entry.type)
        if handler is None:
            return []
        found: list[Issue] = []
        try:
            handler(index, entry, found)
        except _Malformed as bad:
            found.append(
                self._issue(
                    "ballot_entry_malformed",
                    N_("entry {index}: the {type} entry has no valid {field}"),
                    index,
                    type=entry.type,
                    field=bad.detail,
                )
            )
        return found

    def finish(self) -> Iterable[Issue]:
        return []  # an open ballot, or a closed one not yet tallied, is a log exported mid-way

    # --- helpers ---

    def _issue(self, code: str, message: str, index: int, **params: Any) -> Issue:
        return issue(code, self._tr.gettext(message), index=index, **params)

    def _ballot(self, index: int, entry: Entry, found: list[Issue]) -> _Ballot | None:
        number = _get(entry.payload, "ballot", int)
        known = self._ballots.get(number)
        if known is None and number not in self._broken:
            message = N_("entry {index}: {type} for ballot {ballot}, which was never opened")
            found.append(
                self._issue("ballot_unknown", message, index, type=entry.type, ballot=number)
            )
        return known

    def _open_now(self, index: int, entry: Entry, ballot: _Ballot, found: list[Issue]) -> bool:
        """A cast or a proxy needs the ballot open: after its opening, before its close, and
        within its window by the entry's time."""
        if ballot.participants is not None:
            message = N_("entry {index}: {type} for ballot {ballot} after it was closed")
            found.append(
                self._issue(
                    "ballot_not_open", message, index, type=entry.type, ballot=ballot.number
                )
            )
            return False
        d = ballot.definition
        if not _ms(d.opens_at) <= entry.t <= _ms(d.closes_at) + CLOSE_GRACE_MS:
            message = N_(
                "entry {index}: {type} for ballot {ballot} at {t}, outside its window "
                "{opens_at} to {closes_at}"
            )
            found.append(
                self._issue(
                    "ballot_outside_window",
                    message,
                    index,
                    type=entry.type,
                    ballot=ballot.number,
                    t=entry.t,
                    opens_at=d.opens_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    closes_at=d.closes_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
            )
        return True

    def _channel(self, index: int, ballot: _Ballot, channel: str, found: list[Issue]) -> None:
        if channel not in ballot.definition.channels:
            message = N_("entry {index}: ballot {ballot} does not accept the {channel} channel")
            found.append(
                self._issue(
                    "ballot_channel_not_allowed",
                    message,
                    index,
                    ballot=ballot.number,
                    channel=channel,
                )
            )

    # --- ballot.opened ---

    def _opened(self, index: int, entry: Entry, found: list[Issue]) -> None:
        payload = entry.payload
        number = _get(payload, "ballot", int)
        if number in self._ballots or number in self._broken:
            message = N_("entry {index}: ballot {ballot} is opened a second time")
            found.append(self._issue("ballot_opened_twice", message, index, ballot=number))
            return
        try:
            definition = Definition.from_dict(_get(payload, "definition", dict))
        except DefinitionError as error:
            message = N_("entry {index}: the definition of ballot {ballot} is invalid: {detail}")
            found.append(
                self._issue(
                    "ballot_definition_invalid", message, index, ballot=number, detail=str(error)
                )
            )
            self._broken.add(number)
            return
        raw_roll = _get(payload, "roll", list)
        try:
            electors = [Elector.from_dict(e) for e in raw_roll]
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError):
            electors = None
        codes = [e.code for e in electors or []]
        if electors is None or codes != sorted(set(codes)):
            message = N_(
                "entry {index}: the roll of ballot {ballot} is not a list of electors "
                "sorted by code, each once"
            )
            found.append(self._issue("ballot_roll_invalid", message, index, ballot=number))
            self._broken.add(number)
            return
        digest = _get(payload, "roll_digest", str)
        if roll_digest(electors) != digest:
            message = N_("entry {index}: the roll of ballot {ballot} does not match its digest")
            found.append(self._issue("ballot_roll_digest_mismatch", message, index, ballot=number))
        size = _get(payload, "roll_size", int)
        if size != len(electors):
            message = N_(
                "entry {index}: ballot {ballot} gives a roll size of {size}, "
                "but its roll has {count} electors"
            )
            found.append(
                self._issue(
                    "ballot_roll_size_mismatch",
                    message,
                    index,
                    ballot=number,
                    size=size,
                    count=len(electors),
                )
            )
        self._ballots[number] = _Ballot(
            number, index, definition, {e.code: e for e in electors}, electors
        )

    # --- ballot.proxy ---

    def _proxy(self, index: int, entry: Entry, found: list[Issue]) -> None:
        ballot = self._ballot(index, entry, found)
        if ballot is None:
            return
        principal = _get(entry.payload, "principal", str)
        holder = _get(entry.payload, "holder", str)
        if not self._open_now(index, entry, ballot, found):
            return
        self._channel(index, ballot, "proxy", found)
        number = ballot.number
        if principal not in ballot.roll:
            message = N_(
                "entry {index}: ballot {ballot}: the proxy's principal {elector} is not on the roll"
            )
            found.append(
                self._issue(
                    "ballot_proxy_not_on_roll", message, index, ballot=number, elector=principal
                )
            )
            return
        if principal in ballot.proxies:
            message = N_("entry {index}: ballot {ballot}: {elector} gives a second proxy")
            found.append(
                self._issue("ballot_proxy_twice", message, index, ballot=number, elector=principal)
            )
            return
        if not ballot.secret and any(e == principal for e, _ in ballot.kinds):
            message = N_(
                "entry {index}: ballot {ballot}: {elector} gives a proxy after having voted"
            )
            found.append(
                self._issue(
                    "ballot_proxy_after_vote", message, index, ballot=number, elector=principal
                )
            )
        ballot.proxies[principal] = holder
        ballot.held[holder] += 1
        limit = ballot.definition.proxy_limit
        if ballot.held[holder] > limit:
            message = N_("entry {index}: ballot {ballot}: {holder} holds more than {limit} proxies")
            found.append(
                self._issue(
                    "ballot_proxy_limit", message, index, ballot=number, holder=holder, limit=limit
                )
            )

    # --- ballot.cast ---

    def _cast(self, index: int, entry: Entry, found: list[Issue]) -> None:
        ballot = self._ballot(index, entry, found)
        if ballot is None:
            return
        payload = entry.payload
        # a secret cast has no channel (the participation list carries it, apart)
        channel = "" if ballot.secret else _get(payload, "channel", str)
        if not ballot.secret and channel not in CHANNELS:
            raise _Malformed("channel")
        answers = payload.get("answers")
        if not self._open_now(index, entry, ballot, found):
            return
        number = ballot.number
        if not ballot.secret:
            self._channel(index, ballot, channel, found)
        try:
            normal = check_answers(ballot.definition, answers)
        except BallotInvalid as invalid:
            message = N_(
                "entry {index}: ballot {ballot}: the answers are not valid ({reason}, "
                "question {question})"
            )
            found.append(
                self._issue(
                    "ballot_answers_invalid",
                    message,
                    index,
                    ballot=number,
                    reason=invalid.code,
                    question=str(invalid.details.get("question", "-")),
                )
            )
            return  # a cast the count cannot read; the tally check will not match either
        if normal != answers:
            message = N_("entry {index}: ballot {ballot}: the answers are not in normal form")
            found.append(
                self._issue("ballot_answers_not_normalised", message, index, ballot=number)
            )
        if ballot.secret:
            named = sorted(
                k for k in ("channel", "elector", "entered_by", "holder", "serial") if k in payload
            )
            if named:
                message = N_(
                    "entry {index}: secret ballot {ballot}: the cast carries {field}, "
                    "which would reveal who voted"
                )
                found.append(
                    self._issue(
                        "ballot_secret_names_elector", message, index, ballot=number, field=named[0]
                    )
                )
            ballot.casts.append(Cast(None, normal, channel))
            return
        elector = _get(payload, "elector", str)
        if elector not in ballot.roll:
            message = N_("entry {index}: ballot {ballot}: {elector} is not on the roll")
            found.append(
                self._issue(
                    "ballot_elector_not_on_roll", message, index, ballot=number, elector=elector
                )
            )
            return
        via_proxy = channel == "proxy"
        if via_proxy:
            self._check_proxy_cast(index, ballot, elector, payload, found)
        if channel == "paper":
            self._check_paper(index, ballot, payload, found)
        if (elector, via_proxy) in ballot.kinds and ballot.definition.revoting == "first":
            message = N_(
                "entry {index}: ballot {ballot}: {elector} votes again, but revoting is not allowed"
            )
            found.append(
                self._issue("ballot_revote_refused", message, index, ballot=number, elector=elector)
            )
        elif via_proxy and (elector, False) in ballot.kinds:
            message = N_(
                "entry {index}: ballot {ballot}: a proxy votes for {elector}, who has voted "
                "in person"
            )
            found.append(
                self._issue(
                    "ballot_proxy_after_own", message, index, ballot=number, elector=elector
                )
            )
        ballot.kinds.add((elector, via_proxy))
        ballot.casts.append(Cast(elector, normal, channel))

    def _check_proxy_cast(
        self,
        index: int,
        ballot: _Ballot,
        elector: str,
        payload: Mapping[str, Any],
        found: list[Issue],
    ) -> None:
        holder = _get(payload, "holder", str)
        granted = ballot.proxies.get(elector)
        if granted is None:
            message = N_(
                "entry {index}: ballot {ballot}: a proxy votes for {elector}, "
                "who gave no proxy before"
            )
            found.append(
                self._issue(
                    "ballot_proxy_missing", message, index, ballot=ballot.number, elector=elector
                )
            )
        elif granted != holder:
            message = N_(
                "entry {index}: ballot {ballot}: {holder} votes for {elector}, "
                "whose proxy is {granted}"
            )
            found.append(
                self._issue(
                    "ballot_proxy_holder_mismatch",
                    message,
                    index,
                    ballot=ballot.number,
                    elector=elector,
                    holder=holder,
                    granted=granted,
                )
            )

    def _check_paper(
        self, index: int, ballot: _Ballot, payload: Mapping[str, Any], found: list[Issue]
    ) -> None:
        serial = _get(payload, "serial", str)
        entered_by = _get(payload, "entered_by", list)
        if serial in ballot.serials:
            message = N_("entry {index}: ballot {ballot}: paper serial {serial} is used twice")
            found.append(
                self._issue(
                    "ballot_paper_serial_reused",
                    message,
                    index,
                    ballot=ballot.number,
                    serial=serial,
                )
            )
        ballot.serials.add(serial)
        double = ballot.definition.paper_double_entry
        expected = 2 if double else 1
        if len(entered_by) != expected or len(set(map(str, entered_by))) != expected:
            message = (
                N_(
                    "entry {index}: ballot {ballot}: paper {serial} needs two entries "
                    "by two different people"
                )
                if double
                else N_("entry {index}: ballot {ballot}: paper {serial} needs one entry")
            )
            found.append(
                self._issue(
                    "ballot_paper_entry", message, index, ballot=ballot.number, serial=serial
                )
            )

    # --- ballot.closed ---

    def _closed(self, index: int, entry: Entry, found: list[Issue]) -> None:
        ballot = self._ballot(index, entry, found)
        if ballot is None:
            return
        number = ballot.number
        if ballot.participants is not None:
            message = N_("entry {index}: ballot {ballot} is closed a second time")
            found.append(self._issue("ballot_closed_twice", message, index, ballot=number))
            return
        by = _get(entry.payload, "by", str)
        rows = _get(entry.payload, "participation", list)
        participation: list[tuple[str, str, bool]] = []
        for row in rows:
            if not isinstance(row, dict):
                raise _Malformed("participation")
            proxy = row.get("proxy", False)
            if proxy is not True and proxy is not False:
                raise _Malformed("participation")
            channel = _get(row, "channel", str)
            if proxy != (channel == "proxy"):
                raise _Malformed("participation")
            participation.append((_get(row, "elector", str), channel, proxy))
        if by not in ("schedule", "chair"):
            raise _Malformed("by")
        d = ballot.definition
        if entry.t < _ms(d.closes_at) and not (by == "chair" and d.early_close):
            message = N_("entry {index}: ballot {ballot} is closed before its closing time")
            found.append(self._issue("ballot_closed_early", message, index, ballot=number))
        codes = [code for code, _, _ in participation]
        ballot.participants = codes
        strangers = [code for code in codes if code not in ballot.roll]
        if strangers:
            message = N_(
                "entry {index}: ballot {ballot}: {elector} took part but is not on the roll"
            )
            found.append(
                self._issue(
                    "ballot_participation_not_on_roll",
                    message,
                    index,
                    ballot=number,
                    elector=strangers[0],
                )
            )
        twice = sorted(code for code, n in Counter(codes).items() if n > 1)
        if twice:
            message = N_("entry {index}: ballot {ballot}: {elector} takes part twice")
            found.append(
                self._issue(
                    "ballot_participation_duplicate",
                    message,
                    index,
                    ballot=number,
                    elector=twice[0],
                )
            )
        if ballot.secret:
            self._check_secret_participation(index, ballot, participation, found)
        else:
            self._check_participation(index, ballot, participation, found)

    def _check_participation(
        self,
        index: int,
        ballot: _Ballot,
        participation: list[tuple[str, str, bool]],
        found: list[Issue],
    ) -> None:
        counted = {c.elector: c.channel for c in counted_casts(ballot.definition, ballot.casts)}
        listed = {code: channel for code, channel, _ in participation}
        differ = sorted(set(counted) ^ set(listed), key=str)
        if differ:
            message = N_(
                "entry {index}: ballot {ballot}: the participation list and the casts "
                "disagree about {elector}"
            )
            found.append(
                self._issue(
                    "ballot_participation_mismatch",
                    message,
                    index,
                    ballot=ballot.number,
                    elector=differ[0],
                )
            )
            return
        wrong = sorted(code for code, channel in listed.items() if counted[code] != channel)
        if wrong:
            message = N_(
                "entry {index}: ballot {ballot}: {elector} is listed with channel {listed}, "
                "but the counted cast came by {channel}"
            )
            found.append(
                self._issue(
                    "ballot_participation_channel",
                    message,
                    index,
                    ballot=ballot.number,
                    elector=wrong[0],
                    listed=listed[wrong[0]],
                    channel=counted[wrong[0]],
                )
            )

    def _check_secret_participation(
        self,
        index: int,
        ballot: _Ballot,
        participation: list[tuple[str, str, bool]],
        found: list[Issue],
    ) -> None:
        if len(participation) != len(ballot.casts):
            message = N_(
                "entry {index}: secret ballot {ballot}: {listed} took part but {count} "
                "ballots were cast"
            )
            found.append(
                self._issue(
                    "ballot_participation_count",
                    message,
                    index,
                    ballot=ballot.number,
                    listed=len(participation),
                    count=len(ballot.casts),
                )
            )
            return
        for code, channel, proxy in participation:
            self._channel(index, ballot, channel, found)
            if proxy and code not in ballot.proxies:
                message = N_(
                    "entry {index}: secret ballot {ballot}: {elector} voted by proxy "
                    "without a proxy given before"
                )
                found.append(
                    self._issue(
                        "ballot_proxy_missing_secret",
                        message,
                        index,
                        ballot=ballot.number,
                        elector=code,
                    )
                )

    # --- tally.published and tally.final ---

    def _published(self, index: int, entry: Entry, found: list[Issue]) -> None:
        ballot = self._ballot(index, entry, found)
        if ballot is None:
            return
        number = ballot.number
        result = _get(entry.payload, "result", dict)
        until = _get(entry.payload, "objection_until", str)
        if ballot.participants is None:
            message = N_("entry {index}: ballot {ballot} is tallied before it was closed")
            found.append(self._issue("ballot_tally_not_closed", message, index, ballot=number))
            return
        if ballot.objection_until is not None:
            message = N_("entry {index}: ballot {ballot} is tallied a second time")
            found.append(self._issue("ballot_tally_twice", message, index, ballot=number))
            return
        ballot.objection_until = until
        try:
            expected = tally(
                ballot.definition,
                ballot.electors,
                counted_casts(ballot.definition, ballot.casts),
                ballot.participants,
            )
        except (ValueError, KeyError) as error:  # BallotInvalid is a ValueError
            message = N_("entry {index}: ballot {ballot} cannot be recounted: {detail}")
            found.append(
                self._issue("ballot_tally_failed", message, index, ballot=number, detail=str(error))
            )
            return
        if expected == result:
            return
        where = _first_difference(expected, result)
        if where.startswith("question "):
            message = N_(
                "entry {index}: the published tally of ballot {ballot} differs from the "
                "recount at question {question}"
            )
            params = {"question": where.removeprefix("question ")}
        else:
            message = N_(
                "entry {index}: the published tally of ballot {ballot} differs from the "
                "recount in {field}"
            )
            params = {"field": where}
        found.append(self._issue("ballot_tally_differs", message, index, ballot=number, **params))

    def _final(self, index: int, entry: Entry, found: list[Issue]) -> None:
        ballot = self._ballot(index, entry, found)
        if ballot is None:
            return
        number = ballot.number
        if ballot.objection_until is None:
            message = N_("entry {index}: ballot {ballot} is final before a tally was published")
            found.append(self._issue("ballot_final_without_tally", message, index, ballot=number))
            return
        if ballot.final:
            message = N_("entry {index}: ballot {ballot} is made final a second time")
            found.append(self._issue("ballot_final_twice", message, index, ballot=number))
            return
        ballot.final = True
        try:
            until = datetime.fromisoformat(ballot.objection_until.replace("Z", "+00:00"))
        except ValueError:
            until = None
        if until is None or until.tzinfo is None or entry.t < _ms(until):
            message = N_(
                "entry {index}: ballot {ballot} is made final before its objection period "
                "ends ({until})"
            )
            found.append(
                self._issue(
                    "ballot_final_early",
                    message,
                    index,
                    ballot=number,
                    until=ballot.objection_until,
                )
            )


def _first_difference(expected: Mapping[str, Any], published: Mapping[str, Any]) -> str:
    """Where a published tally first departs from the recount: ``question <id>`` or a field."""
    ours = expected.get("questions", [])
    theirs = published.get("questions")
    theirs_list = theirs if isinstance(theirs, list) else []
    for i, question in enumerate(ours):
        other = theirs_list[i] if i < len(theirs_list) else None
        if question != other:
            return f"question {question['question']}"
    for key in _keys(expected, published):
        if expected.get(key) != published.get(key):
            return key
    return "questions"  # published has questions the recount does not


def _keys(*maps: Mapping[str, Any]) -> Iterator[str]:
    seen: set[str] = set()
    for m in maps:
        for key in m:
            if key not in seen:
                seen.add(key)
                yield key
