"""The same-text fast path records exactly what reading every page records.

A check whose page fingerprint (``monitor.extract.fingerprint``) was seen with the
last good text skips reading the text. That is only correct if equal fingerprints
mean equal extracted text, whatever else differs; these tests generate pages —
random trees of the elements the extractor treats differently, with hidden
elements, consent banners, links, tables, raw-text elements, and per-request noise
(attributes, scripts, comments) — and check it, then run the real check pipeline
with and without the fast path over sequences of such pages and compare the logs.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import monitor.extract.document
from monitor.check.fetch import Fetcher
from monitor.check.pipeline import CheckRunner
from monitor.config.settings import MonitorSettings, Settings, SourceSettings
from monitor.extract.document import extract, read_html
from monitor.extract.fingerprint import tree_fingerprint
from monitor.store import MemoryEventStore, open_store
from tests.pageserver import PageServer

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

# --------------------------------------------------------------------------- pages

Tree = tuple[str, dict[str, str], list[Any]]  # (tag, attributes, children: Tree | str)

# Common elements often, rare ones (raw text, never text, foreign) now and then.
COMMON = (
    "p", "div", "span", "b", "a", "li", "ul", "h1", "h2", "blockquote", "pre", "table", "tr",
    "td", "th", "section", "main", "br",
)  # fmt: skip
RARE = (
    "nav", "noscript", "template", "textarea", "xmp", "noembed", "dialog", "details",
    "summary", "svg", "article", "h3", "header", "footer", "aside", "script",
)  # fmt: skip
TAGS = COMMON * 4 + RARE
# Attributes the extractor reads (through selectors, hidden content, links); noise is others.
MEANINGFUL = (
    ("hidden", ""), ("hidden", "until-found"), ("aria-hidden", "true"), ("open", ""),
    ("class", "ad"), ("class", "x"), ("id", "onetrust-consent-sdk"), ("href", "/a"),
    ("href", "https://example.org/b?utm_source=x"), ("href", "#top"),
    ("style", "display:none"), ("style", "visibility: hidden"), ("style", "color: red"),
    ("class", "sr-only"), ("aria-controls", "x"), ("id", "x"), ("role", "main"),
    ("role", "navigation"), ("id", "termly-code-snippet-support"),
)  # fmt: skip
TEXTS = st.text(
    st.sampled_from(list("ab Z09|#->*\\\n\t&<\"'é香\u00a0\u200b")), min_size=0, max_size=8
)
RAW_TEXT = ("textarea", "xmp", "noembed", "template", "noscript", "script")


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> Tree:
    tag = draw(st.sampled_from(TAGS))
    attrs = dict(draw(st.lists(st.sampled_from(MEANINGFUL), max_size=2)))
    children: list[Any] = []
    if tag != "br":
        for _ in range(draw(st.integers(0, 4 if depth < 4 else 0))):
            if draw(st.booleans()):
                children.append(draw(TEXTS))
            else:
                children.append(draw(trees(depth + 1)))
    return (tag, attrs, children)


def render(tree: Tree | str, noise: random.Random | None, inside_raw: bool = False) -> str:
    """Markup for ``tree``; with ``noise``, per-request tokens that are never text."""
    if isinstance(tree, str):
        return tree
    tag, attrs, children = tree
    pairs = [f'{k}="{v}"' if v else k for k, v in attrs.items()]
    raw = inside_raw or tag in RAW_TEXT
    if noise is not None and not inside_raw:
        token = f"{noise.getrandbits(64):x}"
        pairs += [f'data-nonce="{token}"', f"data-track='{token[:5]}'"]
    inner = []
    for child in children:
        if noise is not None and not raw and noise.random() < 0.3:
            inner.append(
                noise.choice(
                    (
                        f"<script>var t = {noise.random()};</script>",
                        f"<!-- served {noise.getrandbits(32)} -->",
                        f"<style>.c{noise.getrandbits(16)} {{}}</style>",
                    )
                )
            )
        inner.append(render(child, noise, raw))
    opening = "<" + " ".join([tag, *pairs]) + ">"
    return opening if tag == "br" else f"{opening}{''.join(inner)}</{tag}>"


def page(tree: Tree, noise: random.Random | None) -> bytes:
    head = "<title>T</title>"
    if noise is not None:
        token = f"{noise.getrandbits(128):032x}"
        head += f'<meta name="csrf-token" content="{token}"><script>var ts = {token!r};</script>'
    body = render(tree, noise)
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>".encode()


@st.composite
def mutated(draw: st.DrawFn, tree: Tree) -> Tree:
    """``tree`` with one small change at any depth.

    The kinds of change that keep the characters of the text and move block
    boundaries (a renamed element, text moved in or out of an element) are the
    ones a fingerprint could miss, so they are drawn as often as text edits.
    """
    tag, attrs, children = tree
    items = list(children)
    elements = [i for i, child in enumerate(items) if not isinstance(child, str)]
    if elements and draw(st.booleans()):
        index = draw(st.sampled_from(elements))
        items[index] = draw(mutated(items[index]))
        return (tag, attrs, items)
    change = draw(
        st.sampled_from(("rename", "retext", "attribute", "drop", "insert", "wrap", "unwrap"))
    )
    if change == "rename":
        return (draw(st.sampled_from(TAGS)), attrs, items)
    if change == "attribute":
        key, value = draw(st.sampled_from(MEANINGFUL))
        return (
            tag,
            {k: v for k, v in attrs.items() if k != key} if key in attrs else {**attrs, key: value},
            items,
        )
    if change == "insert" or not items:
        items.insert(draw(st.integers(0, len(items))), draw(st.one_of(TEXTS, trees(3))))
        return (tag, attrs, items)
    index = draw(st.integers(0, len(items) - 1))
    child = items[index]
    if change == "retext" and isinstance(child, str):
        items[index] = draw(TEXTS)
    elif change == "wrap":  # the same characters, now inside an element
        items[index] = (draw(st.sampled_from(TAGS)), {}, [child])
    elif change == "unwrap" and not isinstance(child, str):  # its content, without it
        items[index : index + 1] = child[2]
    else:
        del items[index]
    return (tag, attrs, items)


SOURCES = st.builds(
    lambda select, remove, watch_links, ignore: SourceSettings(
        id="s",
        url="https://example.org/report/",
        select=select,
        remove=remove,
        watch_links=watch_links,
        ignore=ignore,
    ),
    st.sampled_from([None, None, None, "main", "div", ".x", "td, li"]),
    st.sampled_from([(), ("nav",), (".ad",)]),
    # Not "documents": extract() itself fails on a page whose only link is empty
    # (IndexError in render_blocks; reported, not this module's to fix).
    st.booleans(),
    st.sampled_from([(), (r"\d",)]),
)


def _has_attribute(tree: Tree | str, name: str) -> bool:
    if isinstance(tree, str):
        return False
    return name in tree[1] or any(_has_attribute(child, name) for child in tree[2])


def fingerprint(body: bytes, source: SourceSettings) -> bytes | None:
    reading = read_html(body, content_type="text/html; charset=utf-8", source=source)
    assert reading is not None
    return tree_fingerprint(reading.prepared, watch_links=bool(source.watch_links))


# --------------------------------------------------------------------------- the pure property


@settings(max_examples=400)
@given(st.data(), trees(), SOURCES, st.integers(0, 2**32), st.integers(0, 2**32))
def test_equal_fingerprints_mean_equal_text(
    data: st.DataObject, tree: Tree, source: SourceSettings, seed_a: int, seed_b: int
) -> None:
    other = tree if data.draw(st.booleans()) else data.draw(mutated(tree))
    first = page(tree, random.Random(seed_a) if seed_a % 3 else None)
    second = page(other, random.Random(seed_b) if seed_b % 3 else None)
    a, b = fingerprint(first, source), fingerprint(second, source)
    if a is not None and a == b:
        ct = "text/html; charset=utf-8"
        assert (
            extract(first, content_type=ct, source=source).text
            == extract(second, content_type=ct, source=source).text
        )


@settings(max_examples=200)
@given(trees(), SOURCES, st.integers(0, 2**32))
def test_reading_after_fingerprinting_is_extract(
    tree: Tree, source: SourceSettings, seed: int
) -> None:
    """The fingerprint prunes the tree it is given; the text read from it is unchanged."""
    body = page(tree, random.Random(seed))
    for chrome in (False, True):  # chrome marks, when asked for, are taken before pruning
        reading = read_html(body, content_type="text/html", source=source, chrome=chrome)
        assert reading is not None
        tree_fingerprint(reading.prepared, watch_links=bool(source.watch_links))
        expected = extract(body, content_type="text/html", source=source, chrome=chrome)
        assert reading.finish() == expected


@settings(max_examples=200)
@given(trees(), SOURCES, st.integers(0, 2**32), st.integers(0, 2**32))
def test_noise_outside_the_text_keeps_the_fingerprint(
    tree: Tree, source: SourceSettings, seed_a: int, seed_b: int
) -> None:
    """Tokens in attributes, scripts, styles and comments: the fast path's whole point.

    Pages with ``aria-hidden`` or screen-reader-only elements are left out: whether such
    an element is text depends on text lengths and contents that count script text, so
    there noise can change the extracted text itself (the fingerprint rightly follows).
    """
    assume(not _has_attribute(tree, "aria-hidden"))
    assume("sr-only" not in repr(tree))
    assume("<" not in repr(tree))  # a raw "<" in text would make the noise after it a tag
    # The parser drops a newline that opens a <pre>; after a noise script it is text.
    assume("'\\n" not in repr(tree))
    a = fingerprint(page(tree, random.Random(seed_a)), source)
    b = fingerprint(page(tree, random.Random(seed_b)), source)
    assert a == b


def test_a_report_page_with_per_request_tokens_is_fingerprinted() -> None:
    source = SourceSettings(id="s", url="https://example.org/")
    tree: Tree = ("main", {}, [("h1", {}, ["Requests"]), ("p", {}, ["We received 45."])])
    a = fingerprint(page(tree, random.Random(1)), source)
    assert a is not None
    assert a == fingerprint(page(tree, random.Random(2)), source)
    changed: Tree = ("main", {}, [("h1", {}, ["Requests"]), ("p", {}, ["We received 46."])])
    assert a != fingerprint(page(changed, random.Random(1)), source)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # A paragraph that became a list item: the same characters, another block.
        ("<p>a</p><p>b</p>", "<p>a</p><li>b</li>"),
        # Inline text next to a block boundary moved.
        ("<p>a<b>c</b></p>", "<p>a</p><p>c</p>"),
        # A link's target, watched.
        ('<p><a href="/x">a</a></p>', '<p><a href="/y">a</a></p>'),
        # A row that holds a table lays the page out, even a table in never-text content
        # (gone from the fingerprinted markup); a row that does not is data.
        (
            "<table><tr><td>x<noscript><table></table></noscript></td><td>z</td></tr></table>",
            "<table><tr><td>x<noscript></noscript></td><td>z</td></tr></table>",
        ),
    ],
)
def test_what_changes_the_text_changes_the_fingerprint(first: str, second: str) -> None:
    source = SourceSettings(id="s", url="https://example.org/", watch_links=True)
    a = fingerprint(f"<body>{first}</body>".encode(), source)
    b = fingerprint(f"<body>{second}</body>".encode(), source)
    assert a is not None and b is not None and a != b
    texts = {
        extract(f"<body>{markup}</body>".encode(), content_type="text/html", source=source).text
        for markup in (first, second)
    }
    assert len(texts) == 2  # the pairs do differ in their text


def test_text_serialized_raw_is_not_fingerprinted() -> None:
    """In ``<xmp>`` text that looks like a tag's attributes is text; no fingerprint is taken."""
    source = SourceSettings(id="s", url="https://example.org/")
    body = b'<body><xmp><p class="a">x</xmp></body>'
    assert fingerprint(body, source) is None
    assert "class" in extract(body, content_type="text/html", source=source).text


