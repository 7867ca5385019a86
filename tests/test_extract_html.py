"""HTML pages → normalized text: what counts as text, structure, rules, charsets, format choice."""

from __future__ import annotations

import html as htmllib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config.settings import SourceSettings
from monitor.extract.blocks import normalize_text, row_text, with_paths
from monitor.extract.document import Block, Extraction, extract, render_blocks

URL = "https://example.org/legal/privacy"


def run(body: str | bytes, content_type: str | None = "text/html", **rules: object) -> Extraction:
    source = SourceSettings(id="s", url=URL, **rules)  # type: ignore[arg-type]
    data = body.encode("utf-8") if isinstance(body, str) else body
    return extract(data, content_type=content_type, source=source)


def page(body: str, head: str = "<title>Policy</title>") -> str:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


# --- noise that is not a change ------------------------------------------------------

BASE = page(
    "<main><h1>Transparency report</h1><p>We received <b>45</b> requests from "
    '<a href="/hk">Hong Kong</a>.</p><ul><li>One</li><li>Two</li></ul></main>'
)


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(
            page(
                "<main><h1>Transparency report</h1><p>We received <b>45</b> requests from "
                '<a href="/hk">Hong Kong</a>.</p><ul><li>One</li><li>Two</li></ul></main>'
                "<script>var token='9f8e7d';</script><style>p{color:red}</style>",
                head='<title>Policy</title><meta name="csrf" content="abc123">'
                "<script nonce=xyz>window.x=1</script>",
            ),
            id="scripts-styles-meta",
        ),
        pytest.param(
            page(
                '\n  <main class="v2" id="c-91" data-reactid="7">\n    <h1 style="x">Transparency '
                "report</h1>\n    <p>We received\n      <b>45</b>   requests from\n"
                '      <a href="/hk" class="l">Hong Kong</a>.</p>\n    <ul>\n      <li>One</li>\n'
                "      <li>Two</li>\n    </ul>\n  </main>\n"
            ),
            id="attributes-and-whitespace",
        ),
        pytest.param(
            page(
                "<main><!-- build 2024-05-01 --><h1>Transparency\u00a0report</h1><p>We rece"
                "<span></span>ived <b>45</b> requests from <a href='/hk'>Hong Kong</a>.</p>"
                "<ul><li>One</li><li>Two</li></ul><script>app()</script><noscript>Enable JavaScript"
                "</noscript>"
                "<template><p>Later</p></template><svg><title>icon</title><text>Logo</text></svg>"
                "<iframe src='/ad'>frame text</iframe></main>"
            ),
            id="comments-noscript-template-svg-iframe",
        ),
        pytest.param(
            page(
                '<div hidden>Cookie settings</div><div style="display: none">Accept all</div>'
                "<dialog><p>Sign up now</p></dialog>"
                "<main><h1>Transparency report</h1><p>We received <b>45</b> requests from "
                '<a href="/hk">Hong Kong</a>.<span style="visibility:hidden">*</span></p>'
                "<ul><li>One</li><li>Two</li></ul></main>"
            ),
            id="hidden-elements",
        ),
        pytest.param(
            page(
                "<main><h1>Transparency report</h1><p>We received <b>45</b> requests from "
                '<a href="https://example.org/hk?utm_source=x">Hong Kong</a>.</p>'
                "<ul><li>One</li><li>Two</li></ul></main>"
            ),
            id="href-only",
        ),
        pytest.param(
            page(
                '<div id="onetrust-consent-sdk"><div id="onetrust-banner-sdk"><p>We use cookies '
                "to improve your experience.</p><button>Accept all</button></div></div>"
                "<main><h1>Transparency report</h1><p>We received <b>45</b> requests from "
                '<a href="/hk">Hong Kong</a>.</p><ul><li>One</li><li>Two</li></ul></main>'
                '<div id="sp_message_container_1043"><p>Consent variant B</p></div>'
                '<div id="CybotCookiebotDialog"><p>This website uses cookies</p></div>'
            ),
            id="consent-manager-banners",
        ),
        pytest.param(
            page(
                "<main><h1>Transparency report</h1><p>We received <b>45</b> requests from "
                "<a href='/hk'>Hong\u200bKong</a>.</p>"
                "<ul><li>One</li><li>Two</li></ul></main>"
            ).replace("Hong\u200bKong", "Hong\u00a0Kong"),
            id="invisible-characters",
        ),
    ],
)
def test_markup_noise_gives_identical_text(variant: str) -> None:
    assert run(variant).text == run(BASE).text


