"""Run the real check pipeline over the development corpus and score it against its labels.

Run: ``python tests/perf/corpus_eval.py [--corpus DIR] [--json] [--only TEXT]
[--store sqlite|memory] [--known-pages TSV] [--confirm N]`` (the corpus defaults to
``../shared/corpus`` next to the project root). Not a test: it prints a table, every
miss and false alert, the versions worth a second look, and the CPU time the monitor
spent. docs/detection.md records its output and explains every line of it.

For each document of the corpus (``<repository>/<document>/manifest.json`` + versions):

1. a local aiohttp server — in a child process, so that rendering and serving cost
   nothing on the monitor's CPU clock — serves the document's versions in order at
   one fixed URL: raw HTML snapshots as they were fetched (``text/html``), Markdown
   versions rendered into an HTML page (headings, paragraphs, lists, tables, quotes,
   code, links, images, emphasis, inline HTML);
2. after each step the project's real pipeline checks the page once: ``CheckRunner``
   with a real ``Fetcher`` and a fresh SQLite store (``--store memory`` for the
   in-memory twin), its clock returning the version's ``author_date`` so the log's
   times are the corpus's times;
3. what the check recorded (baseline, ``substantive`` / ``reverted`` change,
   ``ContentSuspect``, ``ChangePending``, nothing) is compared with what should have
   happened.

What should have happened (the Targets of issue 3):

- Markdown: a version under 1 KB of a document otherwise at least 4 KB is an error
  page → ``ContentSuspect``, never a change, and the next good version is compared
  with the last good one. Otherwise the version's *visible text* — the Markdown
  without link targets, images, emphasis, list and heading markers, inline HTML,
  escapes and line breaks, quotes and dashes folded, computed here independently of
  the monitor's extractor — is compared with the last good version's: equal → no
  change (``identical_to_previous``, link-only and re-extraction noise); equal to an
  earlier good version → ``reverted``; else → ``substantive``. The corpus labels
  (``identical_to_previous``, ``same_content_as_history_index``,
  ``heuristic_url_insensitive_repeat_of``, ``record_kind``) are counted next to it.
- Raw HTML (run without ``select``, and again with Open Terms Archive's selector when
  known — ``OTA_SELECT`` or a CSS selector of known-pages.tsv): a snapshot not flagged
  ``triggered_version_change`` had no text change in OTA's selection → no change
  expected (exact with OTA's selector; without one, changes outside that selection
  are listed for inspection); a flagged snapshot on a single-page document → one
  ``substantive`` change; on a combined document (``multi_source_terms``) the flag is
  an upper bound (the change may be in another page of the document), so those are
  counted, not scored. A flagged snapshot whose visible text did not change is
  explained: ``links_only`` when the text *with link targets* (``watch_links``)
  changed — OTA keeps link targets in its versions, so a rotating tracking id in a
  URL is a new version there — else ``not_visible`` (the change is in text no reader
  sees). A flagged snapshot recorded ``reverted`` (the page flickers between two texts
  it served before) is reported, at ``info`` severity: ``reported_reverted``.

Quiet classes (``volatile``, ``dated``, ``chrome``; ``monitor.noise``) are recorded but
not alerted: where no change was expected they are listed with their reason
(``quiet``), never counted as false alerts; where a change was expected, ``dated``
(recorded at low severity: only an absolute date changed) is listed as
``reported_dated``, and the others are misses.

A *miss* is an expected change (or error page) the monitor did not report as such; a
*false alert* is a change reported where none was expected (or an error page reported
as a change). The Targets assume ``confirm = 1``; ``--confirm N`` shows what a higher
setting records, and scores a change that was never confirmed as a miss.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import multiprocessing
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout

from monitor.check.fetch import Fetcher  # noqa: E402
from monitor.check.netpolicy import NetworkPolicy  # noqa: E402
from monitor.check.pipeline import CheckRunner  # noqa: E402
from monitor.config.settings import MonitorSettings, Settings, SourceSettings  # noqa: E402
from monitor.events import parse_time  # noqa: E402
from monitor.extract.document import extract  # noqa: E402
from monitor.store import open_store  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
DEFAULT_KNOWN_PAGES = ROOT.parent / "shared" / "known-pages.tsv"
ERROR_PAGE_BYTES = 1024
# A sub-1 KB version is an error page when the document is otherwise bigger than this:
# a document that is tiny throughout is simply a short page.
REAL_DOCUMENT_BYTES = 4096

# Open Terms Archive's selectors for the raw HTML documents, from the declarations that
# recorded these snapshots (github.com/OpenTermsArchive/genai-eu-declarations,
# declarations/Google Generative AI Services.json and declarations/Grok.json). The
# Google one matches /work/shared/known-pages.tsv ("Google · Privacy Policy":
# div[role=article]); x.ai is not listed there.
OTA_SELECT: dict[str, tuple[str, tuple[str, ...]]] = {
    "Google_Generative_AI_Services__Privacy_Policy_privacy": (
        '[role="article"]',
        ("img[src$='.svg']",),
    ),
    "Grok__Privacy_Policy_legal-privacy-policy": (".prose", ('[href="/legal"]:first-child',)),
    "Grok__Terms_of_Service": (".prose", ('[href="/legal"]:first-child',)),
    "Google_Generative_AI_Services__Acceptable_Use_Policy": ('[role="article"]', ()),
    # declarations/ChatGPT.json
    "ChatGPT__Business_Privacy_Policy": ("main", ('select[name="Locale Select"]', "main .sr-only")),
    # declarations/Le Chat.history.json (valid until 2026-07-09, the whole window)
    "Le_Chat__Privacy_Policy": ("div", ("button", "footer", "nav", "aside")),
    # declarations/Llama API.json selects a range, {"startBefore": "h1", "endBefore":
    # "#end-of-content"}: on these pages both are siblings, so this is the same range.
    "Llama_API__Acceptable_Use_Policy": ("h1, h1 ~ *", ("#end-of-content", "#end-of-content ~ *")),
    # Not in the declarations we have; Meta's legal pages are declared as their
    # [role="main"] element in Open Terms Archive's other collections.
    "Meta_AI__Terms_of_Service": ('[role="main"]', ()),
}


def _selector(cell: str) -> str | None:
    """An OTA ``select``/``remove`` cell as one CSS selector group; None if not CSS.

    Cells are CSS (``div[role=article]``) or a JSON list of CSS selectors; lists that
    hold range objects (``{"startBefore": …}``) have no CSS equivalent.
    """
    cell = cell.strip()
    if not cell:
        return None
    if cell.startswith("["):
        try:
            items = json.loads(cell)
        except ValueError:
            return cell  # an attribute selector such as [role="main"]
        if not all(isinstance(item, str) for item in items):
            return None
        return ", ".join(items) or None
    if cell.startswith("{"):
        return None
    return cell


def known_selectors(path: Path) -> dict[tuple[str, str], tuple[str, tuple[str, ...]]]:
    """(service, document type) → (select, remove) from known-pages.tsv, CSS ones only."""
    if not path.exists():
        return {}
    table: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
    lines = path.read_text("utf-8").splitlines()
    for line in lines[1:]:
        cells = (line.split("\t") + [""] * 6)[:6]
        select = _selector(cells[3])
        if select is None:
            continue
        remove = _selector(cells[4]) if cells[4].strip() else None
        if cells[4].strip() and remove is None:
            continue  # a range removal we cannot express
        table[(cells[0].strip().lower(), cells[1].strip().lower())] = (
            select,
            (remove,) if remove else (),
        )
    return table


def ota_select(
    folder: Path,
    manifest: dict[str, Any],
    known: dict[tuple[str, str], tuple[str, tuple[str, ...]]],
) -> tuple[str, tuple[str, ...]] | None:
    """Open Terms Archive's selector for a raw HTML document, if there is one we can use."""
    if folder.name in OTA_SELECT:
        return OTA_SELECT[folder.name]
    key = (str(manifest.get("service", "")).lower(), str(manifest.get("terms_type", "")).lower())
    return known.get(key)