# --------------------------------------------------------------------------- the pipeline


async def _run_checks(
    server: PageServer, pages: list[bytes], source: SourceSettings, fast: bool
) -> list[tuple[str, Any]]:
    """Check ``source`` once per page; the log, without what differs from run to run."""
    store = MemoryEventStore(clock=lambda: NOW)
    settings = Settings(path="sources.toml", sources=(source,))
    async with Fetcher(MonitorSettings()) as fetcher:
        runner = CheckRunner(
            store=store, fetcher=fetcher, settings=settings, clock=lambda: NOW, fast_path=fast
        )
        await runner.reconcile()
        for body in pages:
            server.set("/page", body.decode())
            await runner.check(source)
    log = []
    async for event in store.iterate():
        data = dict(event.data)
        if "capture" in data:
            capture = dict(data["capture"])
            capture.pop("elapsed_ms")
            capture["headers"] = {
                k: v for k, v in capture["headers"].items() if k.lower() != "date"
            }
            data["capture"] = capture
        log.append((event.type, data))
    return log


# The page server is shared by the examples on purpose: each sets the page it serves.
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data(), trees(), SOURCES)
def test_the_fast_path_records_what_reading_every_page_records(
    page_server: PageServer, data: st.DataObject, tree: Tree, source: SourceSettings
) -> None:
    source = replace(source, url=page_server.url("/page"), confirm=data.draw(st.integers(1, 2)))
    versions = [tree]
    for _ in range(data.draw(st.integers(1, 5))):
        versions.append(versions[-1] if data.draw(st.booleans()) else data.draw(mutated(tree)))
    seeds = data.draw(
        st.lists(st.integers(0, 2**32), min_size=len(versions), max_size=len(versions))
    )
    pages = [page(v, random.Random(s)) for v, s in zip(versions, seeds, strict=True)]
    full = asyncio.run(_run_checks(page_server, pages, source, fast=False))
    fast = asyncio.run(_run_checks(page_server, pages, source, fast=True))
    assert fast == full


