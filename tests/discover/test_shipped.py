"""The shipped sources.toml discovers new documents for at least five companies.

Its entries read the "Reports List" pages the shipped sources already watch;
the tests read local copies of those pages' shapes (``tests/data/discover``) and
the offline check points every URL at a closed loopback port: nothing here
reaches the internet.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config.parse import load_config
from monitor.config.settings import DiscoverSettings
from monitor.discover.decide import wanted
from monitor.discover.listing import parse_index

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "sources.toml"
DATA = ROOT / "tests" / "data" / "discover"


def shipped() -> dict[str, DiscoverSettings]:
    return {d.id: d for d in load_config(SHIPPED, environ={}).discover}


def test_the_shipped_config_discovers_for_at_least_five_companies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = load_config(SHIPPED, environ={})
    assert len({d.company for d in settings.discover}) >= 5
    watched = {s.url for s in settings.sources}
    for entry in settings.discover:
        # Each list is a page the shipped config already watches as a source.
        assert entry.index in watched or entry.sitemap in watched, entry.id
        assert entry.interval == 86400 and not entry.watch
    assert main(["validate", "--config", str(SHIPPED)]) == 0
    assert f"{len(settings.discover)} discover entries" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("entry_id", "page", "expected"),
    [
        (
            "apple-dsa-reports",
            "apple-dsa.html",
            {
                "/legal/dsa/20232808_app-store_risk-assessment-report_non-confidential.pdf",
                "/legal/dsa/20241212_app-store_risk-assessment-report_non-confidential.pdf",
                "/legal/dsa/transparency/eu-dsa-transparency-report-2025-h1.pdf",
            },
        ),
        (
            "microsoft-jurisdictional-reports",
            "microsoft-jurisdictional.html",
            {
                "/en-us/DigitalSafety/transparency-reports/jurisdictional-reports/eu-dsa-bing-2025-h1",
                "/en-us/DigitalSafety/transparency-reports/jurisdictional-reports/australia-bose-2025",
            },
        ),
    ],
)
def test_shipped_entries_pick_the_reports_out_of_their_pages(
    entry_id: str, page: str, expected: set[str]
) -> None:
    entry = shipped()[entry_id]
    base = "https://listing.example"
    html = (DATA / page).read_text(encoding="utf-8").replace("{base}", base)
    links = parse_index(html.encode(), f"{base}/list", entry.select)
    found = {link.url.removeprefix(base) for link in links if wanted(entry, link)}
    assert found == expected


def test_check_of_the_shipped_config_offline_fails_gracefully(
    workdir: Path, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every URL points at a loopback port nothing listens on: as with no network at all."""
    text = SHIPPED.read_text(encoding="utf-8")
    hosts = iter(range(2, 250))
    # One loopback address per URL: per-host politeness does not queue them behind
    # each other, so the whole file fails in seconds, as it would with no network.
    offline = re.sub(
        r'"https?://[^"]+"', lambda _: f'"http://127.0.0.{next(hosts)}:{closed_port}/"', text
    )
    (workdir / "sources.toml").write_text(offline, encoding="utf-8")
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    discover_lines = [line for line in lines if line.startswith("discover:")]
    assert len(discover_lines) == len(shipped())
    assert all(" failed " in line and "connect" in line for line in discover_lines)
    with sqlite3.connect(workdir / "monitor.db") as conn:
        failures = conn.execute(
            "SELECT count(*) FROM events WHERE type = 'FetchFailed' AND stream LIKE '$discover:%'"
        ).fetchone()[0]
    assert failures == len(shipped())
