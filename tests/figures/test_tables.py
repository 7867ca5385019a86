"""Reading a report's table from CSV, XLSX, HTML and ZIP bodies, and keying it."""

from __future__ import annotations

import io
import zipfile

import pytest

from monitor.config.settings import FiguresSettings
from monitor.errors import ArchiveError, FiguresError
from monitor.figures.model import build_table, period_order
from monitor.figures.read import read_table, text_body
from monitor.figures.tables import csv_rows, html_rows, read_member
from tests.figures.reports import HEADER, V1, as_csv, as_html, as_xlsx, as_zip

SETTINGS = FiguresSettings(
    key=("Country", "Data Request Type"),
    period="Period Ending",
    values=("User Data Requests", "Percentage"),
)


@pytest.mark.parametrize(
    ("body", "content_type", "extra"),
    [
        (as_csv(V1), "text/csv", {}),
        (as_html(V1), "text/html", {"table": "#requests"}),
        (as_zip(V1), "application/zip", {"member": "google-user-data-requests.csv"}),
        (as_xlsx(V1), None, {}),
    ],
    ids=["csv", "html", "zip", "xlsx"],
)
def test_every_format_reads_the_same_table(
    body: bytes, content_type: str | None, extra: dict[str, str]
) -> None:
    settings = FiguresSettings(**{**SETTINGS.__dict__, **extra})
    table = read_table(body, content_type, settings, limit=1 << 20)
    assert table.key_names == ("Country", "Data Request Type")
    assert table.columns == ("User Data Requests", "Percentage")
    assert table.periods == ("2010-06-30", "2010-12-31")
    assert table.value((("Germany", "Subpoena"), "2010-06-30"), "User Data Requests") == "1,234"
    assert table.value((("India", "Subpoena"), "2010-06-30"), "Percentage") == ""
    assert len(table.rows) == 6


def test_header_is_found_below_a_title_and_names_match_loosely() -> None:
    rows = [["Google transparency report"], [], ["period ending", "COUNTRY", "data  request type"]]
    rows += [["2010-06-30", "Hong Kong", "Subpoena"]]
    table = build_table(rows, FiguresSettings(key=("Country",), period="Period Ending"))
    assert table.columns == ("data request type",)  # every other named column by default
    assert list(table.rows) == [(("Hong Kong",), "2010-06-30")]


def test_missing_columns_are_named() -> None:
    with pytest.raises(FiguresError, match="'Region'"):
        build_table([HEADER], FiguresSettings(key=("Region",), period="Period Ending"))
    with pytest.raises(FiguresError, match="no value column 'Requests'"):
        build_table(
            [HEADER],
            FiguresSettings(key=("Country",), period="Period Ending", values=("Requests",)),
        )


def test_duplicate_rows_keep_the_first() -> None:
    rows = [HEADER, V1[0], [*V1[0][:3], "99", ""]]
    table = build_table(rows, SETTINGS)
    assert table.duplicates == 1
    assert table.value((("Hong Kong", "Subpoena"), "2010-06-30"), "User Data Requests") == "12"


@pytest.mark.parametrize(
    "ordered",
    [
        ["2010 (2nd half)", "2011 (1st half)", "2011 (2nd half)"],
        ["Jul-Dec 2010", "Jan-Jun 2011", "Jul-Dec 2011"],
        ["H2 2010", "H1 2011", "H2 2011"],
        ["2010-12-31", "2011-06-30", "2011-12-31"],
        ["12/31/2010", "6/30/2011"],
    ],
)
def test_periods_sort_in_time(ordered: list[str]) -> None:
    assert sorted(reversed(ordered), key=period_order) == ordered


def test_csv_dialects_and_quoting() -> None:
    assert csv_rows('a;b\n"1;2";3\n') == [["a", "b"], ["1;2", "3"]]
    assert csv_rows("a\tb\n1\t2\n\n") == [["a", "b"], ["1", "2"]]


def test_html_colspan_keeps_columns_aligned_and_a_missing_table_is_named() -> None:
    markup = (
        "<table><tr><th colspan=2>Key</th><th>N</th></tr>"
        "<tr><td>a</td><td>b</td><td>1</td></tr></table>"
    )
    assert html_rows(markup, None) == [["Key", "Key", "N"], ["a", "b", "1"]]
    with pytest.raises(FiguresError, match="#nope"):
        html_rows(markup, "#nope")


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


def test_zip_member_is_found_by_name_and_bounded() -> None:
    body = zipped("deep/dir/report.csv", b"a,b\n1,2\n")
    assert read_member(body, "report.csv", 100) == b"a,b\n1,2\n"
    with pytest.raises(ArchiveError, match=r"no member 'other\.csv'.*deep/dir/report\.csv"):
        read_member(body, "other.csv", 100)
    bomb = zipped("report.csv", b"0" * 1_000_000)
    assert len(bomb) < 10_000
    with pytest.raises(ArchiveError, match=r"would unpack to 1000000 bytes.*refused"):
        read_member(bomb, "report.csv", 64 * 1024)
    with pytest.raises(ArchiveError, match="not a readable ZIP"):
        read_member(b"PK\x03\x04 broken", "report.csv", 100)


def test_a_member_that_lies_about_its_size_is_stopped_at_the_bound() -> None:
    body = bytearray(zipped("report.csv", b"0" * 200_000))
    # Forge the sizes in both headers to claim 10 bytes.
    local = body.index(b"PK\x03\x04")
    body[local + 22 : local + 26] = (10).to_bytes(4, "little")
    central = body.index(b"PK\x01\x02")
    body[central + 24 : central + 28] = (10).to_bytes(4, "little")
    with pytest.raises(ArchiveError, match=r"refused|cannot be read"):
        read_member(bytes(body), "report.csv", 64 * 1024)


def test_a_workbook_becomes_csv_text_for_the_change_diff() -> None:
    body, content_type = text_body(as_xlsx(V1), None, SETTINGS, limit=1 << 20)
    assert content_type == "text/csv"
    text = body.decode()
    assert "Period Ending,Country,Data Request Type,User Data Requests,Percentage" in text
    assert '2010-06-30,Germany,Subpoena,"1,234",< 10' in text
    assert text_body(b"a,b\n", "text/csv", SETTINGS, limit=10) == (b"a,b\n", "text/csv")


def test_a_zip_without_member_says_which_files_it_holds() -> None:
    with pytest.raises(ArchiveError, match=r"ZIP archive \(it holds: README.txt, data/.*member = "):
        read_table(as_zip(V1), "application/zip", SETTINGS, limit=1 << 20)