def test_pages_whose_text_is_the_last_good_one_are_not_read(
    page_server: PageServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same text in new bytes is decided without reading it, also by a new process."""
    reads: list[int] = []
    real_walk = monitor.extract.document.walk_prepared

    def counting_walk(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return real_walk(*args, **kwargs)

    monkeypatch.setattr(monitor.extract.document, "walk_prepared", counting_walk)
    first: Tree = ("main", {}, [("h1", {}, ["Requests"]), ("p", {}, ["We received 45."])])
    second: Tree = ("main", {}, [("h1", {}, ["Requests"]), ("p", {}, ["We received 46."])])
    source = SourceSettings(id="report", url=page_server.url("/page"))
    settings = Settings(path="sources.toml", sources=(source,))

    async def checks(pages: list[bytes]) -> list[str]:
        async with (
            open_store(f"sqlite:///{tmp_path / 'monitor.db'}") as store,
            Fetcher(MonitorSettings()) as fetcher,
        ):
            runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
            await runner.reconcile()
            outcomes = []
            for body in pages:
                page_server.set("/page", body.decode())
                outcomes.append((await runner.check(source)).outcome)
            return outcomes

    noise = random.Random(7)
    one = [page(first, noise) for _ in range(3)] + [page(second, noise), page(second, noise)]
    assert asyncio.run(checks(one)) == [
        "baseline",
        "unchanged",
        "unchanged",
        "changed",
        "unchanged",
    ]
    assert len(reads) == 2  # the baseline and the change; the other three were not read
    # Another process (a new runner: nothing in memory) finds the fingerprint in the store.
    assert asyncio.run(checks([page(second, noise)])) == ["unchanged"]
    assert len(reads) == 2
