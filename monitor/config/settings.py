"""Frozen settings: what ``config.parse_config`` turns ``sources.toml`` into.

Pure data, parsed once at the edge. Durations are whole seconds. Nothing here
reads files or the environment; see ``monitor.config.parse`` for that.

Every field that a key of ``sources.toml`` sets is declared here, once: its type,
default, TOML key, kind, bounds and one-line doc (``monitor.config.fields``). The
keys each table accepts, the checks, the docs' settings table and the API schema are
derived from these declarations; ``tests/test_settings_declared.py`` fails when a
field lacks one.

Why this is one module: it is the one place every setting is declared; a reader
looking for a key, its default or its bounds finds all of them here, table by table.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal, get_args
from urllib.parse import urlsplit

from monitor.config.fields import declare, setting
from monitor.events import ALERT_EVENTS, names

Format = Literal["html", "pdf", "json", "csv", "text", "markdown"]
Render = Literal["http", "browser", "auto"]
On = Literal["added", "removed", "any"]
Severity = Literal["info", "low", "medium", "high", "critical"]
Role = Literal["analyst", "viewer"]
FigureWhen = Literal["published", "restated", "from_zero", "to_zero", "rise_pct", "fall_pct"]

FORMATS: Final[tuple[Format, ...]] = get_args(Format)
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)  # least to most severe
SEVERITY_ORDER: Final[dict[str, int]] = {name: rank for rank, name in enumerate(SEVERITIES)}
# One line on each format and severity, for the docs; a test checks that every name of
# the Literal has its line, in the Literal's order.
FORMAT_DOCS: Final[dict[Format, str]] = {
    "html": "the page's text, block by block (headings, paragraphs, lists, tables)",
    "pdf": "the text of a PDF, page by page",
    "json": "one line per value, path.to.key: value, keys sorted (json_path narrows it)",
    "csv": "one line per row, sorted by its key columns (csv_key)",
    "text": "plain text, paragraph by paragraph",
    "markdown": "Markdown, by its headings and paragraphs",
}
SEVERITY_DOCS: Final[dict[Severity, str]] = {
    "info": "worth a record: a page that went back to an earlier text, a quiet change",
    "low": "a change no rule matched, a failure, a move, a discovery",
    "medium": "a suspect capture (error page, login wall); a rule's default",
    "high": "a page that is gone; what a rule says matters most",
    "critical": "only what a rule says must not wait",
}
QUIET_CLASSES = ("chrome", "dated", "volatile")
# The event types a channel hears of unless its ``events`` says otherwise.
ALERT_TYPES: Final = names(ALERT_EVENTS)

DEFAULT_USER_AGENT = (
    "policy-monitor/0.1 (+https://github.com/policy-monitor/policy-monitor; research use)"
)
MAX_BODY: Final = 1024**3  # max_bytes: a body is held in memory
MAX_BROWSER_MEMORY: Final = 256 * 1024**3
WAYBACK_ENDPOINT = "https://web.archive.org/save"
HOUR: Final = 3600
DAY: Final = 24 * HOUR


@dataclass(frozen=True, kw_only=True)
class MonitorSettings:
    """The ``[monitor]`` table."""

    database: str = setting(
        "sqlite:///monitor.db", "where the log is: sqlite:///FILE or postgresql://…", "text"
    )
    user_agent: str = setting(DEFAULT_USER_AGENT, "the User-Agent of every request", "text")
    default_interval: int = setting(
        6 * HOUR, "how often a source without interval or cron is checked", "seconds"
    )
    concurrency: int = setting(16, "checks in flight at once", "whole", minimum=1, maximum=1000)
    per_host: int = setting(
        2, "checks in flight at once per host (politeness)", "whole", minimum=1, maximum=100
    )
    timeout: int = setting(30, "how long one fetch may take", "seconds")
    max_bytes: int = setting(
        20 * 1024**2, "the largest body read; a longer one fails", "size", maximum=MAX_BODY
    )
    jitter_percent: int = setting(
        10,
        "spread of check times around the interval, in percent",
        "custom",
        keys=("jitter",),
        minimum=0,
        maximum=50,
        shape='a percentage, 10 or "10%"',
    )
    confirm_every: int = setting(
        DAY, "how often an unchanged page is recorded as confirmed", "seconds"
    )
    alert_after_failures: int = setting(
        3, "failed checks in a row before the failure alerts", "whole", minimum=1, maximum=10_000
    )
    # Intranet users may let sources reach private addresses.
    allow_private: bool = setting(False, "let sources reach private addresses", "flag")
    allow_networks: tuple[str, ...] = setting(
        (),
        "addresses or CIDRs always allowed (unless denied)",
        "custom",
        shape='a list of addresses or CIDRs like "10.0.0.0/8"',
    )
    deny_networks: tuple[str, ...] = setting(
        (),
        "addresses or CIDRs always refused",
        "custom",
        shape='a list of addresses or CIDRs like "10.0.0.0/8"',
    )
    respect_robots: bool = setting(False, "obey robots.txt (a source's robots overrides)", "flag")
    key_path: str = setting("monitor.key", "the signing key of checkpoints", "text")
    checkpoint_every: int = setting(HOUR, "how often the daemon signs a checkpoint", "seconds")
    grace_period: int = setting(
        30, "how long a stopping daemon lets checks finish", "seconds", minimum=0
    )
    base_url: str | None = setting(None, "the web view's address, for links in alerts", "url")
    browser_pages: int = setting(
        2, "pages rendered at once by the shared Chromium", "whole", minimum=1, maximum=100
    )
    browser_memory: int = setting(
        1024**3,
        "restart Chromium above this memory (PSS)",
        "size",
        maximum=MAX_BROWSER_MEMORY,
    )
    browser_restart_after: int = setting(
        500, "… or after this many pages", "whole", minimum=1, maximum=1_000_000
    )
    # Where the key and checkpoint journals live; None: beside the SQLite database, else
    # beside the configuration file (see monitor.audit.home). Never the working directory.
    data_dir: str | None = setting(
        None, "where the key and checkpoint journals live (default: beside the log)", "file"
    )
    ca_file: str | None = setting(
        None, "PEM certificate authorities trusted besides the system's", "file"
    )
    gone_after: int = setting(
        3,
        "404/410 answers (or redirects away) in a row before a page is gone",
        "whole",
        minimum=1,
        maximum=1000,
    )
    extract_workers: int | None = setting(
        None,
        "the daemon's extraction processes (default: one per CPU, none on one CPU)",
        "whole",
        minimum=0,
        maximum=64,
    )


@dataclass(frozen=True, kw_only=True)
class ChannelSettings:
    """One ``[[channel]]``: an Apprise URL (a secret) reached by tags."""

    name: str = field(metadata=declare("the channel's name, recorded in the log", "text"))
    # A secret: never logged, never stored in events.
    url: str = field(
        repr=False,
        metadata=declare("the Apprise URL, usually ${VARIABLE}", "text", secret=True),
    )
    tags: tuple[str, ...] = setting((), "rules reach the channel by these tags", "texts")
    digest: str | None = setting(
        None,
        'send one message a day or a week: "daily@08:00" or "weekly@mon 08:00" (UTC)',
        "text",
    )
    min_severity: Severity = setting("info", "alerts below this severity are not sent", "choice")
    events: tuple[str, ...] = setting(ALERT_TYPES, "the event types the channel hears of", "texts")


@dataclass(frozen=True, kw_only=True)
class FigureRuleSettings:
    """The figures part of a ``[[rule]]``: which series, and what about them matters."""

    when: FigureWhen = field(
        metadata=declare(
            "what about the figures matters; a rule over figures needs it or rise_pct / fall_pct",
            "custom",
            shape="one of published, restated, from_zero, to_zero",
        )
    )
    # column = value, all must hold
    where: tuple[tuple[str, str], ...] = setting(
        (),
        "only the rows whose columns have these values",
        "custom",
        shape='a table of column = value, like { Country = "Hong Kong" }',
    )
    column: str | None = setting(None, "one value column (default: every one)", "text")
    pct: int | None = setting(
        None,
        "a figure rose (or fell) by at least this percentage",
        "custom",
        keys=("rise_pct", "fall_pct"),
        minimum=1,
        maximum=100_000,
        shape="a whole number",
    )


@dataclass(frozen=True, kw_only=True)
class RuleSettings:
    """One ``[[rule]]``: says why a change matters."""

    id: str = field(metadata=declare("the rule's id, recorded with each change it matches", "text"))
    all: tuple[str, ...] = setting((), "every term must appear", "texts")
    any: tuple[str, ...] = setting((), "at least one term must appear", "texts")
    none: tuple[str, ...] = setting((), "no term may appear", "texts")
    regex: tuple[str, ...] = setting((), "patterns (RE2), any of which must match", "texts")
    near: int | None = setting(
        None, "the terms must be this many words apart at most", "whole", minimum=1, maximum=10_000
    )
    on: On = setting("any", "match the text a change added, removed or either", "choice")
    severity: Severity = setting("medium", "the severity of a change the rule matches", "choice")
    notify: tuple[str, ...] = setting((), "the channels (by tag or name) to alert", "texts")
    sources: tuple[str, ...] = setting((), "only these source ids", "texts")
    tags: tuple[str, ...] = setting((), "only sources with these tags", "texts")
    # Set: a rule over figures, not over text; read from the keys of FigureRuleSettings.
    figures: FigureRuleSettings | None = setting(
        None, "a rule over figures (when, where, column, rise_pct, fall_pct)", "custom", keys=()
    )


@dataclass(frozen=True, kw_only=True)
class FiguresSettings:
    """A source's ``[source.figures]``: how to read the report's table as series."""

    key: tuple[str, ...] = field(
        metadata=declare(
            'the columns naming a row, like ["Country", "Request type"]',
            "texts",
            missing='name the columns of a row, like key = ["Country"]',
        )
    )
    period: str = field(metadata=declare("the column naming the reporting period", "text"))
    values: tuple[str, ...] = setting((), "the figure columns (default: every other)", "texts")
    table: str | None = setting(None, "CSS selector of the table in an HTML page", "text")
    member: str | None = setting(None, "the file inside a ZIP body", "text")
    sheet: str | None = setting(
        None, "the worksheet of an XLSX workbook (default: the first)", "text"
    )

    def public_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FiguresSettings:
        read: dict[str, Any] = {f.name: data.get(f.name) for f in fields(cls)}
        lists = {name: tuple(read[name] or ()) for name in ("key", "values")}
        return cls(**{**read, **lists, "period": str(read["period"] or "")})


def _plain(value: Any) -> Any:
    """A settings value as JSON holds it: tuples become lists."""
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceSettings:
    """One ``[[source]]``: a page to watch and how to read it."""

    id: str = field(
        metadata=declare(
            "names the source's stream: 1-80 of a-z, 0-9, '.', '_', '-'; keep it", "text"
        )
    )
    url: str = field(
        metadata=declare(
            "the page (http:// or https://, no credential); or urls", "custom", shape="a URL"
        )
    )
    company: str = setting("", "the owner, as shown in reports", "text", empty=True)
    title: str = setting("", "a human-readable name for the page", "text", empty=True)
    tags: tuple[str, ...] = setting((), "rules and filters select sources by tag", "texts")
    select: str | None = setting(None, "CSS selector of the part of the page to keep", "text")
    remove: tuple[str, ...] = setting((), "CSS selectors dropped inside the selection", "texts")
    ignore: tuple[str, ...] = setting(
        (), "patterns (RE2) of text left out before the diff", "texts"
    )
    interval: int | None = setting(
        None, "how often to check (default: [monitor] default_interval)", "seconds"
    )
    cron: str | None = setting(
        None, 'when to check, as a 5-field crontab like "0 */6 * * *" (not with interval)', "text"
    )
    format: Format | None = setting(None, "how to read the body (default: by media type)", "choice")
    render: Render = setting(
        "http", "browser: render with Chromium; auto: when the page needs it", "choice"
    )
    confirm: int = setting(
        1, "checks that must see a new text before it is a change", "whole", minimum=1, maximum=100
    )
    watch_links: bool | Literal["documents"] = setting(
        False,
        'a changed link target is a change; "documents": only links to documents',
        "custom",
        shape='true/false or "documents"',
    )
    screenshot: bool = setting(False, "keep a full-page PNG of each change (browser)", "flag")
    json_path: str | None = setting(None, "the part of a JSON body to keep (format json)", "text")
    csv_key: tuple[str, ...] = setting((), "the columns naming a CSV row (format csv)", "texts")
    verify_tls: bool = setting(True, "check the server's TLS certificate", "flag")
    robots: bool | None = setting(
        None, "obey robots.txt (default: [monitor] respect_robots)", "flag"
    )
    # Header values may be secrets.
    headers: tuple[tuple[str, str], ...] = setting(
        (),
        "request headers, sent to the source's own origin only; values may be ${VARIABLES}",
        "custom",
        secret=True,
        shape='a table like { Authorization = "Bearer ${TOKEN}" }',
    )
    timeout: int | None = setting(
        None, "how long one fetch may take (default: [monitor])", "seconds"
    )
    max_bytes: int | None = setting(
        None, "the largest body read (default: [monitor])", "size", maximum=MAX_BODY
    )
    # A document over several pages: its parts in order (``url`` is the first). Empty for
    # a one-page source, and then left out of ``public_dict`` so recorded settings of
    # sources written before parts existed compare equal (no spurious SourceUpdated).
    urls: tuple[str, ...] = setting(
        (),
        "a document over several pages: its parts in order, instead of url",
        "custom",
        minimum=2,
        maximum=50,
        shape="a list of URLs",
    )
    figures: FiguresSettings | None = setting(
        None,
        "read the report's table as series ([source.figures])",
        "custom",
        shape="a table: [source.figures]",
    )
    gone_after: int | None = setting(
        None,
        "404/410 in a row before the page is gone (default: [monitor])",
        "whole",
        minimum=1,
        maximum=1000,
    )
    # Detection of noise (monitor.noise): remove well-known consent banners; which quiet
    # classes of change still alert; how many consecutive changes confined to one block
    # make it learned as volatile (0: never learn), and how many quiet checks unlearn it.
    remove_consent: bool = setting(True, "remove well-known cookie consent banners", "flag")
    also_alert: tuple[str, ...] = setting(
        (), "quiet classes of change that still alert: chrome, dated, volatile", "texts"
    )
    learn_volatile_after: int = setting(
        3,
        "changes in a row confined to one block before it is volatile (0: never)",
        "whole",
        minimum=0,
        maximum=100,
    )
    unlearn_volatile_after: int = setting(
        10, "quiet checks before a volatile block alerts again", "whole", minimum=1, maximum=10000
    )

    def public_dict(self) -> dict[str, Any]:
        """The settings as recorded in ``SourceRegistered``: JSON-safe, header values withheld."""
        out: dict[str, Any] = {}
        # Reconciling compares every source's at every start: the fields' list made once.
        for name, omitted, default in _public_fields():
            value = getattr(self, name)
            if omitted and value == default:
                # Keys added after the first release: absent while unset, so upgrading
                # records no SourceUpdated for every source.
                continue
            if name == "figures":
                # Absent unless set, so sources without figures keep their recorded settings.
                if value is not None:
                    out[name] = value.public_dict()
                continue
            if name == "headers":
                value = sorted(header for header, _ in value)
            out[name] = list(value) if isinstance(value, tuple) else value  # _plain
        return out


@functools.cache
def _public_fields() -> tuple[tuple[str, bool, Any], ...]:
    """``SourceSettings``' fields: name, whether absent while default, the default."""
    return tuple(
        (f.name, f.name in _OMITTED_WHEN_DEFAULT, f.default) for f in fields(SourceSettings)
    )


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

    name: str = field(metadata=declare("the person, recorded with their reviews", "text"))
    # A secret, read from the variable ``token_env`` names.
    token: str = field(
        repr=False,
        metadata=declare(
            "the environment variable that holds this user's token",
            "custom",
            keys=("token_env",),
            secret=True,
            shape="a variable name",
        ),
    )
    role: Role = setting("viewer", "analyst: may review and annotate; viewer: may read", "choice")


