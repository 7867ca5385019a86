"""Figures end to end: a real local server, the real CLI, a real SQLite log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main
from tests.figures.reports import FIGURES_TOML, VERSIONS, as_csv, as_html, as_xlsx, as_zip
from tests.pageserver import PageServer

FIGURES_TYPES = ("FiguresPublished", "FiguresRestated", "FiguresWithdrawn")
HK_RULE = """
[[rule]]
id = "hk-resumed"
when = "from_zero"
where = { Country = "Hong Kong" }
column = "User Data Requests"
severity = "high"
"""

FORMATS = {
    "csv": (as_csv, "text/csv", ""),
    "html": (as_html, "text/html; charset=utf-8", 'table = "#requests"\n'),
    "zip": (as_zip, "application/zip", 'member = "google-user-data-requests.csv"\n'),
    "xlsx": (
        as_xlsx,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "",
    ),
}


def write_config(path: Path, url: str, figures_extra: str = "", extra: str = "") -> None:
    path.write_text(
        '[monitor]\ndatabase = "sqlite:///monitor.db"\n'
        f'[[source]]\nid = "google-requests"\nurl = "{url}"\ncompany = "Google"\n'
        f'title = "User data requests"\n{FIGURES_TOML}{figures_extra}{extra}',
        encoding="utf-8",
    )


def log_events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["log", "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def serve_versions(workdir: Path, server: PageServer, kind: str, *, extra: str = "") -> None:
    """Check the report three times, serving v1, v2 and v3 in the format ``kind``."""
    render, content_type, figures_extra = FORMATS[kind]
    url = server.set("/report", render(VERSIONS[0]), content_type=content_type)
    write_config(workdir / "sources.toml", url, figures_extra, extra)
    for version in VERSIONS:
        server.set("/report", render(version), content_type=content_type)
        assert main(["check"]) == 0


@pytest.mark.parametrize("kind", ["csv", "html", "zip", "xlsx"])
def test_three_versions_give_one_published_one_restated_one_withdrawn(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """v2 publishes a half-year, v3 restates one figure and drops one row: one fact each."""
    serve_versions(workdir, page_server, kind)
    events = log_events(capsys)
    figures = [e for e in events if str(e["type"]).startswith("Figures")]
    assert [e["type"] for e in figures] == list(FIGURES_TYPES)
    published, restated, withdrawn = (e["data"] for e in figures)
    changes = [e for e in events if e["type"] == "ChangeDetected"]
    assert len(changes) == 2
    assert published == {"change_seq": changes[0]["seq"], "period": "2011-06-30", "rows": 3}
    assert restated == {
        "change_seq": changes[1]["seq"],
        "key": ["Hong Kong", "Subpoena"],
        "period": "2011-06-30",
        "column": "User Data Requests",
        "old": "45",
        "new": "48",
    }
    assert withdrawn == {
        "change_seq": changes[1]["seq"],
        "key": ["India", "Subpoena"],
        "period": "2010-06-30",
        "values": {"User Data Requests": "0 - 249", "Percentage": ""},
    }
    # Each fact follows the capture it belongs to.
    seqs = [e["seq"] for e in events]
    for fact in figures:
        assert isinstance(fact["data"], dict)
        assert seqs.index(fact["data"]["change_seq"]) < seqs.index(fact["seq"])


def test_from_zero_rule_raises_severity_and_leads_the_headline(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_versions(workdir, page_server, "csv", extra=HK_RULE)
    out = capsys.readouterr().out
    events = log_events(capsys)
    first, second = [e["data"] for e in events if e["type"] == "ChangeDetected"]
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["severity"] == "high"
    [match] = first["rules"]
    assert match["rule_id"] == "hk-resumed" and match["side"] == "figures"
    assert match["sentences"] == [
        "Google · Hong Kong · Subpoena · User Data Requests 2011-06-30: 45 (2010-12-31: 0)"
    ]
    assert first["diff"]["summary"].startswith(match["sentences"][0])
    # India also went from 0 to 10, but the rule is about Hong Kong; the restatement
    # of v3 publishes no period, so the rule stays quiet.
    assert second["rules"] == [] and second["severity"] == "low"
    assert "Google · Hong Kong · Subpoena · User Data Requests 2011-06-30: 45" in out
    assert "[rules: hk-resumed] [figures: 1 published]" in out
    assert "[figures: 1 restated, 1 withdrawn]" in out


def test_a_zip_bomb_is_refused_with_a_clear_error(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("google-user-data-requests.csv", b"0" * (3 * 1024 * 1024))
    url = page_server.set("/report", out.getvalue(), content_type="application/zip")
    write_config(
        workdir / "sources.toml",
        url,
        'member = "google-user-data-requests.csv"\n',
    )
    text = (
        (workdir / "sources.toml")
        .read_text()
        .replace('title = "User data requests"', 'title = "User data requests"\nmax_bytes = "1MB"')
    )
    (workdir / "sources.toml").write_text(text)
    assert len(out.getvalue()) < 100_000  # the archive itself is small
    main(["check"])
    printed = capsys.readouterr().out
    assert "failed" in printed and "archive" in printed and "max_bytes" in printed
    events = log_events(capsys)
    [failure] = [e for e in events if e["type"] == "FetchFailed"]
    assert isinstance(failure["data"], dict)
    assert failure["data"]["error"] == "archive"
    assert "refused" in failure["data"]["message"]


def test_the_log_alone_rebuilds_every_figures_fact(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Re-reading each capture's stored body and comparing neighbours gives the same facts,
    and the figures projection folds the same from a full scan as from the source's stream."""
    import asyncio

    from monitor.figures.decide import compare
    from monitor.figures.history import fold_history
    from monitor.figures.read import read_table
    from monitor.store import open_store

    serve_versions(workdir, page_server, "zip")
    stored = [e for e in log_events(capsys) if str(e["type"]).startswith("Figures")]

    async def rebuild() -> tuple[list[dict[str, object]], bool]:
        async with open_store("sqlite:///monitor.db", create=False) as store:
            events = await store.read(stream="google-requests")
            history = fold_history("google-requests", events)
            everything = [e async for e in store.iterate()]
            same = fold_history("google-requests", everything) == history
            settings = history.figures
            assert settings is not None
            facts: list[dict[str, object]] = []
            previous = None
            for capture in history.captures:
                body = await store.get_blob(capture.raw_sha256)
                table = read_table(body, capture.content_type, settings, limit=1 << 20)
                for event in compare(previous, table).events(capture.seq):
                    facts.append({"type": event.type, "data": event.to_data()})
                previous = table
            return facts, same

    facts, same = asyncio.run(rebuild())
    assert facts == [{"type": e["type"], "data": e["data"]} for e in stored]
    assert same
