from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from audit.merkle import leaf_hash
from audit.note import generate_signer
from audit.proof import (
    HEADER,
    Receipt,
    ReceiptError,
    encode_receipt,
    parse_receipt,
    verify_receipt,
)
from audit.witness import WitnessPolicy

if TYPE_CHECKING:
    from conftest import Bundle


def test_round_trip_and_layout(bundle: Bundle) -> None:
    receipt = bundle.receipt(5)
    data = encode_receipt(receipt)
    lines = data.decode().split("\n")
    assert lines[0] == HEADER
    assert lines[1] == "extra " + base64.b64encode(leaf_hash(bundle.lines[5])).decode()
    assert lines[2] == "index 5"
    assert data.endswith(receipt.checkpoint)
    assert parse_receipt(data) == receipt
    bare = Receipt(0, (), receipt.checkpoint)
    assert parse_receipt(encode_receipt(bare)) == bare


def test_verify(bundle: Bundle) -> None:
    log_key = [bundle.signer.verifier()]
    receipt = bundle.receipt(7, size=20)
    checkpoint = verify_receipt(receipt, log_key)
    assert checkpoint.size == 20
    assert verify_receipt(receipt, log_key, entry=bundle.lines[7]) == checkpoint
    assert verify_receipt(receipt, log_key, leaf=leaf_hash(bundle.lines[7])) == checkpoint


def verify_code(receipt: Receipt, bundle: Bundle, **kwargs: object) -> str:
    with pytest.raises(ReceiptError) as err:
        verify_receipt(receipt, [bundle.signer.verifier()], **kwargs)  # type: ignore[arg-type]
    return err.value.code


def test_verify_rejections(bundle: Bundle) -> None:
    receipt = bundle.receipt(7)
    assert verify_code(receipt, bundle, entry=bundle.lines[8]) == "receipt_leaf_mismatch"
    no_leaf = Receipt(7, receipt.proof, receipt.checkpoint)
    assert verify_code(no_leaf, bundle) == "receipt_no_leaf"
    moved = Receipt(8, receipt.proof, receipt.checkpoint, receipt.extra)
    assert verify_code(moved, bundle) == "receipt_proof_invalid"
    padded = Receipt(7, (*receipt.proof, bytes(32)), receipt.checkpoint, receipt.extra)
    assert verify_code(padded, bundle) == "receipt_proof_invalid"
    cut = Receipt(7, receipt.proof[:-1], receipt.checkpoint, receipt.extra)
    assert verify_code(cut, bundle) == "receipt_proof_invalid"
    with pytest.raises(ReceiptError) as err:
        verify_receipt(receipt, [generate_signer("other").verifier()])
    assert err.value.code == "no_known_signature"


def test_verify_with_witnesses(make_bundle: Callable[..., Bundle]) -> None:
    bundle = make_bundle(10)
    bundle.add_witnesses(3, 2)
    receipt = bundle.receipt(3)
    keys = tuple(c.verifier() for c in bundle.cosigners)
    verify_receipt(receipt, [bundle.signer.verifier()], policy=WitnessPolicy(3, keys))
    bundle.cosigners = bundle.cosigners[:1]
    lonely = bundle.receipt(3)
    assert verify_code(lonely, bundle, policy=WitnessPolicy(2, keys)) == "witness_quorum"


def test_receipt_without_a_blank_line() -> None:
    with pytest.raises(ReceiptError) as err:
        parse_receipt(HEADER.encode() + b"\nindex 0\n")
    assert err.value.code == "malformed_receipt"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d.replace(b"\n\n", b"\n", 1),
        lambda d: d.replace(HEADER.encode(), b"c2sp.org/tlog-proof@v2"),
        lambda d: d.replace(b"index 7", b"index 07"),
        lambda d: d.replace(b"index 7", b"index -7"),
        lambda d: d.replace(b"index 7\n", b""),
        lambda d: d.replace(b"extra ", b"extra !"),
        lambda d: d.replace(b"index 7\n", b"index 7\n" + b"AAAA\n"),
        lambda d: d.replace(b"index 7\n", b"index 7\n" + b"not base64\n"),
        lambda d: d.replace(b"index 7\n", b"index 7\n" + b"AAAA\n" * 64),
        lambda d: d.replace(b"index 7", "index ７".encode()),
        lambda d: d[: d.index(b"\n\n") + 2] + b"garbage\n",
    ],
)
def test_malformed_receipts(bundle: Bundle, mangle: Callable[[bytes], bytes]) -> None:
    data = mangle(encode_receipt(bundle.receipt(7)))
    with pytest.raises(ReceiptError) as err:
        parse_receipt(data)
    assert err.value.code == "malformed_receipt"
