"""The normalized text: normalization, rendering, parsing back, Markdown and plain text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config.settings import SourceSettings
from monitor.extract.blocks import HEADING_LEVELS, row_text, with_paths
from monitor.extract.document import (
    Block,
    Extraction,
    extract,
    normalize_text,
    parse_blocks,
    render_blocks,
)


def run(body: str, content_type: str | None, **rules: object) -> Extraction:
    source = SourceSettings(id="s", url="https://example.org/policy/", **rules)  # type: ignore[arg-type]
    return extract(body.encode("utf-8"), content_type=content_type, source=source)


# --- normalization -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Hong\u00a0Kong", "Hong Kong"),  # no-break space
        ("45\u202f%", "45 %"),  # narrow no-break space
        ("1\u2007000", "1 000"),  # figure space
        ("香港\u3000政府", "香港 政府"),  # ideographic space
        ("a\u2009b\u200ac\u205fd", "a b c d"),  # thin, hair, math spaces
        ("pri\u200bvacy", "privacy"),  # zero-width space
        ("trans\u00adparency", "transparency"),  # soft hyphen
        ("a\u200cb\u200dc\u2060d\ufeffe", "abcde"),  # ZWNJ, ZWJ, word joiner, BOM
        ("  tabs\tand\nnew\r\nlines  ", "tabs and new lines"),
        ("line\u2028sep\u2029para\x85nel", "line sep para nel"),
        ("ctrl\x00\x07\x1b\x7fchars", "ctrlchars"),
        ("cafe\u0301", "café"),  # NFC
        ("e\u200d\u0301", "é"),  # a dropped joiner does not leave a non-NFC sequence
        ("Hong Kong HONG KONG", "Hong Kong HONG KONG"),  # no case folding
        ("ＡＢＣ１２３", "ＡＢＣ１２３"),  # no width folding
        ("“quoted” ‘single’ don’t", "“quoted” ‘single’ don’t"),  # typographic quotes kept
        ("\u00a0\u200b \n", ""),
    ],
)
def test_normalize_text_folds_spaces_and_drops_invisible_characters(
    raw: str, normalized: str
) -> None:
    assert normalize_text(raw) == normalized


@given(st.text())
def test_normalize_text_is_idempotent_and_single_line(raw: str) -> None:
    once = normalize_text(raw)
    assert normalize_text(once) == once
    assert "\n" not in once
    assert "  " not in once
    assert once == once.strip()


# --- rendering and parsing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "line"),
    [
        (Block("h1", "Transparency report"), "# Transparency report"),
        (Block("h2", "Government requests"), "## Government requests"),
        (Block("h6", "Deep"), "###### Deep"),
        (Block("p", "Plain paragraph."), "Plain paragraph."),
        (Block("li", "An item"), "- An item"),
        (Block("row", "Hong Kong | 45 | 12"), "| Hong Kong | 45 | 12 |"),
        (Block("quote", "Said so"), "> Said so"),
        (Block("page", "page 3"), "--- page 3 ---"),
        (Block("pre", "x = 1"), "x = 1"),
        (Block("field", "data.count: 4"), "data.count: 4"),
        (Block("record", "Chile · requests: 3"), "Chile · requests: 3"),
        (Block("line", "# as written"), "# as written"),
        # Texts that would read back as something else get a Markdown backslash.
        (Block("p", "- not a list"), "\\- not a list"),
        (Block("p", "# not a heading"), "\\# not a heading"),
        (Block("p", "---"), "\\---"),
        (Block("p", "| not | a row |"), "\\| not | a row |"),
        (Block("p", "see [the form](https://x.example/)"), "\\see [the form](https://x.example/)"),
        (Block("li", "- nested dash"), "- - nested dash"),
        (Block("li", "- -"), "- \\- -"),
        (Block("h2", "[a](b)"), "## \\[a](b)"),
        (Block("p", "\\- literal backslash"), "\\\\- literal backslash"),
        # Numbered paragraphs are common in legal text and need no escape.
        (Block("p", "1. Scope of this policy"), "1. Scope of this policy"),
        (Block("p", "\\ leading backslash"), "\\\\ leading backslash"),
    ],
)
def test_render_puts_one_block_on_one_light_markdown_line(block: Block, line: str) -> None:
    assert render_blocks([block]) == line
    read_back = parse_blocks(line)[0]
    expected_kind = (
        block.kind if block.kind in (*HEADING_LEVELS, "li", "row", "quote", "page") else "p"
    )
    if block.kind != "line":
        assert (read_back.kind, read_back.text) == (expected_kind, block.text)


def test_escaping_never_nests_even_for_thousands_of_backslashes() -> None:
    text = "\\" * 5000 + "- x"
    rendered = render_blocks([Block("p", text)])
    assert rendered == "\\" + text
    assert parse_blocks(rendered) == (Block("p", text),)
    assert run(rendered, "text/markdown").text == rendered


def test_rendered_text_has_no_blank_lines_and_no_final_newline() -> None:
    text = render_blocks([Block("h1", "A"), Block("p", "b"), Block("li", "c")])
    assert text == "# A\nb\n- c"
    assert render_blocks([]) == ""


def test_parse_blocks_recovers_heading_paths() -> None:
    text = (
        "# Report\nIntro\n## Government requests\n### Hong Kong\n- 45 requests\n## Removals\nNone"
    )
    assert parse_blocks(text) == (
        Block("h1", "Report", ()),
        Block("p", "Intro", ("Report",)),
        Block("h2", "Government requests", ("Report",)),
        Block("h3", "Hong Kong", ("Report", "Government requests")),
        Block("li", "45 requests", ("Report", "Government requests", "Hong Kong")),
        Block("h2", "Removals", ("Report",)),
        Block("p", "None", ("Report", "Removals")),
    )


def test_parse_blocks_never_loses_a_line() -> None:
    text = "---\n[\n```\n|---|---|\n](https://x.example/)"
    assert [b.text for b in parse_blocks(text)] == text.split("\n")


def test_row_text_escapes_pipes_inside_cells() -> None:
    assert row_text(["a|b", "", "c"]) == "a\\|b | | c"
    assert parse_blocks(render_blocks([Block("row", row_text(["a|b", "c"]))]))[0].text == (
        "a\\|b | c"
    )


# --- Markdown and plain text ---------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("# Title\n\nSome text.", "# Title\nSome text."),
        ("See [the report](https://x.example/r?utm_source=a) now", "See the report now"),
        ("![Company logo](logo.png) Policy", "Company logo Policy"),
        ("[![badge](b.svg)](https://x.example/)", "badge"),
        ("[Wiki](https://en.wikipedia.org/wiki/Foo_(bar)) end", "Wiki end"),
        ("* star item\n+ plus item\n- dash item", "- star item\n- plus item\n- dash item"),
        ("1. Numbered clause\n2) Another", "1. Numbered clause\n2) Another"),
        (
            "| Country | Requests |\n|---|---:|\n| Hong Kong | 45 |",
            "| Country | Requests |\n| Hong Kong | 45 |",
        ),
        ("|a|b|", "| a | b |"),
        ("> quoted\n>> nested", "> quoted\n> nested"),
        (
            "```sh\n# not a heading\n- not an item\n```\nafter",
            "\\# not a heading\n\\- not an item\nafter",
        ),
        ("above\n\n---\n***\n___\n\nbelow", "above\nbelow"),
        (
            "[\n\nWhat is Account Status?\n\n![](https://cdn.example/i.png)\n\n](https://help.example/a)",
            "What is Account Status?",
        ),
        ("   indented    text   ", "indented text"),
        ("\\- escaped dash", "\\- escaped dash"),
    ],
)
def test_markdown_becomes_blocks_and_link_targets_are_not_text(markdown: str, text: str) -> None:
    assert run(markdown, "text/markdown").text == text


def test_markdown_link_only_change_is_not_a_change() -> None:
    before = run("Read [our policy](https://x.example/a?ref=1) here", "text/markdown")
    after = run("Read [our policy](https://x.example/b) here", "text/markdown")
    assert before.text == after.text == "Read our policy here"
    assert before.links == 1


def test_markdown_watch_links_shows_targets_without_tracking() -> None:
    result = run(
        "Read [our policy](/legal/a?utm_source=mail&id=7&fbclid=z) here\n[\nCard\n](https://x.example/c)",
        "text/markdown",
        watch_links=True,
    )
    assert result.text == (
        "Read our policy <https://example.org/legal/a?id=7> here\nCard\n<https://x.example/c>"
    )


def test_markdown_headings_feed_paths_and_title() -> None:
    result = run("intro\n## Requests\n### Hong Kong\n45", "text/markdown")
    assert result.blocks[-1] == Block("p", "45", ("Requests", "Hong Kong"))
    assert result.title == "Requests"
    assert result.format == "markdown"


def test_plain_text_is_one_line_block_per_line() -> None:
    result = run("First  line\n\n\t# second\r\nthird\u00a0line\n", "text/plain")
    assert result.format == "text"
    assert [(b.kind, b.text) for b in result.blocks] == [
        ("line", "First line"),
        ("line", "# second"),
        ("line", "third line"),
    ]
    assert result.text == "First line\n# second\nthird line"


# --- properties: the stored text is a fixed point ------------------------------------

# Texts built from fragments that mean something to a Markdown reader, so that the
# properties meet links, markers, pipes and backslashes often, not by rare luck.
_FRAGMENTS = st.one_of(
    st.text(st.sampled_from(list("abcXYZ éß香港019.")), min_size=1, max_size=8),
    st.sampled_from(
        ["#", "# ", "## ", "- ", "* ", "+ ", "> ", "1. ", "|", " | ", "\\", "\\|", "---", "***",
         "```", "~~~", "[", "]", "(", ")", "](", "[a](b)", "![i](s.png)", "[x](<u v>)",
         "](https://x.example/)", ":--", "|---|", "--- page 2 ---", "<https://x.example/>",
         "\u00a0", "\u200b", "\t"]
    ),
)  # fmt: skip
_TEXTS = st.lists(_FRAGMENTS, min_size=1, max_size=6).map("".join).map(normalize_text).filter(bool)
_CELLS = st.lists(st.lists(_FRAGMENTS, max_size=3).map("".join).map(normalize_text), max_size=3)


@st.composite
def _block_lists(draw: st.DrawFn) -> list[tuple[str, str]]:
    pieces = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(
            st.sampled_from(
                [*HEADING_LEVELS, "p", "li", "row", "quote", "page", "pre", "field", "record"]
            )
        )
        if kind == "row":
            cells = draw(_CELLS)
            cells.insert(draw(st.integers(0, len(cells))), draw(_TEXTS))  # one cell has text
            pieces.append((kind, row_text(cells)))
        elif kind == "page":
            pieces.append((kind, f"page {draw(st.integers(1, 999))}"))
        else:
            pieces.append((kind, draw(_TEXTS)))
    return pieces


@settings(max_examples=150)
@given(_block_lists())
def test_extracting_a_rendered_text_as_markdown_gives_it_back(
    pieces: list[tuple[str, str]],
) -> None:
    text = render_blocks(with_paths(pieces))
    again = run(text, "text/markdown")
    assert again.text == text
    assert run(again.text, "text/markdown").text == text


@settings(max_examples=150)
@given(_block_lists())
def test_parse_blocks_inverts_render_blocks(pieces: list[tuple[str, str]]) -> None:
    blocks = with_paths(pieces)
    marker_kinds = (*HEADING_LEVELS, "li", "row", "quote", "page")
    expected = with_paths([(k if k in marker_kinds else "p", t) for k, t in pieces])
    assert parse_blocks(render_blocks(blocks)) == expected


@given(st.lists(_TEXTS, max_size=10))
def test_extracting_a_plain_text_again_gives_it_back(lines: list[str]) -> None:
    text = run("\n".join(lines), "text/plain").text
    assert run(text, "text/plain").text == text
    assert text == "\n".join(lines)
