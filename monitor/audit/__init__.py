"""What an auditor relies on: Merkle tree, signed checkpoints, verify, replay, export, evidence.

Reads the store and blobs; never fetches, diffs again or notifies. ``merkle`` is pure.

The log's own proof: ``merkle``, ``checkpoint`` (signed checkpoints, the journal) and
``key_files`` (the signing key on disk); ``verify`` (the hash chain), ``checkpoint_audit``
(checkpoints against the log) and ``findings`` (what every verifier reports);
``replay``; ``export`` / ``export_verify`` / ``export_readme`` (the auditor's bundle,
its check, its VERIFY.md); ``warc`` (WARC records of captures, for the bundle and the
WACZ); ``evidence`` / ``evidence_text`` (one change's folder and its words).

Evidence that stands up outside the monitor's own machine: ``home`` (where a log's key
and checkpoint journals live), ``timestamps`` (RFC 3161 tokens over checkpoints, pure),
``stamper`` / ``stamp_audit`` (asking TSAs, checking their tokens), ``identity`` (the
server a capture came from), ``wacz`` / ``wacz_verify`` (WACZ packages of the captures
and their checks), ``wayback`` (asking the Internet Archive for a capture of its own),
``outbound`` (what the stamper and the archiver share) and ``service`` (the daemon's
tasks for time stamps and Save Page Now). The stamper and the archiver are the
exceptions to "never fetches": they talk to third parties the configuration names.
"""
