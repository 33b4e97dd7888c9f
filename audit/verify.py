"""yishi-verify: check an exported log bundle offline, trusting only the log's public key.

Bundle layout (a directory)::

    entries.jsonl      one canonical entry per line, each ending in a newline, in log order
    checkpoint         the latest signed checkpoint (a signed note), possibly cosigned
    log.vkey           the log's first verifier key (the trust anchor; see rotation.py)
    witnesses/*.vkey   optional witness keys (cosignature/v1, type 0x04)
    witnesses/policy   optional "quorum K"; witness keys without a policy need all of them

Usage::

    yishi-verify DIR [--checkpoint FILE]... [--receipt FILE]... [--vkey FILE] [--jobs N]
                     [--json] [--lang zh|en]

``--checkpoint`` adds checkpoints saved earlier (each must be consistent with the bundle),
``--receipt`` adds tlog-proof receipts (each entry must be in the log where it says),
``--vkey`` replaces the bundle's log.vkey with a key obtained out of band,
``--jobs`` sets how many worker processes share the entries' checks (1: none).

The entries are streamed once, never loaded whole: each line is checked for canonical form,
``seq`` continuity from 0, non-decreasing time and a single community, and hashed into the
tree; the roots at the sizes of the given checkpoints and receipts are captured on the way.
Exit status: 0 if every check holds, 1 if any fails (including unreadable input), 2 for a
usage error. Later checks, such as recounting ballots, plug into the same pass as
``EntryObserver`` objects given to ``verify_bundle``.
"""

from __future__ import annotations

import argparse
import gettext
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from audit.blocks import MAX_JOBS, BlockReader, Run, check_blocks, default_jobs
from audit.checkpoint import Checkpoint, origin_slug, read_checkpoint
from audit.entries import ENTRY_VERSION, Entry, EntryError
from audit.merkle import EMPTY_ROOT, ProofError, RootBuilder, verify_inclusion
from audit.note import Ed25519Verifier, NoteError, b64, open_note, parse_verifier_key
from audit.proof import Receipt, ReceiptError, parse_receipt
from audit.rotation import ROTATION_TYPE, KeyPeriod, RotationError, apply_rotation
from audit.witness import (
    CosignatureVerifier,
    QuorumResult,
    WitnessPolicy,
    check_quorum,
    parse_policy,
    parse_witness_key,
)

DOMAIN: Final = "yishi-verify"
LOCALE_DIR: Final = Path(__file__).parent / "locale"
LANGUAGES: Final = {"zh": "zh_CN", "en": "en"}
MAX_ISSUES_PER_CODE: Final = 20  # a shifted log would otherwise report every entry


def N_(message: str) -> str:
    """Mark a message for translation; it is translated when the report is rendered."""
    return message


@dataclass(frozen=True)
class Issue:
    """One failed check. ``message`` is an English msgid with ``{name}`` placeholders filled
    from ``params``; ``index`` is the entry index where one applies."""

    code: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)
    index: int | None = None
    file: str | None = None


def issue(
    code: str, message: str, *, index: int | None = None, file: str | None = None, **params: Any
) -> Issue:
    if index is not None:
        params["index"] = index
    return Issue(code, message, params, index, file)


class EntryObserver(Protocol):
    """A check that rides the streaming pass, e.g. the ballots replay recounting tallies.

    ``observe`` sees every well-formed entry in log order; ``finish`` runs after the last.
    Both return the issues they found (an empty iterable when all is well).
    """

    def observe(self, index: int, entry: Entry) -> Iterable[Issue]: ...

    def finish(self) -> Iterable[Issue]: ...


@dataclass
class Report:
    bundle: str
    entries: int = 0
    root: bytes = EMPTY_ROOT
    origin: str | None = None
    community: str | None = None
    keys: list[KeyPeriod] = field(default_factory=list)  # the log key chain, first key first
    witnesses: QuorumResult | None = None
    quorum: int = 0
    issues: list[Issue] = field(default_factory=list)
    suppressed: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.issues and not self.suppressed

    def add(self, found: Issue) -> None:
        if sum(1 for i in self.issues if i.code == found.code) >= MAX_ISSUES_PER_CODE:
            self.suppressed[found.code] += 1
        else:
            self.issues.append(found)