def test_a_cookie_policy_is_text_even_though_it_is_about_cookies() -> None:
    """Only the consent managers' own containers go; a page about cookies stays a page."""
    text = run(
        page(
            '<div id="cookie-policy" class="cookie-banner-text"><h1>Cookie Policy</h1>'
            "<p>We use cookies to keep you signed in.</p></div>"
        )
    ).text
    assert text == "# Cookie Policy\nWe use cookies to keep you signed in."


def test_base_page_text() -> None:
    assert run(BASE).text == (
        "# Transparency report\nWe received 45 requests from Hong Kong.\n- One\n- Two"
    )


def test_a_real_text_change_is_a_change() -> None:
    assert run(BASE.replace("45", "46")).text != run(BASE).text


# --- links ---------------------------------------------------------------------------


def test_watch_links_appends_clean_targets_so_href_changes_count() -> None:
    html = page(
        '<p>See <a href="/reports/2024?utm_source=mail&amp;id=3&amp;fbclid=Z">the report</a> '
        'and <a href="https://cdn.example/r.pdf?gclid=1">PDF</a>, <a href="#top">top</a>, '
        '<a href="javascript:void(0)">menu</a>, <a name="anchor">anchor</a>.</p>'
    )
    watched = run(html, watch_links=True)
    assert watched.text == (
        "See the report <https://example.org/reports/2024?id=3> and PDF "
        "<https://cdn.example/r.pdf>, top, menu, anchor."
    )
    assert watched.links == 4  # <a> with an href
    unwatched = run(html)
    assert unwatched.text == "See the report and PDF, top, menu, anchor."
    moved = run(html.replace("/reports/2024", "/reports/2025"), watch_links=True)
    assert moved.text != watched.text
    assert run(html.replace("/reports/2024", "/reports/2025")).text == unwatched.text


def test_watch_links_resolves_against_base_href() -> None:
    html = page('<p><a href="doc.pdf">Doc</a></p>', head='<base href="https://files.example/x/">')
    assert run(html, watch_links=True).text == "Doc <https://files.example/x/doc.pdf>"


# --- select, remove, ignore ----------------------------------------------------------


def test_select_takes_every_match_in_document_order_without_nested_duplicates() -> None:
    html = page(
        "<nav>Menu</nav><section class=c><p>First</p><div class=c><p>Inner</p></div></section>"
        "<aside>Ad</aside><p class=c>Second</p>"
    )
    assert run(html, select=".c").text == "First\nInner\nSecond"
    assert run(html, select="p.c, nav").text == "Menu\nSecond"


def test_select_matching_nothing_is_flagged_not_an_empty_page() -> None:
    result = run(page("<p>Redesigned page</p>"), select="#report-table")
    assert result.select_matched is False
    assert result.blocks == ()
    assert result.text == ""
    assert result.title == "Policy"
    assert run(page("<p>x</p>"), select="p").select_matched is True
    assert run(page("<p>x</p>")).select_matched is True


def test_invalid_select_matches_nothing() -> None:
    assert run(page("<p>x</p>"), select="p[").select_matched is False


