"""`monitor figures`: series per key and period, restatements, --as-of, --json / --csv."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from monitor.cli import main
from tests.figures.test_pipeline import log_events, serve_versions
from tests.pageserver import PageServer


@pytest.fixture
def three_versions(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, object]]:
    serve_versions(workdir, page_server, "csv")
    return log_events(capsys)


def figures_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["figures", "google-requests", *args, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert isinstance(document, dict)
    return document


def test_hong_kong_lists_each_period_and_the_restated_one_with_both_values(
    three_versions: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    document = figures_json(capsys, "--where", "Country=Hong Kong")
    rows = document["rows"]
    assert isinstance(rows, list)
    assert [(r["period"], r["values"]["User Data Requests"]["text"]) for r in rows] == [
        ("2010-06-30", "12"),
        ("2010-12-31", "0"),
        ("2011-06-30", "48"),
    ]
    assert [r["restated"] for r in rows] == [False, False, True]
    [restatement] = rows[2]["restatements"]
    assert (restatement["old"], restatement["new"]) == ("45", "48")
    assert restatement["column"] == "User Data Requests"
    assert rows[0]["values"]["Percentage"] == {
        "text": "50%",
        "reported": True,
        "number": 50,
        "unit": "%",
    }
    assert rows[1]["values"]["Percentage"] == {"text": "", "reported": False}
    # First seen: the baseline for the old periods, the v2 capture for the new one.
    changes = [e["seq"] for e in three_versions if e["type"] == "ChangeDetected"]
    baseline = next(e["seq"] for e in three_versions if e["type"] == "BaselineCaptured")
    assert [r["first_seen"]["seq"] for r in rows] == [baseline, baseline, changes[0]]
    assert restatement["change_seq"] == changes[1]


def test_as_of_before_the_restatement_shows_the_old_value(
    three_versions: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    v3 = [e for e in three_versions if e["type"] == "ChangeDetected"][1]
    before = three_versions[three_versions.index(v3) - 1]["recorded_at"]
    document = figures_json(
        capsys,
        "--where",
        "Country=Hong Kong",
        "--column",
        "User Data Requests",
        "--as-of",
        str(before),
    )
    rows = document["rows"]
    assert isinstance(rows, list)
    assert [(r["period"], r["values"]["User Data Requests"]["text"]) for r in rows] == [
        ("2010-06-30", "12"),
        ("2010-12-31", "0"),
        ("2011-06-30", "45"),
    ]
    assert not any(r["restated"] for r in rows)
    assert all(list(r["values"]) == ["User Data Requests"] for r in rows)


def test_withdrawn_rows_are_listed_with_their_last_figures(
    three_versions: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = figures_json(capsys, "--where", "Country=India", "--where", "Period Ending=2010-06-30")[
        "rows"
    ]
    assert isinstance(rows, list)
    [row] = rows
    assert row["withdrawn"] is not None
    assert row["values"]["User Data Requests"] == {
        "text": "0 - 249",
        "reported": True,
        "low": 0,
        "high": 249,
    }


def test_csv_and_text_outputs(
    three_versions: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["figures", "google-requests", "--where", "Country=Germany", "--csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    counts = [r for r in table if r["column"] == "User Data Requests"]
    assert [(r["Period Ending"], r["value"], r["number"]) for r in counts] == [
        ("2010-06-30", "1,234", "1234"),
        ("2010-12-31", "1,300", "1300"),
        ("2011-06-30", "1,400", "1400"),
    ]
    below = next(r for r in table if r["value"] == "< 10")
    assert (below["low"], below["high"]) == ("0", "10")
    assert main(["figures", "google-requests", "--where", "Country=Hong Kong"]) == 0
    text = capsys.readouterr().out
    assert "Hong Kong · Subpoena · 2011-06-30  User Data Requests: 48 (restated from 45)" in text


def test_unknown_column_or_source_is_one_line_and_exit_2(
    three_versions: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["figures", "google-requests", "--where", "Region=Asia"]) == 2
    err = capsys.readouterr().err
    assert "Region" in err and "'Country'" in err and len(err.strip().splitlines()) == 1
    assert main(["figures", "google-requests", "--where", "Country"]) == 2
    assert "COLUMN=VALUE" in capsys.readouterr().err
    assert main(["figures", "nope"]) == 2
    assert "no source 'nope'" in capsys.readouterr().err


def test_log_describes_the_facts(
    three_versions: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["log", "--type", "FiguresRestated,FiguresWithdrawn"]) == 0
    out = capsys.readouterr().out
    assert "Figure restated: Hong Kong · Subpoena · 2011-06-30: User Data Requests: 45 → 48" in out
    assert "Figures withdrawn: India · Subpoena · 2010-06-30: User Data Requests: 0 - 249" in out


def test_report_cells_cannot_rewrite_the_terminal(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.figures.reports import as_csv
    from tests.figures.test_pipeline import write_config

    rows = [["2010-06-30", "Hong\u202eKong", "Sub\x1b[2Jpoena", "12", "1"]]
    url = page_server.set("/report", as_csv(rows), content_type="text/csv")
    write_config(workdir / "sources.toml", url)
    assert main(["check"]) == 0
    capsys.readouterr()
    assert main(["figures", "google-requests"]) == 0
    out = capsys.readouterr().out
    assert "\u202e" not in out and "\x1b" not in out
    assert "Hong[U+202E]Kong · Sub[U+001B][2Jpoena" in out