class _Fatal(Exception):
    """Input so broken that no further check means anything."""

    def __init__(self, found: Issue) -> None:
        super().__init__(found.code)
        self.issue = found


@dataclass
class _Signed:
    """A checkpoint from some file, with the note whose signatures cover it."""

    file: str
    note: bytes
    checkpoint: Checkpoint


# --- reading the inputs -----------------------------------------------------------------


def _io_issue(path: Path, exc: OSError) -> Issue:
    if isinstance(exc, FileNotFoundError):
        return issue("missing_file", N_("missing file: {path}"), path=str(path))
    message = N_("cannot read {path}: {reason}")
    return issue("unreadable_file", message, path=str(path), reason=exc.strerror or str(exc))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _Fatal(_io_issue(path, exc)) from None


def _detail(exc: NoteError | UnicodeDecodeError) -> str:
    return exc.detail if isinstance(exc, NoteError) else "not UTF-8"


def _load_key(path: Path) -> Ed25519Verifier:
    try:
        return parse_verifier_key(_read(path).decode("utf-8"))
    except (NoteError, UnicodeDecodeError) as exc:
        message = N_("{path} is not a valid log key: {detail}")
        raise _Fatal(issue("bad_vkey", message, path=str(path), detail=_detail(exc))) from None


def _load_witnesses(directory: Path, report: Report) -> WitnessPolicy | None:
    folder = directory / "witnesses"
    if not folder.is_dir():
        return None
    keys: list[CosignatureVerifier] = []
    for path in sorted(folder.glob("*.vkey")):
        try:
            keys.append(parse_witness_key(_read(path).decode("utf-8")))
        except (NoteError, UnicodeDecodeError) as exc:
            message = N_("{path} is not a valid witness key: {detail}")
            report.add(
                issue(
                    "bad_witness_key", message, file=str(path), path=str(path), detail=_detail(exc)
                )
            )
    policy_path = folder / "policy"
    if not policy_path.exists():
        return WitnessPolicy(len(keys), tuple(keys)) if keys else None
    try:
        return parse_policy(_read(policy_path).decode("utf-8"), tuple(keys))
    except (NoteError, UnicodeDecodeError) as exc:
        message = N_("the witness policy is invalid: {detail}")
        report.add(issue("bad_witness_policy", message, file=str(policy_path), detail=_detail(exc)))
        return WitnessPolicy(len(keys), tuple(keys))


def _read_signed(path: Path) -> _Signed:
    data = _read(path)
    return _Signed(str(path), data, read_checkpoint(data))


def _bad_checkpoint(path: Path, exc: NoteError) -> Issue:
    message = N_("{path} is not a valid checkpoint: {detail}")
    return issue("bad_checkpoint", message, file=str(path), path=str(path), detail=exc.detail)


def _load_receipt(path: Path, report: Report) -> tuple[Receipt, _Signed] | None:
    try:
        receipt = parse_receipt(_read(path))
    except ReceiptError as exc:
        message = N_("{path} is not a valid receipt: {detail}")
        report.add(issue("bad_receipt", message, file=str(path), path=str(path), detail=exc.detail))
        return None
    return receipt, _Signed(str(path), receipt.checkpoint, read_checkpoint(receipt.checkpoint))


# --- the streaming pass -----------------------------------------------------------------
#
# audit.blocks does the work that needs no knowledge of earlier lines, block by block and,
# with --jobs, in worker processes: the leaf hashes and each line's fields, grouped into runs.
# Here the blocks come back in log order: their subtrees are folded into the root and their
# runs replayed against the lines before them, so the report does not depend on the jobs.