def test_remove_drops_matching_elements_everywhere() -> None:
    html = page("<nav>Menu</nav><main><p>Keep</p><div class='cookie-banner'>We use cookies</div>")
    assert run(html, remove=("nav", ".cookie-banner")).text == "Keep"
    assert run(html, remove=("nav", "[", ".cookie-banner")).text == "Keep"  # bad one skipped


def test_ignore_regexes_remove_text_and_drop_emptied_blocks() -> None:
    html = page(
        "<h1>Policy</h1><p>Last updated: 3 May 2024</p><p>Visitors today: 1234. Rules apply.</p>"
    )
    result = run(html, ignore=(r"Last updated: .*", r"Visitors today: \d+\."))
    assert result.text == "# Policy\nRules apply."
    assert result.raw_text_chars == len("Policy") + len("Last updated: 3 May 2024") + len(
        "Visitors today: 1234. Rules apply."
    )
    changed = run(
        html.replace("1234", "99"), ignore=(r"Last updated: .*", r"Visitors today: \d+\.")
    )
    assert changed.text == result.text


def test_an_invalid_ignore_pattern_is_skipped_and_the_others_apply() -> None:
    result = run(page("<p>Build 42 ok</p>"), ignore=("(unclosed", r"Build \d+ "))
    assert result.text == "ok"


# --- structure -----------------------------------------------------------------------


def test_heading_paths_follow_the_outline() -> None:
    html = page(
        "<h1>Report</h1><p>Intro</p><h2>Government requests</h2><h3>Hong Kong</h3>"
        "<ul><li>45 requests</li></ul><h2>Removals</h2><p>None</p>"
    )
    assert run(html).blocks == (
        Block("h1", "Report", ()),
        Block("p", "Intro", ("Report",)),
        Block("h2", "Government requests", ("Report",)),
        Block("h3", "Hong Kong", ("Report", "Government requests")),
        Block("li", "45 requests", ("Report", "Government requests", "Hong Kong")),
        Block("h2", "Removals", ("Report",)),
        Block("p", "None", ("Report", "Removals")),
    )


@pytest.mark.parametrize(
    ("body", "text"),
    [
        pytest.param(
            "<table><caption>Requests by country</caption>"
            "<thead><tr><th>Country</th><th>Requests</th><th>Accounts</th></tr></thead>"
            "<tbody><tr><td>Hong Kong</td><td>45</td><td>12</td></tr>"
            "<tr><td>Chile</td><td></td><td>3</td></tr></tbody></table>",
            "Requests by country\n| Country | Requests | Accounts |\n| Hong Kong | 45 | 12 |"
            "\n| Chile | | 3 |",
            id="data-table",
        ),
        pytest.param(
            "<table><tr><td><p>A <b>bold</b></p><ul><li>x</li><li>y</li></ul></td>"
            "<td>a|b</td></tr><tr><td> </td><td></td></tr></table>",
            "| A bold x y | a\\|b |",
            id="blocks-inside-cells-stay-in-the-row",
        ),
        pytest.param(
            "<table><tr><td><h2>Layout</h2><p>Para one</p></td><td><table><tr><td>k</td>"
            "<td>v</td></tr></table></td></tr></table>",
            "## Layout\nPara one\n| k | v |",
            id="layout-table-is-read-as-blocks",
        ),
        pytest.param(
            "<div>Some text<p>para</p>tail</div>",
            "Some text\npara\ntail",
            id="leaf-text-in-containers",
        ),
        pytest.param(
            "<section>Lead <em>in</em><div>nested</div><span>after</span> span</section>",
            "Lead in\nnested\nafter span",
            id="inline-after-block",
        ),
        pytest.param(
            "<p>Hello <b>bold</b>, <i>it</i><sup>1</sup> and <code>code</code><br>next line</p>",
            "Hello bold, it1 and code next line",
            id="inline-elements-stay-inline",
        ),
        pytest.param(
            "<ul><li>Item<ul><li>Sub</li></ul>tail</li><li><p>P one</p><p>P two</p></li></ul>",
            "- Item\n- Sub\n- tail\n- P one\n- P two",
            id="lists",
        ),
        pytest.param(
            "<ol><li>First</li><li>Second</li></ol>",
            "- First\n- Second",
            id="ordered-list-numbers-are-not-text",
        ),
        pytest.param(
            "<blockquote><p>Quoted one</p><p>Quoted two</p></blockquote>",
            "> Quoted one\n> Quoted two",
            id="quotes",
        ),
        pytest.param(
            "<pre>line 1\n    line 2\n\nline 3</pre>",
            "line 1\nline 2\nline 3",
            id="pre-keeps-lines",
        ),
        pytest.param(
            "<dl><dt>Term</dt><dd>Definition</dd></dl><figure>img<figcaption>Cap</figcaption>"
            "</figure><details><summary>More</summary>Hidden by default</details>",
            "Term\nDefinition\nimg\nCap\nMore\nHidden by default",
            id="definition-lists-figures-details",
        ),
        pytest.param(
            '<p hidden="until-found">Findable</p><dialog open><p>Shown</p></dialog>',
            "Findable\nShown",
            id="findable-and-open-dialog-are-text",
        ),
        pytest.param(
            "<p>- starts like a list</p><p>1. Numbered clause</p>",
            "\\- starts like a list\n1. Numbered clause",
            id="markdown-lookalike-text-is-escaped",
        ),
    ],
)
def test_html_structure_becomes_blocks(body: str, text: str) -> None:
    assert run(page(body)).text == text