@dataclass(frozen=True, kw_only=True)
class StoriesSettings:
    """The ``[stories]`` table: when changes at several companies make one story."""

    min_companies: int = setting(2, "companies whose changes make one story", "whole", minimum=2)
    window: int = setting(14 * DAY, "how close together their changes must be", "seconds")


@dataclass(frozen=True, kw_only=True)
class DiscoverSettings:
    """One ``[[discover]]``: where a company lists its documents, and which of them to hear of.

    ``sitemap`` (sitemap.xml, a sitemap index, or ``.xml.gz``) and/or ``index`` (an HTML
    page whose links are the documents, narrowed by the CSS ``select``). ``match`` is a
    regular expression searched in each URL, ``text_match`` one in its link text or
    title. ``source`` is the template a discovered URL is watched with (``watch``).
    """

    id: str = field(metadata=declare("names the entry's stream and its sources' ids", "text"))
    company: str = setting("", "the owner of what is found", "text", empty=True)
    sitemap: str | None = setting(None, "a sitemap.xml, sitemap index or .xml.gz", "url")
    index: str | None = setting(None, "a page whose links are the documents", "url")
    select: str | None = setting(
        None, "CSS selector of the index page's part with the links", "text"
    )
    match: str | None = setting(None, "a pattern (RE2) searched in each URL", "text")
    text_match: str | None = setting(
        None, "a pattern (RE2) searched in each link's text or title", "text"
    )
    interval: int = setting(DAY, "how often the listings are read", "seconds")
    watch: bool = setting(False, "watch what is found as sources (else only report it)", "flag")
    max_new: int = setting(
        20, "new documents reported in one pass; the rest wait", "whole", minimum=1, maximum=1000
    )
    tags: tuple[str, ...] = setting((), "tags of the sources it registers", "texts")
    # The [discover.source] template (id and url unset).
    source: SourceSettings | None = setting(
        None,
        "the settings every document found is watched with (no id, url or urls)",
        "custom",
        shape="a table: [discover.source]",
    )

    @property
    def listings(self) -> tuple[str, ...]:
        """The URLs discovery reads: the sitemap, then the index page."""
        return tuple(url for url in (self.sitemap, self.index) if url)


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    """The ``[web]`` table."""

    listen: str = setting("127.0.0.1:8080", "HOST:PORT the web view listens on", "text")
    token: str | None = setting(
        None,
        "the bearer token readers must send (required off loopback)",
        "text",
        secret=True,
        empty=True,
    )
    base_url: str | None = setting(None, "the address readers use, for links in feeds", "url")


