"""One check of one source: observe the page, then the pure core, then record.

``pipeline`` loads state, asks ``classify.decide`` and appends the events; ``observe``
looks at the page — ``fetch`` (aiohttp; politeness in ``hosts`` and ``robots``) or
``browser`` (Playwright; one page in ``browser_page``) — and ``capture`` is the record
kept of it. ``netpolicy`` says which addresses they may reach. ``reader`` reads
fetched bodies into text — or finds from a fingerprint (``monitor.extract.fingerprint``)
that the text is the last good one without reading it — inline or in ``pool``'s worker
processes.
"""