def test_an_aria_hidden_app_root_behind_a_modal_is_still_the_page() -> None:
    html = page(
        '<div id="root" aria-hidden="true"><main><h1>Policy</h1><p>The whole policy text.</p>'
        '</main></div><div role="dialog"><p>Accept cookies?</p></div>'
    )
    assert run(html).text == "# Policy\nThe whole policy text.\nAccept cookies?"


def test_deep_nesting_neither_recurses_nor_stalls() -> None:
    depth = 100_000
    started = time.process_time()
    divs = run("<div>" * depth + "deep<p>x</p>" + "</div>" * depth)
    spans = run("<span>" * depth + "deep" + "</span>" * depth)
    assert time.process_time() - started < 10  # Lexbor alone would take ~20 s for the divs
    assert divs.text == "deep\nx"
    assert spans.text == "deep"


def test_title_is_the_title_element_else_the_first_heading() -> None:
    assert run(page("<h2>Heading</h2>", head="<title> Privacy\n Policy </title>")).title == (
        "Privacy Policy"
    )
    assert run(page("<p>x</p><h2>Heading</h2>", head="")).title == "Heading"
    assert run(page("<svg><title>icon</title></svg><p>x</p>", head="")).title is None


# --- charsets ------------------------------------------------------------------------

CJK = "香港政府要求披露用戶資料"
CJK_SIMPLIFIED = "香港政府要求披露用户资料"


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        pytest.param(
            page(f"<p>{CJK}</p>", head='<meta charset="big5">').encode("big5"),
            "text/html",
            CJK,
            id="big5-meta",
        ),
        pytest.param(
            page(f"<p>{CJK}</p>").encode("big5"),
            "text/html; charset=Big5",
            CJK,
            id="big5-header",
        ),
        pytest.param(
            page(
                f"<p>{CJK_SIMPLIFIED}</p>",
                head='<meta http-equiv="Content-Type" content="text/html; charset=gb2312">',
            ).encode("gb18030"),
            "text/html",
            CJK_SIMPLIFIED,
            id="gb2312-label-http-equiv",
        ),
        pytest.param(
            page(f"<p>{CJK_SIMPLIFIED}𠀀</p>").encode("gb18030"),
            'text/html; charset="GB18030"',
            CJK_SIMPLIFIED + "𠀀",
            id="gb18030-header",
        ),
        pytest.param(
            page("<p>個人情報の取扱い</p>", head="<meta charset=Shift_JIS>").encode("cp932"),
            None,
            "個人情報の取扱い",
            id="shift-jis-meta-no-content-type",
        ),
        pytest.param(
            page(f"<p>{CJK}</p>", head='<meta charset="big5">').encode("big5"),
            "text/html; charset=big5",
            CJK,
            id="header-and-meta-agree",
        ),
        pytest.param(
            page("<p>Données personnelles</p>").encode("utf-8"),
            "text/html; charset=iso-8859-1",
            "DonnÃ©es personnelles",  # the header is wrong and wins, as in browsers
            id="header-wins-over-content",
        ),
        pytest.param(
            page("<p>Straße “quoted”</p>").encode("cp1252"),
            "text/html; charset=latin1",
            "Straße “quoted”",  # latin1 means windows-1252, as in browsers
            id="latin1-is-windows-1252",
        ),
        pytest.param(
            b"\xef\xbb\xbf" + page("<p>caf\u00e9</p>", head="<meta charset=big5>").encode(),
            "text/html; charset=iso-8859-1",
            "café",
            id="utf8-bom-wins",
        ),
        pytest.param(
            "\ufeff".encode("utf-16-le") + page("<p>Ünïcode</p>").encode("utf-16-le"),
            None,
            "Ünïcode",
            id="utf16-bom-sniffed",
        ),
        pytest.param(
            page("<p>caf\u00e9</p>").encode(),
            "text/html; charset=x-no-such-charset",
            "café",
            id="unknown-charset-falls-back-to-utf8",
        ),
        pytest.param(
            page("<p>caf\u00e9</p>", head="<meta charset=base64>").encode(),
            "text/html",
            "café",
            id="non-text-codec-is-ignored",
        ),
        pytest.param(
            page("<p>bad \xff\xfe bytes</p>").encode("latin-1"),
            "text/html; charset=utf-8",
            "bad \ufffd\ufffd bytes",
            id="invalid-bytes-are-replaced",
        ),
    ],
)
def test_charsets_are_found_and_decoding_never_raises(
    body: bytes, content_type: str | None, text: str
) -> None:
    result = run(body, content_type)
    assert result.format == "html"
    assert result.text == text


