"""Discovery: the documents a company publishes next to the pages we watch.

One job: read the lists a site keeps of its documents (a sitemap, a sitemap
index, a ``.xml.gz``, or an HTML index page whose links are the documents) for
each ``[[discover]]`` entry, and record what appears and what leaves, on the
entry's own stream ``$discover:<id>``:

* the first pass records ``DiscoveryBaselined`` (what was already listed, no
  alert); afterwards a new matching URL is one ``SourceDiscovered`` (alerted like
  a change, its severity from the rules its title and link text match) and a URL
  that leaves the list one ``SourceUnlisted``;
* with ``watch = true`` a discovered URL is registered as a source
  (``SourceRegistered`` naming the entry, settings from ``[discover.source]``), at
  most ``max_new`` per pass; the rest wait for ``monitor discover --accept``;
* discovery never fetches the discovered pages themselves: the checks do, and
  only for the sources ``watch`` (or a review) registered.

Modules: ``config`` (the ``[[discover]]`` table), ``state`` (the pure fold of an
entry's stream), ``decide`` (pure: a listing and a state → events), ``listing``
(pure, bounded: sitemap XML, gzip, index pages → entries), ``runner`` (the I/O
shell: conditional GET, the size and count limits, index loops), ``sources``
(pure: the sources discovery registered, as settings).

May import: ``events``, ``config``, ``core``, ``diff``, ``errors``; only ``runner``
(the shell) imports ``check`` (the fetcher and the check runner) and a store.
"""

from __future__ import annotations

STREAM_PREFIX = "$discover:"


def stream_of(discover_id: str) -> str:
    """The log stream of one ``[[discover]]`` entry."""
    return STREAM_PREFIX + discover_id


def discover_id_of(stream: str) -> str | None:
    """The entry id of a discovery stream, or None for any other stream."""
    return stream[len(STREAM_PREFIX) :] if stream.startswith(STREAM_PREFIX) else None
