"""Log entries: one canonical JSON object per line.

An entry is the JSON object ``{"community", "payload", "seq", "t", "type", "v"}`` encoded
canonically: keys sorted by code point at every level, separators ``,`` and ``:`` with no
whitespace, UTF-8 with no ``\\u`` escapes except for control characters, and integers only.
Canonical bytes matter because the Merkle leaf is the hash of those exact bytes: two
encodings of one value would let a log show different bytes for the same entry.

- ``v``: entry format version, always ``1``.
- ``seq``: position in the log, from 0, without gaps.
- ``type``: a dotted lowercase name such as ``ballot.cast`` (see ``KNOWN_TYPES``).
- ``community``: the community's slug; the log's origin is ``<host>/c/<slug>``.
- ``t``: server time when the entry was written, in integer milliseconds since the Unix
  epoch (UTC, leap seconds ignored as POSIX does). Never decreases along the log.
- ``payload``: an object specific to the type.

Floats are rejected outright (their text form is not canonical across languages); decimals
such as floor areas travel as strings, and integers must be within +/-(2**53 - 1) so that
every JSON implementation, JavaScript included, reads them exactly.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, NamedTuple

ENTRY_VERSION: Final = 1
MAX_SAFE_INTEGER: Final = 2**53 - 1

# Sorted, as they appear in a canonical line.
ENTRY_FIELDS: Final = ("community", "payload", "seq", "t", "type", "v")

KNOWN_TYPES: Final = frozenset(
    {
        "roll.frozen",
        "ballot.opened",
        "ballot.cast",
        "ballot.proxy",
        "ballot.paper",
        "ballot.closed",
        "tally.published",
        "tally.final",
        "item.transitioned",
        "item.cosigned",
        "amendment.decided",
        "summary.published",
        "comment.moderated",
        "meeting.convened",
        "meeting.minutes",
        "meeting.cancelled",
        "key.rotated",
        "register.changed",
    }
)

_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_FIELD_SET = frozenset(ENTRY_FIELDS)


class EntryError(ValueError):
    """A line that is not a valid canonical entry.

    ``code`` is stable and machine-readable; ``detail`` says where and why, in English.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    def __reduce__(self) -> tuple[type[EntryError], tuple[str, str]]:
        return EntryError, (self.code, self.detail)  # crosses to and from worker processes


@dataclass(frozen=True)
class Entry:
    seq: int
    type: str
    community: str
    t: int
    payload: dict[str, Any]
    v: int = ENTRY_VERSION


def is_type_name(name: str) -> bool:
    """Entry types are dotted lowercase names; later features may add their own."""
    return _TYPE_NAME.fullmatch(name) is not None


def is_slug(slug: str) -> bool:
    return _SLUG.fullmatch(slug) is not None


def now_ms() -> int:
    """Server time in the unit entries use: integer milliseconds since the epoch, UTC."""
    return time.time_ns() // 1_000_000