# --- format choice -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "declared", "fmt", "media_type"),
    [
        (b"<!DOCTYPE html><p>x</p>", "text/html; charset=utf-8", None, "html", "text/html"),
        (b"<html><p>x</p></html>", "application/xhtml+xml", None, "html", "application/xhtml+xml"),
        (b'{"a": 1}', "application/json", None, "json", "application/json"),
        (b'{"a": 1}', "application/problem+json", None, "json", "application/problem+json"),
        (b"a,b\n1,2\n", "text/csv", None, "csv", "text/csv"),
        (b"# T\n", "text/markdown", None, "markdown", "text/markdown"),
        (b"# T\n", "text/plain", None, "text", "text/plain"),
        (b"# T\n", "text/plain", "markdown", "markdown", "text/markdown"),
        (b"<!doctype html><p>x</p>", None, None, "html", "text/html"),
        (b"  \n<div>fragment</div>", "application/octet-stream", None, "html", "text/html"),
        (b'[{"a": 1}]', None, None, "json", "application/json"),
        (b"{not json", None, None, "text", "text/plain"),
        (b"<rss><item>x</item></rss>", None, None, "text", "text/plain"),
        (b"plain words", None, None, "text", "text/plain"),
        (b"<!doctype html><p>Access denied</p>", "application/pdf", None, "html", "text/html"),
        (b"<html><p>Error</p></html>", "application/json", None, "html", "text/html"),
        (b"<!DOCTYPE html><p>Error</p>", "text/csv", None, "html", "text/html"),
        (b"Rate limited, try later", "application/json", None, "text", "text/plain"),
    ],
)
def test_format_follows_settings_then_media_type_then_the_body(
    body: bytes, content_type: str | None, declared: str | None, fmt: str, media_type: str
) -> None:
    result = run(body, content_type, format=declared)
    assert (result.format, result.media_type) == (fmt, media_type)