# --------------------------------------------------------------------------- Markdown


_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_ITEM = re.compile(r"^([ \t]*)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*)|[ \t]*)$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
_QUOTE = re.compile(r"^[ \t]*>[ \t]?(.*)$")
_TABLE_SEPARATOR = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_URL = r"<[^<>\n]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*"
_TITLE = r"""(?:[ \t]+(?:"[^"]*"|'[^']*'|\([^()]*\)))?"""
_INLINE = re.compile(
    r"(?P<esc>\\[!-/:-@\[-`{-~])"
    r"|(?P<code>`+)(?P<codetext>.+?)(?P=code)(?!`)"
    r"|!\[(?P<alt>[^\[\]]*)\]\((?P<src>" + _URL + ")" + _TITLE + r"\)"
    r"|\[(?P<label>(?:[^\[\]]|\[[^\[\]]*\])*)\]\((?P<href>" + _URL + ")" + _TITLE + r"\)"
    r"|<(?P<auto>https?://[^<>\s]+)>"
    r"|(?P<tag></?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>)"  # inline HTML passes through
    r"|(?P<entity>&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});)"
)
_EMPHASIS = (
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), "strong"),
    (re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"), "strong"),
    (re.compile(r"\*(?=[^\s*])(.+?)(?<=[^\s*])\*"), "em"),
    (re.compile(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)"), "em"),
)
_SLOT = re.compile("\x00(\\d+)\x00")
_CARD_CLOSE = re.compile(r"\]\((?:" + _URL + ")" + _TITLE + r"\)[ \t]*$")
_UNESCAPED = re.compile(r"\\.")


def render_inline(text: str) -> str:
    """Inline Markdown → HTML: escapes, code, images, links, autolinks, emphasis."""
    slots: list[str] = []

    def keep(fragment: str) -> str:
        slots.append(fragment)
        return f"\x00{len(slots) - 1}\x00"

    def token(match: re.Match[str]) -> str:
        if match.group("esc"):
            return keep(html.escape(match.group("esc")[1]))
        if match.group("code"):
            return keep(f"<code>{html.escape(match.group('codetext').strip())}</code>")
        if match.group("src") is not None:
            src = match.group("src").strip("<>")
            alt = html.escape(match.group("alt"), quote=True)
            return keep(f'<img src="{html.escape(src, quote=True)}" alt="{alt}">')
        if match.group("href") is not None:
            href = html.escape(match.group("href").strip("<>"), quote=True)
            return keep(f'<a href="{href}">{render_inline(match.group("label"))}</a>')
        if match.group("auto"):
            url = html.escape(match.group("auto"), quote=True)
            return keep(f'<a href="{url}">{url}</a>')
        return keep(match.group("tag") or match.group("entity"))

    text = _INLINE.sub(token, text)
    text = html.escape(text, quote=False)
    for pattern, tag in _EMPHASIS:
        text = pattern.sub(rf"<{tag}>\1</{tag}>", text)
    while _SLOT.search(text):  # link labels may hold slots of their own
        text = _SLOT.sub(lambda m: slots[int(m.group(1))], text)
    return text


def _indent(prefix: str) -> int:
    return len(prefix.expandtabs(4))


class _MarkdownPage:
    """A line-oriented Markdown reader producing HTML; enough for Open Terms Archive's output."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.para: list[str] = []
        self.lists: list[tuple[int, str]] = []  # (indent, "ul" | "ol") of open lists
        self.item: list[str] | None = None  # text lines of the open list item
        self.table: list[list[str]] = []
        self.quote: list[str] = []
        self.blank = False
        self.cards = 0  # open links whose text spans lines

    def flush_para(self) -> None:
        if self.para:
            self.out.append(f"<p>{render_inline(' '.join(self.para))}</p>")
            self.para = []

    def flush_item(self) -> None:
        if self.item is not None:
            self.out.append(render_inline(" ".join(self.item)))
            self.item = None

    def close_lists(self, indent: int = -1) -> None:
        self.flush_item()
        while self.lists and self.lists[-1][0] > indent:
            self.out.append(f"</li></{self.lists.pop()[1]}>")

    def flush_table(self) -> None:
        if self.table:
            rows = "".join(
                "<tr>" + "".join(f"<td>{render_inline(c)}</td>" for c in row) + "</tr>"
                for row in self.table
            )
            self.out.append(f"<table>{rows}</table>")
            self.table = []

    def flush_quote(self) -> None:
        if self.quote:
            self.out.append(
                f"<blockquote><p>{render_inline(' '.join(self.quote))}</p></blockquote>"
            )
            self.quote = []

    def flush_all(self) -> None:
        self.flush_para()
        self.flush_table()
        self.flush_quote()
        self.close_lists()

    def item_start(self, indent: int, marker: str, text: str) -> None:
        self.flush_para()
        self.flush_table()
        self.flush_quote()
        self.flush_item()
        kind = "ul" if marker in "-*+" else "ol"
        while self.lists and self.lists[-1][0] > indent:
            self.out.append(f"</li></{self.lists.pop()[1]}>")
        if self.lists and self.lists[-1][0] == indent:
            if self.lists[-1][1] == kind:
                self.out.append("</li><li>")
            else:
                self.out.append(f"</li></{self.lists.pop()[1]}><{kind}><li>")
                self.lists.append((indent, kind))
        else:
            self.out.append(f"<{kind}><li>")
            self.lists.append((indent, kind))
        self.item = [text] if text else []

    def unwrap_cards(self, raw: str) -> str:
        """A link around blocks ("card": "[" … "](url)" over several lines) keeps its blocks."""
        plain = _UNESCAPED.sub("", raw)
        balance = plain.count("[") - plain.count("]")
        if balance > 0 and raw.lstrip().startswith("["):
            self.cards += 1
            return raw.lstrip()[1:]
        if balance < 0 and self.cards:
            close = _CARD_CLOSE.search(raw)
            if close:
                self.cards -= 1
                return raw[: close.start()]
        return raw

    def line(self, raw: str) -> None:
        raw = self.unwrap_cards(raw)
        stripped = raw.strip()
        if not stripped:
            self.flush_para()
            self.flush_table()
            self.flush_quote()
            self.flush_item()
            self.blank = True
            return
        was_blank, self.blank = self.blank, False
        setext = _SETEXT.match(raw)
        if setext and self.para and not self.lists:
            level = 1 if setext.group(1)[0] == "=" else 2
            self.out.append(f"<h{level}>{render_inline(' '.join(self.para))}</h{level}>")
            self.para = []
            return
        if _RULE.match(raw):
            self.flush_all()
            self.out.append("<hr>")
            return
        atx = _ATX.match(raw)
        if atx:
            self.flush_all()
            level = len(atx.group(1))
            self.out.append(f"<h{level}>{render_inline(atx.group(2) or '')}</h{level}>")
            return
        if stripped.startswith("|"):
            self.flush_para()
            self.flush_quote()
            self.close_lists()
            if not _TABLE_SEPARATOR.match(raw):
                inner = stripped[1:-1] if stripped.endswith("|") else stripped[1:]
                self.table.append([c.strip() for c in re.split(r"(?<!\\)\|", inner)])
            return
        self.flush_table()
        quote = _QUOTE.match(raw)
        if quote:
            self.flush_para()
            self.close_lists()
            self.quote.append(quote.group(1))
            return
        self.flush_quote()
        item = _ITEM.match(raw)
        if item:
            self.item_start(
                _indent(item.group(1)), item.group(2)[-1], (item.group(3) or "").strip()
            )
            return
        indent = _indent(raw[: len(raw) - len(raw.lstrip())])
        if self.lists:
            if self.item is not None and not was_blank:
                self.item.append(stripped)  # a lazy continuation line of the item
                return
            if indent > self.lists[-1][0]:
                self.flush_item()
                self.out.append(f"<p>{render_inline(stripped)}</p>")  # a paragraph in the item
                return
            self.close_lists()
        self.para.append(stripped)


def render_markdown(text: str, title: str) -> str:
    """A whole HTML page for a Markdown document."""
    page = _MarkdownPage()
    fence: list[str] | None = None
    for raw in text.splitlines():
        if _FENCE.match(raw):
            if fence is None:
                page.flush_all()
                fence = []
            else:
                page.out.append(f"<pre><code>{html.escape(chr(10).join(fence))}</code></pre>")
                fence = None
            continue
        if fence is not None:
            fence.append(raw)
            continue
        page.line(raw)
    if fence is not None:
        page.out.append(f"<pre><code>{html.escape(chr(10).join(fence))}</code></pre>")
    page.flush_all()
    body = "\n".join(page.out)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body><main>\n{body}\n</main></body></html>\n"
    )


_VISIBLE_DROP = (
    re.compile(r"!\[[^\[\]]*\]\((?:" + _URL + ")" + _TITLE + r"\)"),  # images: not text
    re.compile(r"\]\((?:" + _URL + ")" + _TITLE + r"\)"),  # link targets
    re.compile(r"^[ \t]*\]\(.*\)[ \t]*$", re.M),  # the end of a multi-line link
    re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])(?=[ \t]|$)|^[ \t]+(?:[-*+]|\d{1,9}[.)])[ \t]", re.M),
    re.compile(r"^[ \t]*(?:=+|-+|\*(?:[ \t]*\*){2,}|_(?:[ \t]*_){2,})[ \t]*$", re.M),  # rules
    re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$", re.M),
    re.compile(r"^[ \t]*(?:#{1,6}|>+)(?=[ \t]|$)", re.M),  # heading and quote markers
)
_MARKUP_CHARS = re.compile(r"[\\*_`\[\]|#]")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
# Quotes, dashes and the ellipsis in their typographic and plain forms read the same.
_TYPOGRAPHY = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′ʼ", "'"),
        **dict.fromkeys("“”„‟″«»", '"'),
        **dict.fromkeys("‐‑‒–—―−", "-"),
        "…": "...",
    }
)


def visible_key(markdown: str) -> str:
    """What a reader of the rendered page sees, as one line — independent of the monitor.

    Link targets, images, emphasis, list, heading and quote markers, table rules,
    inline HTML tags, escapes and line breaks are not text; words and punctuation are
    (typographic and plain quotes and dashes alike; entities as the characters they name).
    """
    text = html.unescape(_HTML_TAG.sub(" ", markdown))
    for pattern in _VISIBLE_DROP:
        text = pattern.sub(" ", text)
    text = _MARKUP_CHARS.sub("", text).translate(_TYPOGRAPHY)
    return " ".join(text.split())


# --------------------------------------------------------------------------- server


def _page_bytes(path: str, kind: str, title: str) -> tuple[bytes, str]:
    data = Path(path).read_bytes()
    if kind == "md":
        page = render_markdown(data.decode("utf-8", errors="replace"), title)
        return page.encode("utf-8"), "text/html; charset=utf-8"
    return data, "text/html"


def _serve(conn: Connection) -> None:
    """Child process: an aiohttp server whose pages the parent sets through ``conn``."""
    from aiohttp import web

    async def main() -> None:
        pages: dict[str, tuple[bytes, str]] = {}

        async def handle(request: web.Request) -> web.Response:
            page = pages.get(request.path)
            if page is None:
                return web.Response(status=404, text="not found")
            return web.Response(body=page[0], headers={"Content-Type": page[1]})

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        conn.send(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        done = asyncio.Event()

        def on_message() -> None:
            message = conn.recv()
            if message is None:
                done.set()
                return
            url_path, file_path, kind, title = message
            pages[url_path] = _page_bytes(file_path, kind, title)
            conn.send(len(pages[url_path][0]))

        asyncio.get_running_loop().add_reader(conn.fileno(), on_message)
        await done.wait()
        await runner.cleanup()

    asyncio.run(main())


class CorpusServer:
    """The parent's handle on the serving child process."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        self.port = int(self._conn.recv())

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set(self, path: str, file: Path, kind: str, title: str) -> int:
        self._conn.send((path, str(file), kind, title))
        return int(self._conn.recv())

    def close(self) -> None:
        self._conn.send(None)
        self._process.join(10)


# --------------------------------------------------------------------------- scoring


@dataclass
class Step:
    """One version of one run: what should have happened and what the monitor recorded."""

    index: int
    file: str
    bytes: int
    labels: list[str]
    expected: str  # baseline | substantive | reverted | none | suspect | maybe (multi-source)
    observed: str  # baseline | substantive | reverted | none | suspect | pending | failed
    status: str  # the source's status after the check
    detail: str = ""
    verdict: str = "ok"  # ok | miss | false_alert | outside_selection | ...
    note: str = ""  # where a corpus label and the visible text disagree


@dataclass
class Run:
    """One document checked from its first version to its last."""

    document: str
    repository: str
    kind: str  # md | html | html+select
    select: str | None
    versions: int
    steps: list[Step] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    wall_s: float = 0.0

    def count(self, what: str, value: str) -> int:
        return sum(1 for s in self.steps if getattr(s, what) == value)

    def verdicts(self) -> Counter[str]:
        return Counter(s.verdict for s in self.steps)


def _labels(version: dict[str, Any], kind: str, versions: list[dict[str, Any]]) -> list[str]:
    out = []
    if version.get("identical_to_previous"):
        out.append("identical")
    if version.get("same_content_as_history_index") is not None:
        out.append(f"repeat_of:{version['same_content_as_history_index']}")
    if version.get("heuristic_url_insensitive_repeat_of") is not None:
        out.append(f"url_repeat_of:{version['heuristic_url_insensitive_repeat_of']}")
    if version.get("is_technical") or version.get("record_kind") == "technical_upgrade":
        out.append("technical")
    if kind == "md" and version["bytes"] < ERROR_PAGE_BYTES:
        out.append("sub_1kb" if is_error_page(version, versions) else "sub_1kb_small_doc")
    if version.get("triggered_version_change"):
        out.append("triggered" + ("(multi)" if version.get("multi_source_terms") else ""))
    return out


def is_error_page(version: dict[str, Any], versions: list[dict[str, Any]]) -> bool:
    """A sub-1 KB version of a document that is otherwise of a real page's size."""
    biggest = max(int(v["bytes"]) for v in versions)
    return int(version["bytes"]) < ERROR_PAGE_BYTES and biggest >= REAL_DOCUMENT_BYTES


def expectations_markdown(folder: Path, versions: list[dict[str, Any]]) -> list[str]:
    """What a perfect monitor records for each Markdown version (see the module docstring)."""
    expected: list[str] = []
    good_keys: list[str] = []
    for version in versions:
        if is_error_page(version, versions):
            expected.append("suspect")
            continue
        key = visible_key((folder / version["file"]).read_text("utf-8", errors="replace"))
        if not good_keys:
            expected.append("baseline")
        elif key == good_keys[-1]:
            expected.append("none")
        elif key in good_keys:
            expected.append("reverted")
        else:
            expected.append("substantive")
        good_keys.append(key)
    return expected


def expectations_html(versions: list[dict[str, Any]]) -> list[str]:
    expected: list[str] = []
    for number, version in enumerate(versions):
        if number == 0:
            expected.append("baseline")
        elif not version.get("triggered_version_change"):
            expected.append("none")
        elif version.get("multi_source_terms"):
            expected.append("maybe")
        else:
            expected.append("substantive")
    return expected


QUIET = ("volatile", "dated", "chrome")


def verdict(expected: str, observed: str, kind: str) -> str:
    """How one step is scored (``kind``: md, html or html+select)."""
    changed = observed in ("substantive", "reverted")
    if expected == observed:
        return "ok"
    if expected in ("substantive", "reverted") and observed == "dated":
        # Recorded and shown at low severity, not pushed: a new date on the page.
        return "reported_dated"
    if kind != "md" and expected == "substantive" and observed == "reverted":
        return "reported_reverted"
    if kind != "md" and expected in ("substantive", "baseline") and observed == "suspect":
        # OTA recorded a broken page (an error page, a selection gone) as a version; the
        # monitor reported it as a suspect capture, which is what it is.
        return "reported_suspect"
    if kind != "md" and expected == "none" and observed == "suspect_kept":
        return "ok"  # the same suspect page again: nothing recorded
    if expected == "none" and observed in QUIET:
        return "quiet"
    if expected == "maybe":
        return "multi_change" if changed else "multi_quiet"
    if expected == "suspect":
        return "false_alert" if changed else ("ok" if observed == "suspect_kept" else "miss")
    if expected in ("substantive", "reverted", "baseline"):
        if expected == "reverted" and observed == "substantive":
            return "repeat_not_reverted"
        return "miss"
    # expected "none"
    if observed in ("suspect", "suspect_kept"):
        return "false_suspect"
    if changed:
        if kind == "html":
            return "outside_selection"
        return "false_alert"
    return "ok"


def _observed(report_events: list[Any], status: str) -> tuple[str, str]:
    types = [e.type for e in report_events]
    for event in report_events:
        if event.type == "ChangeDetected":
            return str(event.data["classification"]), str(event.data["diff"].get("summary", ""))
        if event.type == "ContentSuspect":
            return "suspect", f"{event.data['reason']}: {event.data['detail']}"
        if event.type == "BaselineCaptured":
            return "baseline", f"{event.data['capture']['text_chars']} characters"
        if event.type == "ChangePending":
            return "pending", ""
        if event.type == "FetchFailed":
            return "failed", str(event.data.get("message", ""))
    if status == "suspect":
        return "suspect_kept", "same suspect text as before"
    return "none", ",".join(types)


def _label_note(labels: list[str], expected: str, observed: str) -> str:
    names = {label.split(":")[0] for label in labels}
    if expected == "substantive" and names & {"repeat_of", "url_repeat_of"}:
        return "labelled a repeat, but its visible text is new to the monitor"
    if "technical" in names and expected in ("substantive", "reverted"):
        return "a re-extraction (technical_upgrade) whose visible text differs"
    return ""


# --------------------------------------------------------------------------- running


def documents(corpus: Path, only: str | None) -> Iterator[tuple[Path, dict[str, Any]]]:
    for manifest_path in sorted(corpus.glob("*/*/manifest.json")):
        folder = manifest_path.parent
        if only and only.lower() not in str(folder.relative_to(corpus)).lower():
            continue
        yield folder, json.loads(manifest_path.read_text("utf-8"))


async def run_document(
    server: CorpusServer,
    folder: Path,
    manifest: dict[str, Any],
    kind: str,
    store_kind: str,
    workdir: Path,
    selection: tuple[str, tuple[str, ...]] | None = None,
    confirm: int = 1,
) -> Run:
    versions = manifest["versions"]
    name = folder.name
    select, remove = selection if selection is not None else (None, ())
    path = f"/{folder.parent.name}/{name}/{kind}"
    source = SourceSettings(
        id=re.sub(r"[^a-z0-9]+", "-", f"{name}-{kind}".lower()).strip("-"),
        url=server.url(path),
        company=str(manifest.get("service", "")),
        title=str(manifest.get("terms_type", "")),
        select=select,
        remove=remove,
        confirm=confirm,
    )
    monitor = MonitorSettings(database="memory://", per_host=2, timeout=60)
    settings = Settings(path="corpus_eval", monitor=monitor, sources=(source,))
    expected = (
        expectations_markdown(folder, versions) if kind == "md" else expectations_html(versions)
    )
    moment = [parse_time(versions[0]["author_date"])]

    def clock() -> datetime:
        return moment[0]

    run = Run(
        document=name,
        repository=folder.parent.name,
        kind=kind,
        select=select,
        versions=len(versions),
    )
    labels: Counter[str] = Counter()
    previous_file: Path | None = None
    url = "memory://" if store_kind == "memory" else f"sqlite:///{workdir / (source.id + '.db')}"
    page_kind = "md" if kind == "md" else "html"
    title = f"{manifest.get('service', '')} {manifest.get('terms_type', '')}".strip()
    async with (
        open_store(url, clock=clock) as store,
        Fetcher(monitor, NetworkPolicy()) as fetcher,
    ):
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings, clock=clock)
        await runner.reconcile()
        cpu = 0.0
        wall = 0.0
        for number, version in enumerate(versions):
            server.set(path, folder / version["file"], page_kind, title)
            moment[0] = max(moment[0], parse_time(version["author_date"]))
            step_labels = _labels(version, page_kind, versions)
            labels.update(label.split(":")[0] for label in step_labels)
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            report = await runner.check(source)
            cpu += time.process_time() - cpu_start
            wall += time.perf_counter() - wall_start
            state = await runner.state(source.id)
            observed, detail = _observed(list(report.events), state.status)
            note = _label_note(step_labels, expected[number], observed)
            judged = verdict(expected[number], observed, kind)
            if (
                judged in ("outside_selection", "false_alert")
                and run.steps
                and run.steps[-1].verdict == "reported_suspect"
                and run.steps[-1].detail.startswith("collapsed")
            ):
                # The short text OTA flagged, still served: reported once it persisted.
                judged = "collapse_accepted"
            if judged == "miss" and page_kind == "html" and previous_file is not None:
                if run.steps and run.steps[-1].observed in ("suspect", "suspect_kept"):
                    # OTA flags the way back from a broken page; the monitor compares
                    # with the last good text, which is what came back.
                    judged, detail = "back_to_last_good", "the last good text, after a suspect page"
                else:
                    judged, detail = _unseen_change(previous_file, folder / version["file"], source)
            previous_file = folder / version["file"]
            run.steps.append(
                Step(
                    index=number,
                    file=version["file"],
                    bytes=int(version["bytes"]),
                    labels=step_labels,
                    expected=expected[number],
                    observed=observed,
                    status=state.status,
                    detail=detail,
                    verdict=judged,
                    note=note,
                )
            )
    run.labels = dict(labels)
    run.cpu_s = cpu
    run.wall_s = wall
    return run


