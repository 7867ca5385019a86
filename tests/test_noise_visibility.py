"""What a reader sees, and what is chrome: small pages written for each rule."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser

from monitor.config.settings import SourceSettings
from monitor.extract.document import Extraction, extract
from monitor.noise.visibility import hidden_by_style, is_copy, strip_invisible

URL = "https://example.org/legal/terms"


def run(body: str, **rules: object) -> Extraction:
    source = SourceSettings(id="s", url=URL, **rules)  # type: ignore[arg-type]
    html = f"<!doctype html><html><head><title>T</title></head><body>{body}</body></html>"
    return extract(html.encode(), content_type="text/html", source=source, chrome=True)


def chrome_text(extraction: Extraction) -> list[str]:
    lines = extraction.text.split("\n")
    return [line for start, end in extraction.chrome for line in lines[start:end]]


# --- hidden from every reader ---------------------------------------------------------


@pytest.mark.parametrize(
    "hidden",
    [
        '<span style="display:none">req-7f3a9c</span>',
        '<span style="color: red; DISPLAY : None !important">req-7f3a9c</span>',
        '<div style="visibility: hidden"><p>req-7f3a9c</p></div>',
        "<div hidden><p>req-7f3a9c</p></div>",
        "<dialog><p>req-7f3a9c</p></dialog>",
        "<template><p>req-7f3a9c</p></template>",
    ],
)
def test_text_hidden_from_every_reader_is_not_text(hidden: str) -> None:
    text = run(f"<p>Our terms apply.{hidden}</p>").text
    assert text == "Our terms apply."


def test_a_later_declaration_can_show_what_an_earlier_one_hid() -> None:
    assert not hidden_by_style("display:none; display:block")
    assert hidden_by_style("display:block;display:none")
    assert not hidden_by_style("--my-display:none")
    assert run('<p style="display: none; display: block">Shown</p>').text == "Shown"


def test_until_found_content_is_text_it_can_be_searched_for() -> None:
    assert run('<div hidden="until-found"><p>Annex A</p></div>').text == "Annex A"


def test_noscript_is_text_only_on_a_page_without_scripts() -> None:
    body = "<p>Terms</p><noscript><p>This page works without JavaScript.</p></noscript>"
    assert run(body).text == "Terms\nThis page works without JavaScript."
    assert run(body + "<script>render()</script>").text == "Terms"


def test_aria_hidden_text_is_seen_by_sighted_readers() -> None:
    body = '<p>Terms <span aria-hidden="true">(PDF, 2 pages)</span></p>'
    assert run(body).text == "Terms (PDF, 2 pages)"


def test_screen_reader_copies_of_shown_text_are_dropped_other_labels_stay() -> None:
    body = (
        '<h2>Data retention<span class="sr-only">Data retention</span></h2>'
        '<p><a href="/x">Read more<span class="visually-hidden"> about cookies</span></a></p>'
    )
    assert run(body).text == "## Data retention\nRead more about cookies"
    assert is_copy("Data retention", "Data retention Data retention")
    assert not is_copy("about cookies", "Read more about cookies")


def test_consent_banners_are_removed_unless_the_source_keeps_them() -> None:
    body = '<div id="onetrust-consent-sdk"><p>We use cookies.</p></div><p>Policy</p>'
    assert run(body).text == "Policy"
    assert run(body, remove_consent=False).text == "We use cookies.\nPolicy"


def test_strip_invisible_is_usable_on_its_own_tree() -> None:
    tree = LexborHTMLParser(
        '<body><p>Keep</p><p style="display:none">drop</p><div id="CybotCookiebotDialog">'
        'c</div><p class="gone">r</p></body>'
    )
    strip_invisible(tree, consent=True, remove=(".gone",))
    assert tree.body is not None and tree.body.text() == "Keep"


# --- chrome -----------------------------------------------------------------------------


def test_landmarks_are_chrome_the_document_is_not() -> None:
    extraction = run(
        "<header><nav><ul><li>Products</li><li>Solutions</li></ul></nav></header>"
        "<div><h1>Terms of Service</h1><p>These terms govern your use of the service, "
        "including every product and solution we offer to customers.</p>"
        "<aside><p>Related: Privacy</p></aside></div>"
        "<footer><p>© Example Corp</p></footer>"
    )
    assert chrome_text(extraction) == [
        "- Products",
        "- Solutions",
        "Related: Privacy",
        "© Example Corp",
    ]


def test_with_a_main_everything_outside_it_is_chrome_headers_inside_are_not() -> None:
    extraction = run(
        "<div class='top'><p>Sign in</p><p>Pricing</p></div>"
        "<main><header><p>Last updated: 3 June 2025</p></header><h1>Privacy Policy</h1>"
        "<p>We collect the data you give us and the data your devices send us.</p></main>"
        "<div class='bottom'><p>Careers</p></div>"
    )
    assert chrome_text(extraction) == ["Sign in", "Pricing", "Careers"]


def test_a_single_article_is_the_document_two_are_not() -> None:
    one = run("<p>Menu</p><article><h1>Policy</h1><p>The whole policy text is here.</p></article>")
    assert chrome_text(one) == ["Menu"]
    two = run("<p>Menu</p><article><p>A long first text.</p></article><article><p>B</p></article>")
    assert two.chrome == ()


def test_a_main_holding_little_of_the_text_does_not_make_the_rest_chrome() -> None:
    extraction = run(
        "<main><h1>Policy</h1></main><div><p>" + "The real policy text. " * 20 + "</p></div>"
    )
    assert extraction.chrome == ()


def test_a_page_that_is_all_landmarks_has_no_chrome() -> None:
    assert run("<nav><p>Everything is here</p></nav><p>x</p>").chrome == ()


def test_chrome_lines_follow_ignore() -> None:
    extraction = run(
        "<nav><p>Home</p><p>Build 42</p></nav><main><p>The policy text, long enough.</p></main>",
        ignore=("^Build \\d+$",),
    )
    assert extraction.text == "Home\nThe policy text, long enough."
    assert extraction.chrome == ((0, 1),)


def test_with_select_the_selection_is_the_document_its_navs_are_chrome() -> None:
    extraction = run(
        "<p>Outside</p><div class='doc'><nav><p>On this page: Scope</p></nav>"
        "<h1>Scope</h1><p>The policy applies to all services we run.</p></div>",
        select=".doc",
    )
    assert chrome_text(extraction) == ["On this page: Scope"]


def test_a_collapsed_section_a_control_opens_is_text() -> None:
    body = (
        '<button aria-expanded="false" aria-controls="s1">Data retention</button>'
        '<div id="s1" hidden><p>We keep data for 30 days.</p></div>'
        '<div id="s2" style="display:none"><p>trace 9f8e7d6c5b4a</p></div>'
    )
    assert run(body).text == "Data retention\nWe keep data for 30 days."


def test_two_screen_reader_copies_of_unshown_text_keep_one() -> None:
    body = '<p>Open<span class="sr-only"> menu</span><span class="sr-only"> menu</span></p>'
    assert run(body).text == "Open menu"
