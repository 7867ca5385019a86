"""A real monitor database for the web tests, made by the real check pipeline.

Pages served by ``tests.pageserver.PageServer`` change between passes of
``CheckRunner.check``: a baseline, a substantive change that matches a rule, a
revert, a failure, a suspect page, a Chinese page and a page whose new text
carries markup that must show as text. Notification events and the notifier
cursor are appended the way the notifier records them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.parse import parse_config
from monitor.config.settings import Settings
from monitor.events import NewEvent, NotificationFailed, NotificationSent, StoredEvent
from monitor.store import open_store
from tests.pageserver import PageServer

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
SCRIPT_TITLE = "<script>alert(3)</script>"


def page(title: str, *paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head><title>{title}</title></head>"
        f"<body><nav>Home</nav><main><h1>{title}</h1>{body}</main></body></html>"
    )


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


HK_BEFORE = page(
    "Government requests", "We have paused processing Hong Kong requests.", "Reports twice a year."
)
HK_AFTER = page(
    "Government requests",
    "We have resumed processing Hong Kong requests from law enforcement.",
    "Reports twice a year.",
)
XSS_BEFORE = page("Policy", "Our policy is short.")
XSS_AFTER = page(
    escape_html(SCRIPT_TITLE),
    f"Our policy is short. {escape_html(SCRIPT)} {escape_html(IMG)} alert everyone.",
)
LONG = " ".join(
    f"Paragraph {i} of the transparency report explains our numbers." for i in range(40)
)
ZH_BEFORE = page("政府请求", "我们收到了香港的政府请求。")
ZH_AFTER = page("政府请求", "我们暂停处理香港的政府请求。")


def config_text(server: PageServer) -> str:
    return f"""
[monitor]
database = "sqlite:///unused.db"
concurrency = 4

[web]
base_url = "http://monitor.example"

[[rule]]
id = "hk-data-requests"
all = ["Hong Kong"]
any = ["request", "law enforcement"]
on = "added"
severity = "high"

[[rule]]
id = "alerts"
all = ["alert"]
on = "added"
severity = "medium"

[[rule]]
id = "never-matches"
all = ["zebra"]

[[source]]
id = "hk-requests"
company = "Meta"
title = "Government requests for user data"
url = "{server.url("/hk")}"
remove = ["nav"]
tags = ["law-enforcement", "asia"]

[[source]]
id = "xss-page"
company = "AT&T"
title = "Privacy policy"
url = "{server.url("/xss")}"
remove = ["nav"]
tags = ["privacy"]

[[source]]
id = "down-page"
company = "Example"
title = "Transparency report"
url = "{server.url("/down")}"
remove = ["nav"]
tags = ["transparency"]

[[source]]
id = "suspect-page"
company = "Example"
title = "Law enforcement guidelines"
url = "{server.url("/suspect")}"
remove = ["nav"]
tags = ["law-enforcement"]

[[source]]
id = "zh-page"
company = "腾讯"
title = "政府请求"
url = "{server.url("/zh")}"
remove = ["nav"]
tags = ["asia"]
"""


@dataclass
class Site:
    """What the builder made, for assertions."""

    db_url: str
    settings: Settings
    events: list[StoredEvent] = field(default_factory=list)

    def of(self, stream: str, type_: str) -> list[StoredEvent]:
        return [e for e in self.events if e.stream == stream and e.type == type_]

    def change(self, stream: str, classification: str = "substantive") -> StoredEvent:
        return next(
            e
            for e in self.of(stream, "ChangeDetected")
            if e.data["classification"] == classification
        )


async def build(db_path: Path, server: PageServer) -> Site:
    settings = parse_config(config_text(server), path="sources.toml", environ={})
    url = f"sqlite:///{db_path}"
    server.set("/hk", HK_BEFORE)
    server.set("/xss", XSS_BEFORE)
    server.set("/down", page("Report", LONG))
    server.set("/suspect", page("Guidelines", LONG))
    server.set("/zh", ZH_BEFORE, headers={"Content-Language": "zh-CN"})
    policy = NetworkPolicy.from_strings(allow_private=False)
    async with open_store(url) as store, Fetcher(settings.monitor, policy) as fetcher:
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        await runner.reconcile()

        async def check_all() -> None:
            for source in settings.sources:
                await runner.check(source)

        await check_all()  # baselines
        server.set("/hk", HK_AFTER)
        server.set("/xss", XSS_AFTER)
        server.set("/down", "gone", status=404, content_type="text/plain")
        server.set("/suspect", page("Error", "Access denied"))
        server.set("/zh", ZH_AFTER, headers={"Content-Language": "zh-CN"})
        await check_all()  # change, change, failure, suspect, change
        server.set("/hk", HK_BEFORE)
        await runner.check(settings.sources[0])  # the revert

        events = await store.read()
        hk_change = next(
            e for e in events if e.stream == "hk-requests" and e.type == "ChangeDetected"
        )
        await store.append(
            [
                NewEvent.of(
                    "$notifier",
                    NotificationSent(for_seq=hk_change.seq, channel="team-mail", attempt=1),
                ),
                NewEvent.of(
                    "$notifier",
                    NotificationFailed(
                        for_seq=hk_change.seq,
                        channel="team-webhook",
                        attempt=1,
                        error="HTTP 500 from the webhook",
                    ),
                ),
            ]
        )
        await store.set_cursor("notifier", hk_change.seq)
        return Site(db_url=url, settings=settings, events=await store.read())


def build_sync(db_path: Path) -> Site:
    server = PageServer().start()
    try:
        return asyncio.run(build(db_path, server))
    finally:
        server.stop()
