"""Discovery history for the web tests: a baseline, a finding watched, one waiting, one gone."""

from __future__ import annotations

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.parse import parse_config
from monitor.discover.runner import DiscoveryRunner
from monitor.store import open_store
from tests.pageserver import PageServer


def sitemap(server: PageServer, *items: tuple[str, str]) -> str:
    rows = "".join(
        f"<url><loc>{server.url(path)}</loc>"
        + (f"<news:news><news:title>{title}</news:title></news:news>" if title else "")
        + "</url>"
        for path, title in items
    )
    return (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{rows}</urlset>'
    )


def config_text(server: PageServer) -> str:
    return f"""
[[rule]]
id = "hk"
all = ["Hong Kong"]
severity = "high"

[[discover]]
id = "example-reports"
company = "Example"
sitemap = "{server.url("/sitemap.xml")}"
match = "/reports/"
watch = true
max_new = 1
"""


async def add_discoveries(db_url: str, server: PageServer) -> None:
    """Append a discovery history to the log at ``db_url`` (pages served by ``server``)."""
    settings = parse_config(config_text(server), path="sources.toml", environ={})
    old = ("/reports/2025", "Transparency report 2025")
    server.set("/sitemap.xml", sitemap(server, old, ("/reports/2024", "")))
    server.set("/reports/hk", "<html><body><p>Requests from Hong Kong.</p></body></html>")
    async with (
        open_store(db_url) as store,
        Fetcher(settings.monitor, NetworkPolicy.from_strings(allow_private=False)) as fetcher,
    ):
        checks = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        await checks.reconcile()
        discovery = DiscoveryRunner(checks)
        [entry] = settings.discover
        await discovery.run_pass(entry)
        server.set(
            "/sitemap.xml",
            sitemap(
                server,
                old,
                ("/reports/hk", "Statement on Hong Kong &lt;government&gt; requests"),
                ("/reports/2026-h1", "Transparency report H1 2026"),
            ),
        )
        report = await discovery.run_pass(entry)
        for source in checks.effective_settings().sources:
            if source.id in report.registered:
                await checks.check(source)
