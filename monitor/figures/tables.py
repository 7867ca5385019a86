"""A response body → the rows of its table (CSV, XLSX, HTML ``<table>``, or one inside a ZIP).

Pure: bytes in, lists of cell texts out (``zipfile`` and ``openpyxl`` read from
memory). A ZIP member or an XLSX workbook is held to the same size bound as any
body (``limit``): what it would unpack to is checked before reading, and the
reading itself stops at the bound, so an archive that lies in its headers (a zip
bomb) is refused with ``ArchiveError`` instead of filling the memory.

``unpack`` is also what the check pipeline uses for the *text* of such sources:
a ZIP's member is extracted like any body of its kind, and a workbook's sheet
becomes CSV text, so the keyed row diff and text rules work on them too.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from monitor.errors import ArchiveError, FiguresError
from monitor.extract.charset import decode, media_type_of

Rows = list[list[str]]

XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_MEDIA_TYPES: Final = frozenset({"application/zip", "application/x-zip-compressed"})
_EXTENSIONS: Final = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".txt": "text/csv",
    ".xlsx": XLSX_MEDIA_TYPE,
    ".html": "text/html",
    ".htm": "text/html",
}
_CHUNK = 64 * 1024
# Whitespace a cell must lose: doubled, other than a space, or at either end of a cell.
_MESSY = re.compile(r"\s\s|[^\S ]|^ | $|\0 | \0")


@dataclass(frozen=True, slots=True)
class Unpacked:
    """The part of a body that holds the table, and what kind it is."""

    body: bytes
    kind: str  # "csv" | "xlsx" | "html"
    content_type: str  # for the text extraction of that part


def is_zip(body: bytes) -> bool:
    return body[:4] == b"PK\x03\x04"


def _is_xlsx(body: bytes) -> bool:
    if not is_zip(body):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _kind(body: bytes, content_type: str | None, name: str = "") -> tuple[str, str]:
    lowered = name.lower()
    media = next((t for ext, t in _EXTENSIONS.items() if lowered.endswith(ext)), None)
    media = media or media_type_of(content_type) or ""
    if media == XLSX_MEDIA_TYPE or _is_xlsx(body):
        return "xlsx", XLSX_MEDIA_TYPE
    if media in ("text/html", "application/xhtml+xml"):
        return "html", media
    if media in ("text/csv", "text/tab-separated-values", "application/csv"):
        return "csv", media
    head = body[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml", b"<body", b"<head")):
        return "html", "text/html"
    return "csv", "text/csv"


def _names(body: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
    except zipfile.BadZipFile:
        return "unreadable"
    return "it holds: " + (", ".join(names[:10]) or "nothing")


def read_member(body: bytes, member: str, limit: int) -> bytes:
    """The bytes of ``member`` (a path, or a file name anywhere in the archive)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"the body is not a readable ZIP archive ({exc})") from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        found = next((i for i in infos if i.filename == member), None)
        if found is None:
            found = next((i for i in infos if i.filename.rsplit("/", 1)[-1] == member), None)
        if found is None:
            names = ", ".join(i.filename for i in infos[:10]) or "none"
            raise ArchiveError(f"the ZIP archive has no member {member!r} (it holds: {names})")
        if found.file_size > limit:
            raise ArchiveError(
                f"ZIP member {found.filename!r} would unpack to {found.file_size} bytes, "
                f"over the {limit}-byte bound of this source (max_bytes); refused"
            )
        return _bounded_read(archive, found, limit)


def _bounded_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """Read at most ``limit`` bytes: a member whose header understates its size stops here."""
    out = bytearray()
    try:
        with archive.open(info) as handle:
            while chunk := handle.read(_CHUNK):
                out += chunk
                if len(out) > limit:
                    raise ArchiveError(
                        f"ZIP member {info.filename!r} unpacks to more than the {limit}-byte "
                        "bound of this source (max_bytes; a zip bomb?); refused"
                    )
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise ArchiveError(f"ZIP member {info.filename!r} cannot be read ({exc})") from None
    return bytes(out)


