from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.entries import (
    ENTRY_FIELDS,
    KNOWN_TYPES,
    MAX_SAFE_INTEGER,
    Entry,
    EntryError,
    _flat_lines,
    canonical_json,
    check_entry_block,
    check_entry_line,
    encode_entry,
    is_type_name,
    now_ms,
    parse_entry,
)

GOOD = Entry(7, "ballot.cast", "z-community", 1_700_000_000_123, {"ballot": "b1", "n": 1})
GOOD_LINE = (
    b'{"community":"z-community","payload":{"ballot":"b1","n":1},'
    b'"seq":7,"t":1700000000123,"type":"ballot.cast","v":1}'
)


def code_of(line: bytes) -> str:
    with pytest.raises(EntryError) as err:
        parse_entry(line)
    return err.value.code


def test_encoding_is_canonical() -> None:
    assert encode_entry(GOOD) == GOOD_LINE
    assert parse_entry(GOOD_LINE) == GOOD
    assert list(json.loads(GOOD_LINE)) == list(ENTRY_FIELDS)


def test_known_types_are_dotted_names() -> None:
    assert len(KNOWN_TYPES) == 18
    assert all(is_type_name(t) for t in KNOWN_TYPES)
    assert (
        not is_type_name("Ballot.Cast") and not is_type_name("ballot") and not is_type_name("a..b")
    )


def test_unknown_dotted_types_are_accepted() -> None:
    entry = Entry(0, "budget.allocated", "z", 0, {})
    assert parse_entry(encode_entry(entry)) == entry


def test_unicode_decimals_and_escapes() -> None:
    payload = {"area": Decimal("87.450"), "text": '议事 "quoted"\n\t\x01\u2028', "z": [True, None]}
    line = encode_entry(Entry(0, "meeting.minutes", "z", 5, payload))
    assert "议事".encode() in line
    assert b'"area":"87.450"' in line
    assert b"\\u0001" in line and b"\\n" in line
    entry = parse_entry(line)
    assert entry.payload["area"] == "87.450"
    assert entry.payload["text"] == payload["text"]


def test_now_ms_is_integer_milliseconds() -> None:
    assert isinstance(now_ms(), int) and now_ms() > 1_600_000_000_000


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"x": 1.5}, "float_number"),
        ({"x": float("nan")}, "float_number"),
        ({"x": Decimal("NaN")}, "float_number"),
        ({"x": 2**53}, "integer_range"),
        ({"x": [-(2**53)]}, "integer_range"),
        ({"x": object()}, "bad_field"),
        ({1: "x"}, "bad_field"),
        ({"x": "\ud800"}, "invalid_utf8"),
    ],
)
def test_encoding_refuses_values_without_one_canonical_form(payload: Any, code: str) -> None:
    with pytest.raises(EntryError) as err:
        encode_entry(Entry(0, "ballot.cast", "z", 0, payload))
    assert err.value.code == code


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        (Entry(-1, "ballot.cast", "z", 0, {}), "bad_field"),
        (Entry(0, "ballot.cast", "z", -5, {}), "bad_field"),
        (Entry(0, "Ballot", "z", 0, {}), "bad_type_name"),
        (Entry(0, "ballot.cast", "Z Community", 0, {}), "bad_field"),
        (Entry(0, "ballot.cast", "z", 0, {}, v=2), "unsupported_version"),
        (Entry(True, "ballot.cast", "z", 0, {}), "bad_field"),  # type: ignore[arg-type]
        (Entry(0, "ballot.cast", "z", 0, []), "bad_field"),  # type: ignore[arg-type]
        (Entry(0, "ballot.cast", "z", 0, {}, v="1"), "bad_field"),  # type: ignore[arg-type]
    ],
)
def test_encoding_checks_fields(entry: Entry, code: str) -> None:
    with pytest.raises(EntryError) as err:
        encode_entry(entry)
    assert err.value.code == code


