"""A discovered document reaches a channel once, through the real notifier; the baseline never."""

from __future__ import annotations

from pathlib import Path

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.parse import parse_config
from monitor.discover.runner import DiscoveryRunner
from monitor.notify.notifier import Notifier
from monitor.store import open_store
from tests.discover.build import sitemap
from tests.pageserver import PageServer
from tests.test_notify import Webhook, webhook  # noqa: F401 - the fixture


async def test_one_new_matching_document_is_one_alert(
    tmp_path: Path,
    page_server: PageServer,
    webhook: Webhook,  # noqa: F811
) -> None:
    settings = parse_config(
        f"""
[[channel]]
name = "team"
url = "{webhook.url()}"
tags = ["dsa"]

[[rule]]
id = "hk"
all = ["Hong Kong"]
severity = "high"

[[discover]]
id = "example"
company = "Example"
sitemap = "{page_server.url("/sitemap.xml")}"
match = "/reports/"
tags = ["dsa"]
""",
        path="sources.toml",
        environ={},
    )
    [entry] = settings.discover
    page_server.set("/sitemap.xml", sitemap(page_server, ("/reports/2025", "Report 2025")))
    async with (
        open_store(f"sqlite:///{tmp_path / 'monitor.db'}") as store,
        Fetcher(settings.monitor, NetworkPolicy()) as fetcher,
    ):
        discovery = DiscoveryRunner(CheckRunner(store=store, fetcher=fetcher, settings=settings))
        notifier = Notifier(store, settings)
        await discovery.run_pass(entry)
        assert await notifier.drain() == 0  # what was there at the first pass
        page_server.set(
            "/sitemap.xml",
            sitemap(
                page_server,
                ("/reports/2025", "Report 2025"),
                ("/reports/hk", "Requests from Hong Kong authorities"),
                ("/careers/open-roles", "We are hiring"),  # does not match
            ),
        )
        await discovery.run_pass(entry)
        assert await notifier.drain() == 1
        await discovery.run_pass(entry)
        assert await notifier.drain() == 0
    [message] = webhook.messages()
    assert "New document from Example: Requests from Hong Kong authorities (hk)" in message["title"]
    assert page_server.url("/reports/hk") in message["message"]
    assert "hiring" not in message["message"]
