"""PDF → text pieces with pypdf: a ``page`` marker, then that page's lines.

Pure (the bytes are read from memory). Slow compared with HTML — seconds for a
long report — so the pipeline runs it off the event loop; nothing here assumes
the fast path. A PDF that cannot be read (broken, or encrypted with a real
password) yields no pieces: an empty text that the classifier reports as a
suspect capture instead of a change. A PDF encrypted with an empty user
password (owner-password only, common for reports) is read normally.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.extract.blocks import Piece, normalize_text

if TYPE_CHECKING:
    from pypdf import PdfReader

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PdfDraft:
    """What a PDF yields before ``ignore``."""

    pieces: list[Piece]
    title: str | None


def extract_pdf(body: bytes) -> PdfDraft:
    """Pieces of every page of the PDF in ``body``; none if it cannot be read."""
    # pypdf on the first PDF only: ~12 MB and a quarter second that a monitor of HTML
    # pages, and every start of the CLI, would otherwise pay.
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted and not reader.decrypt(""):
            log.warning("PDF is encrypted with a password; no text extracted")
            return PdfDraft([], None)
        pieces: list[Piece] = []
        for number, page in enumerate(reader.pages, start=1):
            pieces.append(("page", f"page {number}"))
            for line in (page.extract_text() or "").splitlines():
                text = normalize_text(line)
                if text:
                    pieces.append(("p", text))
        title = _title(reader)
    except Exception as exc:  # pypdf raises many types on hostile input; all mean "unreadable"
        log.warning("unreadable PDF (%s: %s); no text extracted", type(exc).__name__, exc)
        return PdfDraft([], None)
    return PdfDraft(pieces, title)


def _title(reader: PdfReader) -> str | None:
    metadata = reader.metadata
    raw = metadata.title if metadata is not None else None
    title = normalize_text(str(raw)) if raw else ""
    return title or None