class _InOrder:
    """The checks that look back: seq continuity, time order, a single community matching
    the origin, the key chain, and the observers. Fed the runs and bad lines in log order."""

    def __init__(self, report: Report, origin: str, observers: Sequence[EntryObserver]) -> None:
        self.report, self.origin, self.observers = report, origin, observers
        self.slug = origin_slug(origin)
        self.expected_seq, self.last_t = 0, -1
        self.community: str | None = None

    def bad_line(self, index: int, error: EntryError) -> None:
        message = N_("entry {index}: {detail}")
        self.report.add(issue(error.code, message, index=index, detail=error.detail))
        self.expected_seq += 1

    def run(self, run: Run) -> None:
        add, index, seq, t = self.report.add, run.index, run.seq, run.t
        if seq != self.expected_seq:
            message = N_("entry {index}: seq is {seq}, expected {expected}")
            add(issue("seq_mismatch", message, index=index, seq=seq, expected=self.expected_seq))
        self.expected_seq = seq + run.count  # resynchronise: one gap is one issue
        if t < self.last_t:
            message = N_("entry {index}: time {t} is earlier than the entry before ({prev})")
            add(issue("time_backwards", message, index=index, t=t, prev=self.last_t))
        self.last_t = run.t_last
        if self.community is None:
            self.community = self.report.community = run.community
            if self.slug is not None and run.community != self.slug:
                message = N_(
                    "the entries belong to community {community}, but the checkpoint's "
                    "origin is {origin}"
                )
                add(issue("origin_mismatch", message, community=run.community, origin=self.origin))
        elif run.community != self.community:
            message = N_("entry {index}: community {found}, expected {expected}")
            for i in range(index, index + run.count):  # every line of the run
                add(
                    issue(
                        "community_mismatch",
                        message,
                        index=i,
                        found=run.community,
                        expected=self.community,
                    )
                )
        if run.type == ROTATION_TYPE:
            assert run.payload is not None  # a rotation is a run of its own, with its payload
            keys = self.report.keys
            try:
                key = apply_rotation(run.payload, self.origin, keys[-1].key)
            except RotationError as exc:
                message = N_("entry {index}: key rotation rejected: {detail}")
                add(issue(exc.code, message, index=index, detail=exc.detail))
            else:
                keys.append(KeyPeriod(index + 1, key))
        if self.observers:
            assert run.payload is not None  # with observers, each entry is a run with its payload
            entry = Entry(seq, run.type, run.community, t, run.payload, ENTRY_VERSION)
            for observer in self.observers:
                for found in observer.observe(index, entry):
                    add(found)


def _stream(
    path: Path,
    report: Report,
    origin: str,
    wanted_sizes: set[int],
    wanted_leaves: set[int],
    observers: Sequence[EntryObserver],
    jobs: int,
) -> tuple[dict[int, bytes], dict[int, bytes]]:
    """One pass over entries.jsonl; returns the roots and leaf hashes asked for."""
    builder = RootBuilder()
    roots = {0: EMPTY_ROOT}
    leaves: dict[int, bytes] = {}
    in_order = _InOrder(report, origin, observers)
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise _Fatal(_io_issue(path, exc)) from None
    with stream:
        blocks = BlockReader(stream, wanted_sizes, wanted_leaves, payloads=bool(observers))
        for checked in check_blocks(blocks, jobs):
            for size, below in checked.prefixes.items():
                partial = builder.copy()
                partial.append_range(below)
                roots[size] = partial.root()
            builder.append_range(checked.subtrees)  # the tree covers the bytes as given
            leaves.update(checked.leaves)
            for item in checked.runs:
                if isinstance(item, Run):
                    in_order.run(item)
                else:
                    in_order.bad_line(*item)
        if blocks.rest:
            message = N_("entry {index}: the last line is cut short (no newline)")
            report.add(issue("truncated_line", message, index=blocks.lines))
    report.entries = builder.size
    report.root = builder.root()
    return roots, leaves


# --- checks after the pass --------------------------------------------------------------


def _key_for_size(keys: list[KeyPeriod], size: int) -> Ed25519Verifier:
    return [p.key for p in keys if p.from_size <= size][-1]