# --- encoding ---------------------------------------------------------------------------

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _plain(value: object, path: str) -> object:
    """Return ``value`` as plain JSON data, refusing anything without one canonical form."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise EntryError("integer_range", f"{path}: {value} is outside +/-(2**53 - 1)")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise EntryError("float_number", f"{path}: {value} is not a finite decimal")
        return format(value, "f")
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EntryError("bad_field", f"{path}: object key {key!r} is not a string")
            out[key] = _plain(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, float):
        raise EntryError("float_number", f"{path}: floats are not allowed ({value!r})")
    raise EntryError("bad_field", f"{path}: {type(value).__name__} is not JSON data")


def canonical_json(value: object) -> bytes:
    """Canonical bytes of any JSON value (Decimal becomes its plain string form)."""
    try:
        return _ENCODER.encode(_plain(value, "$")).encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates have no UTF-8 form
        raise EntryError("invalid_utf8", f"string holds a lone surrogate: {exc}") from None


def encode_entry(entry: Entry) -> bytes:
    """The canonical line for ``entry``, without the trailing newline."""
    obj = {
        "community": entry.community,
        "payload": entry.payload,
        "seq": entry.seq,
        "t": entry.t,
        "type": entry.type,
        "v": entry.v,
    }
    _check_fields(obj)
    return canonical_json(obj)


# --- parsing ----------------------------------------------------------------------------


class _FloatSeen(Exception):
    pass


def _reject_float(text: str) -> object:
    raise _FloatSeen(text)


_DECODER = json.JSONDecoder(parse_float=_reject_float, parse_constant=_reject_float)


_FLAT = frozenset({str, bool, type(None)})


def _members_if_canonical(value: dict[str, Any]) -> int | None:
    """Count object members if every object's keys are strictly sorted and every integer is
    in range; ``None`` sends the line to the slow path, which names the problem."""
    keys = list(value)
    if keys != sorted(keys):
        return None
    count = len(keys)
    if _FLAT.issuperset(map(type, value.values())):
        return count
    for item in value.values():
        kind = type(item)
        if kind is dict:
            inner = _members_if_canonical(item)
            if inner is None:
                return None
            count += inner
        elif kind is list:
            inner = _members_in_list(item)
            if inner is None:
                return None
            count += inner
        elif kind is int and not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
            return None
    return count


def _members_in_list(items: list[Any]) -> int | None:
    count = 0
    for item in items:
        kind = type(item)
        if kind is dict:
            inner = _members_if_canonical(item)
            if inner is None:
                return None
            count += inner
        elif kind is list:
            inner = _members_in_list(item)
            if inner is None:
                return None
            count += inner
        elif kind is int and not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
            return None
    return count


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise EntryError("duplicate_key", f"key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _out_of_range(value: object) -> int | None:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _out_of_range(item)
            if found is not None:
                return found
        return None
    if type(value) is int and not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    return None


def _diagnose(line: bytes, text: str) -> dict[str, Any]:
    """Slow path: decode tolerantly enough to say exactly what is wrong, or return the object
    when the line turns out to be canonical after all (e.g. a space inside a string)."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_reject_float,
            parse_constant=_reject_float,
        )
    except EntryError:
        raise
    except _FloatSeen as exc:
        raise EntryError("float_number", f"number {exc} is not an integer") from None
    except json.JSONDecodeError as exc:
        raise EntryError("invalid_json", f"{exc.msg} at character {exc.pos}") from None
    except ValueError as exc:  # e.g. an integer with more digits than int() accepts
        raise EntryError("invalid_json", str(exc)) from None
    except RecursionError:
        raise EntryError("invalid_json", "nested too deeply") from None
    if not isinstance(value, dict):
        raise EntryError("not_object", f"an entry is a JSON object, not {type(value).__name__}")
    big = _out_of_range(value)
    if big is not None:
        raise EntryError("integer_range", f"{big} is outside +/-(2**53 - 1)")
    expected = _ENCODER.encode(value).encode("utf-8")
    if expected != line:
        at = next(
            (i for i, (a, b) in enumerate(zip(expected, line, strict=False)) if a != b),
            min(len(expected), len(line)),
        )
        raise EntryError(
            "non_canonical",
            f"byte {at}: expected {expected[at : at + 12]!r}, found {line[at : at + 12]!r}",
        )
    return value


def _check_fields(obj: dict[str, Any]) -> None:
    if obj.keys() != _FIELD_SET:
        missing = sorted(_FIELD_SET - obj.keys())
        if missing:
            raise EntryError("missing_field", f"missing {', '.join(missing)}")
        extra = sorted(obj.keys() - _FIELD_SET)
        raise EntryError("unknown_field", f"unexpected {', '.join(extra)}")
    _check_values(obj)


