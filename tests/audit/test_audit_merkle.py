from __future__ import annotations

from hashlib import sha256
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    ProofError,
    RootBuilder,
    compact_range,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    perfect_root,
    perfect_subtrees,
    root_from_inclusion_proof,
    subtree_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

# Test vectors from github.com/transparency-dev/merkle, proof/verify_test.go (inherited from
# google/certificate-transparency's merkle_tree_test): eight leaves, the roots of the trees of
# size 1..8, and known inclusion (1-based leaf, size) and consistency (size1, size2) proofs.
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
INCLUSION = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
LEAF_HASHES = [leaf_hash(d) for d in LEAVES]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, written as the recursion it is."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


def reference_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*reference_path(m, leaves[:k]), reference_mth(leaves[k:])]
    return [*reference_path(m - k, leaves[k:]), reference_mth(leaves[:k])]


def reference_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [reference_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*reference_subproof(m, leaves[:k], whole), reference_mth(leaves[k:])]
    return [*reference_subproof(m - k, leaves[k:], False), reference_mth(leaves[:k])]


def leaves_of(size: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]


TREE = leaves_of(300)
PERFECT = perfect_subtrees(TREE)


def test_published_roots() -> None:
    assert tree_root([]) == EMPTY_ROOT == sha256(b"").digest()
    for size in range(1, 9):
        assert tree_root(LEAF_HASHES[:size]) == ROOTS[size - 1]


def test_published_inclusion_proofs() -> None:
    perfect = perfect_subtrees(LEAF_HASHES)
    for leaf, size, hexes in INCLUSION:
        proof = [bytes.fromhex(h) for h in hexes]
        assert inclusion_proof(leaf - 1, size, perfect) == proof
        verify_inclusion(leaf - 1, size, LEAF_HASHES[leaf - 1], proof, ROOTS[size - 1])


def test_published_consistency_proofs() -> None:
    perfect = perfect_subtrees(LEAF_HASHES)
    for size1, size2, hexes in CONSISTENCY:
        proof = [bytes.fromhex(h) for h in hexes]
        assert consistency_proof(size1, size2, perfect) == proof
        verify_consistency(size1, size2, ROOTS[size1 - 1], ROOTS[size2 - 1], proof)


def test_published_inclusion_proofs_reject_corruption() -> None:
    for leaf, size, hexes in INCLUSION[1:]:
        proof = [bytes.fromhex(h) for h in hexes]
        index, root, good = leaf - 1, ROOTS[size - 1], LEAF_HASHES[leaf - 1]
        bad_cases = [
            (index + 1, size, good, proof, root),
            (index ^ 2, size, good, proof, root),
            (index, size * 2, good, proof, root),
            (index, size // 2, good, proof, root),
            (index, size, SOME_HASH, proof, root),
            (index, size, good, proof, EMPTY_ROOT),
            (index, size, good, [*proof, root], root),
            (index, size, good, [root, *proof], root),
            (index, size, good, proof[:-1], root),
        ]
        if index:
            bad_cases.append((index - 1, size, good, proof, root))
        for case in bad_cases:
            with pytest.raises(ProofError):
                verify_inclusion(*case)


def test_inclusion_edge_cases() -> None:
    one = leaf_hash(b"data")
    verify_inclusion(0, 1, one, [], one)
    for index, size in [(0, 0), (1, 0), (2, 1), (-1, 4)]:
        with pytest.raises(ProofError) as err:
            verify_inclusion(index, size, one, [], one)
        assert err.value.code == "index_out_of_range"
    with pytest.raises(ProofError, match="bad_hash_size"):
        verify_inclusion(0, 1, b"", [], one)
    with pytest.raises(ProofError, match="bad_hash_size"):
        verify_inclusion(0, 2, one, [b"short"], one)
    with pytest.raises(ValueError):
        inclusion_proof(5, 5, PERFECT)


def test_consistency_edge_cases() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, a, b, [])  # the empty tree is a prefix of every tree
    verify_consistency(3, 3, a, a, [])
    cases = [
        (3, 3, a, b, [], "root_mismatch"),
        (3, 3, a, a, [a], "proof_too_long"),
        (0, 1, a, a, [a], "proof_too_long"),
        (2, 1, a, b, [], "size_order"),
        (1, 2, a, b, [], "proof_too_short"),
    ]
    for old, new, r1, r2, proof, code in cases:
        with pytest.raises(ProofError) as err:
            verify_consistency(old, new, r1, r2, proof)
        assert err.value.code == code
    with pytest.raises(ValueError):
        consistency_proof(5, 4, PERFECT)
    assert consistency_proof(0, 9, PERFECT) == [] == consistency_proof(9, 9, PERFECT)


