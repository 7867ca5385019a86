"""Evidence that stands up outside the monitor's own machine.

One job per module: ``home`` (where a log's key and checkpoint journals live),
``timestamps`` (RFC 3161 tokens over checkpoints), ``identity`` (the server a capture
came from), ``wacz`` (a WACZ 1.1 package of the captures) and ``wayback`` (asking
the Internet Archive for a capture of its own). The hash chain, checkpoints and
exports they build on are ``monitor.checkpoint``, ``monitor.verify`` and
``monitor.export``.
"""
