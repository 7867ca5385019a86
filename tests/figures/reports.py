"""A long-format government-requests report in three versions, as CSV, HTML, ZIP and XLSX.

The layout follows Google's transparency report download (one row per period ×
country × request type). v2 publishes a new half-year; v3 restates one figure
already published (Hong Kong, 2011 H1: 45 → 48) and drops one row (India, 2010 H1).
"""

from __future__ import annotations

import csv
import html
import io
import zipfile

HEADER = ["Period Ending", "Country", "Data Request Type", "User Data Requests", "Percentage"]
V1 = [
    ["2010-06-30", "Hong Kong", "Subpoena", "12", "50%"],
    ["2010-06-30", "Germany", "Subpoena", "1,234", "< 10"],
    ["2010-06-30", "India", "Subpoena", "0 - 249", ""],
    ["2010-12-31", "Hong Kong", "Subpoena", "0", ""],
    ["2010-12-31", "Germany", "Subpoena", "1,300", "12*"],
    ["2010-12-31", "India", "Subpoena", "0", ""],
]
V2 = [
    *V1,
    ["2011-06-30", "Hong Kong", "Subpoena", "45", "60%"],
    ["2011-06-30", "Germany", "Subpoena", "1,400", "70%"],
    ["2011-06-30", "India", "Subpoena", "10", "5.5"],
]
V3 = [
    row if row[:2] != ["2011-06-30", "Hong Kong"] else [*row[:3], "48", row[4]]
    for row in V2
    if row[:2] != ["2010-06-30", "India"]
]
VERSIONS = (V1, V2, V3)

FIGURES_TOML = (
    '[source.figures]\nkey = ["Country", "Data Request Type"]\nperiod = "Period Ending"\n'
    'values = ["User Data Requests", "Percentage"]\n'
)


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([HEADER, *rows])
    return out.getvalue().encode()


def as_html(rows: list[list[str]]) -> bytes:
    def cells(tag: str, row: list[str]) -> str:
        return "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in row)

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return (
        "<!doctype html><html><head><title>Requests for user information</title></head><body>"
        "<h1>Requests for user information</h1><p>Figures by half-year.</p>"
        '<table class="other"><tr><td>Not this one</td></tr></table>'
        f'<table id="requests"><thead><tr>{cells("th", HEADER)}</tr></thead>'
        f"<tbody>{body}</tbody></table></body></html>"
    ).encode()


def as_zip(rows: list[list[str]], name: str = "google-user-data-requests.csv") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", "Google transparency report download.")
        archive.writestr(f"data/{name}", as_csv(rows))
    return out.getvalue()


def as_xlsx(rows: list[list[str]]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Requests"
    sheet.append(["Google user data requests, by half-year"])
    sheet.append(HEADER)
    for row in rows:
        count = row[3]
        value: object = int(count) if count.isdigit() else count
        sheet.append([*row[:3], value, row[4]])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