def test_perfect_subtrees_refuses_other_ranges() -> None:
    for start, end in [(0, 3), (1, 3), (2, 2), (5, 4)]:
        with pytest.raises(ValueError):
            PERFECT(start, end)


def test_roots_match_the_rfc_recursion_for_every_size_below_300() -> None:
    builder = RootBuilder()
    assert builder.root() == EMPTY_ROOT
    for size in range(1, 300):
        builder.append_leaf_hash(TREE[size - 1])
        expected = reference_mth(TREE[:size])
        assert builder.root() == expected
        assert subtree_hash(0, size, PERFECT) == expected


def test_proofs_match_the_rfc_recursion_up_to_64() -> None:
    for size in range(1, 65):
        for m in range(size):
            assert inclusion_proof(m, size, PERFECT) == reference_path(m, TREE[:size])
        for m in range(1, size + 1):
            expected = reference_subproof(m, TREE[:size], True)
            assert consistency_proof(m, size, PERFECT) == expected


def test_every_inclusion_proof_below_300_verifies() -> None:
    for size in range(1, 300):
        root = subtree_hash(0, size, PERFECT)
        for index in range(size):
            proof = inclusion_proof(index, size, PERFECT)
            assert root_from_inclusion_proof(index, size, TREE[index], proof) == root


def test_every_consistency_proof_below_300_verifies() -> None:
    roots = [EMPTY_ROOT] + [subtree_hash(0, n, PERFECT) for n in range(1, 300)]
    for new in range(1, 300):
        for old in range(1, new + 1):
            proof = consistency_proof(old, new, PERFECT)
            verify_consistency(old, new, roots[old], roots[new], proof)


def tampered(proof: list[bytes], how: int, data: st.DataObject) -> list[bytes]:
    """Pad, cut short, flip a bit in, or reorder a proof."""
    if how == 0:
        at = data.draw(st.integers(0, len(proof)))
        return [*proof[:at], SOME_HASH, *proof[at:]]
    at = data.draw(st.integers(0, len(proof) - 1))
    if how == 1:
        return proof[:at] + proof[at + 1 :]
    if how == 2:
        flipped = bytearray(proof[at])
        flipped[data.draw(st.integers(0, 31))] ^= 1 << data.draw(st.integers(0, 7))
        return [*proof[:at], bytes(flipped), *proof[at + 1 :]]
    return [*proof[1:], proof[0]]


@settings(max_examples=250, deadline=None)
@given(size=st.integers(1, 299), data=st.data())
def test_tampered_inclusion_proofs_are_rejected(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, PERFECT)
    root = subtree_hash(0, size, PERFECT)
    kinds = [0] if not proof else [0, 1, 2] + ([3] if [*proof[1:], proof[0]] != proof else [])
    bad = tampered(proof, data.draw(st.sampled_from(kinds)), data)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, TREE[index], bad, root)
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index)) if size > 1 else None
    if other is not None:  # the right proof at the wrong index
        with pytest.raises(ProofError):
            verify_inclusion(other, size, TREE[index], proof, root)


