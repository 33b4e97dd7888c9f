"""The tamper suite: start from a real bundle that verifies, break one thing, and check that
the verifier fails naming the cause."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import audit.blocks
from audit.checkpoint import community_origin
from audit.entries import Entry, encode_entry
from audit.merkle import leaf_hash, node_hash
from audit.note import Signature, add_signatures, b64, generate_signer, parse_note
from audit.proof import Receipt
from audit.rotation import rotation_payload
from audit.verify import Issue, main, report_json, report_text, translator, verify_bundle

if TYPE_CHECKING:
    from conftest import Bundle

    from audit.verify import Report

Codes = Callable[["Report"], set[str]]


def indexes(report: Report, code: str) -> list[int | None]:
    return [i.index for i in report.issues if i.code == code]


def renumbered(lines: list[bytes]) -> list[bytes]:
    """What a dishonest server would publish: seqs rewritten to stay continuous."""
    out = []
    for seq, line in enumerate(lines):
        obj = json.loads(line)
        obj["seq"] = seq
        out.append(
            encode_entry(
                Entry(**{k: obj[k] for k in ("seq", "type", "community", "t", "payload", "v")})
            )
        )
    return out


def test_a_clean_bundle_verifies(bundle: Bundle) -> None:
    report = bundle.verify()
    assert report.ok, report.issues
    assert report.entries == 40 and report.community == "z-community"


def test_an_empty_log_verifies(make_bundle: Callable[..., Bundle]) -> None:
    assert make_bundle(0).verify().ok


def test_altered_entry(bundle: Bundle, report_codes: Codes) -> None:
    bundle.lines[10] = bundle.lines[10].replace(b'"n":10', b'"n":11')
    bundle.write_entries()
    assert report_codes(bundle.verify()) == {"root_mismatch"}


def test_deleted_entry(bundle: Bundle, report_codes: Codes) -> None:
    del bundle.lines[10]
    bundle.write_entries()
    report = bundle.verify()
    assert report_codes(report) == {"seq_mismatch", "checkpoint_size_mismatch"}
    assert indexes(report, "seq_mismatch") == [10]  # reported once, not for every later entry


def test_reordered_entries(bundle: Bundle, report_codes: Codes) -> None:
    bundle.lines[10], bundle.lines[11] = bundle.lines[11], bundle.lines[10]
    bundle.write_entries()
    report = bundle.verify()
    assert {"seq_mismatch", "time_backwards", "root_mismatch"} <= report_codes(report)
    assert 10 in indexes(report, "seq_mismatch")


def test_inserted_entry(bundle: Bundle, report_codes: Codes) -> None:
    bundle.lines.insert(
        10, encode_entry(Entry(10, "ballot.cast", "z-community", 1_700_000_010_000, {"x": 1}))
    )
    bundle.write_entries()
    report = bundle.verify()
    assert "seq_mismatch" in report_codes(report)
    assert indexes(report, "seq_mismatch") == [11]


def test_backdated_entry(bundle: Bundle, report_codes: Codes) -> None:
    obj = json.loads(bundle.lines[10])
    bundle.lines[10] = encode_entry(
        Entry(10, obj["type"], obj["community"], obj["t"] - 60_000, obj["payload"])
    )
    bundle.publish()  # even re-signed by the server, time order gives it away
    report = bundle.verify()
    assert report_codes(report) == {"time_backwards"}
    assert indexes(report, "time_backwards") == [10]


def test_log_truncated_behind_a_saved_checkpoint(bundle: Bundle, report_codes: Codes) -> None:
    saved = bundle.save_checkpoint(40)
    bundle.lines = bundle.lines[:30]
    bundle.publish()
    assert bundle.verify().ok  # alone, the shorter log looks fine
    assert report_codes(bundle.verify(checkpoints=[saved])) == {"log_truncated"}


def test_fork(bundle: Bundle, report_codes: Codes) -> None:
    saved = bundle.save_checkpoint(20)
    bundle.lines[5] = bundle.lines[5].replace(b'"n":5', b'"n":6')
    bundle.publish()
    assert bundle.verify().ok
    assert report_codes(bundle.verify(checkpoints=[saved])) == {"fork"}


def test_fork_beyond_the_bundle(bundle: Bundle, report_codes: Codes) -> None:
    bigger = [
        *bundle.lines,
        encode_entry(Entry(40, "ballot.cast", "z-community", 1700000040000, {"a": 1})),
    ]
    other = [
        *bundle.lines,
        encode_entry(Entry(40, "ballot.cast", "z-community", 1700000040000, {"a": 2})),
    ]
    one, two = bundle.path.parent / "one", bundle.path.parent / "two"
    one.write_bytes(bundle.signed_checkpoint(lines=bigger))
    two.write_bytes(bundle.signed_checkpoint(lines=other))
    codes = report_codes(bundle.verify(checkpoints=[one, two]))
    assert codes == {"log_truncated", "fork"}


def test_consistent_saved_checkpoints_pass(bundle: Bundle) -> None:
    saved = [bundle.save_checkpoint(size, f"cp{size}") for size in (0, 1, 17, 40)]
    assert bundle.verify(checkpoints=saved).ok


def test_entry_dropped_after_its_receipt_was_issued(bundle: Bundle, report_codes: Codes) -> None:
    receipt = bundle.save_receipt(bundle.receipt(25))
    assert bundle.verify(receipts=[receipt]).ok
    del bundle.lines[25]
    bundle.lines = renumbered(bundle.lines)
    bundle.publish()
    assert bundle.verify().ok
    codes = report_codes(bundle.verify(receipts=[receipt]))
    assert "receipt_entry_mismatch" in codes and "log_truncated" in codes


def test_receipt_for_an_entry_beyond_the_log(bundle: Bundle, report_codes: Codes) -> None:
    full = bundle.receipt(39)
    receipt = bundle.save_receipt(full)
    bare = bundle.save_receipt(Receipt(39, full.proof, full.checkpoint), "bare")
    bundle.lines = bundle.lines[:39]
    bundle.publish()
    for path in (receipt, bare):
        codes = report_codes(bundle.verify(receipts=[path]))
        assert codes == {"receipt_entry_missing", "log_truncated"}


def test_checkpoint_signed_by_an_unknown_key(bundle: Bundle, report_codes: Codes) -> None:
    bundle.publish(signer=generate_signer(community_origin("yishi.example", "z-community")))
    assert report_codes(bundle.verify()) == {"checkpoint_unknown_key"}


def test_checkpoint_with_a_broken_signature(bundle: Bundle, report_codes: Codes) -> None:
    path = bundle.path / "checkpoint"
    note = parse_note(path.read_bytes())
    sig = note.signatures[0]
    broken = Signature(sig.name, sig.key_id, bytes(64))
    path.write_bytes(note.text.encode() + b"\n" + broken.line().encode())
    assert report_codes(bundle.verify()) == {"checkpoint_bad_signature"}


def test_receipt_replayed_at_another_index(bundle: Bundle, report_codes: Codes) -> None:
    good = bundle.receipt(7)
    replayed = bundle.save_receipt(Receipt(8, good.proof, good.checkpoint, good.extra))
    report = bundle.verify(receipts=[replayed])
    assert report_codes(report) == {"receipt_entry_mismatch", "receipt_proof_invalid"}
    assert indexes(report, "receipt_entry_mismatch") == [8]
    # Without the leaf hash in extra, the entry found at index 8 does not fit the proof either.
    bare = bundle.save_receipt(Receipt(8, good.proof, good.checkpoint), "bare")
    assert report_codes(bundle.verify(receipts=[bare])) == {"receipt_proof_invalid"}
    assert bundle.verify(receipts=[bundle.save_receipt(Receipt(7, good.proof, good.checkpoint))]).ok


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (b'"n":10', b'"n":10,"n":10', "duplicate_key"),
        (b'"n":10', b'"n":10.0', "float_number"),
        (b'"n":10', b'"n": 10', "non_canonical"),
        (b'"v":1}', b'"v":1}  ', "non_canonical"),
        (b'"ballot":"b-2024-07","n":10', b'"n":10,"ballot":"b-2024-07"', "non_canonical"),
    ],
)
def test_non_canonical_encodings(
    bundle: Bundle, report_codes: Codes, old: bytes, new: bytes, code: str
) -> None:
    assert old in bundle.lines[10]
    bundle.lines[10] = bundle.lines[10].replace(old, new)
    bundle.publish()  # re-signed: the only fault left is the encoding
    report = bundle.verify()
    assert report_codes(report) == {code}
    assert indexes(report, code) == [10]


def test_an_inner_node_passed_off_as_a_leaf(bundle: Bundle, report_codes: Codes) -> None:
    # Claim that the node over entries 0 and 1 is itself an entry at index 0, with the rest
    # of entry 0's path as its proof.
    real = bundle.receipt(0)
    inner = node_hash(leaf_hash(bundle.lines[0]), leaf_hash(bundle.lines[1]))
    forged = bundle.save_receipt(Receipt(0, real.proof[1:], real.checkpoint, inner))
    codes = report_codes(bundle.verify(receipts=[forged]))
    assert codes == {"receipt_entry_mismatch", "receipt_proof_invalid"}


@pytest.mark.parametrize("how", ["padded", "cut"])
def test_a_proof_path_padded_or_cut_short(bundle: Bundle, report_codes: Codes, how: str) -> None:
    real = bundle.receipt(13)
    proof = (*real.proof, real.proof[0]) if how == "padded" else real.proof[:-1]
    path = bundle.save_receipt(Receipt(13, proof, real.checkpoint, real.extra))
    report = bundle.verify(receipts=[path])
    assert report_codes(report) == {"receipt_proof_invalid"}
    assert indexes(report, "receipt_proof_invalid") == [13]


def test_checkpoint_from_another_community(bundle: Bundle, report_codes: Codes) -> None:
    bundle.publish(origin=community_origin("yishi.example", "other-community"))
    assert report_codes(bundle.verify()) == {"origin_mismatch"}


def test_saved_checkpoint_from_another_log(bundle: Bundle, report_codes: Codes) -> None:
    other = bundle.path.parent / "other"
    other.write_bytes(
        bundle.signed_checkpoint(origin=community_origin("elsewhere.example", "z-community"))
    )
    assert report_codes(bundle.verify(checkpoints=[other])) == {"origin_mismatch"}


def test_origin_without_community_form(bundle: Bundle, report_codes: Codes) -> None:
    bundle.publish(origin="yishi.example/z-community")
    assert report_codes(bundle.verify()) == {"bad_origin"}


def test_entries_from_two_communities(bundle: Bundle, report_codes: Codes) -> None:
    bundle.lines[3] = bundle.lines[3].replace(b'"community":"z-community"', b'"community":"y"')
    bundle.publish()
    report = bundle.verify()
    assert report_codes(report) == {"community_mismatch"}
    assert indexes(report, "community_mismatch") == [3]


def test_announced_key_rotation(bundle: Bundle) -> None:
    before = bundle.save_checkpoint(40, "before")
    bundle.rotate(generate_signer(community_origin("yishi.example", "z-community")))
    bundle.append(5)
    bundle.publish()
    report = bundle.verify(checkpoints=[before, bundle.save_checkpoint(41, "after")])
    assert report.ok, report.issues
    assert [p.from_size for p in report.keys] == [0, 41]


def test_silent_key_rotation(bundle: Bundle, report_codes: Codes) -> None:
    new = generate_signer(community_origin("yishi.example", "z-community"))
    bundle.signer = new
    bundle.append(3)
    bundle.publish()
    assert report_codes(bundle.verify()) == {"checkpoint_unknown_key"}


def test_rotation_signed_by_the_new_key_is_rejected(bundle: Bundle, report_codes: Codes) -> None:
    old, new = bundle.signer, generate_signer("new")
    bundle.signer = new  # the rotation statement gets signed by the new key, not the old one
    forged = rotation_payload(community_origin("yishi.example", "z-community"), new, new.verifier())
    forged["old_key"] = old.verifier().vkey()
    bundle.lines.append(
        encode_entry(Entry(40, "key.rotated", "z-community", 1_700_000_040_000, forged))
    )
    bundle.publish()
    report = bundle.verify()
    assert report_codes(report) == {"rotation_bad_signature", "checkpoint_unknown_key"}
    assert indexes(report, "rotation_bad_signature") == [40]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda p, other: p.update(old_key=other), "rotation_wrong_old_key"),
        (lambda p, other: p.update(new_key="nonsense"), "rotation_malformed"),
        (lambda p, other: p.pop("signature"), "rotation_malformed"),
        (lambda p, other: p.update(new_key=p["old_key"]), "rotation_malformed"),
    ],
)
def test_bad_rotation_entries(
    bundle: Bundle, report_codes: Codes, change: Callable[..., object], code: str
) -> None:
    origin = community_origin("yishi.example", "z-community")
    payload = rotation_payload(origin, bundle.signer, generate_signer("n").verifier())
    change(payload, generate_signer("x").verifier().vkey())
    bundle.lines.append(
        encode_entry(Entry(40, "key.rotated", "z-community", 1_700_000_040_000, payload))
    )
    bundle.publish()
    assert report_codes(bundle.verify()) == {code}


def test_retired_key_signing_after_rotation(bundle: Bundle, report_codes: Codes) -> None:
    old = bundle.signer
    bundle.rotate(generate_signer("new"))
    bundle.publish(signer=old)
    assert report_codes(bundle.verify()) == {"checkpoint_wrong_key"}


def test_vkey_override(bundle: Bundle, report_codes: Codes) -> None:
    other = bundle.path.parent / "other.vkey"
    other.write_text(generate_signer("someone").verifier().vkey())
    assert report_codes(bundle.verify(vkey=other)) == {"checkpoint_unknown_key"}
    mine = bundle.path.parent / "mine.vkey"
    mine.write_text(bundle.signer.verifier().vkey())
    (bundle.path / "log.vkey").unlink()
    assert bundle.verify(vkey=mine).ok


def test_witness_quorum(make_bundle: Callable[..., Bundle], report_codes: Codes) -> None:
    bundle = make_bundle(12)
    bundle.add_witnesses(3, 2)
    bundle.publish()
    report = bundle.verify()
    assert report.ok and report.witnesses is not None
    assert len(report.witnesses.cosigned_by) == 3
    bundle.cosigners = bundle.cosigners[:1]
    bundle.publish()
    assert report_codes(bundle.verify()) == {"witness_quorum"}


def test_forged_cosignature(make_bundle: Callable[..., Bundle], report_codes: Codes) -> None:
    bundle = make_bundle(5)
    bundle.add_witnesses(2, 1)
    bundle.cosigners, witness = bundle.cosigners[:1], bundle.cosigners[1]
    bundle.publish()
    path = bundle.path / "checkpoint"
    forged = Signature(witness.name, witness.verifier().key_id, bytes(72))
    path.write_bytes(add_signatures(path.read_bytes(), forged))
    assert report_codes(bundle.verify()) == {"witness_bad_signature"}


def test_witness_keys_without_policy_need_all(
    make_bundle: Callable[..., Bundle], report_codes: Codes
) -> None:
    bundle = make_bundle(5)
    bundle.add_witnesses(2, 1)
    (bundle.path / "witnesses" / "policy").unlink()
    bundle.cosigners = bundle.cosigners[:1]
    bundle.publish()
    assert report_codes(bundle.verify()) == {"witness_quorum"}


def test_bad_witness_files(make_bundle: Callable[..., Bundle], report_codes: Codes) -> None:
    bundle = make_bundle(5)
    bundle.add_witnesses(1, 1)
    bundle.publish()
    (bundle.path / "witnesses" / "junk.vkey").write_text("not a key")
    (bundle.path / "witnesses" / "latin1.vkey").write_bytes(b"\xff")
    (bundle.path / "witnesses" / "policy").write_text("quorum many")
    assert report_codes(bundle.verify()) == {"bad_witness_key", "bad_witness_policy"}


class Counting:
    """An observer like the ballots replay will be."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def observe(self, index: int, entry: Entry) -> Iterable[Issue]:
        self.seen.append(entry.seq)
        if entry.type == "comment.moderated" and index == 4:
            return [
                Issue(
                    "tally_mismatch",
                    "entry {index}: recount differs",
                    {"index": index},
                    index=index,
                )
            ]
        return []

    def finish(self) -> Iterable[Issue]:
        return [
            Issue("replay_done", "replayed {n} entries", {"n": len(self.seen)}),
            Issue("odd_message", "a {placeholder} without its value"),
        ]