def _check_values(obj: dict[str, Any]) -> None:
    v, seq, t, kind, community = obj["v"], obj["seq"], obj["t"], obj["type"], obj["community"]
    if (  # the common case, in one expression: this runs once per entry
        type(v) is int
        and v == ENTRY_VERSION
        and type(seq) is int
        and type(t) is int
        and 0 <= seq <= MAX_SAFE_INTEGER
        and 0 <= t <= MAX_SAFE_INTEGER
        and type(kind) is str
        and kind in _types_seen
        and type(community) is str
        and community in _slugs_seen
        and type(obj["payload"]) is dict
    ):
        return
    if type(v) is not int:
        raise EntryError("bad_field", "v must be an integer")
    if v != ENTRY_VERSION:
        raise EntryError("unsupported_version", f"v is {v}, this verifier reads v={ENTRY_VERSION}")
    for name, number in (("seq", seq), ("t", t)):
        if type(number) is not int or not 0 <= number <= MAX_SAFE_INTEGER:
            raise EntryError("bad_field", f"{name} must be a non-negative integer")
    if not isinstance(kind, str) or not is_type_name(kind):
        raise EntryError("bad_type_name", f"type {kind!r} is not a dotted lowercase name")
    if not isinstance(community, str) or not is_slug(community):
        raise EntryError("bad_field", f"community {community!r} is not a slug")
    if not isinstance(obj["payload"], dict):
        raise EntryError("bad_field", "payload must be an object")
    _remember(_types_seen, kind)
    _remember(_slugs_seen, community)


# Type names and slugs already validated: a log repeats a handful of them millions of times.
_types_seen: set[str] = set()
_slugs_seen: set[str] = set()


def _remember(seen: set[str], name: str) -> None:
    if len(seen) < 10_000:
        seen.add(name)


_UNSAFE_BYTES = b" \t\r\n\\"
_NEGATIVE_ZERO = re.compile(rb"-0[,\]}]")  # may also match inside a string: then the slow path


