"""Real captures (tests/data/extract, from Open Terms Archive histories): noise is not change."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from monitor.config.settings import SourceSettings
from monitor.extract.document import Extraction, extract

DATA = Path(__file__).parent / "data" / "extract"


def run(name: str, content_type: str, url: str = "https://example.org/") -> Extraction:
    body = gzip.decompress((DATA / name).read_bytes())
    return extract(body, content_type=content_type, source=SourceSettings(id="s", url=url))


@pytest.mark.parametrize(
    ("before", "after", "content_type"),
    [
        # Consecutive raw snapshots Open Terms Archive recorded no version change for: the
        # bytes differ in build ids, script chunks, nonces, tokens and inline styles.
        ("xai-privacy-0002.html.gz", "xai-privacy-0003.html.gz", "text/html"),
        ("google-privacy-0002.html.gz", "google-privacy-0003.html.gz", "text/html"),
        # Markdown versions that differ only in image and link targets, some in links whose
        # text spans lines, and a re-extraction that changed list markers and spacing.
        ("instagram-community-guidelines-0000.md.gz", "instagram-community-guidelines-0004.md.gz",
         "text/markdown"),
        ("facebook-law-enforcement-guidelines-0046.md.gz",
         "facebook-law-enforcement-guidelines-0047.md.gz", "text/markdown"),
    ],
)  # fmt: skip
def test_snapshots_without_a_text_change_extract_to_the_same_text(
    before: str, after: str, content_type: str
) -> None:
    assert gzip.decompress((DATA / before).read_bytes()) != gzip.decompress(
        (DATA / after).read_bytes()
    )
    first, second = run(before, content_type), run(after, content_type)
    assert first.text == second.text
    assert first.raw_text_chars > 3000


def test_a_real_change_shows_as_the_changed_lines() -> None:
    before = run("xai-privacy-0008.html.gz", "text/html").text.split("\n")
    after = run("xai-privacy-0009.html.gz", "text/html").text.split("\n")
    removed = [line for line in before if line not in after]
    added = [line for line in after if line not in before]
    assert removed == [
        "- You can contact our Data Protection Officer: Taceo Limited, Riverbank House, "
        "2 Swan Lane, London EC4R 3T dpo@taceo.co.uk"
    ]
    assert "- You can contact our Data Protection Officer at (mailto:privacy@x.ai)" in added


def test_real_pages_have_their_structure() -> None:
    google = run("google-privacy-0002.html.gz", "text/html", "https://policies.google.com/privacy")
    assert google.title == "Privacy Policy – Privacy & Terms – Google"
    lines = google.text.split("\n")
    assert "# Google Privacy Policy" in lines
    assert "# Information that Google collects" in lines
    assert "WIZ_global_data" not in google.text  # script text is never text
    collects = next(b for b in google.blocks if b.text.startswith("We collect information to"))
    assert collects.path[0] == "Information that Google collects"
    xai = run("xai-privacy-0002.html.gz", "text/html")
    assert "## 1. About xAI and Grok" in xai.text.split("\n")


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("google-privacy-0002.html.gz", "text/html"),
        ("xai-privacy-0009.html.gz", "text/html"),
        ("instagram-community-guidelines-0000.md.gz", "text/markdown"),
    ],
)
def test_real_texts_are_fixed_points_of_the_markdown_reader(name: str, content_type: str) -> None:
    text = run(name, content_type).text
    again = extract(
        text.encode("utf-8"),
        content_type="text/markdown",
        source=SourceSettings(id="s", url="https://example.org/"),
    )
    assert again.text == text
