"""Pure: links to documents — which links are documents, and what a change did to them.

A *document* is a link to a file a report is published as (PDF, spreadsheet,
CSV, Word, archive …) or to a page whose path says it is a report
(``…/transparency-report/2019``). With ``watch_links = "documents"`` a source's
text keeps the target of those links only (``text <url>``, as
``watch_links = true`` does for every link), so adding or removing a report
is a change of the text and is alerted, while navigation links stay out.

``link_changes`` reads a recorded diff and lists the documents a change added
or removed: ``link removed: Transparency Report 2019 (PDF)``. Without
``watch_links`` the targets are not in the text, so for a change of an HTML page
the pipeline compares the document links of the two captures
(``document_links``, ``documents_diff``) and records them with the diff under
``documents``; ``link_changes`` reads both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from selectolax.lexbor import LexborHTMLParser

from monitor.extract.blocks import Piece
from monitor.extract.charset import decode
from monitor.extract.links import clean_url

DOCUMENT_KINDS = {
    ".pdf": "PDF",
    ".csv": "CSV",
    ".tsv": "TSV",
    ".xls": "Excel",
    ".xlsx": "Excel",
    ".ods": "spreadsheet",
    ".doc": "Word",
    ".docx": "Word",
    ".odt": "document",
    ".rtf": "document",
    ".json": "JSON",
    ".zip": "ZIP",
    ".txt": "text",
}
_REPORT_PATH = re.compile(r"report|transparen|disclosure", re.IGNORECASE)
# A link target as the extractor writes it after the link's text: " <https://…>".
LINK = re.compile(r" ?<(https?://[^\s<>]+)>")
_LABEL_CHARS = 80


def document_kind(url: str) -> str | None:
    """ "PDF", "CSV" … for a document link, "report page" for a report's page, else None."""
    try:
        path = unquote(urlsplit(url).path)
    except ValueError:
        return None
    lowered = path.lower()
    for suffix, kind in DOCUMENT_KINDS.items():
        if lowered.endswith(suffix):
            return kind
    return "report page" if _REPORT_PATH.search(path) else None


def keep_document_links(pieces: list[Piece]) -> list[Piece]:
    """Pieces with every link target that is not a document taken out of the text."""

    def keep(match: re.Match[str]) -> str:
        return match.group(0) if document_kind(match.group(1)) else ""

    return [(kind, LINK.sub(keep, text) if "<http" in text else text) for kind, text in pieces]


def _links(text: str | None) -> dict[str, str]:
    """url → the words just before it (the link's text, as far as the text says)."""
    found: dict[str, str] = {}
    if not text:
        return found
    start = 0
    for match in LINK.finditer(text):
        label = text[start : match.start()]
        label = re.split(r"[.;:|·]\s|^\s*(?:#{1,6}|-|>|\|)\s", label)[-1].strip()
        found.setdefault(match.group(1), label[-_LABEL_CHARS:].strip())
        start = match.end()
    return found


MAX_DOCUMENTS = 50  # listed per side of one change


def document_links(body: bytes, content_type: str | None, base: str | None) -> dict[str, str]:
    """url → link text of every link to a document in an HTML page (first text wins)."""
    text, _ = decode(body, content_type, html=True)
    found: dict[str, str] = {}
    for anchor in LexborHTMLParser(text).css("a[href]"):
        url = clean_url(str(anchor.attributes.get("href") or ""), base)
        if url and document_kind(url) and url not in found:
            found[url] = " ".join((anchor.text(deep=True) or "").split())[:_LABEL_CHARS]
    return found


def documents_diff(old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, Any] | None:
    """``{"removed": [[text, url], …], "added": […]}`` between two pages' documents, or None."""
    removed = [[old[u], u] for u in old if u not in new][:MAX_DOCUMENTS]
    added = [[new[u], u] for u in new if u not in old][:MAX_DOCUMENTS]
    return {"removed": removed, "added": added} if removed or added else None


def link_changes(diff: Mapping[str, Any]) -> list[str]:
    """``link removed: Transparency Report 2019 (PDF)`` for each document link a diff
    removed or added (a link that only moved is neither)."""
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    recorded = diff.get("documents")
    if isinstance(recorded, Mapping):
        before.update({str(u): str(t) for t, u in recorded.get("removed") or ()})
        after.update({str(u): str(t) for t, u in recorded.get("added") or ()})
    for change in diff.get("changes") or ():
        if change.get("op") == "moved":
            continue
        before.update(_links(change.get("old")))
        after.update(_links(change.get("new")))
    lines = []
    for verb, mine, other in (("removed", before, after), ("added", after, before)):
        for url, label in mine.items():
            kind = document_kind(url)
            if kind is None or url in other:
                continue
            name = label or urlsplit(url).path.rsplit("/", 1)[-1] or url
            lines.append(f"link {verb}: {name} ({kind})")
    return lines
