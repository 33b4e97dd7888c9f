"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> base64(key ID || signature)``. Keys travel as strings:

- verifier key: ``<name>+<key ID as 8 hex digits>+base64(type byte || public key)``
- signer key:   ``PRIVATE+KEY+<name>+<key ID>+base64(type byte || Ed25519 seed)``

with key ID = SHA-256(name || 0x0A || type byte || public key)[:4]. Type 0x01 is a plain
Ed25519 note signature (this module); type 0x04 is a witness cosignature (witness.py).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Final, Protocol

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

ED25519: Final = 0x01
EM_DASH: Final = "\u2014"
MAX_SIGNATURES: Final = 100  # the spec asks for at least 16; Go's note package allows 100

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SPACE = re.compile(r"\s")


class NoteError(ValueError):
    """A malformed note or key, or a signature that fails; ``code`` is stable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def strict_b64decode(text: str, what: str) -> bytes:
    """Standard base64 with padding, and only the one canonical spelling of each value."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("bad_base64", f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError("bad_base64", f"{what} is not canonical base64")
    return raw


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_key_name(name: str) -> None:
    if not name or "+" in name or _SPACE.search(name) or _CONTROL.search(name):
        raise NoteError("bad_key_name", f"key name {name!r} is empty or has a space or '+'")


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    return sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


class NoteVerifier(Protocol):
    """What ``open_note`` needs from a key; Ed25519 notes and cosignatures both fit."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, text: bytes, signature: bytes) -> bool: ...


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _raw_seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def parse_key_string(vkey: str) -> tuple[str, bytes, int, bytes]:
    """Split ``name+hash+base64(type || key)`` into (name, key ID, type, key material),
    checking that the hash is the key ID the name and key imply."""
    name, sep, rest = vkey.partition("+")
    id_hex, sep2, encoded = rest.partition("+")
    if not sep or not sep2:
        raise NoteError("bad_key", "a key is name+hash+base64")
    check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", id_hex):
        raise NoteError("bad_key", "the key hash is not 8 lowercase hex digits")
    raw = strict_b64decode(encoded, "the key")
    if len(raw) < 2:
        raise NoteError("bad_key", "the key material is empty")
    sig_type, material = raw[0], raw[1:]
    return name, bytes.fromhex(id_hex), sig_type, material


@dataclass(frozen=True)
class Ed25519Verifier:
    """A log's public key (signature type 0x01)."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError("bad_key", "an Ed25519 public key has 32 bytes")
        object.__setattr__(self, "key_id", key_id(self.name, ED25519, self.public_key))

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True

    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([ED25519]) + self.public_key)}"