def _check_signature(signed: _Signed, keys: list[KeyPeriod], entries: int, report: Report) -> None:
    """The checkpoint must be signed by the key in force at its size: the first key until
    the first rotation, then each announced key in turn."""
    size = signed.checkpoint.size
    chain = [p.key for p in keys]
    # Beyond the bundle we cannot know which rotations came later; any key of the chain may sign.
    expected = [_key_for_size(keys, size)] if size <= entries else chain
    try:
        open_note(signed.note, expected)
        return
    except NoteError as exc:
        if exc.code == "bad_signature":
            message = N_("the checkpoint's signature by the log key does not verify")
            report.add(issue("checkpoint_bad_signature", message, file=signed.file))
            return
    try:
        open_note(signed.note, chain)
    except NoteError:
        message = N_("the checkpoint of size {size} is not signed by any announced log key")
        report.add(issue("checkpoint_unknown_key", message, file=signed.file, size=size))
    else:
        message = N_(
            "the checkpoint of size {size} is signed by a log key that is not in force at that size"
        )
        report.add(issue("checkpoint_wrong_key", message, file=signed.file, size=size))


def _check_history(
    latest: _Signed, others: list[_Signed], roots: dict[int, bytes], entries: int, report: Report
) -> None:
    """Every checkpoint must describe a prefix of this log: one root per size (else the log
    forked), and none may be larger than the log (else it was cut back)."""
    by_size = {latest.checkpoint.size: latest.checkpoint.root_hash}
    for item in others:
        cp, file = item.checkpoint, item.file
        if cp.size > entries:
            message = N_(
                "{path} covers {size} entries, but the bundle has only {entries}: the log was "
                "cut back"
            )
            report.add(
                issue("log_truncated", message, file=file, path=file, size=cp.size, entries=entries)
            )
            if by_size.get(cp.size, cp.root_hash) != cp.root_hash:
                message = N_("two checkpoints of size {size} have different roots: the log forked")
                report.add(issue("fork", message, file=file, size=cp.size))
        elif roots[cp.size] != cp.root_hash:
            message = N_(
                "{path} has a different root for size {size} than the bundle: the log forked"
            )
            report.add(issue("fork", message, file=file, path=file, size=cp.size))
        by_size.setdefault(cp.size, cp.root_hash)


def _check_receipt(
    receipt: Receipt, signed: _Signed, leaves: dict[int, bytes], entries: int, report: Report
) -> None:
    """The receipt's entry must be the bundle's entry at its index, and its proof must lead
    to its checkpoint's root (whose consistency with the bundle _check_history checks)."""
    index, cp = receipt.index, signed.checkpoint
    file = signed.file
    actual = leaves.get(index)
    if index >= entries:
        message = N_("entry {index}: the receipt {path} is for an entry the bundle does not have")
        report.add(issue("receipt_entry_missing", message, index=index, file=file, path=file))
    elif receipt.leaf_hash is not None and receipt.leaf_hash != actual:
        message = N_(
            "entry {index}: the entry in the bundle is not the one the receipt {path} was "
            "issued for"
        )
        report.add(issue("receipt_entry_mismatch", message, index=index, file=file, path=file))
    claimed = receipt.leaf_hash or actual
    if claimed is None:
        return
    try:
        verify_inclusion(index, cp.size, claimed, receipt.proof, cp.root_hash)
    except ProofError as exc:
        message = N_("entry {index}: the inclusion proof in {path} does not verify: {detail}")
        report.add(
            issue(
                "receipt_proof_invalid",
                message,
                index=index,
                file=file,
                path=file,
                detail=exc.detail,
            )
        )


def _check_witnesses(latest: _Signed, policy: WitnessPolicy, report: Report) -> None:
    report.quorum = policy.quorum
    result = report.witnesses = check_quorum(latest.note, policy)
    for name in result.invalid:
        message = N_("the cosignature by witness {name} does not verify")
        report.add(issue("witness_bad_signature", message, file=latest.file, name=name))
    if not result.met:
        message = N_("{count} of the required {quorum} witnesses cosigned the checkpoint")
        report.add(
            issue(
                "witness_quorum",
                message,
                file=latest.file,
                count=len(result.cosigned_by),
                quorum=policy.quorum,
            )
        )


