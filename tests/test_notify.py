"""The notifier end to end: real SQLite logs, real Apprise, a real SMTP server and webhook.

Every receiver listens on 127.0.0.1 in the test's own event loop; Apprise talks to
them from its worker threads exactly as it would talk to Slack or a mail relay.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.settings import (
    ChannelSettings,
    MonitorSettings,
    RuleSettings,
    Settings,
    SourceSettings,
    WebSettings,
)
from monitor.diff.textdiff import diff_texts
from monitor.errors import StoreUnavailableError
from monitor.events import (
    Capture,
    ChangeDetected,
    Event,
    FetchFailed,
    NewEvent,
    SourceRecovered,
    SourceRegistered,
    StoredEvent,
)
from monitor.notify.channels import ChannelSender
from monitor.notify.notifier import CURSOR, STREAM, Notifier
from monitor.notify.render import Message
from monitor.notify.secrets import scrub, secret_fragments
from monitor.store import EventStore, open_store
from tests.pageserver import PageServer

SECRET = "s3cr3t-token-XYZ"
OLD = (
    "# Government requests\n"
    "We publish this report twice a year.\n"
    "In Hong Kong, we have resumed processing government data requests.\n"
)
NEW = (
    "# Government requests\n"
    "We publish this report twice a year.\n"
    "In Hong Kong, we have paused processing government data requests.\n"
)
SOURCE = SourceSettings(
    id="meta-gov",
    url="https://transparency.example.com/gov",
    company="Meta",
    title="Government requests",
    tags=("law-enforcement",),
)
HK_RULE = RuleSettings(
    id="hk-data-requests", all=("Hong Kong",), any=("paused",), severity="high", notify=("urgent",)
)


class Clock:
    """A settable clock shared by the store and the notifier."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# --------------------------------------------------------------------------- receivers


@dataclass
class Webhook:
    """An aiohttp endpoint that records every JSON post; ``fail`` makes it answer 500."""

    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    fail: int = 0  # answer 500 to this many requests before answering 200

    def url(self, name: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{name}/{SECRET}"

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.fail:
            self.fail -= 1
            return web.Response(status=500, text="boom")
        body = await request.json()
        self.received.append({"path": request.path, **body})
        return web.Response(text="ok")

    def messages(self, name: str = "hook") -> list[dict[str, Any]]:
        return [m for m in self.received if m["path"] == f"/{name}/{SECRET}"]


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/{tail:.*}", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook.port = int(runner.addresses[0][1])
    try:
        yield hook
    finally:
        await runner.cleanup()


@dataclass
class Inbox:
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)

    def url(self) -> str:
        return (
            f"mailto://alerts:{SECRET}@127.0.0.1:{self.port}"
            "?from=alerts@monitor.example.org&to=team@example.org"
        )

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    """A real SMTP server (aiosmtpd) that insists on the channel's password."""
    box = Inbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and data.password == SECRET.encode()
        return AuthResult(success=ok)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(box, hostname="127.0.0.1", authenticator=authenticate, auth_require_tls=False),
        "127.0.0.1",
        0,
    )
    box.port = server.sockets[0].getsockname()[1]
    try:
        yield box
    finally:
        server.close()
        await server.wait_closed()


def files_containing(directory: Path, secret: str) -> list[str]:
    """Names of the database files (main, WAL, journal) whose bytes contain ``secret``."""
    return [
        path.name
        for path in directory.iterdir()
        if path.name.startswith("monitor.db") and secret.encode() in path.read_bytes()
    ]


def text_of(message: EmailMessage) -> str:
    return str(message.get_content())


# --------------------------------------------------------------------------- the log


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.db'}"


@pytest.fixture
async def store(db_url: str, clock: Clock) -> AsyncIterator[EventStore]:
    async with open_store(db_url, clock=clock) as opened:
        yield opened


def settings(*channels: ChannelSettings, base_url: str | None = None) -> Settings:
    return Settings(
        path="sources.toml",
        monitor=MonitorSettings(alert_after_failures=3, base_url=base_url),
        web=WebSettings(),
        channels=channels,
        rules=(HK_RULE,),
        sources=(SOURCE,),
    )


