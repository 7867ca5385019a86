"""One check of one source: fetch (aiohttp) or render (Playwright), then the pure core.

``fetch`` and ``browser`` are the network edges (``netpolicy`` says which addresses
they may reach); ``pipeline`` loads state, runs extract → diff → classify and appends
the resulting events to the store. ``reader`` reads fetched bodies into text — or
finds from a fingerprint (``monitor.extract.fingerprint``) that the text is the last
good one without reading it — inline or in ``pool``'s worker processes.
"""
