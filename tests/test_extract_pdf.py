"""PDF sources: page markers and lines; unreadable PDFs give an empty (suspect) text."""

from __future__ import annotations

import io

from pypdf import PdfWriter

from monitor.config.settings import SourceSettings
from monitor.extract.document import Block, Extraction, extract


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal, valid PDF with one Helvetica text line per entry, written by hand."""
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    kids = []
    number = 4
    for lines in pages:
        ops = ["BT /F1 12 Tf 72 720 Td 16 TL"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects[number] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (number + 1)
        )
        objects[number + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
        kids.append(b"%d 0 R" % number)
        number += 2
    objects[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(pages))
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for key in sorted(objects):
        offsets[key] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (key, objects[key])
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[key] for key in range(1, size))
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


def run(body: bytes, content_type: str | None = "application/pdf") -> Extraction:
    return extract(body, content_type=content_type, source=SourceSettings(id="s", url="u"))


REPORT = make_pdf([["Transparency report", "Hong Kong: 45 requests"], ["Removals (final)"]])


def encrypted(pdf: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.add_metadata({"/Title": "Annual report"})
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_pages_are_marked_and_lines_kept() -> None:
    result = run(REPORT)
    assert result.format == "pdf"
    assert result.media_type == "application/pdf"
    assert result.text == (
        "--- page 1 ---\nTransparency report\nHong Kong: 45 requests\n--- page 2 ---\n"
        "Removals (final)"
    )
    assert result.blocks[0] == Block("page", "page 1")
    assert result.blocks[-1] == Block("p", "Removals (final)")


def test_pdf_is_sniffed_without_a_media_type() -> None:
    assert run(REPORT, "application/octet-stream").format == "pdf"
    assert run(REPORT, "text/html").format == "pdf"  # mislabelled by the server
    assert run(REPORT, None).text == run(REPORT).text


def test_pdf_with_an_empty_user_password_is_read() -> None:
    result = run(encrypted(REPORT, ""))
    assert result.text == run(REPORT).text
    assert result.title == "Annual report"


def test_unreadable_pdfs_give_an_empty_text_not_an_error() -> None:
    for body in (encrypted(REPORT, "secret"), REPORT[:150], b"%PDF-1.7\n garbage"):
        result = run(body)
        assert (result.format, result.blocks, result.text, result.title) == ("pdf", (), "", None)


def test_an_html_wall_served_as_pdf_is_read_as_html() -> None:
    result = run(b"<!DOCTYPE html><title>Just a moment...</title><p>Checking your browser</p>")
    assert (result.format, result.text, result.title) == (
        "html",
        "Checking your browser",
        "Just a moment...",
    )