def _unseen_change(before: Path, after: Path, source: SourceSettings) -> tuple[str, str]:
    """Why a snapshot OTA flagged has no visible text change: link targets, or hidden text."""
    watching = replace(source, watch_links=True)
    old = extract(before.read_bytes(), content_type="text/html", source=watching).text
    new = extract(after.read_bytes(), content_type="text/html", source=watching).text
    if old == new:
        return "not_visible", "no visible text or link target changed"
    removed = sorted(set(re.findall(r"<([^<>]+)>", old)) - set(re.findall(r"<([^<>]+)>", new)))
    added = sorted(set(re.findall(r"<([^<>]+)>", new)) - set(re.findall(r"<([^<>]+)>", old)))
    return "links_only", f"link targets changed: {removed[:1]} -> {added[:1]}"


async def evaluate(
    corpus: Path,
    only: str | None,
    store_kind: str,
    known_pages: Path = DEFAULT_KNOWN_PAGES,
    confirm: int = 1,
) -> list[Run]:
    runs: list[Run] = []
    known = known_selectors(known_pages)
    server = CorpusServer()
    try:
        with tempfile.TemporaryDirectory(prefix="corpus-eval-") as tmp:
            for folder, manifest in documents(corpus, only):
                plans: list[tuple[str, tuple[str, tuple[str, ...]] | None]]
                if manifest.get("extension") == "md":
                    plans = [("md", None)]
                else:
                    plans = [("html", None)]
                    selection = ota_select(folder, manifest, known)
                    if selection is not None:
                        plans.append(("html+select", selection))
                for kind, selection in plans:
                    runs.append(
                        await run_document(
                            server,
                            folder,
                            manifest,
                            kind,
                            store_kind,
                            Path(tmp),
                            selection,
                            confirm,
                        )
                    )
    finally:
        server.close()
    return runs


