"""Quiet changes and learned blocks through the real CLI: check, log, show."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from tests.pageserver import PageServer


def page(stamp: str, story: str) -> str:
    return (
        "<!doctype html><html><head><title>Guidelines</title></head><body><main>"
        "<h1>Community guidelines</h1>"
        f"<p>Updated {stamp}</p>"
        "<p>We remove content that incites violence.</p>"
        f"<p>Featured story: {story} on safety</p>"
        "<ul><li>Report anything that breaks these rules.</li></ul>"
        "</main></body></html>"
    )


def configure(workdir: Path, url: str) -> None:
    (workdir / "sources.toml").write_text(
        f'[[source]]\nid = "guidelines"\nurl = "{url}"\nlearn_volatile_after = 2\n',
        encoding="utf-8",
    )


def test_quiet_changes_fold_in_the_log_and_learned_blocks_show(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/g", page("3 hours ago", "Ada"))
    configure(workdir, url)
    assert main(["check"]) == 0
    for stamp in ("4 hours ago", "5 hours ago"):
        page_server.set("/g", page(stamp, "Ada"))
        capsys.readouterr()
        assert main(["check"]) == 0
        assert "volatile" in capsys.readouterr().out
    assert main(["log", "--source", "guidelines"]) == 0
    out = capsys.readouterr().out
    assert "(2 volatile changes, not alerted" in out
    assert main(["log", "--source", "guidelines", "--unfold"]) == 0
    assert capsys.readouterr().out.count("(volatile, not alerted)") == 2

    # The featured story changes on every check, and nothing else does: learned.
    for story in ("Grace", "Alan"):
        page_server.set("/g", page("5 hours ago", story))
        assert main(["check"]) == 0
    assert main(["log", "--type", "VolatilityLearned"]) == 0
    assert "learned volatile block after 2 changes" in capsys.readouterr().out
    page_server.set("/g", page("5 hours ago", "Edsger"))
    assert main(["check"]) == 0
    assert "volatile" in capsys.readouterr().out
    assert main(["show", "guidelines"]) == 0
    err = capsys.readouterr().err
    assert "learned volatile block" in err and "Featured story: Alan on safety" in err
