"""``monitor demo``: the whole monitor, end to end, on this machine only, in seconds.

One job: show a newcomer what the monitor does without network access or a
config file. Everything is real — an aiohttp page server, the daemon (scheduler,
check pipeline, notifier), a SQLite event log, an Apprise ``json://`` channel —
only pointed at 127.0.0.1:

1. a local page says Example Corp has *paused* processing Hong Kong government
   data requests; the daemon records its baseline;
2. the page flips to *resumed*; the next scheduled check records a
   ``ChangeDetected`` that the shipped ``hk-data-requests`` rule flags;
3. the notifier posts the alert to a local webhook receiver, which prints it;
4. the event log is printed as ``monitor log`` prints it, and everything —
   servers, daemon, the temporary database — is stopped and removed.

Invariant: nothing listens beyond 127.0.0.1 and nothing outlives the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.check.pipeline import CheckReport
from monitor.commands import log as log_command
from monitor.config.parse import load_config
from monitor.config.settings import Settings
from monitor.daemon.service import Daemon
from monitor.events import ChangeDetected

SOURCE_ID = "example-corp-hk-requests"
PAGE_PATH = "/transparency/government-requests"
PAUSED = "Example Corp has paused processing Hong Kong government data requests."
RESUMED = "Example Corp has resumed processing Hong Kong government data requests."
INTERVAL = "2s"
ALERT_TIMEOUT = 20.0  # seconds from the flip; the whole demo normally takes about 5 s

# The same rule as the shipped sources.toml, so the demo shows what users will get.
DEMO_CONFIG = """\
# Written by `monitor demo`; everything points at 127.0.0.1.
[monitor]
database = "sqlite:///{database}"
key_path = "{key_path}"
default_interval = "{interval}"
jitter = 10
grace_period = "5s"

[[channel]]
name = "demo-webhook"
url = "json://127.0.0.1:{hook_port}/alerts"
tags = ["urgent"]

[[rule]]
id = "hk-data-requests"
all = ["Hong Kong"]
any = ["request", "requests", "law enforcement", "government", "data"]
on = "any"
severity = "high"
notify = ["urgent"]