def test_entry_observers_ride_the_pass(bundle: Bundle, report_codes: Codes) -> None:
    observer = Counting()
    report = verify_bundle(bundle.path, observers=[observer])
    assert observer.seen == list(range(40))
    assert report_codes(report) == {"tally_mismatch", "replay_done", "odd_message"}
    assert main([str(bundle.path)], observers=[Counting()]) == 1
    text = report_text(report, translator("en"))
    assert "[replay_done] replayed 40 entries" in text
    assert "[odd_message] a {placeholder} without its value" in text


def test_observers_see_the_same_with_worker_processes(
    bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit.blocks, "BLOCK_BYTES", 400)  # a block or two per line
    bundle.rotate(generate_signer(community_origin("yishi.example", "z-community")))
    bundle.append(5)
    bundle.lines[20] = bundle.lines[20].replace(b'"n":20', b'"n": 20')
    bundle.publish()
    seen = []
    for jobs in (1, 3):
        observer = Counting()
        report = verify_bundle(bundle.path, observers=[observer], jobs=jobs)
        seen.append((observer.seen, report_json(report, translator("en"))))
    assert seen[0] == seen[1]
    assert seen[0][0] == [n for n in range(46) if n != 20]
    assert [k["from_size"] for k in seen[0][1]["keys"]] == [0, 41]


