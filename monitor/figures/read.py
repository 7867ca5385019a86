"""A captured body → its figures table, and the body the text extraction should read. Pure."""

from __future__ import annotations

from monitor.config.settings import FiguresSettings
from monitor.figures.model import FiguresTable, build_table
from monitor.figures.tables import XLSX_MEDIA_TYPE, read_rows, rows_as_csv, unpack, xlsx_rows


def read_table(
    body: bytes, content_type: str | None, settings: FiguresSettings, *, limit: int
) -> FiguresTable:
    """The figures of one body; raises ``FiguresError`` (or ``ArchiveError``) when unreadable."""
    unpacked = unpack(body, content_type, member=settings.member, limit=limit)
    rows = read_rows(unpacked, table=settings.table, sheet=settings.sheet)
    return build_table(rows, settings)


def text_body(
    body: bytes, content_type: str | None, settings: FiguresSettings, *, limit: int
) -> tuple[bytes, str | None]:
    """What the text extraction reads for a figures source: the ZIP member, a workbook's
    sheet as CSV, or the body itself. Raises ``ArchiveError`` for a broken or oversized
    archive."""
    if settings.member is None and not body.startswith(b"PK\x03\x04"):
        return body, content_type
    unpacked = unpack(body, content_type, member=settings.member, limit=limit)
    if unpacked.content_type == XLSX_MEDIA_TYPE:
        return rows_as_csv(xlsx_rows(unpacked.body, settings.sheet)), "text/csv"
    return unpacked.body, unpacked.content_type