[[source]]
id = "{source_id}"
company = "Example Corp"
title = "Government requests for user data"
url = "http://127.0.0.1:{page_port}{page_path}"
interval = "{interval}"
tags = ["government-requests", "hong-kong"]
remove = ["nav", "footer"]
"""


def page_html(sentence: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Government requests for user data — Example Corp</title></head><body>"
        "<nav>Home · Transparency · Privacy</nav><main>"
        "<h1>Government requests for user data</h1>"
        "<p>Example Corp publishes this report twice a year.</p>"
        f"<p>{sentence}</p>"
        "<p>We review every request for legal validity and push back on overbroad ones.</p>"
        "</main><footer>© Example Corp</footer></body></html>"
    )


@dataclass
class _Local:
    """The demo's two local servers and what they have seen."""

    sentence: str = PAUSED
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alert_arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=page_html(self.sentence), content_type="text/html")

    async def hook(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.alerts.append(payload if isinstance(payload, dict) else {"body": payload})
        self.alert_arrived.set()
        return web.Response(text="ok")


@contextlib.asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def run_demo(print_: Callable[[str], None] = print) -> int:
    """Run the demo, printing as it goes; 0 when the alert arrived, 1 if it did not."""
    started = time.monotonic()

    def say(text: str) -> None:
        print_(f"[{time.monotonic() - started:4.1f}s] {text}")

    local = _Local()
    page_app = web.Application()
    page_app.router.add_get(PAGE_PATH, local.page)
    hook_app = web.Application()
    hook_app.router.add_post("/alerts", local.hook)
    with tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp:
        async with _serve(page_app) as page_port, _serve(hook_app) as hook_port:
            config = Path(tmp) / "sources.toml"
            database = Path(tmp) / "demo.db"
            config.write_text(
                DEMO_CONFIG.format(
                    database=database,
                    key_path=Path(tmp) / "demo.key",
                    interval=INTERVAL,
                    hook_port=hook_port,
                    page_port=page_port,
                    page_path=PAGE_PATH,
                    source_id=SOURCE_ID,
                ),
                encoding="utf-8",
            )
            settings = load_config(config, environ={})
            _introduce(print_, settings, database)
            ok = await _watch(say, print_, local, settings, config)
            print_("")
            print_("The event log, as `monitor log` shows it:")
            print_("")
            await log_command.run(
                argparse.Namespace(
                    config=str(config),
                    db=settings.monitor.database,
                    source=[],
                    type=[],
                    since=None,
                    json=False,
                )
            )
    print_("")
    if ok:
        print_(f"Demo finished in {time.monotonic() - started:.1f}s; the temporary files are gone.")
        print_("Next: copy sources.toml, run `monitor validate`, then `monitor run`.")
        return 0
    print_("The alert did not arrive in time; see the messages above.")
    return 1


def _introduce(print_: Callable[[str], None], settings: Settings, database: Path) -> None:
    source = settings.sources[0]
    rule = settings.rules[0]
    channel = settings.channels[0]
    print_("policy-monitor demo: no network, no configuration; everything runs on 127.0.0.1")
    print_("")
    print_(f"  page      {source.url}")
    print_(f"  checked   every {source.interval}s by the daemon (scheduler + notifier)")
    print_(
        f"  rule      {rule.id}: all of {list(rule.all)}, any of {list(rule.any)}; "
        f"severity {rule.severity}"
    )
    print_(f"  channel   {channel.name}: Apprise json:// to a local webhook receiver")
    print_(f"  database  {database} (temporary)")
    print_("")


async def _watch(
    say: Callable[[str], None],
    print_: Callable[[str], None],
    local: _Local,
    settings: Settings,
    config: Path,
) -> bool:
    baseline = asyncio.Event()
    changes: list[ChangeDetected] = []

    def on_report(report: CheckReport) -> None:
        if report.outcome == "baseline":
            baseline.set()
        elif report.outcome == "changed":
            say(f"change detected: {report.detail}")
            changes.extend(c for e in report.events if isinstance(c := e.event, ChangeDetected))
        elif report.outcome in ("failed", "suspect", "error"):
            say(f"check {report.outcome}: {report.detail}")

    daemon = Daemon(
        settings,
        database=settings.monitor.database,
        config_path=config,
        environ={},
        handle_signals=False,
        on_report=on_report,
    )
    running = asyncio.create_task(daemon.run(), name="demo-daemon")
    try:
        if not await _until(baseline, running, ALERT_TIMEOUT):
            say("no baseline was captured")
            return False
        say(f'baseline captured; the page says: "{PAUSED}"')
        local.sentence = RESUMED
        say(f'the page now says:                "{RESUMED}"')
        if not await _until(local.alert_arrived, running, ALERT_TIMEOUT):
            say("no alert reached the webhook receiver")
            return False
        say("alert received by the local webhook receiver:")
        _print_alert(print_, local.alerts[0])
        _print_matches(print_, changes)
        return True
    finally:
        daemon.request_stop()
        await running


async def _until(event: asyncio.Event, daemon: asyncio.Task[None], seconds: float) -> bool:
    """Wait for ``event``; False after ``seconds`` or if the daemon ended (its error is raised)."""
    waiter = asyncio.ensure_future(event.wait())
    done, _ = await asyncio.wait(
        {waiter, daemon}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
    )
    waiter.cancel()
    if daemon in done:
        daemon.result()  # re-raises what stopped the daemon
        return False
    return waiter in done


def _print_alert(print_: Callable[[str], None], payload: dict[str, Any]) -> None:
    title = str(payload.get("title") or "")
    body = str(payload.get("message") or payload.get("body") or json.dumps(payload))
    print_("")
    print_(f"    ┌ {title}")
    for line in body.splitlines():
        print_(f"    │ {line}".rstrip())
    print_("    └")


def _print_matches(print_: Callable[[str], None], changes: list[ChangeDetected]) -> None:
    """Why the change was flagged, straight from the ``ChangeDetected`` event."""
    print_("")
    for change in changes:
        for match in change.rules:
            terms = ", ".join(str(t) for t in match.get("terms") or ())
            print_(
                f"  matched rule {match.get('rule_id')} on the {match.get('side', '?')} text "
                f"(terms: {terms}; severity {match.get('severity')}):"
            )
            for sentence in match.get("sentences") or ():
                print_(f'    "{sentence}"')