def test_jobs_option(bundle: Bundle, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(bundle.path), "--jobs", "2"], capsys)[0] == 0
    assert run([str(bundle.path), "--jobs", "1"], capsys)[0] == 0
    for bad in ("0", "-1", "two"):
        assert run([str(bundle.path), "--jobs", bad], capsys)[0] == 2


def test_runs_as_a_module(bundle: Bundle) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "audit.verify", str(bundle.path), "--lang", "en"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "Result: every check holds." in done.stdout
    (bundle.path / "checkpoint").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "audit.verify", str(bundle.path), "--lang", "en"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "[missing_file]" in done.stdout and not done.stderr


def test_issues_are_capped_per_code(bundle: Bundle, capsys: pytest.CaptureFixture[str]) -> None:
    bundle.lines = [
        line.replace(b'"community":"z-community"', b'"community":"y"') if i else line
        for i, line in enumerate(bundle.lines)
    ]
    bundle.publish()
    report = bundle.verify()
    assert len(indexes(report, "community_mismatch")) == 20
    assert report.suppressed["community_mismatch"] == 19
    assert main([str(bundle.path), "--lang", "en"]) == 1
    assert "[community_mismatch] and 19 more like it" in capsys.readouterr().out


# --- the command line and malformed input ------------------------------------------------


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return status, captured.out + captured.err