def test_extraction_is_deterministic() -> None:
    html = page("<h1>A</h1>" + "<p>para <a href='/x'>l</a></p>" * 50 + "<table><tr><td>1</td></tr>")
    first, second = run(html, watch_links=True), run(html, watch_links=True)
    assert first == second
    assert first.links == 50


# --- property: any page built from blocks reads back as those blocks, noise or not ---

_WORDS = st.lists(
    st.one_of(
        st.text(st.sampled_from(list("abcXYZ éß香港019.,")), min_size=1, max_size=8),
        st.sampled_from(
            ["<", ">", "&", "&amp;", '"', "'", "|", "- ", "# ", "[a](b)", "\\", "\u00a0"]
        ),
    ),
    min_size=1,
    max_size=5,
).map("".join)
_NOISE = st.sampled_from(
    ["", "\n   ", "<!-- note -->", "<script>var t='<p>x</p>';</script>", "<style>p{}</style>",
     '<span hidden="">gone</span>', '<i style="display:none">*</i>',
     "<template><p>t</p></template>"]
)  # fmt: skip


@st.composite
def _pages(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    parts, pieces = [], []
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["h1", "h2", "h3", "p", "li", "quote", "row"]))
        parts.append(draw(_NOISE))
        if kind == "row":
            cells = draw(st.lists(_WORDS, min_size=1, max_size=4))
            tds = "".join(f"<td>{htmllib.escape(c)}</td>" for c in cells)
            parts.append(f"<table><tr>{tds}</tr></table>")
            normalized = [normalize_text(c) for c in cells]
            # A row whose cells are all blank has no text: extraction drops it.
            text = row_text(normalized) if any(normalized) else ""
        else:
            raw = draw(_WORDS)
            tag = {"li": "ul><li", "quote": "blockquote"}.get(kind, kind)
            close = {"li": "li></ul", "quote": "blockquote"}.get(kind, kind)
            parts.append(f"<{tag}>{htmllib.escape(raw)}{draw(_NOISE)}</{close}>")
            text = normalize_text(raw)
        if text:
            pieces.append((kind, text))
    return page("".join(parts)), pieces


@settings(max_examples=150)
@given(_pages())
def test_pages_built_from_blocks_read_back_as_those_blocks(
    built: tuple[str, list[tuple[str, str]]],
) -> None:
    markup, pieces = built
    first = run(markup)
    assert first.blocks == with_paths(pieces)
    assert first.text == render_blocks(with_paths(pieces))
    assert run(markup) == first  # deterministic
    assert run(first.text, "text/markdown").text == first.text  # and a fixed point


def test_documents_only_links_drop_pieces_left_empty_and_keep_chrome_in_place() -> None:
    """With ``watch_links = "documents"`` a link to a page vanishes from the text; a block
    that was nothing but such a link is dropped instead of breaking the rendering."""
    from monitor.config.settings import SourceSettings
    from monitor.extract.document import extract

    source = SourceSettings(id="s", url="http://127.0.0.1/", watch_links="documents")
    empty = extract(b'<body><a href="/a"></a></body>', content_type="text/html", source=source)
    assert empty.text == ""
    page = (
        b'<body><nav><a href="/a">Home</a></nav><nav><a href="/b"></a></nav>'
        b'<main><p>Policy <a href="/p">here</a></p><p><a href="/r.pdf">Report</a></p></main>'
        b"</body>"
    )
    result = extract(page, content_type="text/html", source=source, chrome=True)
    assert result.text == "Home\nPolicy here\nReport <http://127.0.0.1/r.pdf>"
    assert result.chrome == ((0, 1),)