@dataclass(frozen=True)
class Ed25519Signer:
    """A log's private key; ``seed`` is the 32-byte Ed25519 private key."""

    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.seed) != 32:
            raise NoteError("bad_key", "an Ed25519 seed has 32 bytes")

    def verifier(self) -> Ed25519Verifier:
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        return Ed25519Verifier(self.name, _raw_public(private.public_key()))

    @property
    def key_id(self) -> bytes:
        return self.verifier().key_id

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)

    def skey(self) -> str:
        encoded = b64(bytes([ED25519]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}"


def generate_signer(name: str) -> Ed25519Signer:
    return Ed25519Signer(name, _raw_seed(Ed25519PrivateKey.generate()))


def parse_typed_key(
    key: str, sig_type: int, type_name: str, *, private: bool
) -> tuple[str, bytes, bytes]:
    """Split a verifier key (or, with ``private``, a ``PRIVATE+KEY+`` signer key) of one
    signature type into name, key ID and key material; the caller checks the key ID against
    the key it builds."""
    key = key.strip()
    if private:
        prefix = "PRIVATE+KEY+"
        if not key.startswith(prefix):
            raise NoteError("bad_key", "a signer key starts with PRIVATE+KEY+")
        key = key[len(prefix) :]
    name, kid, found_type, material = parse_key_string(key)
    if found_type != sig_type:
        raise NoteError("bad_key", f"signature type 0x{found_type:02x} is not {type_name}")
    return name, kid, material


def check_key_id(expected: bytes, actual: bytes) -> None:
    if expected != actual:
        raise NoteError("bad_key", "the key hash does not match the name and key")


def parse_verifier_key(vkey: str) -> Ed25519Verifier:
    """Parse an Ed25519 (type 0x01) verifier key string."""
    name, kid, material = parse_typed_key(vkey, ED25519, "Ed25519 (0x01)", private=False)
    verifier = Ed25519Verifier(name, material)
    check_key_id(kid, verifier.key_id)
    return verifier


def parse_signer_key(skey: str) -> Ed25519Signer:
    name, kid, material = parse_typed_key(skey, ED25519, "Ed25519 (0x01)", private=True)
    signer = Ed25519Signer(name, material)
    check_key_id(kid, signer.key_id)
    return signer


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes  # the bytes after the key ID

    def line(self) -> str:
        return f"{EM_DASH} {self.name} {b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    text: str  # ends in a newline; excludes the blank separator line
    signatures: tuple[Signature, ...]


@dataclass(frozen=True)
class OpenedNote:
    text: str
    verified: tuple[Signature, ...]
    unverified: tuple[Signature, ...]  # from keys the caller did not give: reported, not trusted


def check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("malformed_note", "the note text does not end in a newline")
    if _CONTROL.search(text):
        raise NoteError("malformed_note", "the note has a control character")


def parse_note(data: bytes) -> Note:
    """Split a signed note into text and signature lines, rejecting anything malformed."""
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("malformed_note", "the note is not valid UTF-8") from None
    if _CONTROL.search(whole):
        raise NoteError("malformed_note", "the note has a control character")
    cut = whole.rfind("\n\n")
    if cut < 0:
        raise NoteError("malformed_note", "no blank line before the signatures")
    text, block = whole[: cut + 1], whole[cut + 2 :]
    if not block.endswith("\n"):
        raise NoteError("malformed_note", "the last signature line does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("malformed_note", f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, 1):
        dash, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if dash != EM_DASH or not encoded:
            raise NoteError("malformed_note", f"signature line {number} is not '— name base64'")
        check_key_name(name)
        raw = strict_b64decode(encoded, f"signature line {number}")
        if len(raw) < 5:
            raise NoteError("malformed_note", f"signature line {number} is too short")
        signatures.append(Signature(name, raw[:4], raw[4:]))
    return Note(text, tuple(signatures))


def format_note(note: Note) -> bytes:
    check_text(note.text)
    return (note.text + "\n" + "".join(s.line() for s in note.signatures)).encode("utf-8")


def sign_note(text: str, *signers: Ed25519Signer) -> bytes:
    check_text(text)
    message = text.encode("utf-8")
    sigs = tuple(Signature(s.name, s.key_id, s.sign(message)) for s in signers)
    if not sigs:
        raise NoteError("malformed_note", "a signed note needs at least one signature")
    return format_note(Note(text, sigs))


def add_signatures(data: bytes, *lines: Signature) -> bytes:
    """Append signature lines to an already signed note (e.g. witness cosignatures)."""
    note = parse_note(data)
    return format_note(Note(note.text, note.signatures + tuple(lines)))


def open_note(data: bytes, verifiers: Sequence[NoteVerifier]) -> OpenedNote:
    """Check a note's signatures against known keys.

    As the spec requires: signatures from unknown keys are ignored (and returned as
    ``unverified``), a known key whose signature fails rejects the whole note, and a note
    with no verified signature is rejected.
    """
    note = parse_note(data)
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for verifier in verifiers:
        slot = (verifier.name, verifier.key_id)
        if slot in known and known[slot] != verifier:
            raise NoteError("ambiguous_key", f"two keys named {verifier.name} share an ID")
        known[slot] = verifier
    message = note.text.encode("utf-8")
    verified: dict[tuple[str, bytes], Signature] = {}
    unverified: list[Signature] = []
    for sig in note.signatures:
        slot = (sig.name, sig.key_id)
        found = known.get(slot)
        if found is None:
            unverified.append(sig)
        elif not found.verify(message, sig.signature):
            raise NoteError("bad_signature", f"the signature by {sig.name} does not verify")
        else:
            verified.setdefault(slot, sig)
    if not verified:
        raise NoteError("no_known_signature", "no signature from a known key")
    return OpenedNote(note.text, tuple(verified.values()), tuple(unverified))
