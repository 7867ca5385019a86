"""render = "auto": when is the plain page good enough? (pure; needs no browser)"""

from __future__ import annotations

import pytest

from monitor.check.pipeline import extraction_key, plain_text_suffices, render_mode
from monitor.config.settings import SourceSettings
from monitor.core.classify import Captured

REPORT = "We received 1,204 government requests for user data in the period. " * 4


def captured(text: str, *, select_matched: bool = True) -> Captured:
    return Captured(capture={"text_chars": len(text)}, text=text, select_matched=select_matched)


@pytest.mark.parametrize(
    ("text", "select_matched", "suffices"),
    [
        (REPORT, True, True),
        (REPORT, False, False),  # the select finds its element only after scripts ran
        ("", True, False),  # an empty shell
        ("Loading…", True, False),  # a short placeholder
        ("Please enable JavaScript to use this dashboard. " * 5, True, False),
        (REPORT + " Enable JavaScript for the interactive chart. " * 10, True, True),
    ],
)
def test_plain_text_suffices(text: str, select_matched: bool, suffices: bool) -> None:
    assert plain_text_suffices(captured(text, select_matched=select_matched)) is suffices


def test_a_screenshot_source_is_always_rendered_and_rendering_is_part_of_the_key() -> None:
    plain = SourceSettings(id="a", url="https://example.org/")
    assert render_mode(plain) == "http"
    assert render_mode(SourceSettings(id="a", url="https://example.org/", render="auto")) == "auto"
    shot = SourceSettings(id="a", url="https://example.org/", screenshot=True)
    assert render_mode(shot) == "browser"
    # Switching to the browser changes the text's source: a new baseline, not a change.
    assert extraction_key(shot) != extraction_key(plain)
    browser = SourceSettings(id="a", url="https://example.org/", render="browser")
    assert extraction_key(browser) == extraction_key(shot)