# --------------------------------------------------------------------------- report

_PROBLEMS = ("miss", "false_alert", "false_suspect", "repeat_not_reverted")


def summary_row(run: Run) -> dict[str, Any]:
    verdicts = run.verdicts()
    expected_changes = sum(1 for s in run.steps if s.expected in ("substantive", "reverted"))
    return {
        "document": run.document,
        "kind": run.kind,
        "versions": run.versions,
        "baseline": run.count("observed", "baseline"),
        "substantive": run.count("observed", "substantive"),
        "reverted": run.count("observed", "reverted"),
        "quiet": sum(run.count("observed", name) for name in QUIET),
        "suspect": run.count("observed", "suspect") + run.count("observed", "suspect_kept"),
        "pending": run.count("observed", "pending"),
        "exp_subst": run.count("expected", "substantive"),
        "exp_rev": run.count("expected", "reverted"),
        "exp_susp": run.count("expected", "suspect"),
        "exp_changes": expected_changes,
        "miss": verdicts["miss"],
        "false": verdicts["false_alert"] + verdicts["false_suspect"],
        "not_rev": verdicts["repeat_not_reverted"],
        "outside_sel": verdicts["outside_selection"],
        "unseen": verdicts["links_only"]
        + verdicts["not_visible"]
        + verdicts["back_to_last_good"]
        + verdicts["reported_suspect"],
        "multi": f"{verdicts['multi_change']}/{verdicts['multi_change'] + verdicts['multi_quiet']}",
        "labels": run.labels,
        "cpu_s": round(run.cpu_s, 3),
    }


