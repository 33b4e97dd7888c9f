"""A real log bundle on disk, built with the audit package's own writers, for the verifier's
tamper suite: each test starts from a bundle that verifies and breaks one thing.

Every verification in the suite runs three ways that must give the same report: as usual
(a bundle this small is one block), and cut into blocks of a line or two, checked in this
process (--jobs 1) and by worker processes (--jobs 2)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import patch

import pytest

import audit.blocks
from audit.checkpoint import Checkpoint, community_origin, sign_checkpoint
from audit.entries import Entry, encode_entry
from audit.merkle import inclusion_proof, leaf_hash, perfect_subtrees, tree_root
from audit.note import Ed25519Signer, generate_signer
from audit.proof import Receipt, encode_receipt
from audit.rotation import rotation_payload
from audit.verify import Report, report_json, translator, verify_bundle
from audit.witness import Cosigner, cosign_note, generate_cosigner

HOST = "yishi.example"
SLUG = "z-community"
ORIGIN = community_origin(HOST, SLUG)
T0 = 1_700_000_000_000

_TYPES = ["roll.frozen", "ballot.opened", "ballot.cast", "ballot.cast", "comment.moderated"]


def sample_entry(seq: int, t: int | None = None, community: str = SLUG) -> Entry:
    kind = _TYPES[seq % len(_TYPES)]
    payload: dict[str, object] = {"ballot": "b-2024-07", "n": seq}
    if kind == "roll.frozen":
        payload["area_m2"] = "87.45"
        payload["roll"] = [{"unit": "3-2-101", "weight": "87.45"}, {"unit": "3-2-102", "w": 1}]
    if kind == "comment.moderated":
        payload["reason"] = "人身攻击 (personal attack)\n"
    return Entry(seq, kind, community, T0 + 1000 * seq if t is None else t, payload)


@dataclass
class Bundle:
    path: Path
    signer: Ed25519Signer
    lines: list[bytes]
    cosigners: list[Cosigner] = field(default_factory=list)
    timestamp: int = 1_700_000_000

    @property
    def entries_file(self) -> Path:
        return self.path / "entries.jsonl"

    def write_entries(self, lines: list[bytes] | None = None) -> None:
        if lines is not None:
            self.lines = lines
        self.entries_file.write_bytes(b"".join(line + b"\n" for line in self.lines))

    def signed_checkpoint(
        self,
        size: int | None = None,
        signer: Ed25519Signer | None = None,
        origin: str = ORIGIN,
        lines: list[bytes] | None = None,
    ) -> bytes:
        lines = self.lines if lines is None else lines
        size = len(lines) if size is None else size
        root = tree_root([leaf_hash(line) for line in lines[:size]])
        note = sign_checkpoint(Checkpoint(origin, size, root), signer or self.signer)
        for cosigner in self.cosigners:
            note = cosign_note(note, cosigner, self.timestamp)
        return note

    def publish(self, signer: Ed25519Signer | None = None, origin: str = ORIGIN) -> None:
        """Write entries.jsonl and a checkpoint covering all of it."""
        self.write_entries()
        (self.path / "checkpoint").write_bytes(self.signed_checkpoint(signer=signer, origin=origin))

    def save_checkpoint(self, size: int, name: str = "saved.checkpoint") -> Path:
        path = self.path.parent / name
        path.write_bytes(self.signed_checkpoint(size))
        return path

    def receipt(self, index: int, size: int | None = None) -> Receipt:
        size = len(self.lines) if size is None else size
        leaves = [leaf_hash(line) for line in self.lines[:size]]
        proof = inclusion_proof(index, size, perfect_subtrees(leaves))
        return Receipt(index, tuple(proof), self.signed_checkpoint(size), leaves[index])

    def save_receipt(self, receipt: Receipt, name: str = "r.tlog-proof") -> Path:
        path = self.path.parent / name
        path.write_bytes(encode_receipt(receipt))
        return path

    def add_witnesses(self, count: int, quorum: int) -> None:
        folder = self.path / "witnesses"
        folder.mkdir(exist_ok=True)
        self.cosigners = [generate_cosigner(f"witness{i}.example/w") for i in range(count)]
        for i, cosigner in enumerate(self.cosigners):
            (folder / f"w{i}.vkey").write_text(cosigner.verifier().vkey() + "\n")
        (folder / "policy").write_text(f"# k of n\nquorum {quorum}\n")

    def rotate(self, new: Ed25519Signer, t: int | None = None) -> None:
        """Append a key.rotated entry signed by the current key and switch to ``new``."""
        seq = len(self.lines)
        payload = rotation_payload(ORIGIN, self.signer, new.verifier())
        t = T0 + 1000 * seq if t is None else t
        self.lines.append(encode_entry(Entry(seq, "key.rotated", SLUG, t, payload)))
        self.signer = new

    def append(self, count: int) -> None:
        start = len(self.lines)
        self.lines.extend(encode_entry(sample_entry(seq)) for seq in range(start, start + count))

    def verify(self, **kwargs: object) -> Report:
        report = verify_bundle(self.path, **kwargs)  # type: ignore[arg-type]
        expected = report_json(report, translator("en"))
        with patch.object(audit.blocks, "BLOCK_BYTES", 400):
            for jobs in (1, 2):
                again = verify_bundle(self.path, jobs=jobs, **kwargs)  # type: ignore[arg-type]
                assert report_json(again, translator("en")) == expected, f"--jobs {jobs}"
        return report


def codes(report: Report) -> set[str]:
    return {issue.code for issue in report.issues}


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., Bundle]:
    def make(count: int = 40, name: str = "bundle") -> Bundle:
        path = tmp_path / name
        path.mkdir()
        signer = generate_signer(ORIGIN)
        (path / "log.vkey").write_text(signer.verifier().vkey() + "\n")
        bundle = Bundle(path, signer, [])
        bundle.append(count)
        bundle.publish()
        return bundle

    return make


@pytest.fixture
def bundle(make_bundle: Callable[..., Bundle]) -> Bundle:
    return make_bundle()


@pytest.fixture
def report_codes() -> Callable[[Report], set[str]]:
    return codes
