"""Discovery end to end: local sitemaps and index pages, the real CLI, a real SQLite log."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config.settings import ChannelSettings, RuleSettings
from monitor.events import StoredEvent
from monitor.notify.render import render_alert
from monitor.notify.routing import route
from tests.pageserver import PageServer

DATA = Path(__file__).resolve().parents[1] / "data" / "discover"
Event = dict[str, Any]


def shape(name: str, server: PageServer, new: str = "") -> str:
    """A local copy of a listing's shape, pointing at the test server."""
    text = (DATA / name).read_text(encoding="utf-8")
    return text.replace("{base}", server.url("")).replace("<!--NEW-->", new)


def sitemap_url(server: PageServer, path: str, title: str = "", lastmod: str = "") -> str:
    news = f"<news:news><news:title>{title}</news:title></news:news>" if title else ""
    mod = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
    return f"<url><loc>{server.url(path)}</loc>{mod}{news}</url>"


def write_config(workdir: Path, discover: str, *, extra: str = "") -> None:
    (workdir / "sources.toml").write_text(
        '[monitor]\ndatabase = "sqlite:///monitor.db"\n\n'
        '[[rule]]\nid = "hk-requests"\nall = ["Hong Kong"]\nany = ["request", "government"]\n'
        'on = "added"\nseverity = "high"\n\n'
        f"{extra}\n[[discover]]\n{discover}\n",
        encoding="utf-8",
    )


def check(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["check"]) == 0
    return capsys.readouterr().out