async def append(store: EventStore, stream: str, *events: Event) -> list[StoredEvent]:
    version = await store.stream_version(stream)
    return await store.append([NewEvent.of(stream, e) for e in events], expected={stream: version})


async def register(store: EventStore) -> None:
    await append(store, SOURCE.id, SourceRegistered(settings=SOURCE.public_dict()))


def a_change(old: str = OLD, new: str = NEW) -> ChangeDetected:
    return ChangeDetected(
        capture=Capture.of(
            {
                "final_url": SOURCE.url,
                "fetched_at": "2026-03-09T06:59:59.000000Z",
                "text_sha256": "b" * 64,
                "raw_sha256": "c" * 64,
            }
        ),
        previous="a" * 64,
        previous_seen_until="2026-03-09T01:00:00.000000Z",
        diff=diff_texts(old, new).to_data(),
        classification="substantive",
        rules=[
            {
                "rule_id": "hk-data-requests",
                "severity": "high",
                "sentences": [NEW.splitlines()[-1]],
            }
        ],
        severity="high",
    )


async def records(store: EventStore) -> list[StoredEvent]:
    return await store.read(stream=STREAM)


# --------------------------------------------------------------------------- tests


def page(status: str) -> str:
    return (
        "<!doctype html><html><head><title>Government requests</title></head><body>"
        "<nav>Home | About</nav><main><h1>Government requests</h1>"
        "<p>We publish this report twice a year.</p>"
        f"<p>In Hong Kong, we have {status} processing government data requests.</p>"
        "</main></body></html>"
    )


async def test_one_change_gives_one_email_and_one_webhook(
    store: EventStore, clock: Clock, webhook: Webhook, inbox: Inbox, page_server: PageServer
) -> None:
    """A real check pipeline records a change; the notifier sends it to each channel once."""
    source = replace(SOURCE, url=page_server.set("/gov", page("resumed")), remove=("nav",))
    config = replace(
        settings(
            ChannelSettings(name="team-mail", url=inbox.url()),
            ChannelSettings(name="team-hook", url=webhook.url(), tags=("urgent",)),
            ChannelSettings(name="other-team", url=webhook.url("other"), tags=("privacy",)),
            base_url="https://monitor.example.org",
        ),
        sources=(source,),
    )
    async with Fetcher(config.monitor, NetworkPolicy()) as fetcher:
        runner = CheckRunner(store=store, fetcher=fetcher, settings=config, clock=clock)
        await runner.reconcile()
        assert (await runner.check(source)).outcome == "baseline"
        page_server.set("/gov", page("paused"))
        clock.advance(3600)
        report = await runner.check(source)
    assert report.outcome == "changed"
    [change] = [e for e in report.events if e.type == "ChangeDetected"]
    notifier = Notifier(store, config, clock=clock)

    assert await notifier.drain() == 2

    [mail] = inbox.messages
    # The title leads with the edit the rule matched, and its section (issue #22).
    assert mail["Subject"] == (
        "[high] Meta — Government requests changed (hk-data-requests): "
        "'resumed' → 'paused' under 'Government requests'"
    )
    assert mail.get_content_type() == "text/plain"
    body = text_of(mail)
    assert "hk-data-requests (high, added)" in body
    assert "“In Hong Kong, we have paused processing government data requests.”" in body
    assert "Added: “paused”" in body and "Removed: “resumed”" in body
    assert f"https://monitor.example.org/changes/{change.seq}" in body
    [hook] = webhook.messages()  # tagged "urgent": reached through the rule's notify
    assert "hk-data-requests" in hook["message"] and "paused" in hook["message"]
    assert webhook.messages("other") == []  # its tags meet neither the source nor the rule

    sent = await records(store)
    assert sorted((r.type, r.data["for_seq"], r.data["channel"]) for r in sent) == [
        ("NotificationSent", change.seq, "team-hook"),
        ("NotificationSent", change.seq, "team-mail"),
    ]
    assert await store.get_cursor(CURSOR) >= change.seq

    # Nothing more is owed: a second pass (or a new notifier) sends nothing.
    assert await notifier.drain() == 0
    assert await Notifier(store, config, clock=clock).drain() == 0
    assert len(inbox.messages) == 1 and len(webhook.received) == 1
    assert len(await records(store)) == 2
    assert await store.get_cursor(CURSOR) == (await store.head())[0]


