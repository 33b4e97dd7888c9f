"""Receipts in the C2SP tlog-proof text format (https://c2sp.org/tlog-proof)::

    c2sp.org/tlog-proof@v1
    extra <base64>            (optional)
    index <decimal>
    <base64 hash>             (zero or more: the inclusion proof, leaf sibling first)

    <the signed checkpoint, verbatim>

Yishi puts the entry's 32-byte leaf hash in ``extra``, so a receipt alone says which entry
it is for; as the spec warns, the extra data is not trusted: the verifier recomputes the
leaf hash from the entry and compares.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from audit.checkpoint import Checkpoint, open_checkpoint, read_checkpoint
from audit.merkle import HASH_SIZE, ProofError, leaf_hash, verify_inclusion
from audit.note import NoteError, NoteVerifier, b64, strict_b64decode
from audit.witness import WitnessPolicy, check_quorum

HEADER: Final = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES: Final = 63
_INDEX = re.compile(r"index (0|[1-9][0-9]*)")


class ReceiptError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Receipt:
    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes  # the signed note, byte for byte
    extra: bytes | None = None

    @property
    def leaf_hash(self) -> bytes | None:
        """The leaf hash Yishi stores in ``extra``, if it has that shape."""
        if self.extra is not None and len(self.extra) == HASH_SIZE:
            return self.extra
        return None


def encode_receipt(receipt: Receipt) -> bytes:
    lines = [HEADER]
    if receipt.extra is not None:
        lines.append(f"extra {b64(receipt.extra)}")
    lines.append(f"index {receipt.index}")
    lines.extend(b64(h) for h in receipt.proof)
    return ("\n".join(lines) + "\n\n").encode("ascii") + receipt.checkpoint


def parse_receipt(data: bytes) -> Receipt:
    head, sep, checkpoint = data.partition(b"\n\n")
    if not sep:
        raise ReceiptError("malformed_receipt", "no blank line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise ReceiptError("malformed_receipt", "the proof lines are not ASCII") from None
    if lines[0] != HEADER:
        raise ReceiptError("malformed_receipt", f"the first line is not {HEADER}")
    rest = lines[1:]
    extra = None
    try:
        if rest and rest[0].startswith("extra "):
            extra = strict_b64decode(rest.pop(0)[len("extra ") :], "the extra data")
        match = _INDEX.fullmatch(rest.pop(0)) if rest else None
        if match is None:
            raise ReceiptError("malformed_receipt", "missing or malformed 'index N' line")
        if len(rest) > MAX_PROOF_HASHES:
            raise ReceiptError("malformed_receipt", f"more than {MAX_PROOF_HASHES} proof hashes")
        proof = tuple(strict_b64decode(line, f"proof hash {i}") for i, line in enumerate(rest))
        if any(len(h) != HASH_SIZE for h in proof):
            raise ReceiptError("malformed_receipt", "a proof hash is not 32 bytes")
        read_checkpoint(checkpoint)
    except NoteError as exc:
        raise ReceiptError("malformed_receipt", exc.detail) from None
    return Receipt(int(match.group(1)), proof, checkpoint, extra)


def verify_receipt(
    receipt: Receipt,
    log_keys: Sequence[NoteVerifier],
    *,
    entry: bytes | None = None,
    leaf: bytes | None = None,
    policy: WitnessPolicy | None = None,
) -> Checkpoint:
    """Check that the entry (or its leaf hash; by default the one in ``extra``) is in the
    log at ``receipt.index``, under a checkpoint signed by one of ``log_keys`` and, with a
    policy, cosigned by a quorum of witnesses. Returns the checkpoint."""
    if entry is not None:
        leaf = leaf_hash(entry)
    if leaf is None:
        leaf = receipt.leaf_hash
        if leaf is None:
            raise ReceiptError("receipt_no_leaf", "no entry given and no leaf hash in extra")
    elif receipt.leaf_hash is not None and receipt.leaf_hash != leaf:
        raise ReceiptError("receipt_leaf_mismatch", "the receipt names a different entry")
    try:
        checkpoint, _ = open_checkpoint(receipt.checkpoint, tuple(log_keys))
    except NoteError as exc:
        raise ReceiptError(exc.code, exc.detail) from None
    try:
        verify_inclusion(receipt.index, checkpoint.size, leaf, receipt.proof, checkpoint.root_hash)
    except ProofError as exc:
        raise ReceiptError("receipt_proof_invalid", exc.detail) from None
    if policy is not None and not check_quorum(receipt.checkpoint, policy).met:
        raise ReceiptError("witness_quorum", "too few witnesses cosigned the checkpoint")
    return checkpoint