def check_entry_line(line: bytes) -> dict[str, Any]:
    """Validate one line (without its newline) and return the decoded object.

    This is the verifier's hot path: a fast path proves canonical form without re-encoding
    when the line has no whitespace, no escapes and no ``-0``; anything else is re-encoded
    and compared byte for byte.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EntryError("invalid_utf8", f"byte {exc.start}: {exc.reason}") from None
    try:
        obj, end = _DECODER.raw_decode(text)
    except (_FloatSeen, ValueError, RecursionError):
        obj, end = None, -1
    if (
        end == len(text)
        and type(obj) is dict
        and tuple(obj) == ENTRY_FIELDS
        and type(obj["payload"]) is dict
        # No whitespace and no escapes anywhere, and no -0 as a number.
        and len(line.translate(None, _UNSAFE_BYTES)) == len(line)
        and _NEGATIVE_ZERO.search(line) is None
        # Without escapes every '"' delimits a string, so '":' follows keys and only keys:
        # fewer decoded members than that means a duplicate key was folded away.
        and (members := _members_if_canonical(obj["payload"])) is not None
        and members + len(ENTRY_FIELDS) == line.count(b'":')
    ):
        _check_values(obj)
        return obj
    value = _diagnose(line, text)
    _check_fields(value)
    return value


def parse_entry(line: bytes) -> Entry:
    """Strictly parse one canonical line (without its trailing newline)."""
    obj = check_entry_line(line)
    return Entry(
        seq=obj["seq"],
        type=obj["type"],
        community=obj["community"],
        t=obj["t"],
        payload=obj["payload"],
        v=obj["v"],
    )


# --- many lines at once -----------------------------------------------------------------
#
# The verifier checks millions of lines, and decoding each with json costs several times
# more than hashing it. So a block of lines is matched in one regex pass against the
# canonical spelling of entries whose payload has one of the key lists already seen in a
# line that check_entry_line accepted (so sorted, without duplicates), spelled out literally,
# and only scalar values. Whatever that regex admits is canonical by construction: no
# whitespace, no escapes (no quote, backslash or control character in a string), integers of
# at most 15 digits (inside +/-(2**53 - 1)) and no -0, keys in an order known to be sorted,
# slug and type name patterns inlined. UTF-8 is checked once for the whole block. Any other
# line goes through check_entry_line, which names the fault or, if the line is good and its
# payload flat, teaches the regex its key list. A log has a handful of payload shapes.

_STRING = rb'"[^"\\\x00-\x1f]*"'
_SCALAR = rb"(?:" + _STRING + rb"|0|-?[1-9][0-9]{0,14}|true|false|null)"
_COUNT = rb"(0|[1-9][0-9]{0,14})"
_SCALAR_TYPES = (str, int, bool, type(None))
MAX_KEY_LISTS: Final = 64


def _scalar_payload_keys(payload: dict[str, Any]) -> tuple[str, ...] | None:
    """The keys of a payload of scalars (no float: it is from an accepted line) whose keys
    need no escapes; None for any other payload."""
    keys = tuple(payload)
    if all(type(v) in _SCALAR_TYPES for v in payload.values()) and all(
        _ENCODER.encode(k) == f'"{k}"' for k in keys
    ):
        return keys
    return None


class _FlatLines:
    """The block regex and the payload key lists it spells out."""

    def __init__(self) -> None:
        self.key_lists: set[tuple[str, ...]] = set()
        self.regex = self._compile()

    def _compile(self) -> re.Pattern[bytes]:
        payloads = b"|".join(
            b",".join(b'"' + re.escape(key.encode()) + b'":' + _SCALAR for key in keys)
            for keys in sorted(self.key_lists)
        )
        entry = (
            rb'\{"community":"([a-z0-9][a-z0-9_-]{0,63})","payload":\{(?:' + payloads + rb")\}"
            rb',"seq":' + _COUNT + rb',"t":' + _COUNT + rb","
            rb'"type":"([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)","v":1\}'
        )
        # Every line matches: with the groups of such an entry, or with none of them.
        return re.compile(rb"(?:" + entry + rb"|[^\n]*)\n")

    def learn(self, key_lists: set[tuple[str, ...]]) -> None:
        room = MAX_KEY_LISTS - len(self.key_lists)  # past that, lines take the slow path
        new = sorted(key_lists - self.key_lists)[:room]
        if new:
            self.key_lists.update(new)
            self.regex = self._compile()


_flat_lines = _FlatLines()


class EntryColumns(NamedTuple):
    """The fields of each line of a block, column by column, as check_entry_line would
    return them; ``errors`` holds, by position in the block, the lines it would reject (their
    place in the columns holds a placeholder)."""

    seqs: list[int]
    times: list[int]
    types: list[str]
    communities: list[str]
    errors: dict[int, EntryError]


def _strings(column: list[bytes | None]) -> list[str]:
    """Decode a column of names (None for a line that did not match: "")."""
    first = column[0]
    if column.count(first) == len(column):  # one type, one community: the usual block
        return [first.decode() if first else ""] * len(column)
    names = {name: name.decode() if name else "" for name in set(column)}
    return list(map(names.__getitem__, column))


def check_entry_block(block: bytes, lines: list[bytes]) -> EntryColumns:
    """Check every line of ``block`` (whole lines, each ending in a newline; ``lines`` is the
    block split into them, without the newlines) exactly as check_entry_line would."""
    # split, not findall: the fields come back as one flat list of bytes instead of a tuple
    # per line, which the cyclic garbage collector would keep scanning.
    parts = _flat_lines.regex.split(block)
    if len(parts) != 5 * len(lines) + 1:  # cannot happen: each line is one match
        raise AssertionError("a block must be whole lines")
    if not lines:
        return EntryColumns([], [], [], [], {})
    community_col, seq_col, time_col, type_col = parts[1::5], parts[2::5], parts[3::5], parts[4::5]
    slow = [i for i, community in enumerate(community_col) if community is None]
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            slow = list(range(len(lines)))  # check_entry_line finds the line and the byte
    types, communities = _strings(type_col), _strings(community_col)
    if not slow:
        return EntryColumns(
            list(map(int, seq_col)), list(map(int, time_col)), types, communities, {}
        )
    seqs = [int(n) if n else -1 for n in seq_col]
    times = [int(n) if n else -1 for n in time_col]
    errors: dict[int, EntryError] = {}
    key_lists: set[tuple[str, ...]] = set()
    for i in slow:
        try:
            obj = check_entry_line(lines[i])
        except EntryError as exc:
            errors[i] = exc
            continue
        seqs[i], times[i] = obj["seq"], obj["t"]
        types[i], communities[i] = obj["type"], obj["community"]
        keys = _scalar_payload_keys(obj["payload"])
        if keys is not None:
            key_lists.add(keys)
    _flat_lines.learn(key_lists)
    return EntryColumns(seqs, times, types, communities, errors)
