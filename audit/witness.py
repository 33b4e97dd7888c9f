"""Witness cosignatures: C2SP tlog-cosignature ``cosignature/v1`` with Ed25519.

A cosignature is a note signature whose key ID uses type byte 0x04 and whose bytes are an
8-byte big-endian POSIX timestamp (seconds) followed by an Ed25519 signature over::

    cosignature/v1
    time <timestamp>
    <the checkpoint body>

Witness keys travel as verifier keys with type 0x04; a cosigner's private key uses the
signer-key form ``PRIVATE+KEY+name+hash+base64(0x04 || seed)``.

A community's witness policy is the file ``witnesses/policy`` in a bundle::

    # comments and blank lines are ignored
    quorum 2

meaning at least 2 distinct witnesses among the bundle's ``witnesses/*.vkey`` must have
validly cosigned the checkpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from audit.note import (
    NoteError,
    Signature,
    add_signatures,
    b64,
    check_key_id,
    check_key_name,
    key_id,
    parse_note,
    parse_typed_key,
)

COSIGNATURE_V1: Final = 0x04
MAX_TIMESTAMP: Final = 2**63 - 1


def cosignature_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class CosignatureVerifier:
    name: str
    public_key: bytes
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError("bad_key", "an Ed25519 public key has 32 bytes")
        object.__setattr__(self, "key_id", key_id(self.name, COSIGNATURE_V1, self.public_key))

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Check a timestamped cosignature over a note body (NoteVerifier protocol)."""
        if len(signature) != 8 + 64:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        message = cosignature_message(text.decode("utf-8"), timestamp)
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature[8:], message)
        except InvalidSignature:
            return False
        return True

    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([COSIGNATURE_V1]) + self.public_key)}"


@dataclass(frozen=True)
class Cosigner:
    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.seed) != 32:
            raise NoteError("bad_key", "an Ed25519 seed has 32 bytes")

    def verifier(self) -> CosignatureVerifier:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return CosignatureVerifier(self.name, public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def skey(self) -> str:
        encoded = b64(bytes([COSIGNATURE_V1]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{self.verifier().key_id.hex()}+{encoded}"

    def cosign(self, body: str, timestamp: int) -> Signature:
        """A cosignature line for a checkpoint body, dated ``timestamp`` (POSIX seconds)."""
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise NoteError("bad_timestamp", f"timestamp {timestamp} is out of range")
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        sig = private.sign(cosignature_message(body, timestamp))
        return Signature(self.name, self.verifier().key_id, timestamp.to_bytes(8, "big") + sig)


def generate_cosigner(name: str) -> Cosigner:
    seed = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    return Cosigner(name, seed)


def parse_witness_key(vkey: str) -> CosignatureVerifier:
    name, kid, material = parse_typed_key(vkey, COSIGNATURE_V1, "cosignature/v1", private=False)
    verifier = CosignatureVerifier(name, material)
    check_key_id(kid, verifier.key_id)
    return verifier


def parse_cosigner_key(skey: str) -> Cosigner:
    name, kid, material = parse_typed_key(skey, COSIGNATURE_V1, "cosignature/v1", private=True)
    cosigner = Cosigner(name, material)
    check_key_id(kid, cosigner.verifier().key_id)
    return cosigner


def cosign_note(signed: bytes, cosigner: Cosigner, timestamp: int) -> bytes:
    """Add a cosignature to an already signed checkpoint."""
    return add_signatures(signed, cosigner.cosign(parse_note(signed).text, timestamp))


def cosignature_time(sig: Signature) -> int:
    return int.from_bytes(sig.signature[:8], "big")


@dataclass(frozen=True)
class WitnessPolicy:
    quorum: int
    witnesses: tuple[CosignatureVerifier, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.quorum <= len(self.witnesses):
            raise NoteError(
                "bad_policy", f"quorum {self.quorum} of {len(self.witnesses)} witnesses"
            )


def parse_policy(text: str, witnesses: tuple[CosignatureVerifier, ...]) -> WitnessPolicy:
    quorum = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"quorum (0|[1-9][0-9]*)", line)
        if match is None or quorum is not None:
            raise NoteError("bad_policy", f"line {number}: expected one 'quorum K' line")
        quorum = int(match.group(1))
    if quorum is None:
        raise NoteError("bad_policy", "the policy has no 'quorum K' line")
    return WitnessPolicy(quorum, witnesses)


@dataclass(frozen=True)
class QuorumResult:
    cosigned_by: tuple[str, ...]  # witness names with a valid cosignature
    invalid: tuple[str, ...]  # known witnesses whose cosignature fails
    met: bool


def check_quorum(signed: bytes, policy: WitnessPolicy) -> QuorumResult:
    """Count distinct witnesses with a valid cosignature on the note; unknown ones are
    ignored as the note spec requires, invalid ones are reported."""
    note = parse_note(signed)
    body = note.text.encode("utf-8")
    good: list[str] = []
    bad: list[str] = []
    seen: set[bytes] = set()
    for witness in policy.witnesses:
        if witness.public_key in seen:  # one key is one witness, whatever its names
            continue
        seen.add(witness.public_key)
        sigs = [s for s in note.signatures if (s.name, s.key_id) == (witness.name, witness.key_id)]
        if any(witness.verify(body, s.signature) for s in sigs):
            good.append(witness.name)
        elif sigs:
            bad.append(witness.name)
    return QuorumResult(tuple(good), tuple(bad), len(good) >= policy.quorum)