def log(capsys: pytest.CaptureFixture[str]) -> list[Event]:
    capsys.readouterr()
    assert main(["log", "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def of_type(events: list[Event], *types: str) -> list[Event]:
    return [e for e in events if e["type"] in types]


SITEMAP = """
id = "meta"
company = "Meta"
sitemap = "{url}"
match = "/(reports|policies)/"
"""


def test_a_url_added_to_a_sitemap_is_one_discovery_and_one_alert(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set(
        "/sitemap.xml", shape("sitemap.xml", page_server), headers={"ETag": '"v1"'}
    )
    write_config(workdir, SITEMAP.format(url=url))
    out = check(capsys)
    assert "discover:meta" in out and "baseline" in out
    [baseline] = of_type(log(capsys), "DiscoveryBaselined")
    assert baseline["stream"] == "$discover:meta"
    assert baseline["data"]["urls"] == sorted(
        page_server.url(p)
        for p in (
            "/reports/government-data-requests/",
            "/reports/government-data-requests/country/HK/",
            "/policies/law-enforcement/",
        )
    )  # /about/careers/ does not match

    added = sitemap_url(
        page_server,
        "/reports/hong-kong-statement/",
        "Statement on requests from the Hong Kong government",
        "2026-03-02",
    ) + sitemap_url(page_server, "/about/press/")
    page_server.set(
        "/sitemap.xml", shape("sitemap.xml", page_server, added), headers={"ETag": '"v2"'}
    )
    assert "1 new" in check(capsys)
    events = log(capsys)
    [found] = of_type(events, "SourceDiscovered")
    assert found["data"]["url"] == page_server.url("/reports/hong-kong-statement/")
    assert found["data"]["title"] == "Statement on requests from the Hong Kong government"
    assert found["data"]["lastmod"] == "2026-03-02"
    assert found["data"]["severity"] == "high" and found["data"]["state"] == "listed"
    assert [r["rule_id"] for r in found["data"]["rules"]] == ["hk-requests"]
    stored = StoredEvent.from_json(found)
    rules = (RuleSettings(id="hk-requests", all=("Hong Kong",), severity="high"),)
    channels = (ChannelSettings(name="team", url="json://localhost", min_severity="medium"),)
    assert route(stored, channels, source_tags=(), rules=rules, alert_after=3) == ("team",)
    alert = render_alert(stored, source_info(stored))
    assert alert.title == (
        "[high] New document from Meta: Statement on requests from the Hong Kong government "
        "(hk-requests)"
    )
    assert alert.body.startswith("Meta — discovered by meta\n")
    assert page_server.url("/reports/hong-kong-statement/") in alert.body
    # Nothing was alerted or recorded for what was there at the first pass.
    assert not of_type(events, "SourceRegistered", "BaselineCaptured")

    # Unchanged: the sitemap answers 304 to the validators of the last read.
    page_server.requests.clear()
    assert "not modified since the last pass (304)" in check(capsys)
    [(path, headers)] = page_server.requests
    assert path == "/sitemap.xml" and headers.get("If-None-Match") == '"v2"'

    # A URL that leaves the list.
    page_server.set("/sitemap.xml", shape("sitemap.xml", page_server), headers={"ETag": '"v3"'})
    assert "1 unlisted" in check(capsys)
    events = log(capsys)
    assert [e["data"]["url"] for e in of_type(events, "SourceUnlisted")] == [
        page_server.url("/reports/hong-kong-statement/")
    ]
    assert len(of_type(events, "SourceDiscovered")) == 1
    # Discovery never fetched the documents it found: only the sitemap was asked for.
    assert {p for p, _ in page_server.requests} == {"/sitemap.xml"}


def source_info(event: StoredEvent) -> Any:
    from monitor.notify.render import SourceInfo

    return SourceInfo(source_id=event.stream)


WATCHED = """
id = "microsoft"
company = "Microsoft"
index = "{url}"
select = "main"
text_match = "Digital Services Act|transparency"
watch = true
max_new = 1

[discover.source]
select = "main"
tags = ["dsa"]
interval = "1d"
"""


def doc(title: str, text: str) -> str:
    return (
        f"<html><head><title>{title}</title></head>"
        f"<body><main><h1>{title}</h1><p>{text}</p></main></body></html>"
    )


def test_watch_registers_what_is_found_and_its_baseline_is_captured(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    index = page_server.set("/jurisdictional", shape("microsoft-jurisdictional.html", page_server))
    write_config(workdir, WATCHED.format(url=index))
    check(capsys)
    [baseline] = of_type(log(capsys), "DiscoveryBaselined")
    # text_match keeps the EU report; "Australia Basic Online Safety" does not match it.
    assert baseline["data"]["urls"] == [
        page_server.url(
            "/en-us/DigitalSafety/transparency-reports/jurisdictional-reports/eu-dsa-bing-2025-h1"
        )
    ]
    new_links = (
        '<div class="card"><a href="/reports/eu-dsa-bing-2025-h2">EU Digital Services Act: '
        'Bing (July–December 2025)</a></div><div class="card"><a href="/reports/eu-dsa-teams">'
        "EU Digital Services Act: Teams (2025)</a></div>"
    )
    page_server.set(
        "/jurisdictional", shape("microsoft-jurisdictional.html", page_server, new_links)
    )
    page_server.set("/reports/eu-dsa-bing-2025-h2", doc("Bing H2 2025", "We received 12 orders."))
    page_server.set("/reports/eu-dsa-teams", doc("Teams 2025", "We received 3 orders."))
    out = check(capsys)
    assert "2 new, 1 now watched, 1 waiting for `monitor discover --accept`" in out
    events = log(capsys)
    found = {e["data"]["url"]: e["data"] for e in of_type(events, "SourceDiscovered")}
    watched = found[page_server.url("/reports/eu-dsa-bing-2025-h2")]
    waiting = found[page_server.url("/reports/eu-dsa-teams")]
    assert watched["state"] == "watching" and waiting["state"] == "waiting"
    source_id = watched["source_id"]
    assert source_id.startswith("microsoft.reports-eu-dsa-bing-2025-h2-")
    [registered] = of_type(events, "SourceRegistered")
    assert registered["stream"] == source_id
    assert registered["data"]["discovered_by"] == "microsoft"
    settings = registered["data"]["settings"]
    assert settings["select"] == "main" and settings["tags"] == ["dsa"]
    assert settings["company"] == "Microsoft"
    assert settings["title"] == "EU Digital Services Act: Bing (July–December 2025)"
    [captured] = of_type(events, "BaselineCaptured")
    assert captured["stream"] == source_id  # checked in the same run
    assert "baseline" in out and source_id in out

    # The waiting one is registered by a review, and checked from the next run on.
    capsys.readouterr()
    assert main(["discover"]) == 0
    listing = capsys.readouterr().out
    assert "waiting" in listing and page_server.url("/reports/eu-dsa-teams") in listing
    assert main(["discover", "--accept", page_server.url("/reports/eu-dsa-teams")]) == 0
    accepted_line = capsys.readouterr().out
    assert "accepted" in accepted_line and "registered" in accepted_line
    check(capsys)
    events = log(capsys)
    assert len(of_type(events, "BaselineCaptured")) == 2
    # Restarts and later runs keep the discovered sources: nothing is removed.
    check(capsys)
    assert not of_type(log(capsys), "SourceRemoved")
    # A discovered source is checked by id like a configured one.
    assert main(["check", source_id]) == 0
    assert capsys.readouterr().out.startswith(source_id)

    # A watched document that moves: one SourceMoved, no change.
    page_server.set(
        "/reports/eu-dsa-bing-2025-h2-final", doc("Bing H2 2025", "We received 12 orders.")
    )
    page_server.set(
        "/reports/eu-dsa-bing-2025-h2",
        "",
        status=301,
        headers={"Location": "/reports/eu-dsa-bing-2025-h2-final"},
    )
    check(capsys)
    events = [e for e in log(capsys) if e["stream"] == source_id]
    assert [e["type"] for e in events][-1] == "SourceMoved"
    assert not of_type(events, "ChangeDetected")


def test_an_ignored_url_is_never_reported_again(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/sitemap.xml", shape("sitemap.xml", page_server))
    write_config(workdir, SITEMAP.format(url=url))
    check(capsys)
    extra = sitemap_url(page_server, "/reports/new-one/")
    page_server.set("/sitemap.xml", shape("sitemap.xml", page_server, extra))
    check(capsys)
    capsys.readouterr()
    assert main(["discover", "--ignore", page_server.url("/reports/new-one/")]) == 0
    assert "ignored" in capsys.readouterr().out
    page_server.set("/sitemap.xml", shape("sitemap.xml", page_server))
    check(capsys)
    page_server.set("/sitemap.xml", shape("sitemap.xml", page_server, extra))
    check(capsys)
    events = log(capsys)
    assert len(of_type(events, "SourceDiscovered")) == 1
    [reviewed] = of_type(events, "DiscoveryReviewed")
    assert reviewed["data"]["decision"] == "ignored"
    capsys.readouterr()
    assert main(["discover", "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["state"] == "ignored"
    assert main(["discover", "--accept", page_server.url("/nowhere/")]) == 2
    assert "has found" in capsys.readouterr().err


def test_an_index_page_lists_the_links_inside_select(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/legal/dsa/", shape("apple-dsa.html", page_server))
    write_config(
        workdir,
        f'id = "apple"\ncompany = "Apple"\nindex = "{url}"\nselect = \'[role="main"]\'\n'
        'match = "\\\\.pdf$"\n',
    )
    check(capsys)
    [baseline] = of_type(log(capsys), "DiscoveryBaselined")
    assert len(baseline["data"]["urls"]) == 3  # the footer's PDF is outside [role="main"]
    new = '<p><a href="/legal/dsa/hong-kong.pdf#page=2">Requests from Hong Kong government</a></p>'
    page_server.set("/legal/dsa/", shape("apple-dsa.html", page_server, new))
    check(capsys)
    [found] = of_type(log(capsys), "SourceDiscovered")
    assert found["data"]["url"] == page_server.url("/legal/dsa/hong-kong.pdf")
    assert found["data"]["title"] == "Requests from Hong Kong government"
    assert found["data"]["severity"] == "high"


def test_a_sitemap_index_reads_its_plain_and_gzip_children(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/sitemap-index.xml", shape("sitemap-index.xml", page_server))
    page_server.set("/sitemap-reports.xml", shape("sitemap.xml", page_server))
    policies = (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + sitemap_url(page_server, "/policies/privacy/")
        + "</urlset>"
    )
    page_server.set(
        "/sitemap-policies.xml.gz",
        gzip.compress(policies.encode()),
        content_type="application/gzip",
    )
    write_config(workdir, SITEMAP.format(url=url))
    check(capsys)
    [baseline] = of_type(log(capsys), "DiscoveryBaselined")
    assert page_server.url("/policies/privacy/") in baseline["data"]["urls"]
    assert page_server.url("/policies/law-enforcement/") in baseline["data"]["urls"]


@pytest.mark.parametrize(
    ("kind", "detail"),
    [
        ("loop", "sitemap index loop"),
        ("too_many", "more than 50,000 URLs"),
        ("gzip_bomb", "more than 50 MB of XML uncompressed"),
        ("encoded_bomb", "exceeds the cap of 52428800 bytes"),
    ],
)
def test_unbounded_listings_are_refused_with_a_clear_fetch_failure(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    detail: str,
) -> None:
    path = "/sitemap.xml"
    if kind == "loop":
        loop = (
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{page_server.url('/child.xml')}</loc></sitemap></sitemapindex>"
        )
        again = loop.replace("/child.xml", path)
        page_server.set(path, loop)
        page_server.set("/child.xml", again)
    elif kind == "too_many":
        rows = "".join(
            f"<url><loc>{page_server.url(f'/reports/{i}')}</loc></url>" for i in range(50_001)
        )
        page_server.set(path, f'<?xml version="1.0"?><urlset>{rows}</urlset>')
    elif kind == "gzip_bomb":
        bomb = gzip.compress(b"<urlset>" + b" " * (51 * 1024 * 1024), compresslevel=1)
        path = "/sitemap.xml.gz"
        page_server.set(path, bomb, content_type="application/gzip")
    else:
        bomb = gzip.compress(b"<urlset>" + b" " * (51 * 1024 * 1024), compresslevel=1)
        page_server.set(
            path, bomb, content_type="application/xml", headers={"Content-Encoding": "gzip"}
        )
    write_config(workdir, SITEMAP.format(url=page_server.url(path)))
    out = check(capsys)
    assert "discover:meta" in out and "failed" in out and detail in out
    events = log(capsys)
    [failed] = of_type(events, "FetchFailed")
    assert failed["stream"] == "$discover:meta" and detail in failed["data"]["message"]
    assert not of_type(events, "DiscoveryBaselined")


@pytest.mark.parametrize(
    ("discover", "message"),
    [
        ('id = "x"', "needs sitemap"),
        ('id = "x"\nsitemap = "https://e.com/s.xml"\nmatch = "("', "match"),
        ('id = "x"\nsitemap = "https://e.com/s.xml"\nselect = "main"', "only applies to an index"),
        ('id = "x"\nindex = "https://e.com/"\nmax_new = 0', "max_new"),
        (
            'id = "x"\nindex = "https://e.com/"\n\n[discover.source]\nurl = "https://e.com/a"',
            "leave it out of [discover.source]",
        ),
        ('id = "x"\nindex = "https://e.com/"\n\n[discover.source]\nselekt = "main"', "selekt"),
        ('id = "X Y"\nindex = "https://e.com/"', "must be 1-80 characters"),
    ],
)
def test_bad_discover_entries_are_config_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str], discover: str, message: str
) -> None:
    write_config(workdir, discover)
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert message in err and "sources.toml:" in err and "discover[1]" in err


def test_a_list_that_suddenly_names_nothing_is_a_failure_not_mass_unlisting(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/sitemap.xml", shape("sitemap.xml", page_server))
    write_config(workdir, SITEMAP.format(url=url))
    check(capsys)
    page_server.set("/sitemap.xml", '<?xml version="1.0"?><urlset></urlset>')
    out = check(capsys)
    assert "failed" in out and "empty_listing" in out
    events = log(capsys)
    assert not of_type(events, "SourceUnlisted")
    [failed] = of_type(events, "FetchFailed")
    assert "none of the 3 matching documents" in failed["data"]["message"]
    page_server.set("/sitemap.xml", shape("sitemap.xml", page_server))
    assert "nothing new (recovered)" in check(capsys)


def test_a_url_back_after_it_left_is_relisted_at_info(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/sitemap.xml", shape("sitemap.xml", page_server))
    write_config(workdir, SITEMAP.format(url=url))
    check(capsys)
    without = shape("sitemap.xml", page_server).replace(
        sitemap_url(page_server, "/policies/law-enforcement/"), ""
    )
    without = without.replace(
        f"<loc>{page_server.url('/policies/law-enforcement/')}</loc>", "<loc>/x</loc>"
    )
    page_server.set("/sitemap.xml", without)
    check(capsys)
    page_server.set("/sitemap.xml", shape("sitemap.xml", page_server))
    check(capsys)
    events = log(capsys)
    [gone] = of_type(events, "SourceUnlisted")
    [back] = of_type(events, "SourceDiscovered")
    assert (
        gone["data"]["url"] == back["data"]["url"] == page_server.url("/policies/law-enforcement/")
    )
    assert back["data"]["relisted"] is True and back["data"]["severity"] == "info"


def test_a_title_with_bidi_controls_is_shown_not_obeyed(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/sitemap.xml", shape("sitemap.xml", page_server))
    write_config(workdir, SITEMAP.format(url=url))
    check(capsys)
    tricky = sitemap_url(page_server, "/reports/x/", "Report \u202egpj.exe")
    page_server.set("/sitemap.xml", shape("sitemap.xml", page_server, tricky))
    check(capsys)
    capsys.readouterr()
    assert main(["discover"]) == 0
    out = capsys.readouterr().out
    assert "\u202e" not in out and "[U+202E]" in out


def test_a_listing_whose_host_wants_quiet_is_deferred_not_failed(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/sitemap.xml", shape("sitemap.xml", page_server))
    write_config(workdir, SITEMAP.format(url=url))
    check(capsys)
    page_server.set("/sitemap.xml", "slow down", status=429, headers={"Retry-After": "3600"})
    assert "failed" in check(capsys)  # told to wait an hour: this pass could not read it
    page_server.requests.clear()
    out = check(capsys)
    assert "deferred" in out and "asked for quiet" in out
    assert page_server.requests == []  # nothing was asked while the site wants quiet
    assert len(of_type(log(capsys), "FetchFailed")) == 1  # the deferral is not a failure


def test_removing_a_discover_entry_removes_its_sources_and_keeps_their_history(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    index = page_server.set("/jurisdictional", shape("microsoft-jurisdictional.html", page_server))
    write_config(workdir, WATCHED.format(url=index))
    check(capsys)
    new = '<div class="card"><a href="/reports/eu-dsa-x">EU Digital Services Act: X</a></div>'
    page_server.set("/jurisdictional", shape("microsoft-jurisdictional.html", page_server, new))
    page_server.set("/reports/eu-dsa-x", doc("X", "We received 5 orders."))
    check(capsys)
    [registered] = of_type(log(capsys), "SourceRegistered")
    (workdir / "sources.toml").write_text('[monitor]\ndatabase = "sqlite:///monitor.db"\n')
    check(capsys)
    events = [e for e in log(capsys) if e["stream"] == registered["stream"]]
    assert [e["type"] for e in events] == ["SourceRegistered", "BaselineCaptured", "SourceRemoved"]
