"""Pure extraction: response bytes + media type + a source's rules → normalized text blocks.

``document`` is the entry point; one module per format (``html``, ``pdf``, ``data``)
and the shared text model (``blocks``), charset detection and nesting bounds.
No I/O: bytes come in, blocks go out.
"""