async def test_failed_sends_are_retried_with_backoff_then_recorded_once(
    store: EventStore, clock: Clock, webhook: Webhook
) -> None:
    config = settings(ChannelSettings(name="team-hook", url=webhook.url()))
    await register(store)
    [change] = await append(store, SOURCE.id, a_change())
    webhook.fail = 2
    notifier = Notifier(store, config, clock=clock, retry_base=5.0)

    assert await notifier.drain() == 0
    assert webhook.attempts == 1
    clock.advance(4)  # back-off after attempt 1 is 5 s: not yet
    assert await notifier.drain() == 0
    assert webhook.attempts == 1
    clock.advance(1)
    assert await notifier.drain() == 0
    assert webhook.attempts == 2
    clock.advance(9)  # back-off after attempt 2 is 10 s
    assert await notifier.drain() == 0
    clock.advance(1)
    assert await notifier.drain() == 1
    assert webhook.attempts == 3 and len(webhook.messages()) == 1

    log = [(r.type, r.data["attempt"], r.data.get("final")) for r in await records(store)]
    assert log == [
        ("NotificationFailed", 1, False),
        ("NotificationFailed", 2, False),
        ("NotificationSent", 3, None),
    ]
    failed = (await records(store))[0]
    assert failed.data["for_seq"] == change.seq and failed.data["channel"] == "team-hook"
    assert "500" in failed.data["error"]
    # The cursor passes the change once nothing is owed (and our records once read back).
    assert await store.get_cursor(CURSOR) >= change.seq
    assert await notifier.drain() == 0
    assert await store.get_cursor(CURSOR) == (await store.head())[0]


async def test_gives_up_after_max_attempts_and_later_alerts_still_flow(
    store: EventStore, clock: Clock, webhook: Webhook
) -> None:
    config = settings(ChannelSettings(name="team-hook", url=webhook.url()))
    await register(store)
    [first] = await append(store, SOURCE.id, a_change())
    webhook.fail = 3
    notifier = Notifier(store, config, clock=clock, retry_base=1.0, max_attempts=3)
    for _ in range(3):
        await notifier.drain()
        clock.advance(60)
    outcomes = [(r.data["attempt"], r.data["final"]) for r in await records(store)]
    assert outcomes == [(1, False), (2, False), (3, True)]
    assert await store.get_cursor(CURSOR) > first.seq

    [second] = await append(store, SOURCE.id, a_change(NEW, OLD))
    assert await notifier.drain() == 1
    assert [r.data["for_seq"] for r in await records(store) if r.type == "NotificationSent"] == [
        second.seq
    ]
    assert first.seq not in [
        r.data["for_seq"] for r in await records(store) if r.type == "NotificationSent"
    ]


async def test_owed_alerts_survive_a_crash_and_are_sent_once(
    db_url: str, clock: Clock, webhook: Webhook, inbox: Inbox
) -> None:
    """A change recorded but never alerted (the process died) is alerted after a restart."""
    config = settings(
        ChannelSettings(name="team-mail", url=inbox.url()),
        ChannelSettings(name="team-hook", url=webhook.url()),
    )
    async with open_store(db_url, clock=clock) as store:
        await register(store)
        [change] = await append(store, SOURCE.id, a_change())
        webhook.fail = 1
        # First life: the e-mail goes out, the webhook fails once; then the process dies.
        assert await Notifier(store, config, clock=clock, retry_base=30.0).drain() == 1
    assert len(inbox.messages) == 1 and webhook.received == []

    clock.advance(10)
    async with open_store(db_url, clock=clock) as store:
        second_life = Notifier(store, config, clock=clock, retry_base=30.0)
        # The retry schedule is derived from the failure's record: 30 s, not yet due.
        assert await second_life.drain() == 0
        assert webhook.attempts == 1
        assert await store.get_cursor(CURSOR) == change.seq - 1
        clock.advance(20)
        assert await second_life.drain() == 1
        assert await second_life.drain() == 0

    async with open_store(db_url, clock=clock) as store:
        assert await Notifier(store, config, clock=clock).drain() == 0
        assert await store.get_cursor(CURSOR) == (await store.head())[0]
        kinds = [(r.type, r.data["channel"]) for r in await records(store)]
    assert len(inbox.messages) == 1 and len(webhook.messages()) == 1
    assert sorted(kinds) == [
        ("NotificationFailed", "team-hook"),
        ("NotificationSent", "team-hook"),
        ("NotificationSent", "team-mail"),
    ]


