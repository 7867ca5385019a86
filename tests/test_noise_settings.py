"""Noise settings of a source: parsed, validated, recorded only when set."""

from __future__ import annotations

from monitor.check.pipeline import extraction_key
from monitor.config.settings import SourceSettings
from monitor.core.projections import SourceState
from monitor.core.reconcile import reconcile
from tests.test_config import only_problem, parse

SOURCE = '[[source]]\nid = "p"\nurl = "https://example.org/p"\n'


def test_noise_settings_are_read() -> None:
    settings = parse(
        SOURCE + 'remove_consent = false\nalso_alert = ["dated", "chrome"]\n'
        "learn_volatile_after = 0\nunlearn_volatile_after = 50\n"
    )
    source = settings.sources[0]
    assert source.remove_consent is False
    assert source.also_alert == ("dated", "chrome")
    assert (source.learn_volatile_after, source.unlearn_volatile_after) == (0, 50)


def test_an_unknown_quiet_class_names_the_line_and_the_choices() -> None:
    problem = only_problem(SOURCE + 'also_alert = ["substantive"]\n')
    assert problem.line == 4 and "also_alert" in problem.key
    assert "chrome, dated, volatile" in problem.message


def test_settings_left_at_their_defaults_are_not_recorded() -> None:
    source = SourceSettings(id="p", url="https://example.org/p")
    recorded = source.public_dict()
    assert "remove_consent" not in recorded and "also_alert" not in recorded
    # A source registered before these settings existed is not "updated" by upgrading.
    state = SourceState(source_id="p", registered=True, version=1, settings=recorded)
    assert reconcile({"p": state}, [source]) == []
    kept = SourceSettings(id="p", url="https://example.org/p", remove_consent=False)
    assert kept.public_dict()["remove_consent"] is False
    assert extraction_key(kept) != extraction_key(source)
