"""Frozen settings: what ``config.parse_config`` turns ``sources.toml`` into.

Pure data, parsed once at the edge. Durations are whole seconds. Nothing here
reads files or the environment; see ``monitor.config.parse`` for that.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

from monitor.events import ALERT_EVENTS, names

Format = Literal["html", "pdf", "json", "csv", "text", "markdown"]
Render = Literal["http", "browser", "auto"]
On = Literal["added", "removed", "any"]
Severity = Literal["info", "low", "medium", "high", "critical"]

SEVERITY_ORDER: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

DEFAULT_USER_AGENT = (
    "policy-monitor/0.1 (+https://github.com/policy-monitor/policy-monitor; research use)"
)


@dataclass(frozen=True, kw_only=True)
class MonitorSettings:
    """The ``[monitor]`` table."""

    database: str = "sqlite:///monitor.db"
    user_agent: str = DEFAULT_USER_AGENT
    default_interval: int = 6 * 3600
    concurrency: int = 16
    per_host: int = 2
    timeout: int = 30
    max_bytes: int = 20 * 1024 * 1024
    jitter_percent: int = 10
    confirm_every: int = 24 * 3600
    alert_after_failures: int = 3
    allow_private: bool = False  # intranet users may let sources reach private addresses
    allow_networks: tuple[str, ...] = ()  # CIDRs always allowed (unless denied)
    deny_networks: tuple[str, ...] = ()  # CIDRs always refused
    respect_robots: bool = False
    key_path: str = "monitor.key"
    checkpoint_every: int = 3600
    grace_period: int = 30
    base_url: str | None = None
    browser_pages: int = 2  # pages rendered at once by the shared Chromium
    browser_memory: int = 1024 * 1024 * 1024  # restart Chromium above this (bytes, PSS)
    browser_restart_after: int = 500  # ... or after this many pages
    # Where the key and checkpoint journals live; None: beside the SQLite database, else
    # beside the configuration file (see monitor.audit.home). Never the working directory.
    data_dir: str | None = None
    ca_file: str | None = None  # PEM CAs trusted besides the system's (private PKI, tests)
    gone_after: int = 3  # consecutive 404/410 (or redirects away) before a page is gone
    extract_workers: int | None = None  # daemon's extraction processes; None: one per CPU


@dataclass(frozen=True, kw_only=True)
class ChannelSettings:
    """One ``[[channel]]``: an Apprise URL (a secret) reached by tags."""

    name: str
    url: str = field(repr=False)  # secret: never logged, never stored in events
    tags: tuple[str, ...] = ()
    digest: str | None = None  # "daily@08:00" | "weekly@mon 08:00"
    min_severity: Severity = "info"
    events: tuple[str, ...] = names(ALERT_EVENTS)  # every type the notifier alerts about


FigureWhen = Literal["published", "restated", "from_zero", "to_zero", "rise_pct", "fall_pct"]


@dataclass(frozen=True, kw_only=True)
class FigureRuleSettings:
    """The figures part of a ``[[rule]]``: which series, and what about them matters."""

    when: FigureWhen
    where: tuple[tuple[str, str], ...] = ()  # column = value, all must hold
    column: str | None = None  # one value column; None: every value column
    pct: int | None = None  # for rise_pct / fall_pct


@dataclass(frozen=True, kw_only=True)
class RuleSettings:
    """One ``[[rule]]``: says why a change matters."""

    id: str
    all: tuple[str, ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()
    near: int | None = None
    on: On = "any"
    severity: Severity = "medium"
    notify: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    figures: FigureRuleSettings | None = None  # set: a rule over figures, not over text


@dataclass(frozen=True, kw_only=True)
class FiguresSettings:
    """A source's ``[source.figures]``: how to read the report's table as series."""

    key: tuple[str, ...]  # columns naming a row ("Country", "Request type")
    period: str  # the column naming the reporting period
    values: tuple[str, ...] = ()  # the figure columns; () = every other column
    table: str | None = None  # CSS selector of the <table> in an HTML page
    member: str | None = None  # the file inside a ZIP body
    sheet: str | None = None  # the worksheet of an XLSX workbook (default: the first)

    def public_dict(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "period": self.period,
            "values": list(self.values),
            "table": self.table,
            "member": self.member,
            "sheet": self.sheet,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FiguresSettings:
        return cls(
            key=tuple(data.get("key") or ()),
            period=str(data.get("period") or ""),
            values=tuple(data.get("values") or ()),
            table=data.get("table"),
            member=data.get("member"),
            sheet=data.get("sheet"),
        )


QUIET_CLASSES = ("chrome", "dated", "volatile")


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceSettings:
    """One ``[[source]]``: a page to watch and how to read it."""

    id: str
    url: str
    company: str = ""
    title: str = ""
    tags: tuple[str, ...] = ()
    select: str | None = None
    remove: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    interval: int | None = None
    cron: str | None = None
    format: Format | None = None  # None: chosen by media type
    render: Render = "http"
    confirm: int = 1
    watch_links: bool | Literal["documents"] = False  # "documents": only links to documents
    screenshot: bool = False
    json_path: str | None = None
    csv_key: tuple[str, ...] = ()
    verify_tls: bool = True
    robots: bool | None = None  # None: follow [monitor].respect_robots
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # values may be secrets
    timeout: int | None = None
    max_bytes: int | None = None
    # A document over several pages: its parts in order (``url`` is the first). Empty for
    # a one-page source, and then left out of ``public_dict`` so recorded settings of
    # sources written before parts existed compare equal (no spurious SourceUpdated).
    urls: tuple[str, ...] = ()
    figures: FiguresSettings | None = None
    gone_after: int | None = None  # None: [monitor] gone_after
    # Detection of noise (monitor.noise): remove well-known consent banners; which quiet
    # classes of change still alert; how many consecutive changes confined to one block
    # make it learned as volatile (0: never learn), and how many quiet checks unlearn it.
    remove_consent: bool = True
    also_alert: tuple[str, ...] = ()  # of "chrome", "dated", "volatile"
    learn_volatile_after: int = 3
    unlearn_volatile_after: int = 10

    def public_dict(self) -> dict[str, Any]:
        """The settings as recorded in ``SourceRegistered``: JSON-safe, header values withheld."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _OMITTED_WHEN_DEFAULT and value == f.default:
                # Keys added after the first release: absent while unset, so upgrading
                # records no SourceUpdated for every source.
                continue
            if f.name == "figures":
                # Absent unless set, so sources without figures keep their recorded settings.
                if value is not None:
                    out[f.name] = value.public_dict()
                continue
            if f.name == "headers":
                value = sorted(name for name, _ in value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


_OMITTED_WHEN_DEFAULT = frozenset(
    {
        "gone_after",
        "remove_consent",
        "also_alert",
        "learn_volatile_after",
        "unlearn_volatile_after",
        "urls",  # a document over several pages; one-page sources record no "urls"
    }
)


@dataclass(frozen=True, kw_only=True)
class UserSettings:
    """One ``[[user]]``: a named person who may use the web view with their own token.

    ``analyst`` may review and annotate changes; ``viewer`` may only read.
    """

    name: str
    token: str = field(repr=False)  # secret, read from the variable ``token_env`` names
    role: Literal["analyst", "viewer"] = "viewer"


@dataclass(frozen=True, kw_only=True)
class StoriesSettings:
    """The ``[stories]`` table: when changes at several companies make one story."""

    min_companies: int = 2
    window: int = 14 * 24 * 3600


@dataclass(frozen=True, kw_only=True)
class DiscoverSettings:
    """One ``[[discover]]``: where a company lists its documents, and which of them to hear of.

    ``sitemap`` (sitemap.xml, a sitemap index, or ``.xml.gz``) and/or ``index`` (an HTML
    page whose links are the documents, narrowed by the CSS ``select``). ``match`` is a
    regular expression searched in each URL, ``text_match`` one in its link text or
    title. ``source`` is the template a discovered URL is watched with (``watch``).
    """

    id: str
    company: str = ""
    sitemap: str | None = None
    index: str | None = None
    select: str | None = None
    match: str | None = None
    text_match: str | None = None
    interval: int = 24 * 3600
    watch: bool = False
    max_new: int = 20
    tags: tuple[str, ...] = ()
    source: SourceSettings | None = None  # the [discover.source] template (id and url unset)

    @property
    def listings(self) -> tuple[str, ...]:
        """The URLs discovery reads: the sitemap, then the index page."""
        return tuple(url for url in (self.sitemap, self.index) if url)


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    """The ``[web]`` table."""

    listen: str = "127.0.0.1:8080"
    token: str | None = field(default=None, repr=False)
    base_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class TimestampAuthority:
    """One RFC 3161 time-stamping authority of ``[audit] timestamp_authorities``."""

    url: str
    certificates: str  # PEM file: the TSA's certificate chain (its signing cert first)
    name: str = ""  # shown in reports; defaults to the URL's host

    @property
    def label(self) -> str:
        return self.name or (urlsplit(self.url).hostname or self.url)


WAYBACK_ENDPOINT = "https://web.archive.org/save"


@dataclass(frozen=True, kw_only=True)
class AuditSettings:
    """The ``[audit]`` table: third parties who vouch for the log (all opt-in)."""

    timestamp_authorities: tuple[TimestampAuthority, ...] = ()
    wayback: bool = False
    wayback_endpoint: str = WAYBACK_ENDPOINT
    wayback_per_minute: int = 4  # Save Page Now allows few captures a minute per user
    # "accesskey:secret" of an archive.org account (SPN2 API); a secret, never logged.
    wayback_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything ``sources.toml`` says, validated."""

    path: str
    monitor: MonitorSettings = MonitorSettings()
    web: WebSettings = WebSettings()
    audit: AuditSettings = AuditSettings()
    channels: tuple[ChannelSettings, ...] = ()
    rules: tuple[RuleSettings, ...] = ()
    sources: tuple[SourceSettings, ...] = ()
    discover: tuple[DiscoverSettings, ...] = ()
    users: tuple[UserSettings, ...] = ()
    stories: StoriesSettings = StoriesSettings()

    def source(self, source_id: str) -> SourceSettings | None:
        return next((s for s in self.sources if s.id == source_id), None)

    def secrets(self) -> tuple[str, ...]:
        """Every secret value in the settings, for redaction in logs."""
        values = [c.url for c in self.channels]
        password = urlsplit(self.monitor.database).password
        if password:
            values.append(password)
        values += [v for s in self.sources for _, v in s.headers]
        values += [v for d in self.discover if d.source for _, v in d.source.headers]
        if self.web.token:
            values.append(self.web.token)
        if self.audit.wayback_key:
            values.append(self.audit.wayback_key)
        values += [u.token for u in self.users]
        return tuple(v for v in values if v)