async def test_digest_batches_a_channels_alerts_into_one_message(
    db_url: str, clock: Clock, webhook: Webhook
) -> None:
    config = settings(
        ChannelSettings(name="daily", url=webhook.url("daily"), digest="daily@08:00"),
        ChannelSettings(name="now", url=webhook.url("now")),
    )
    async with open_store(db_url, clock=clock) as store:
        await register(store)
        changes = []
        for old, new in ((OLD, NEW), (NEW, OLD), (OLD, NEW)):
            changes += await append(store, SOURCE.id, a_change(old, new))
            clock.advance(600)
        notifier = Notifier(store, config, clock=clock)
        assert await notifier.drain() == 3  # the immediate channel, one by one
        assert webhook.messages("daily") == []
        assert notifier.next_due() == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
        # Nothing before 08:00; the cursor waits for the digest.
        clock.now = datetime(2026, 3, 9, 7, 59, 59, tzinfo=UTC)
        assert await notifier.drain() == 0
        assert await store.get_cursor(CURSOR) == changes[0].seq - 1

    clock.now = datetime(2026, 3, 9, 8, 0, 1, tzinfo=UTC)
    async with open_store(db_url, clock=clock) as store:  # a restart on the way
        notifier = Notifier(store, config, clock=clock)
        assert await notifier.drain() == 1
        assert await notifier.drain() == 0
        digest_records = [r for r in await records(store) if r.data["channel"] == "daily"]
    [digest] = webhook.messages("daily")
    assert digest["title"].startswith("[high] policy-monitor digest: 3 alerts")
    assert digest["message"].count("changed (hk-data-requests)") == 3
    assert len(webhook.messages("now")) == 3
    assert sorted(r.data["for_seq"] for r in digest_records) == [c.seq for c in changes]
    assert {r.data["digest"] for r in digest_records} == {"daily@2026-03-09T08:00Z"}


async def test_fetch_failures_alert_once_at_the_threshold_and_recovery_once(
    store: EventStore, clock: Clock, webhook: Webhook
) -> None:
    config = settings(ChannelSettings(name="team-hook", url=webhook.url()))
    await register(store)
    for n in range(1, 6):
        await append(
            store,
            SOURCE.id,
            FetchFailed(
                url=SOURCE.url,
                error="http",
                message="HTTP 503 Service Unavailable",
                status=503,
                consecutive_failures=n,
            ),
        )
    await append(store, SOURCE.id, SourceRecovered(failures=5, failing_since="2026-03-09T01:00Z"))
    # A short blip that never reached the threshold: neither failure nor recovery alerts.
    await append(store, SOURCE.id, FetchFailed(url=SOURCE.url, error="timeout", message="slow"))
    await append(store, SOURCE.id, SourceRecovered(failures=1, failing_since="2026-03-09T06:00Z"))

    assert await Notifier(store, config, clock=clock).drain() == 2
    titles = [m["title"] for m in webhook.messages()]
    assert titles == [
        "[low] Meta — Government requests cannot be fetched (3 failures)",
        "[low] Meta — Government requests can be fetched again",
    ]


