"""The RFC 6962 / RFC 9162 Merkle tree over the event log. Pure: no I/O.

Leaves are the events in seq order; the leaf *data* of an event is the 32 raw
bytes of its chain hash, so leaf ``i`` (0-based) is the event at seq ``i + 1``::

    leaf_hash(d)    = SHA-256(0x00 || d)
    node_hash(l, r) = SHA-256(0x01 || l || r)
    MTH({})         = SHA-256("")
    MTH(D[n])       = node_hash(MTH(D[0:k]), MTH(D[k:n]))   k = largest power of 2 < n

Inclusion and consistency proofs and their verification follow RFC 9162
§2.1.3 and §2.1.4 step by step, so any independent RFC implementation (a
Certificate Transparency library, or the few lines of Python in an export's
``VERIFY.md``) checks them the same way.

Two builders share the same arithmetic:

* ``MerkleTree`` keeps every complete subtree hash (about 2 hashes per leaf) and
  answers roots, inclusion and consistency proofs for any earlier size in
  O(log n) hash lookups — used to write proofs into exports and evidence.
* ``CompactTree`` keeps only the O(log n) perfect subtrees on the right edge:
  the root of everything fed so far, in constant memory — used to sign checkpoints
  while following the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf's data (domain-separated from inner nodes by 0x00)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node (prefix 0x01), so a leaf can never pose as a node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def event_leaf(event_hash: str) -> bytes:
    """The leaf hash of an event: its 64-hex chain hash, as 32 raw bytes, hashed as a leaf."""
    return leaf_hash(bytes.fromhex(event_hash))


def _largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _fold_right(peaks: Sequence[bytes]) -> bytes:
    """The root of a tree given its perfect subtrees, largest (leftmost) first.

    MTH(D[n]) splits off the largest perfect subtree on the left and recurses on the
    rest, which is exactly a right fold over the subtrees named by n's binary digits.
    """
    if not peaks:
        return EMPTY_ROOT
    acc = peaks[-1]
    for peak in reversed(peaks[:-1]):
        acc = node_hash(peak, acc)
    return acc


class CompactTree:
    """The root of a growing tree in O(log n) memory: only the right-edge perfect subtrees."""

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[bytes] = []  # perfect subtree roots, largest first

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash (already ``leaf_hash``ed)."""
        self._peaks.append(leaf)
        self.size += 1
        # Each trailing 1-bit of the new size merges two equal perfect subtrees.
        size = self.size
        while size & 1 == 0:
            right = self._peaks.pop()
            left = self._peaks.pop()
            self._peaks.append(node_hash(left, right))
            size >>= 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        return _fold_right(self._peaks)


class MerkleTree:
    """A tree that remembers every complete subtree, for roots and proofs at any size."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        # levels[h][j] is the root of the perfect subtree of 2**h leaves starting at j * 2**h.
        self._levels: list[list[bytes]] = [[]]
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash (already ``leaf_hash``ed)."""
        self._levels[0].append(leaf)
        height = 0
        while len(self._levels[height]) % 2 == 0:
            level = self._levels[height]
            parent = node_hash(level[-2], level[-1])
            if height + 1 == len(self._levels):
                self._levels.append([])
            self._levels[height + 1].append(parent)
            height += 1

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all of them)."""
        n = self.size if size is None else size
        self._check_size(n)
        return self._subtree(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(m, D[n]) of RFC 9162 §2.1.3.1 for leaf ``index`` in the tree of ``size``."""
        n = self.size if size is None else size
        self._check_size(n)
        if not 0 <= index < n:
            raise ValueError(f"leaf index {index} is outside a tree of size {n}")
        return self._path(index, 0, n)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(m, D[n]) of RFC 9162 §2.1.4.1: the tree of ``old_size`` is a prefix."""
        n = self.size if new_size is None else new_size
        self._check_size(n)
        if not 0 < old_size <= n:
            raise ValueError(f"old size {old_size} must be between 1 and the new size {n}")
        return self._subproof(old_size, 0, n, True)

    # ------------------------------------------------------------------ internals

    def _check_size(self, n: int) -> None:
        if not 0 <= n <= self.size:
            raise ValueError(f"tree size {n} is outside 0..{self.size}")

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]): a stored perfect subtree when aligned, else split as in §2.1.1."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            height = n.bit_length() - 1
            return self._levels[height][start >> height]
        k = _largest_power_of_two_below(n)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        # PATH(m, D[n]) over D[start:end], with m relative to start.
        n = end - start
        if n == 1:
            return []
        k = _largest_power_of_two_below(n)
        if m < k:
            return [*self._path(m, start, start + k), self._subtree(start + k, end)]
        return [*self._path(m - k, start + k, end), self._subtree(start, start + k)]

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        # SUBPROOF(m, D[n], b) over D[start:end].
        n = end - start
        if m == n:
            return [] if whole else [self._subtree(start, end)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, whole), self._subtree(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._subtree(start, start + k)]


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes."""
    tree = CompactTree()
    tree.extend(leaves)
    return tree.root()


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root that ``proof`` leads to from ``leaf``, or None if the proof's shape is wrong.

    RFC 9162 §2.1.3.2, steps 1-5, verbatim.
    """
    if index >= size or index < 0:
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size``/``root``."""
    return root_from_inclusion(leaf, index, size, proof) == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff ``proof`` shows the tree ``old_size``/``old_root`` is a prefix of the new one.

    RFC 9162 §2.1.4.2, steps 1-7, verbatim; equal sizes (which the RFC leaves to the
    caller) need an empty proof and equal roots.
    """
    if old_size < 1 or old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:  # step 1
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)  # step 2: old_size is a power of two
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:  # steps 3-4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