def replace(old: bytes, new: bytes) -> bytes:
    assert old in GOOD_LINE
    return GOOD_LINE.replace(old, new, 1)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (replace(b'"n":1', b'"n":1,"n":2'), "duplicate_key"),
        (replace(b'"seq":7', b'"seq":7,"seq":7'), "duplicate_key"),
        (replace(b'"n":1', b'"n":1.0'), "float_number"),
        (replace(b'"n":1', b'"n":1e3'), "float_number"),
        (replace(b'"n":1', b'"n":NaN'), "float_number"),
        (replace(b'"n":1', b'"n":Infinity'), "float_number"),
        (replace(b'"n":1', b'"n":9007199254740992'), "integer_range"),
        (replace(b'"n":1', b'"n":' + b"9" * 5000), "invalid_json"),
        (replace(b'"n":1', b'"n":-0'), "non_canonical"),
        (replace(b'"seq":7,', b'"seq": 7,'), "non_canonical"),
        (GOOD_LINE + b" ", "non_canonical"),
        (b" " + GOOD_LINE, "non_canonical"),
        (GOOD_LINE + b"\r", "non_canonical"),
        (GOOD_LINE + b"\n", "non_canonical"),
        (replace(b"b1", b"\\u0062\\u0031"), "non_canonical"),
        (replace(b'"ballot":"b1","n":1', b'"n":1,"ballot":"b1"'), "non_canonical"),
        (
            replace(b'{"community"', b'{"v":1,"community"').replace(b',"v":1}', b"}"),
            "non_canonical",
        ),
        (GOOD_LINE[:-1], "invalid_json"),
        (GOOD_LINE + b"{}", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1,2]", "not_object"),
        (b'"x"', "not_object"),
        (b"\xff" + GOOD_LINE, "invalid_utf8"),
        (replace(b"b1", b"b\xc3"), "invalid_utf8"),
        (b"[" * 100000 + b"]" * 100000, "invalid_json"),
        (replace(b',"v":1}', b"}"), "missing_field"),
        (replace(b',"v":1}', b',"v":1,"w":1}'), "unknown_field"),
        (replace(b'"v":1', b'"v":2'), "unsupported_version"),
        (replace(b'"v":1', b'"v":true'), "bad_field"),
        (replace(b'"seq":7', b'"seq":"7"'), "bad_field"),
        (replace(b'"t":1700000000123', b'"t":-1'), "bad_field"),
        (replace(b'"ballot.cast"', b'"BALLOT"'), "bad_type_name"),
        (replace(b'"z-community"', b'"Z"'), "bad_field"),
        (replace(b'{"ballot":"b1","n":1}', b"[]"), "bad_field"),
    ],
)
def test_parser_rejects_with_a_precise_code(line: bytes, code: str) -> None:
    assert code_of(line) == code


def test_error_carries_code_and_detail() -> None:
    with pytest.raises(EntryError) as err:
        parse_entry(replace(b'"seq":7,', b'"seq": 7,'))
    assert err.value.code == "non_canonical"
    assert "byte" in err.value.detail and str(err.value).startswith("non_canonical: ")


@pytest.mark.parametrize(
    ("payload_json", "code"),
    [
        (b'{"a":{"c":1,"b":2}}', "non_canonical"),
        (b'{"a":[{"c":1,"b":2}]}', "non_canonical"),
        (b'{"a":[[{"c":1,"b":2}]]}', "non_canonical"),
        (b'{"a":[[9007199254740993]]}', "integer_range"),
        (b'{"a":[{"b":[1,{"d":{"f":1,"e":2}}]}]}', "non_canonical"),
    ],
)
def test_nested_problems_are_found(payload_json: bytes, code: str) -> None:
    assert code_of(replace(b'{"ballot":"b1","n":1}', payload_json)) == code


def test_slow_path_accepts_canonical_lines_with_spaces_or_colons_in_strings() -> None:
    for payload in (
        {"a": "x y"},
        {"a": ":x"},
        {"a": "-0,"},
        {"a": 'q"'},
        {"k": [{"b": 1, "c": [2]}]},
    ):
        line = encode_entry(Entry(0, "ballot.cast", "z", 0, payload))
        assert check_entry_line(line)["payload"] == payload


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=["Cs"]), max_size=4), inner, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=5), json_values, max_size=5))
def test_round_trip_any_payload(payload: dict[str, Any]) -> None:
    entry = Entry(3, "ballot.paper", "grid-7", 12, payload)
    line = encode_entry(entry)
    assert parse_entry(line) == entry
    assert canonical_json(json.loads(line)) == line


@settings(max_examples=150, deadline=None)
@given(
    payload=st.dictionaries(st.text(max_size=5), json_values, max_size=5),
    indent=st.sampled_from([None, 0, 1]),
    separators=st.sampled_from([(",", ":"), (", ", ":"), (",", ": ")]),
    sort_keys=st.booleans(),
    ensure_ascii=st.booleans(),
)
def test_parser_accepts_exactly_the_canonical_spelling(
    payload: dict[str, Any],
    indent: int | None,
    separators: tuple[str, str],
    sort_keys: bool,
    ensure_ascii: bool,
) -> None:
    obj = {"community": "z", "payload": payload, "seq": 0, "t": 0, "type": "a.b", "v": 1}
    if not sort_keys:
        obj = dict(reversed(obj.items()))
    line = json.dumps(
        obj, indent=indent, separators=separators, sort_keys=sort_keys, ensure_ascii=ensure_ascii
    ).encode()
    canonical = canonical_json(obj)
    if line == canonical:
        assert parse_entry(line).payload == payload
    else:
        assert code_of(line) == "non_canonical"


