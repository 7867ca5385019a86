"""Pure extraction: response bytes + media type + a source's rules → normalized text blocks.

``document`` is the entry point; one module per format (``html``, ``pdf``, ``data``)
and the shared text model (``blocks``), charset detection and nesting bounds;
``fingerprint`` and ``reading`` decide "same text" from a parsed page without reading
it. No I/O: bytes come in, blocks go out.
"""