def verify_bundle(
    directory: Path,
    *,
    checkpoints: Sequence[Path] = (),
    receipts: Sequence[Path] = (),
    vkey: Path | None = None,
    observers: Sequence[EntryObserver] = (),
    jobs: int | None = None,
) -> Report:
    """Run every check on a bundle; the report lists what failed (nothing, if all holds).
    ``jobs`` worker processes share the entries' checks (default: one per CPU, capped); the
    report does not depend on it."""
    report = Report(str(directory))
    try:
        _verify(directory, report, checkpoints, receipts, vkey, observers, jobs or default_jobs())
    except _Fatal as fatal:
        report.add(fatal.issue)
    return report


def _verify(
    directory: Path,
    report: Report,
    checkpoint_paths: Sequence[Path],
    receipt_paths: Sequence[Path],
    vkey: Path | None,
    observers: Sequence[EntryObserver],
    jobs: int,
) -> None:
    if not directory.is_dir():
        message = N_("the bundle directory {path} does not exist")
        raise _Fatal(issue("missing_file", message, path=str(directory)))
    report.keys.append(KeyPeriod(0, _load_key(vkey or directory / "log.vkey")))
    try:
        latest = _read_signed(directory / "checkpoint")
    except NoteError as exc:
        raise _Fatal(_bad_checkpoint(directory / "checkpoint", exc)) from None
    origin = report.origin = latest.checkpoint.origin
    if origin_slug(origin) is None:
        message = N_("the origin {origin} is not of the form <host>/c/<slug>")
        report.add(issue("bad_origin", message, file=latest.file, origin=origin))
    policy = _load_witnesses(directory, report)
    others: list[_Signed] = []
    for path in checkpoint_paths:
        try:
            others.append(_read_signed(path))
        except NoteError as exc:
            report.add(_bad_checkpoint(path, exc))
    proofs = [r for p in receipt_paths if (r := _load_receipt(p, report))]
    others += [signed for _, signed in proofs]
    for signed in others:
        if signed.checkpoint.origin != origin:
            message = N_("{path} is for log {found}, not {origin}")
            report.add(
                issue(
                    "origin_mismatch",
                    message,
                    file=signed.file,
                    path=signed.file,
                    found=signed.checkpoint.origin,
                    origin=origin,
                )
            )

    wanted_sizes = {s.checkpoint.size for s in [latest, *others]}
    wanted_leaves = {receipt.index for receipt, _ in proofs}
    roots, leaves = _stream(
        directory / "entries.jsonl", report, origin, wanted_sizes, wanted_leaves, observers, jobs
    )
    for observer in observers:
        for found in observer.finish():
            report.add(found)

    entries, size = report.entries, latest.checkpoint.size
    if size != entries:
        message = N_("the checkpoint covers {size} entries but the bundle has {entries}")
        report.add(
            issue("checkpoint_size_mismatch", message, file=latest.file, size=size, entries=entries)
        )
    elif latest.checkpoint.root_hash != report.root:
        message = N_("the root rebuilt from the entries differs from the signed checkpoint's root")
        report.add(issue("root_mismatch", message, file=latest.file))
    for signed in [latest, *others]:
        _check_signature(signed, report.keys, entries, report)
    _check_history(latest, others, roots, entries, report)
    for receipt, signed in proofs:
        _check_receipt(receipt, signed, leaves, entries, report)
    if policy is not None:
        _check_witnesses(latest, policy, report)


# --- rendering and command line ---------------------------------------------------------


def translator(lang: str) -> gettext.NullTranslations:
    return gettext.translation(
        DOMAIN, LOCALE_DIR, languages=[LANGUAGES.get(lang, lang)], fallback=True
    )


def issue_text(issue: Issue, tr: gettext.NullTranslations) -> str:
    try:
        return tr.gettext(issue.message).format(**issue.params)
    except (KeyError, IndexError, ValueError):  # an observer's message with odd placeholders
        return issue.message


def render_issue(issue: Issue, tr: gettext.NullTranslations) -> str:
    return f"[{issue.code}] {issue_text(issue, tr)}"


