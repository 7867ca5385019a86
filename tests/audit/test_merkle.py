"""The Merkle tree follows RFC 9162 §2.1: roots, inclusion and consistency proofs.

Expected values are computed here by brute force straight from the RFC's recursive
definitions (MTH, PATH, SUBPROOF), independently of ``monitor.audit.merkle``'s
level-table and right-fold implementation, and cross-checked with the published
Certificate Transparency test vectors.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.audit.merkle import (
    EMPTY_ROOT,
    CompactTree,
    MerkleTree,
    event_leaf,
    leaf_hash,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)

# ---------------------------------------------------------------- the RFC, by brute force


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def k_of(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(data: list[bytes]) -> bytes:
    if not data:
        return sha(b"")
    if len(data) == 1:
        return sha(b"\x00" + data[0])
    k = k_of(len(data))
    return sha(b"\x01" + mth(data[:k]) + mth(data[k:]))


def path(m: int, data: list[bytes]) -> list[bytes]:
    if len(data) == 1:
        return []
    k = k_of(len(data))
    if m < k:
        return [*path(m, data[:k]), mth(data[k:])]
    return [*path(m - k, data[k:]), mth(data[:k])]


def subproof(m: int, data: list[bytes], whole: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if whole else [mth(data)]
    k = k_of(n)
    if m <= k:
        return [*subproof(m, data[:k], whole), mth(data[k:])]
    return [*subproof(m - k, data[k:], False), mth(data[:k])]


def leaves_data(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


def tree_of(data: list[bytes]) -> MerkleTree:
    return MerkleTree(leaf_hash(d) for d in data)


# ---------------------------------------------------------------- known vectors

# The eight leaves and roots of the Certificate Transparency reference test data
# (RFC 6962 implementations: certificate-transparency-go, merkle/testonly).
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_certificate_transparency_vectors(size: int) -> None:
    tree = tree_of(CT_LEAVES)
    assert tree.root(size).hex() == CT_ROOTS[size - 1]
    assert mth(CT_LEAVES[:size]).hex() == CT_ROOTS[size - 1]


def test_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert MerkleTree().root() == EMPTY_ROOT == sha(b"")
    assert CompactTree().root() == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    """A leaf whose data is two hashes never collides with the node over them."""
    a, b = sha(b"a"), sha(b"b")
    tree = MerkleTree([leaf_hash(a), leaf_hash(b)])
    assert tree.root() != leaf_hash(a + b)
    assert event_leaf(a.hex()) == sha(b"\x00" + a)


# ---------------------------------------------------------------- tables against brute force


@pytest.mark.parametrize("n", range(0, 34))
def test_root_of_every_prefix_equals_the_rfc_definition(n: int) -> None:
    data = leaves_data(33)
    tree = tree_of(data)
    compact = CompactTree()
    compact.extend(leaf_hash(d) for d in data[:n])
    assert tree.root(n) == mth(data[:n])
    assert compact.root() == mth(data[:n])
    assert compact.size == n


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33])
def test_inclusion_proofs_equal_path_and_verify(n: int) -> None:
    data = leaves_data(40)
    tree = tree_of(data)
    root = mth(data[:n])
    for m in range(n):
        proof = tree.inclusion_proof(m, n)
        assert proof == path(m, data[:n])
        assert verify_inclusion(leaf_hash(data[m]), m, n, proof, root)
        assert root_from_inclusion(leaf_hash(data[m]), m, n, proof) == root


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 32, 33])
def test_consistency_proofs_equal_subproof_and_verify(n: int) -> None:
    data = leaves_data(40)
    tree = tree_of(data)
    for m in range(1, n + 1):
        proof = tree.consistency_proof(m, n)
        assert proof == subproof(m, data[:n], True)
        assert verify_consistency(m, n, mth(data[:m]), mth(data[:n]), proof)


def test_rfc_example_proofs_have_the_documented_shape() -> None:
    """RFC 9162 §2.1.5: the tree of 7 leaves a..g."""
    data = [bytes([c]) for c in b"abcdefg"]
    tree = tree_of(data)
    # Inclusion of d (index 3) is [c, g(a,b), h(e,f,g)] — leaf c, node over a b, node i.
    assert tree.inclusion_proof(3, 7) == [
        leaf_hash(b"c"),
        mth(data[0:2]),
        mth(data[4:7]),
    ]
    # Consistency from 3 leaves to 7 is [c, d, g, l] in the RFC's naming.
    assert tree.consistency_proof(3, 7) == [
        leaf_hash(b"c"),
        leaf_hash(b"d"),
        mth(data[0:2]),
        mth(data[4:7]),
    ]
    # From 4 (a power of two) the old root itself is left out of the proof.
    assert tree.consistency_proof(4, 7) == [mth(data[4:7])]


# ---------------------------------------------------------------- rejection


def test_inclusion_rejects_wrong_leaf_index_size_root_or_path() -> None:
    data = leaves_data(11)
    tree = tree_of(data)
    root = tree.root()
    proof = tree.inclusion_proof(6)
    leaf = leaf_hash(data[6])
    assert verify_inclusion(leaf, 6, 11, proof, root)
    assert not verify_inclusion(leaf_hash(b"forged"), 6, 11, proof, root)
    assert not verify_inclusion(leaf, 5, 11, proof, root)
    # A proof of another shape fails (sizes 12-16 share this proof's shape: the signed
    # root, not the path, binds the size).
    for size in (7, 8, 17, 32):
        assert not verify_inclusion(leaf, 6, size, proof, root)
    assert not verify_inclusion(leaf, 6, 11, proof, tree.root(10))
    assert not verify_inclusion(leaf, 6, 11, proof[:-1], root)
    assert not verify_inclusion(leaf, 6, 11, [*proof, proof[0]], root)
    assert not verify_inclusion(leaf, 11, 11, proof, root)
    flipped = bytes([proof[1][0] ^ 1]) + proof[1][1:]
    assert not verify_inclusion(leaf, 6, 11, [proof[0], flipped, *proof[2:]], root)


def test_consistency_rejects_a_rewritten_history() -> None:
    data = leaves_data(12)
    tree = tree_of(data)
    proof = tree.consistency_proof(5, 12)
    assert verify_consistency(5, 12, tree.root(5), tree.root(), proof)
    rewritten = tree_of([*data[:3], b"rewritten", *data[4:]])
    assert not verify_consistency(5, 12, tree.root(5), rewritten.root(), proof)
    assert not verify_consistency(
        5, 12, tree.root(5), rewritten.root(), rewritten.consistency_proof(5, 12)
    )
    assert not verify_consistency(5, 12, tree.root(5), tree.root(), proof[:-1])
    assert not verify_consistency(5, 12, tree.root(5), tree.root(), [])
    assert not verify_consistency(6, 5, tree.root(6), tree.root(5), proof)
    assert not verify_consistency(0, 5, EMPTY_ROOT, tree.root(5), proof)
    # Equal sizes: only the empty proof and equal roots.
    assert verify_consistency(12, 12, tree.root(), tree.root(), [])
    assert not verify_consistency(12, 12, tree.root(), rewritten.root(), [])


def test_proof_requests_outside_the_tree_are_refused() -> None:
    tree = tree_of(leaves_data(4))
    with pytest.raises(ValueError, match="outside"):
        tree.inclusion_proof(4)
    with pytest.raises(ValueError, match="outside"):
        tree.root(5)
    with pytest.raises(ValueError, match="between 1"):
        tree.consistency_proof(0, 4)


# ---------------------------------------------------------------- properties


@settings(deadline=None)  # brute force is slow on a busy machine; no timing is tested
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_any_tree_proves_any_leaf_and_any_prefix(data: list[bytes], draw: st.DataObject) -> None:
    tree = tree_of(data)
    n = draw.draw(st.integers(1, len(data)))
    m = draw.draw(st.integers(0, n - 1))
    old = draw.draw(st.integers(1, n))
    assert tree.root(n) == mth(data[:n])
    assert verify_inclusion(leaf_hash(data[m]), m, n, tree.inclusion_proof(m, n), mth(data[:n]))
    assert verify_consistency(
        old, n, mth(data[:old]), mth(data[:n]), tree.consistency_proof(old, n)
    )


@settings(deadline=None)
@given(st.lists(st.binary(max_size=4), min_size=2, max_size=40), st.data())
def test_changing_any_leaf_breaks_every_proof_that_covers_it(
    data: list[bytes], draw: st.DataObject
) -> None:
    n = len(data)
    victim = draw.draw(st.integers(0, n - 1))
    m = draw.draw(st.integers(0, n - 1))
    tampered = list(data)
    tampered[victim] = data[victim] + b"!"
    honest = tree_of(data)
    assert tree_of(tampered).root() != honest.root()
    proof = tree_of(tampered).inclusion_proof(m)
    assert not verify_inclusion(leaf_hash(tampered[m]), m, n, proof, honest.root())