def test_cli_success_in_both_languages(bundle: Bundle, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run([str(bundle.path)], capsys)
    assert status == 0 and "结果：全部检查通过。" in out and "条目数：40" in out
    status, out = run([str(bundle.path), "--lang=en"], capsys)
    assert status == 0 and "Result: every check holds." in out


def test_cli_json(bundle: Bundle, capsys: pytest.CaptureFixture[str]) -> None:
    bundle.add_witnesses(1, 1)
    bundle.rotate(generate_signer("next"))
    bundle.publish()
    status, out = run([str(bundle.path), "--json"], capsys)
    report = json.loads(out)
    assert status == 0 and report["ok"] and report["entries"] == 41
    assert report["witnesses"]["quorum"] == 1 and len(report["keys"]) == 2
    status, text = run([str(bundle.path)], capsys)
    assert "密钥轮换：1 次" in text and "见证人：1 位已联署" in text


def test_cli_failure_names_index_code_and_reason(
    bundle: Bundle, capsys: pytest.CaptureFixture[str]
) -> None:
    del bundle.lines[10]
    bundle.write_entries()
    status, out = run([str(bundle.path)], capsys)
    assert status == 1 and "[seq_mismatch] 第 10 条：序号为 11，应为 10" in out
    status, out = run([str(bundle.path), "--json", "--lang", "en"], capsys)
    issues = json.loads(out)["issues"]
    seq = next(i for i in issues if i["code"] == "seq_mismatch")
    assert seq["index"] == 10 and seq["message"] == "entry 10: seq is 11, expected 10"


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([], capsys)[0] == 2
    assert run(["x", "--lang", "fr"], capsys)[0] == 2
    status, out = run(["--help"], capsys)
    assert status == 0 and "日志包目录" in out
    status, out = run(["--help", "--lang", "en"], capsys)
    assert "bundle directory" in out


@pytest.mark.parametrize(
    ("breakage", "code"),
    [
        (lambda b: (b.path / "entries.jsonl").unlink(), "missing_file"),
        (lambda b: (b.path / "checkpoint").unlink(), "missing_file"),
        (lambda b: (b.path / "log.vkey").unlink(), "missing_file"),
        (lambda b: (b.path / "log.vkey").write_text("not a key"), "bad_vkey"),
        (lambda b: (b.path / "log.vkey").write_bytes(b"\xff\xfe"), "bad_vkey"),
        (
            lambda b: (b.path / "checkpoint").write_text(
                "yishi.example/c/z\n1\n!!!!\n\n— k AAAA\n"
            ),
            "bad_checkpoint",
        ),
        (
            lambda b: (b.path / "checkpoint").unlink() or (b.path / "checkpoint").mkdir(),
            "unreadable_file",
        ),
        (
            lambda b: (b.path / "entries.jsonl").unlink() or (b.path / "entries.jsonl").mkdir(),
            "unreadable_file",
        ),
        (lambda b: (b.path / "entries.jsonl").write_bytes(b"\n".join(b.lines)), "truncated_line"),
    ],
)
def test_malformed_bundles_fail_cleanly(
    bundle: Bundle,
    capsys: pytest.CaptureFixture[str],
    breakage: Callable[[Bundle], object],
    code: str,
) -> None:
    breakage(bundle)
    status, out = run([str(bundle.path), "--lang", "en"], capsys)
    assert status == 1 and f"[{code}]" in out


def test_truncated_last_line_is_named(bundle: Bundle, report_codes: Codes) -> None:
    (bundle.path / "entries.jsonl").write_bytes(
        b"".join(line + b"\n" for line in bundle.lines)[:-30]
    )
    report = bundle.verify()
    assert indexes(report, "truncated_line") == [39]
    assert report_codes(report) == {"truncated_line", "checkpoint_size_mismatch"}


def test_missing_bundle_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run([str(tmp_path / "nowhere")], capsys)
    assert status == 1 and "[missing_file]" in out and "不存在" in out


def test_bad_checkpoint_and_receipt_arguments(
    bundle: Bundle, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = bundle.path.parent / "junk"
    junk.write_text("c2sp.org/tlog-proof@v1\nindex x\n\n")
    bad_cp = bundle.path.parent / "bad.checkpoint"
    bad_cp.write_text("hello\n")
    status, out = run(
        [str(bundle.path), "--receipt", str(junk), "--checkpoint", str(bad_cp), "--lang", "en"],
        capsys,
    )
    assert status == 1 and "[bad_receipt]" in out and "[bad_checkpoint]" in out
    status, out = run(
        [str(bundle.path), "--receipt", str(bundle.path / "absent"), "--lang", "en"], capsys
    )
    assert status == 1 and "[missing_file]" in out


def test_receipt_with_cosigned_checkpoint_and_b64(bundle: Bundle) -> None:
    receipt = bundle.receipt(3)
    assert b64(receipt.extra or b"") == b64(leaf_hash(bundle.lines[3]))
    assert bundle.verify(receipts=[bundle.save_receipt(receipt)]).ok
