"""What an auditor relies on: Merkle tree, signed checkpoints, verify, replay, export, evidence.

Reads the store and blobs; never fetches, diffs again or notifies. ``merkle`` is pure.

Evidence that stands up outside the monitor's own machine: ``home`` (where a log's key
and checkpoint journals live), ``timestamps`` (RFC 3161 tokens over checkpoints, pure),
``stamper`` / ``stamp_audit`` (asking TSAs, checking their tokens), ``identity`` (the
server a capture came from), ``wacz`` / ``wacz_verify`` (WACZ packages of the captures
and their checks), ``wayback`` (asking the Internet Archive for a capture of its own)
and ``service`` (the daemon's tasks for time stamps and Save Page Now). The stamper and
the archiver are the exceptions to "never fetches": they talk to third parties the
configuration names.
"""