@dataclass(frozen=True, kw_only=True)
class TimestampAuthority:
    """One RFC 3161 time-stamping authority of ``[audit] timestamp_authorities``."""

    url: str = field(metadata=declare("the authority's RFC 3161 URL", "url"))
    # PEM file: the TSA's certificate chain (its signing cert first).
    certificates: str = field(
        metadata=declare("PEM file of its certificate chain, signing certificate first", "file")
    )
    name: str = setting("", "shown in reports (default: the URL's host)", "text")

    @property
    def label(self) -> str:
        return self.name or (urlsplit(self.url).hostname or self.url)


@dataclass(frozen=True, kw_only=True)
class AuditSettings:
    """The ``[audit]`` table: third parties who vouch for the log (all opt-in)."""

    timestamp_authorities: tuple[TimestampAuthority, ...] = setting(
        (),
        "RFC 3161 authorities that time-stamp each checkpoint",
        "custom",
        shape='a list like [{ url = "https://…", certificates = "tsa.pem" }]',
    )
    wayback: bool = setting(False, "ask the Internet Archive to capture each change", "flag")
    wayback_endpoint: str = setting(WAYBACK_ENDPOINT, "the Save Page Now address", "url")
    # Save Page Now allows few captures a minute per user.
    wayback_per_minute: int = setting(
        4, "captures asked for per minute at most", "whole", minimum=1, maximum=60
    )
    # "accesskey:secret" of an archive.org account (SPN2 API); a secret, never logged.
    wayback_key: str | None = setting(
        None, '"accesskey:secret" of an archive.org account', "text", secret=True
    )


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