# --- blocks of lines: the verifier's fast path must answer exactly as check_entry_line ------


def line_by_line(lines: list[bytes]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for line in lines:
        try:
            obj = check_entry_line(line)
        except EntryError as exc:
            out.append((exc.code, exc.detail))
        else:
            out.append((obj["seq"], obj["t"], obj["type"], obj["community"]))
    return out


def as_block(lines: list[bytes]) -> list[tuple[object, ...]]:
    columns = check_entry_block(b"".join(line + b"\n" for line in lines), lines)
    return [
        (columns.errors[i].code, columns.errors[i].detail)
        if i in columns.errors
        else (columns.seqs[i], columns.times[i], columns.types[i], columns.communities[i])
        for i in range(len(lines))
    ]


def assert_block_matches_lines(lines: list[bytes]) -> None:
    expected = line_by_line(lines)
    assert as_block(lines) == expected
    assert as_block(lines) == expected  # again, once the block regex learnt the key lists


def flat(payload: dict[str, Any], seq: int = 1, kind: str = "ballot.cast") -> bytes:
    return encode_entry(Entry(seq, kind, "z-community", 1_700_000_000_000 + seq, payload))


def test_blocks_of_flat_entries_and_their_near_misses() -> None:
    good = [flat({"a": 1, "b": "x"}, n) for n in range(3)]
    lines = [
        *good,
        flat({"": None, ":k": "v:", "é": "议事", "z": -(2**53 - 1)}),  # odd keys, 16 digits
        flat({"a": 10**14, "b": True}),
        flat({"a": "x,y", "b": "}{"}),
        flat({"a": 'q"q', "b": "\u2028"}),  # escapes: line by line
        flat({"a": {"b": 1}}),  # nested: line by line
        good[0].replace(b'"a":1,"b":"x"', b'"b":"x","a":1'),
        good[0].replace(b'"a":1,"b":"x"', b'"a":1,"a":1'),
        good[0].replace(b'"a":1', b'"a":-0'),
        good[0].replace(b'"a":1', b'"a":01'),
        good[0].replace(b'"a":1', b'"a":1.0'),
        good[0].replace(b'"a":1', b'"a":9007199254740992'),
        good[0].replace(b'"a":1', b'"a":999999999999999'),
        good[0].replace(b'"a":1', b'"a": 1'),
        good[0].replace(b'"x"', b'"\xff"'),
        good[0].replace(b'"seq":0', b'"seq":9007199254740991'),
        good[0].replace(b'"v":1', b'"v":2'),
        good[0].replace(b"z-community", b"Z"),
        good[0].replace(b"ballot.cast", b"key.rotated"),
        good[0] + b" ",
        b"",
        b"[]",
    ]
    assert_block_matches_lines(lines)
    assert_block_matches_lines([])
    assert_block_matches_lines(good)
    # The good flat lines did take the fast path (a regex match), not check_entry_line.
    fast = [_flat_lines.regex.fullmatch(line + b"\n") for line in lines]
    assert all(fast[i] and fast[i][1] for i in (0, 1, 2, 4, 5, 14))


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.sampled_from([0, 10**14, 10**15, -(10**15)])
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
)
flat_payloads = st.dictionaries(st.sampled_from(["a", "b", ":c", "é", "", "n\u0001"]), scalars)


@st.composite
def entry_lines(draw: st.DrawFn) -> bytes:
    payload = draw(flat_payloads | st.dictionaries(st.text(max_size=3), json_values, max_size=3))
    seq = draw(st.integers(0, MAX_SAFE_INTEGER))
    kind = draw(st.sampled_from(["ballot.cast", "key.rotated", "a.b"]))
    line = encode_entry(Entry(seq, kind, "c", draw(st.integers(0, MAX_SAFE_INTEGER)), payload))
    if draw(st.booleans()):  # break it somewhere
        at = draw(st.integers(0, len(line)))
        junk = draw(st.sampled_from([b" ", b"\\", b'"', b",", b"0", b"-", b"\xff", b"}", b":"]))
        line = line[:at] + junk + line[at + draw(st.integers(0, 2)) :]
    return line


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(entry_lines(), max_size=8))
def test_a_block_is_checked_exactly_like_its_lines(lines: list[bytes]) -> None:
    assert_block_matches_lines(lines)