@settings(max_examples=250, deadline=None)
@given(new=st.integers(2, 299), data=st.data())
def test_tampered_consistency_proofs_are_rejected(new: int, data: st.DataObject) -> None:
    old = data.draw(st.integers(1, new - 1))
    proof = consistency_proof(old, new, PERFECT)
    r1, r2 = subtree_hash(0, old, PERFECT), subtree_hash(0, new, PERFECT)
    kinds = [0, 1, 2] + ([3] if [*proof[1:], proof[0]] != proof else [])
    bad = tampered(proof, data.draw(st.sampled_from(kinds)), data)
    with pytest.raises(ProofError):
        verify_consistency(old, new, r1, r2, bad)
    with pytest.raises(ProofError):
        verify_consistency(old, new, r2, r1, proof)


def test_padded_and_cut_proofs_are_rejected_exhaustively_up_to_64() -> None:
    for size in range(1, 65):
        root = subtree_hash(0, size, PERFECT)
        for index in range(size):
            proof = inclusion_proof(index, size, PERFECT)
            for bad in ([*proof, SOME_HASH], [SOME_HASH, *proof], proof[:-1] if proof else None):
                if bad is None:
                    continue
                with pytest.raises(ProofError):
                    verify_inclusion(index, size, TREE[index], bad, root)
        for old in range(1, size):
            proof = consistency_proof(old, size, PERFECT)
            r1 = subtree_hash(0, old, PERFECT)
            for bad in ([*proof, SOME_HASH], proof[:-1], [SOME_HASH, *proof]):
                with pytest.raises(ProofError):
                    verify_consistency(old, size, r1, root, bad)


def test_an_inner_node_cannot_pass_as_a_leaf() -> None:
    # Without the 0x00/0x01 prefixes, the 64 bytes left||right "as an entry" would hash to
    # the inner node, so a two-leaf subtree could be shown as one leaf of a smaller tree.
    left, right = TREE[0], TREE[1]
    inner = node_hash(left, right)
    root4 = subtree_hash(0, 4, PERFECT)
    assert leaf_hash(left + right) != inner
    with pytest.raises(ProofError):
        verify_inclusion(0, 2, leaf_hash(left + right), [PERFECT(2, 4)], root4)
    # The inner node itself, claimed as the leaf at index 0 of the real tree, fails too.
    with pytest.raises(ProofError):
        verify_inclusion(0, 4, inner, [PERFECT(2, 4)], root4)


def test_root_builder_returns_leaf_hashes() -> None:
    builder = RootBuilder()
    assert builder.append_entry(b"x") == leaf_hash(b"x")
    assert builder.size == 1
    assert builder.root() == leaf_hash(b"x")


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, 299), max_size=6), size=st.integers(0, 299))
def test_blocks_hashed_apart_fold_into_the_same_roots(cuts: list[int], size: int) -> None:
    """The verifier's workers hash blocks of the log knowing only where each starts; their
    compact ranges must fold into the root of the whole, and of every prefix."""
    edges = sorted({0, size, *(c for c in cuts if c < size)})
    builder = RootBuilder()
    for start, end in pairwise(edges):
        block = TREE[start:end]
        for inner in range(start + 1, end + 1):
            partial = builder.copy()
            partial.append_range(compact_range(block[: inner - start], start))
            assert partial.size == inner and partial.root() == reference_mth(TREE[:inner])
        builder.append_range(compact_range(block, start))
    assert builder.size == size and builder.root() == (
        reference_mth(TREE[:size]) if size else EMPTY_ROOT
    )


def test_compact_ranges_are_aligned_perfect_subtrees() -> None:
    assert [h for h, _ in compact_range(TREE[3:16], 3)] == [0, 2, 3]  # 3, 4-7, 8-15
    assert compact_range(TREE[3:16], 3)[1][1] == PERFECT(4, 8)
    assert compact_range([], 5) == []
    for count in (0, 3, 6):
        with pytest.raises(ValueError):
            perfect_root(TREE[:count])
    builder = RootBuilder()
    builder.append_leaf_hash(TREE[0])
    with pytest.raises(ValueError):
        builder.append_subtree(1, PERFECT(2, 4))  # two leaves cannot start at 1