_COLUMNS = (
    ("document", 44),
    ("kind", 11),
    ("versions", 4),
    ("baseline", 4),
    ("substantive", 5),
    ("reverted", 4),
    ("quiet", 5),
    ("suspect", 4),
    ("pending", 4),
    ("exp_subst", 5),
    ("exp_rev", 4),
    ("exp_susp", 4),
    ("miss", 4),
    ("false", 5),
    ("not_rev", 4),
    ("outside_sel", 4),
    ("unseen", 6),
    ("multi", 5),
    ("cpu_s", 7),
)
_HEAD = {
    "document": "document",
    "kind": "run",
    "versions": "vers",
    "baseline": "base",
    "substantive": "subst",
    "reverted": "rev",
    "quiet": "quiet",
    "suspect": "susp",
    "pending": "pend",
    "exp_subst": "e:sub",
    "exp_rev": "e:rev",
    "exp_susp": "e:sus",
    "miss": "miss",
    "false": "false",
    "not_rev": "!rev",
    "outside_sel": "out",
    "unseen": "unseen",
    "multi": "multi",
    "cpu_s": "cpu s",
}


def _line(values: dict[str, Any]) -> str:
    cells = []
    for key, width in _COLUMNS:
        text = str(values[key])
        cells.append(text[:width].ljust(width) if key == "document" else text.rjust(width))
    return " ".join(cells)


