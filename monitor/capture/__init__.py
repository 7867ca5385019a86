"""Turning a response into a capture cheaply: same-text fingerprints and their markers.

``fingerprint`` (pure) decides from a parsed, pruned HTML tree, in C, whether a
page's text is one seen before; ``memo`` remembers which fingerprints go with a
source's last good text, in memory and as marker blobs in the store, so that a
check of a page whose bytes changed but whose text did not skips reading the
text — and records exactly what reading it would have.
"""