async def test_channel_secrets_stay_out_of_the_database_and_the_logs(
    tmp_path: Path,
    db_url: str,
    clock: Clock,
    webhook: Webhook,
    inbox: Inbox,
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config = settings(
        ChannelSettings(name="team-mail", url=inbox.url()),
        ChannelSettings(name="failing-hook", url=webhook.url()),
        ChannelSettings(name="dead-hook", url=f"json://127.0.0.1:{closed_port}/x/{SECRET}"),
        ChannelSettings(
            name="dead-mail",
            url=f"mailto://alerts:{SECRET}@127.0.0.1:{closed_port}"
            "?from=a@example.org&to=b@example.org",
        ),
        ChannelSettings(name="nonsense", url=f"nosuchservice://{SECRET}@example.org/"),
    )
    webhook.fail = 100
    async with open_store(db_url, clock=clock) as store:
        await register(store)
        await append(store, SOURCE.id, a_change())
        notifier = Notifier(store, config, clock=clock, retry_base=1.0, max_attempts=2)
        await notifier.drain()
        clock.advance(5)
        await notifier.drain()
        failures = [r for r in await records(store) if r.type == "NotificationFailed"]

    assert {r.data["channel"] for r in failures} == {
        "failing-hook",
        "dead-hook",
        "dead-mail",
        "nonsense",
    }
    assert all(r.data["error"] for r in failures)
    assert len(inbox.messages) == 1
    assert files_containing(tmp_path, SECRET) == []
    assert caplog.records, "expected log output from the failing channels"
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert SECRET not in text, text
    assert SECRET not in caplog.text


async def test_run_wakes_on_append_and_stops_promptly(store: EventStore, webhook: Webhook) -> None:
    config = settings(ChannelSettings(name="team-hook", url=webhook.url()))
    await register(store)
    notifier = Notifier(store, config)
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(notifier.run(stop, wake, poll_interval=60))
    await asyncio.sleep(0.2)
    await append(store, SOURCE.id, a_change())
    wake.set()
    for _ in range(1200):  # a condition waited for (up to a minute on a loaded machine)
        if webhook.received:
            break
        await asyncio.sleep(0.05)
    assert len(webhook.messages()) == 1
    stop.set()
    await asyncio.wait_for(task, 30)  # promptly: far inside the 60 s poll, whatever the load


async def test_two_notifiers_on_one_log_record_without_losing_or_repeating(
    store: EventStore, clock: Clock, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    """Each records on the same stream with expected versions; a conflict is re-read, not lost."""
    caplog.set_level(logging.INFO, logger="monitor.notify.outcomes")
    await register(store)
    await append(store, SOURCE.id, a_change())
    first = Notifier(store, settings(ChannelSettings(name="a", url=webhook.url("a"))), clock=clock)
    second = Notifier(store, settings(ChannelSettings(name="b", url=webhook.url("b"))), clock=clock)
    assert list(await asyncio.gather(first.drain(), second.drain())) == [1, 1]
    log = await records(store)
    assert sorted(r.data["channel"] for r in log) == ["a", "b"]
    assert [r.version for r in log] == [1, 2]
    assert "another writer recorded notifications meanwhile" in caplog.text  # the conflict path
    assert len(webhook.messages("a")) == 1 and len(webhook.messages("b")) == 1


def test_scrub_removes_url_and_its_secret_parts() -> None:
    url = f"json://user:pw-{SECRET}@hooks.example.org/services/T0001/{SECRET}?token=abc123456"
    fragments = secret_fragments(url)
    text = (
        f"POST http://hooks.example.org/services/T0001/{SECRET} failed; "
        f"password pw-{SECRET}; token abc123456; {url}"
    )
    cleaned = scrub(text, fragments)
    assert SECRET not in cleaned and "abc123456" not in cleaned and "T0001" not in cleaned
    assert "failed" in cleaned


class FlakyStore:
    """The real store, except that recording notifications fails ``failures`` times.

    Stands for a database that is briefly locked or full right after a send went out.
    """

    def __init__(self, inner: EventStore, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def append(
        self, events: Sequence[NewEvent], *, expected: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        if self.failures and any(e.stream == STREAM for e in events):
            self.failures -= 1
            raise StoreUnavailableError("database is locked")
        return await self.inner.append(events, expected=expected)


async def test_a_send_whose_record_fails_is_recorded_later_not_sent_again(
    store: EventStore, clock: Clock, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    config = settings(ChannelSettings(name="team-hook", url=webhook.url()))
    await register(store)
    [change] = await append(store, SOURCE.id, a_change())
    flaky = FlakyStore(store, failures=2)
    notifier = Notifier(cast(EventStore, flaky), config, clock=clock)

    assert await notifier.drain() == 1  # delivered; recording it failed
    assert "could not record 1 notification outcomes" in caplog.text
    assert await records(store) == []
    assert await notifier.drain() == 0  # still failing to record: not sent again meanwhile
    assert await store.get_cursor(CURSOR) < change.seq  # the cursor waits for the record
    assert await notifier.drain() == 0  # the store is back: the record goes in
    assert await notifier.drain() == 0
    assert [(r.type, r.data["for_seq"]) for r in await records(store)] == [
        ("NotificationSent", change.seq)
    ]
    assert len(webhook.messages()) == 1
    assert await store.get_cursor(CURSOR) == (await store.head())[0]


async def test_a_crash_between_send_and_record_resends_once(
    store: EventStore, clock: Clock, webhook: Webhook
) -> None:
    """The documented at-least-once window: delivered, never recorded, process gone."""
    config = settings(ChannelSettings(name="team-hook", url=webhook.url()))
    await register(store)
    await append(store, SOURCE.id, a_change())
    assert await Notifier(cast(EventStore, FlakyStore(store, 1)), config, clock=clock).drain() == 1
    # That process died with the record unwritten; the next one cannot know it was sent.
    restarted = Notifier(store, config, clock=clock)
    assert await restarted.drain() == 1
    assert await restarted.drain() == 0
    assert len(webhook.messages()) == 2
    assert [r.type for r in await records(store)] == ["NotificationSent"]


async def test_reconfigure_routes_new_events_only_and_drops_removed_channels(
    store: EventStore, clock: Clock, webhook: Webhook, closed_port: int
) -> None:
    await register(store)
    [first] = await append(store, SOURCE.id, a_change())
    old = ChannelSettings(name="old", url=webhook.url("old"))
    # "gone" is unreachable and would be retried…
    gone = ChannelSettings(name="gone", url=f"json://127.0.0.1:{closed_port}/gone")
    notifier = Notifier(store, settings(gone, old), clock=clock, retry_base=60)
    assert await notifier.drain() == 1
    assert len(webhook.messages("old")) == 1

    assert await store.get_cursor(CURSOR) < first.seq  # held back for "gone"

    new = ChannelSettings(name="new", url=webhook.url("new"))
    notifier.reconfigure(settings(old, new))  # …but it left the configuration
    # The unsettled event is routed again: "new" gets it, "old" does not get it twice.
    assert await notifier.drain() == 1
    assert await notifier.drain() == 0
    assert await store.get_cursor(CURSOR) == (await store.head())[0]
    [second] = await append(store, SOURCE.id, a_change(NEW, OLD))
    assert await notifier.drain() == 2
    assert len(webhook.messages("old")) == 2
    assert [f"#{first.seq} " in m["message"] for m in webhook.messages("new")] == [True, False]
    assert f"#{second.seq} " in webhook.messages("new")[1]["message"]
    assert {r.data["channel"] for r in await records(store)} == {"gone", "old", "new"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general", "markdown"),
        (
            "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
            "markdown",
        ),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "markdown"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general?format=text", "text"),
        ("json://127.0.0.1/hook", "text"),
        ("json://127.0.0.1/hook?format=markdown", "markdown"),
        ("mailto://user:pw@127.0.0.1:2525?from=a@example.org&to=team@example.org", "text"),
        ("gotify://gotify.example.org/token1234567", "text"),
    ],
)
def test_chat_services_get_markdown_and_mail_and_webhooks_plain_text(
    url: str, expected: str
) -> None:
    sender = ChannelSender.build(ChannelSettings(name="c", url=url))
    assert sender.problem is None
    assert sender.format == expected


@pytest.mark.parametrize(("query", "longest"), [("", 32768), ("?overflow=upstream", 100_000)])
async def test_over_long_messages_are_cut_by_apprise_unless_the_url_says_otherwise(
    webhook: Webhook, query: str, longest: int
) -> None:
    sender = ChannelSender.build(ChannelSettings(name="c", url=webhook.url() + query))
    assert await sender.send(Message(title="t", body="word " * 20_000)) is None
    [received] = webhook.messages()
    assert len(received["message"]) <= longest
    assert len(received["message"]) > 30_000