def report_json(report: Report, tr: gettext.NullTranslations) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "bundle": report.bundle,
        "entries": report.entries,
        "root": b64(report.root),
        "origin": report.origin,
        "community": report.community,
        "keys": [{"from_size": p.from_size, "vkey": p.key.vkey()} for p in report.keys],
        "witnesses": None
        if report.witnesses is None
        else {
            "quorum": report.quorum,
            "cosigned_by": list(report.witnesses.cosigned_by),
            "invalid": list(report.witnesses.invalid),
        },
        "issues": [
            {
                "code": i.code,
                "index": i.index,
                "file": i.file,
                "message": issue_text(i, tr),
                "params": i.params,
            }
            for i in report.issues
        ],
        "suppressed": dict(report.suppressed),
    }


def report_text(report: Report, tr: gettext.NullTranslations) -> str:
    _ = tr.gettext
    lines = [
        _("Bundle: {path}").format(path=report.bundle),
        _("Log: {origin}").format(origin=report.origin or "-"),
        _("Entries: {count}").format(count=report.entries),
        _("Root: {root}").format(root=b64(report.root)),
    ]
    if len(report.keys) > 1:
        lines.append(_("Key rotations: {count}").format(count=len(report.keys) - 1))
    if report.witnesses is not None:
        lines.append(
            _("Witnesses: {count} of {quorum} required cosigned").format(
                count=len(report.witnesses.cosigned_by), quorum=report.quorum
            )
        )
    if report.ok:
        lines.append(_("Result: every check holds."))
    else:
        total = len(report.issues) + sum(report.suppressed.values())
        lines.append(_("Result: FAILED, {count} problem(s):").format(count=total))
        lines.extend("  " + render_issue(issue, tr) for issue in report.issues)
        for code, count in sorted(report.suppressed.items()):
            lines.append(
                "  " + _("[{code}] and {count} more like it").format(code=code, count=count)
            )
    return "\n".join(lines)


def _parser(tr: gettext.NullTranslations) -> argparse.ArgumentParser:
    _ = tr.gettext
    parser = argparse.ArgumentParser(
        prog="yishi-verify", description=_("Verify an exported Yishi audit log bundle offline.")
    )
    parser.add_argument("bundle", type=Path, help=_("bundle directory"))
    parser.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        help=_("a checkpoint saved earlier (repeatable)"),
    )
    parser.add_argument(
        "--receipt",
        type=Path,
        action="append",
        default=[],
        help=_("a receipt to check (repeatable)"),
    )
    parser.add_argument("--vkey", type=Path, help=_("the log's public key, instead of log.vkey"))
    parser.add_argument(
        "--jobs",
        type=_positive,
        default=None,
        metavar="N",
        help=_(
            "worker processes checking the entries (default: one per CPU, at most {max})"
        ).format(max=MAX_JOBS),
    )
    parser.add_argument("--json", action="store_true", help=_("print a machine-readable report"))
    parser.add_argument(
        "--lang", choices=sorted(LANGUAGES), default="zh", help=_("language of the report")
    )
    return parser


def _positive(text: str) -> int:
    value = int(text)  # argparse reports a ValueError as an invalid value
    if value < 1:
        raise ValueError(text)
    return value


def _requested_language(args: list[str]) -> str:
    """The --lang value, looked up before parsing so that --help is in that language."""
    for i, arg in enumerate(args):
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
        if arg == "--lang" and i + 1 < len(args):
            return args[i + 1]
    return "zh"


def main(argv: Sequence[str] | None = None, observers: Sequence[EntryObserver] = ()) -> int:
    """The yishi-verify command. A wrapper that knows more entry types (the ballots replay)
    passes its observers here, so audit never imports them."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser(translator(_requested_language(args_in))).parse_args(args_in)
    except SystemExit as exc:  # argparse has printed its message
        return 0 if exc.code in (0, None) else 2
    tr = translator(args.lang)
    report = verify_bundle(
        args.bundle,
        checkpoints=args.checkpoint,
        receipts=args.receipt,
        vkey=args.vkey,
        observers=observers,
        jobs=args.jobs,
    )
    if args.json:
        print(json.dumps(report_json(report, tr), ensure_ascii=False, indent=2))
    else:
        print(report_text(report, tr))
    return 0 if report.ok else 1


if __name__ == "__main__":  # pragma: no cover - exercised by a subprocess test
    sys.exit(main())