def _label_text(labels: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"


def totals(runs: list[Run]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group, members in (
        ("markdown", [r for r in runs if r.kind == "md"]),
        ("html (no select)", [r for r in runs if r.kind == "html"]),
        ("html (OTA select)", [r for r in runs if r.kind == "html+select"]),
    ):
        if not members:
            continue
        rows = [summary_row(r) for r in members]
        total: dict[str, Any] = {"document": f"TOTAL {group}", "kind": ""}
        for key, _ in _COLUMNS[2:]:
            if key == "multi":
                done = sum(int(r["multi"].split("/")[0]) for r in rows)
                all_ = sum(int(r["multi"].split("/")[1]) for r in rows)
                total[key] = f"{done}/{all_}"
            elif key == "cpu_s":
                total[key] = round(sum(r[key] for r in rows), 3)
            else:
                total[key] = sum(r[key] for r in rows)
        out[group] = total
    out["checks"] = sum(r.versions for r in runs)
    out["cpu_s"] = round(sum(r.cpu_s for r in runs), 3)
    out["wall_s"] = round(sum(r.wall_s for r in runs), 3)
    return out


def label_outcomes(runs: list[Run]) -> dict[str, dict[str, int]]:
    """For each corpus label: what the monitor recorded at the versions that carry it."""
    table: dict[str, Counter[str]] = {}
    for run in runs:
        for step in run.steps:
            names = [label.split(":")[0] for label in step.labels] or ["(none)"]
            if step.index == 0:
                names = ["(first version)"]
            for name in names:
                table.setdefault(f"{run.kind}: {name}", Counter())[step.observed] += 1
    return {key: dict(sorted(value.items())) for key, value in sorted(table.items())}


def print_report(runs: list[Run], total: dict[str, Any], elapsed_cpu: float) -> None:
    print(_line(_HEAD))
    for run in runs:
        print(_line(summary_row(run)))
    print()
    for value in total.values():
        if isinstance(value, dict):
            print(_line(value))
    print()
    print("labels per run (counts of versions):")
    for run in runs:
        print(f"  {run.document} [{run.kind}]: {_label_text(run.labels)}")
    print()
    print("what the monitor recorded at the versions carrying each corpus label:")
    for key, counts in label_outcomes(runs).items():
        print(f"  {key:<28} " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print()
    problems = [
        (run, step)
        for run in runs
        for step in run.steps
        if step.verdict
        in (
            *_PROBLEMS,
            "outside_selection",
            "multi_change",
            "quiet",
            "reported_reverted",
            "reported_dated",
        )
    ]
    print(f"steps to look at ({len(problems)}):")
    for run, step in problems:
        print(
            f"  {run.document} [{run.kind}] #{step.index} ({step.bytes} B, "
            f"{','.join(step.labels) or 'no label'}): expected {step.expected}, recorded "
            f"{step.observed} -> {step.verdict}; {step.detail[:160]}"
        )
    print()
    print(
        "flagged snapshots without a visible text change (OTA's change is not page text, or "
        "OTA recorded a broken page as a version):"
    )
    for run in runs:
        unseen = [
            s
            for s in run.steps
            if s.verdict
            in (
                "links_only",
                "not_visible",
                "back_to_last_good",
                "reported_suspect",
                "collapse_accepted",
            )
        ]
        if unseen:
            kinds = Counter(s.verdict for s in unseen)
            print(
                f"  {run.document} [{run.kind}]: "
                + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
                + f"; e.g. #{unseen[0].index}: {unseen[0].detail[:150]}"
            )
    notes = [(run, step) for run in runs for step in run.steps if step.note]
    print()
    print(f"versions where a corpus label and the visible text disagree ({len(notes)}):")
    for run, step in notes:
        print(
            f"  {run.document} [{run.kind}] #{step.index} ({','.join(step.labels)}): "
            f"{step.note}; recorded {step.observed}; {step.detail[:140]}"
        )
    print()
    checks = total["checks"]
    print(
        f"{checks} checks; monitor CPU {total['cpu_s']:.2f} s "
        f"({1000 * total['cpu_s'] / max(checks, 1):.1f} ms a check), wall {total['wall_s']:.2f} s; "
        f"whole script CPU {elapsed_cpu:.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--only", help="only documents whose path contains this text")
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument(
        "--known-pages",
        type=Path,
        default=DEFAULT_KNOWN_PAGES,
        help="known-pages.tsv: OTA selectors for raw HTML documents (service, document type)",
    )
    parser.add_argument(
        "--confirm",
        type=int,
        default=1,
        metavar="N",
        help="check every source with confirm = N (the Targets are defined for 1: with more, "
        "a change seen once and then undone is not reported, and is scored as a miss)",
    )
    args = parser.parse_args(argv)
    corpus: Path = args.corpus
    if not (corpus / "README.md").exists() and not any(corpus.glob("*/*/manifest.json")):
        print(f"no corpus at {corpus}", file=sys.stderr)
        return 2
    started = time.process_time()
    runs = asyncio.run(evaluate(corpus, args.only, args.store, args.known_pages, args.confirm))
    elapsed = time.process_time() - started
    total = totals(runs)
    if args.json:
        payload = {
            "runs": [{**summary_row(r), "steps": [asdict(s) for s in r.steps]} for r in runs],
            "totals": total,
            "label_outcomes": label_outcomes(runs),
            "script_cpu_s": round(elapsed, 3),
        }
        print(json.dumps(payload, indent=1, ensure_ascii=False))
    else:
        print_report(runs, total, elapsed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
