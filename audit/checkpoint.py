"""C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint), signed as notes.

The body is the origin line, the tree size in decimal, the base64 root hash, then optional
non-empty extension lines, each ending in a newline. A Yishi log's origin is
``<host>/c/<community slug>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from audit.merkle import HASH_SIZE
from audit.note import (
    Ed25519Signer,
    NoteError,
    NoteVerifier,
    OpenedNote,
    b64,
    open_note,
    parse_note,
    sign_note,
    strict_b64decode,
)

_SIZE = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """The note text, ending in a newline."""
        if not self.origin or "\n" in self.origin:
            raise NoteError("malformed_checkpoint", "the origin is empty or spans lines")
        if self.size < 0 or len(self.root_hash) != HASH_SIZE:
            raise NoteError("malformed_checkpoint", "bad size or root hash")
        if any(not line or "\n" in line for line in self.extensions):
            raise NoteError("malformed_checkpoint", "extension lines are single, non-empty lines")
        lines = [self.origin, str(self.size), b64(self.root_hash), *self.extensions]
        return "\n".join(lines) + "\n"


def community_origin(host: str, slug: str) -> str:
    return f"{host}/c/{slug}"


def origin_slug(origin: str) -> str | None:
    """The community slug of a ``<host>/c/<slug>`` origin, or None if it has another form."""
    host, sep, slug = origin.rpartition("/c/")
    if not sep or not host or not slug or "/" in slug:
        return None
    return slug


def parse_checkpoint(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise NoteError("malformed_checkpoint", "the checkpoint does not end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("malformed_checkpoint", "a checkpoint has at least three lines")
    if any(not line for line in lines):
        raise NoteError("malformed_checkpoint", "a checkpoint line is empty")
    origin, size, root, *extensions = lines
    if not _SIZE.fullmatch(size):
        raise NoteError("malformed_checkpoint", f"tree size {size!r} is not a plain decimal")
    root_hash = strict_b64decode(root, "the root hash")
    if len(root_hash) != HASH_SIZE:
        raise NoteError("malformed_checkpoint", f"the root hash has {len(root_hash)} bytes")
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, *signers: Ed25519Signer) -> bytes:
    return sign_note(checkpoint.body(), *signers)


def read_checkpoint(data: bytes) -> Checkpoint:
    """Parse a signed checkpoint without checking any signature."""
    return parse_checkpoint(parse_note(data).text)


def open_checkpoint(
    data: bytes, verifiers: Sequence[NoteVerifier]
) -> tuple[Checkpoint, OpenedNote]:
    """Verify a signed checkpoint against the given keys and parse its body."""
    opened = open_note(data, verifiers)
    return parse_checkpoint(opened.text), opened
