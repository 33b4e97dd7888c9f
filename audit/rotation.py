"""Log key rotation, announced in the log itself.

A ``key.rotated`` entry's payload is::

    {"old_key": "<verifier key being retired>",
     "new_key": "<verifier key taking over>",
     "signature": "<base64 Ed25519 signature by the OLD key over the statement>"}

where the statement binds the log's origin, so a rotation cannot be replayed into another
community's log::

    yishi/key-rotation/v1
    origin <origin>
    old <old verifier key>
    new <new verifier key>

(each line ending in a newline). The entry at index i hands over from the key in force to
the new key: checkpoints of size <= i are signed by the old key, checkpoints of size > i
(which cover the announcement) by the new one. A verifier starts from the key it trusts,
the log's first key, and follows the chain; a checkpoint signed by any other key fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from audit.note import (
    Ed25519Signer,
    Ed25519Verifier,
    NoteError,
    b64,
    parse_verifier_key,
    strict_b64decode,
)

ROTATION_TYPE: Final = "key.rotated"
_CONTEXT: Final = "yishi/key-rotation/v1"


class RotationError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def rotation_statement(origin: str, old_vkey: str, new_vkey: str) -> bytes:
    return f"{_CONTEXT}\norigin {origin}\nold {old_vkey}\nnew {new_vkey}\n".encode()


def rotation_payload(origin: str, old: Ed25519Signer, new: Ed25519Verifier) -> dict[str, Any]:
    """The payload of the ``key.rotated`` entry that hands the log from ``old`` to ``new``."""
    old_vkey = old.verifier().vkey()
    signature = old.sign(rotation_statement(origin, old_vkey, new.vkey()))
    return {"new_key": new.vkey(), "old_key": old_vkey, "signature": b64(signature)}


@dataclass(frozen=True)
class KeyPeriod:
    from_size: int  # the first checkpoint size this key signs
    key: Ed25519Verifier


def apply_rotation(
    payload: dict[str, Any], origin: str, current: Ed25519Verifier
) -> Ed25519Verifier:
    """Check a rotation against the key in force and return the new key."""
    old_vkey, new_vkey, signature = (
        payload.get("old_key"),
        payload.get("new_key"),
        payload.get("signature"),
    )
    if not (isinstance(old_vkey, str) and isinstance(new_vkey, str) and isinstance(signature, str)):
        raise RotationError("rotation_malformed", "old_key, new_key and signature are strings")
    try:
        new = parse_verifier_key(new_vkey)
        sig = strict_b64decode(signature, "the rotation signature")
    except NoteError as exc:
        raise RotationError("rotation_malformed", exc.detail) from None
    if old_vkey != current.vkey():
        raise RotationError("rotation_wrong_old_key", "old_key is not the key in force")
    if new.public_key == current.public_key:
        raise RotationError("rotation_malformed", "the new key is the old key")
    if not current.verify(rotation_statement(origin, old_vkey, new_vkey), sig):
        raise RotationError("rotation_bad_signature", "the old key did not sign this rotation")
    return new
