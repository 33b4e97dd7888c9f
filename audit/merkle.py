"""The Merkle tree of RFC 9162 section 2.1, proofs and their verification.

Leaves are SHA-256(0x00 || entry bytes) and inner nodes SHA-256(0x01 || left || right): the
distinct prefixes stop an inner node from passing as a leaf (a second-preimage attack).
Proofs are generated from a callable giving the hash of a perfect, aligned subtree, so the
same code serves a list in memory and a database that stores subtree hashes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from hashlib import sha256
from typing import Final

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = sha256(b"").digest()  # MTH of the empty tree

# MTH(D[start:end]) where end - start is a power of two and start a multiple of it.
PerfectSubtree = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof that does not verify; ``code`` is stable and machine-readable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def leaf_hash(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def tree_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over a list of leaf hashes, by the streaming builder (O(log n) memory)."""
    builder = RootBuilder()
    for leaf in leaf_hashes:
        builder.append_leaf_hash(leaf)
    return builder.root()


def perfect_subtrees(leaf_hashes: Sequence[bytes]) -> PerfectSubtree:
    """An in-memory PerfectSubtree: every level of the tree, computed once."""
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    def perfect(start: int, end: int) -> bytes:
        width = end - start
        if width <= 0 or width & (width - 1) or start % width:
            raise ValueError(f"[{start}, {end}) is not a perfect aligned subtree")
        level = width.bit_length() - 1
        return levels[level][start >> level]

    return perfect


def subtree_hash(start: int, end: int, perfect: PerfectSubtree) -> bytes:
    """MTH(D[start:end]) for a subtree of the RFC's recursion: start aligned, and end either
    start plus a power of two or the right edge of the tree."""
    width = end - start
    if width & (width - 1) == 0:
        return perfect(start, end)
    k = _split(width)
    return node_hash(perfect(start, start + k), subtree_hash(start + k, end, perfect))


def inclusion_proof(index: int, size: int, perfect: PerfectSubtree) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1, leaf sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not below size {size}")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            proof.append(subtree_hash(start + k, end, perfect))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, perfect))
            start += k
    proof.reverse()
    return proof


def consistency_proof(old_size: int, new_size: int, perfect: PerfectSubtree) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1; empty for m == 0 or m == n."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"sizes {old_size} and {new_size} are not in order")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, end, m, whole = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(subtree_hash(start + k, end, perfect))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, perfect))
            start += k
            m -= k
            whole = False
    if not whole:
        proof.append(subtree_hash(start, end, perfect))
    proof.reverse()
    return proof


def _check_hashes(*hashes: bytes) -> None:
    for value in hashes:
        if len(value) != HASH_SIZE:
            raise ProofError("bad_hash_size", f"a hash has {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof: RFC 9162 section 2.1.3.2, steps 1 to 4."""
    if not 0 <= index < size:
        raise ProofError("index_out_of_range", f"index {index} is not below size {size}")
    _check_hashes(leaf, *proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("proof_too_long", f"{len(proof)} hashes for index {index} of {size}")
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof_too_short", f"{len(proof)} hashes for index {index} of {size}")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless ``proof`` shows ``leaf`` at ``index`` in the tree ``root``."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError("root_mismatch", f"the proof for index {index} leads to another root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 section 2.1.4.2, plus the trivial cases it leaves to the caller: an empty
    old tree is consistent with anything, and equal sizes need equal roots and no proof."""
    _check_hashes(old_root, new_root, *proof)
    if old_size > new_size:
        raise ProofError("size_order", f"old size {old_size} exceeds new size {new_size}")
    if old_size == new_size or old_size == 0:
        if proof:
            raise ProofError("proof_too_long", "this pair of sizes needs an empty proof")
        if old_size == new_size and old_root != new_root:
            raise ProofError("root_mismatch", f"two different roots for size {old_size}")
        return
    if not proof:
        raise ProofError("proof_too_short", "the proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof_too_long", f"{len(proof)} hashes from {old_size} to {new_size}")
        if fn & 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr).digest()
            sr = sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof_too_short", f"{len(proof)} hashes from {old_size} to {new_size}")
    if fr != old_root:
        raise ProofError("root_mismatch", f"the proof does not lead to the root of size {old_size}")
    if sr != new_root:
        raise ProofError("root_mismatch", f"the proof does not lead to the root of size {new_size}")


def perfect_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over a power-of-two number of leaf hashes, level by level (one comprehension per
    level rather than a call per leaf: the verifier hashes every entry's tree this way)."""
    count = len(leaf_hashes)
    if not count or count & (count - 1):
        raise ValueError(f"{count} leaves do not make a perfect tree")
    level = leaf_hashes
    while len(level) > 1:
        pairs = iter(level)  # zip(pairs, pairs) takes them two by two, without copies
        level = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(pairs, pairs, strict=True)
        ]
    return level[0]


# A run of leaves as the perfect, aligned subtrees that cover it, left to right: (height, MTH).
CompactRange = list[tuple[int, bytes]]


def compact_range(leaf_hashes: Sequence[bytes], start: int) -> CompactRange:
    """The leaves ``start`` to ``start + len(leaf_hashes)`` as the largest aligned perfect
    subtrees, left to right: what ``RootBuilder.append_range`` takes, so that a block of the
    log can be hashed on its own (in another process) knowing only where it starts."""
    out: CompactRange = []
    done, count = 0, len(leaf_hashes)
    while done < count:
        at = start + done
        width = 1 << ((count - done).bit_length() - 1)  # the widest that fits
        if at:
            width = min(width, at & -at)  # and that is aligned at ``at``
        out.append((width.bit_length() - 1, perfect_root(leaf_hashes[done : done + width])))
        done += width
    return out


class RootBuilder:
    """Streaming MTH: keeps one hash per set bit of the size (a compact range from 0).

    Leaves come one at a time (``append_entry`` hashes inline, with no objects beyond the
    hashes themselves) or as whole perfect subtrees (``append_subtree``, ``append_range``).
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self.size = 0

    def append_entry(self, entry: bytes) -> bytes:
        """Add a leaf for ``entry`` and return its leaf hash."""
        leaf = h = sha256(b"\x00" + entry).digest()
        stack, n = self._stack, self.size
        while n & 1:  # inlined append_leaf_hash: this runs once per entry
            h = sha256(b"\x01" + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
        self.size += 1
        return leaf

    def append_leaf_hash(self, leaf: bytes) -> None:
        stack, n, h = self._stack, self.size, leaf
        while n & 1:
            h = sha256(b"\x01" + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
        self.size += 1

    def append_subtree(self, height: int, node: bytes) -> None:
        """Add ``2**height`` leaves at once by their MTH; the size must be a multiple of
        ``2**height`` (as it is for each step of a compact range)."""
        if self.size & ((1 << height) - 1):
            raise ValueError(f"a subtree of height {height} cannot start at {self.size}")
        stack, n, h = self._stack, self.size >> height, node
        while n & 1:  # binary addition: merge with the equal subtree on the left, carry
            h = sha256(b"\x01" + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
        self.size += 1 << height

    def append_range(self, subtrees: CompactRange) -> None:
        for height, node in subtrees:
            self.append_subtree(height, node)

    def copy(self) -> RootBuilder:
        other = RootBuilder()
        other._stack, other.size = list(self._stack), self.size
        return other

    def root(self) -> bytes:
        """MTH of everything appended so far."""
        if not self._stack:
            return EMPTY_ROOT
        stack = self._stack
        r = stack[-1]
        for h in reversed(stack[:-1]):
            r = sha256(b"\x01" + h + r).digest()
        return r