def _check_workbook_size(body: bytes, limit: int) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            total = sum(i.file_size for i in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"the workbook is not a readable XLSX file ({exc})") from None
    if total > limit:
        raise ArchiveError(
            f"the workbook would unpack to {total} bytes, over the {limit}-byte bound of "
            "this source (max_bytes); refused"
        )


def unpack(body: bytes, content_type: str | None, *, member: str | None, limit: int) -> Unpacked:
    """The table-holding part of a body: the ZIP member if one is named, else the body."""
    name = ""
    if member is not None:
        body, name = read_member(body, member, limit), member
    elif is_zip(body) and not _is_xlsx(body):
        raise ArchiveError(
            f"the body is a ZIP archive ({_names(body)}); name the file to read in "
            '[source.figures] with member = "…"'
        )
    kind, media = _kind(body, None if member else content_type, name)
    if kind == "xlsx":
        _check_workbook_size(body, limit)
    return Unpacked(body, kind, media)


# --------------------------------------------------------------------------- rows


def csv_rows(text: str) -> Rows:
    """The rows of a CSV (or TSV, or ;-separated) text; blank rows dropped."""
    sample = text[:8192]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect, strict=False)
    rows: Rows = []
    for row in reader:
        # One search per row finds the rare cell that needs its whitespace collapsed;
        # collapsing every cell of a 50k-row report would cost more than reading it.
        joined = "\0".join(row)
        if _MESSY.search(joined) is not None:
            row = [" ".join(cell.split()) for cell in row]
            if any(row):
                rows.append(row)
        elif joined.strip("\0"):
            rows.append(row)
    return rows


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float | int | Decimal):
        number = Decimal(str(value))
        if number == number.to_integral_value():
            return str(int(number))
        return format(number.normalize(), "f")
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    return " ".join(str(value).split())


def xlsx_rows(body: bytes, sheet: str | None) -> Rows:
    """The rows of one worksheet (the first unless ``sheet`` names one), values as shown."""
    import openpyxl  # only sources with workbooks pay for importing it

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ArchiveError(f"the workbook cannot be read ({type(exc).__name__}: {exc})") from None
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            names = ", ".join(workbook.sheetnames)
            raise FiguresError(f"the workbook has no sheet {sheet!r} (sheets: {names})")
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        if not hasattr(worksheet, "iter_rows"):
            raise FiguresError(f"the sheet {worksheet.title!r} is a chart, not a table")
        rows = []
        for values in worksheet.iter_rows(values_only=True):
            row = [_cell_text(v) for v in values]
            if any(row):
                rows.append(row)
        return rows
    finally:
        workbook.close()


def html_rows(markup: str | bytes, selector: str | None) -> Rows:
    """The rows of the first ``<table>`` that ``selector`` matches (default: the first table).

    A cell spanning columns (``colspan``) is repeated in each, so the columns stay aligned.
    """
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    node = tree.css_first(selector or "table")
    if node is None:
        raise FiguresError(f"no element matches the table selector {selector or 'table'!r}")
    if node.tag != "table":
        inner = node.css_first("table")
        if inner is None:
            raise FiguresError(f"the element {selector!r} matches holds no <table>")
        node = inner
    rows: Rows = []
    for tr in node.css("tr"):
        row: list[str] = []
        for cell in tr.iter():
            if cell.tag not in ("td", "th"):
                continue
            text = " ".join((cell.text(separator=" ") or "").split())
            span = cell.attributes.get("colspan") or "1"
            row += [text] * (int(span) if span.isdigit() and 0 < int(span) <= 100 else 1)
        if any(row):
            rows.append(row)
    return rows


def read_rows(unpacked: Unpacked, *, table: str | None, sheet: str | None) -> Rows:
    """The rows of the table a body holds."""
    if unpacked.kind == "xlsx":
        return xlsx_rows(unpacked.body, sheet)
    if unpacked.kind == "html":
        return html_rows(unpacked.body, table)
    text, _ = decode(unpacked.body, unpacked.content_type, html=False)
    return csv_rows(text)


def rows_as_csv(rows: Sequence[Sequence[str]]) -> bytes:
    """Rows written as CSV (how a workbook's sheet becomes text for the change diff)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")
