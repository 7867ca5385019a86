"""What an auditor relies on: Merkle tree, signed checkpoints, verify, replay, export, evidence.

Reads the store and blobs; never fetches, diffs again or notifies. ``merkle`` is pure.
"""
