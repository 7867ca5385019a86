"""tests/perf/corpus_eval.py: its Markdown pages, its notion of visible text, its scoring.

The evaluation is only as good as the pages it serves and the expectations it
computes, so both are tested here on Markdown shaped like Open Terms Archive's, and
the whole script is run on a small corpus built in a temporary directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.config.settings import SourceSettings
from monitor.extract.document import extract
from tests.perf.corpus_eval import (
    is_error_page,
    known_selectors,
    main,
    render_markdown,
    visible_key,
)

SOURCE = SourceSettings(id="s", url="https://example.org/")


def served_text(markdown: str) -> str:
    """The normalized text the monitor reads from the page rendered for ``markdown``."""
    page = render_markdown(markdown, "Title").encode("utf-8")
    return extract(page, content_type="text/html", source=SOURCE).text


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("Facebook\n========\n\nData Policy\n-----------", "# Facebook\n## Data Policy"),
        ("### Terrorist organizations\n\nText.", "### Terrorist organizations\nText."),
        ("Line one\nline two.\n\nNext.", "Line one line two.\nNext."),
        ("*   one\n*   two\n    \n    *   nested", "- one\n- two\n- nested"),
        ("1.  First clause.\n2.  Second clause.", "- First clause.\n- Second clause."),
        ("See [our policy](https://e.org/p?utm_source=x) now.", "See our policy now."),
        ("![](https://cdn/x.png)\n\nDevice attributes: the OS.", "Device attributes: the OS."),
        (
            "**Welcome to YouTube!** _Terms_ and \\*stars\\*",
            "Welcome to YouTube! Terms and *stars*",
        ),
        (
            "[![](/img/card.png)\n\nManage your information](https://www.facebook.com/privacy/)",
            "Manage your information",
        ),
        (
            "| Purpose | Data |\n| --- | --- |\n| Ads | Profile |",
            "| Purpose | Data |\n| Ads | Profile |",
        ),
        ("> Quoted\n> text.", "> Quoted text."),
        ("```\ncode  line\n```", "code line"),
        ("Text\n\n* * *\n\nMore a < b & less", "Text\nMore a < b & less"),
        ("Cell one:<br><br>next &#039;quoted&#039;", "Cell one: next 'quoted'"),
        ("Call `GET /v1` now.", "Call GET /v1 now."),
    ],
    ids=[
        "setext",
        "atx",
        "paragraph-lines",
        "nested-list",
        "ordered-list",
        "link",
        "image",
        "emphasis-escapes",
        "card-link",
        "table",
        "quote",
        "fence",
        "rule-and-html-escaping",
        "inline-html-and-entities",
        "code-span",
    ],
)
def test_markdown_pages_read_as_their_text(markdown: str, text: str) -> None:
    assert served_text(markdown) == text


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("See [the policy](https://e.org/a?x=1).", "See [the policy](https://e.org/b?x=2)."),
        ("*   item one", "1.  item one"),
        ("**Bold** words", "Bold words"),
        ("### Heading", "Heading"),
        ("It’s “quoted” – here", 'It\'s "quoted" - here'),
        ("![](a.png) Text", "![](b.png) Text"),
        ("one\ntwo", "one two"),
        ("rely on the Commission&#039;s decision<br>", "rely on the Commission's decision"),
    ],
)
def test_visible_key_ignores_what_a_reader_does_not_see(before: str, after: str) -> None:
    assert visible_key(before) == visible_key(after)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("We have paused requests.", "We have resumed requests."),
        ("Version http://www.youtube.com/t/terms", "Version https://www.youtube.com/t/terms"),
        ("Data.", "Data,"),
        ("Law Enforcement Authorities", "law enforcement authorities"),
    ],
)
def test_visible_key_sees_every_visible_edit(before: str, after: str) -> None:
    assert visible_key(before) != visible_key(after)


POLICY = (
    "Privacy Policy\n==============\n\n"
    + "\n\n".join(
        f"Section {n}\n---------\n\nWe collect [information](https://e.org/{n}) you give us "
        f"when you use our products, and we keep it for {n} months unless the law requires "
        "a longer period." * 2
        for n in range(1, 16)
    )
    + "\n"
)


def write_corpus(root: Path, versions: list[str]) -> Path:
    folder = root / "contrib-versions" / "Example__Privacy_Policy"
    folder.mkdir(parents=True)
    entries: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, text in enumerate(versions):
        name = f"{number:04d}.md"
        (folder / name).write_text(text, encoding="utf-8")
        data = text.encode("utf-8")
        entries.append(
            {
                "index": number,
                "history_index": number,
                "file": name,
                "author_date": f"2024-01-{number + 1:02d}T08:00:00+00:00",
                "bytes": len(data),
                "record_kind": "first_record" if number == 0 else "change",
                "is_technical": False,
                "identical_to_previous": number > 0 and text == versions[number - 1],
                "same_content_as_history_index": seen.get(text),
                "heuristic_url_insensitive_repeat_of": None,
            }
        )
        seen.setdefault(text, number)
    manifest = {"service": "Example", "terms_type": "Privacy Policy", "extension": "md"}
    (folder / "manifest.json").write_text(
        json.dumps({**manifest, "versions": entries}), encoding="utf-8"
    )
    (root / "README.md").write_text("test corpus\n", encoding="utf-8")
    return root


def test_the_evaluation_scores_a_small_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    relinked = POLICY.replace("https://e.org/3", "https://e.org/three?utm_source=x")
    changed = POLICY.replace("for 4 months", "for 14 months")
    error = "![](https://static.xx.fbcdn.net/x.svg)\n\nSorry! Something went wrong :(\n"
    versions = [POLICY, relinked, changed, POLICY, error, POLICY, changed, changed]
    corpus = write_corpus(tmp_path / "corpus", versions)

    assert main(["--corpus", str(corpus), "--json", "--store", "memory"]) == 0
    result = json.loads(capsys.readouterr().out)
    [run] = result["runs"]
    steps = [(s["expected"], s["observed"], s["verdict"]) for s in run["steps"]]
    assert steps == [
        ("baseline", "baseline", "ok"),
        ("none", "none", "ok"),  # a link target only
        ("substantive", "substantive", "ok"),
        ("reverted", "reverted", "ok"),
        ("suspect", "suspect", "ok"),  # a sub-1 KB error page
        ("none", "none", "ok"),  # the last good text again
        ("reverted", "reverted", "ok"),
        ("none", "none", "ok"),  # identical to the previous version
    ]
    assert (run["miss"], run["false"]) == (0, 0)
    assert result["totals"]["checks"] == 8
    assert result["label_outcomes"]["md: sub_1kb"] == {"suspect": 1}


def test_the_evaluation_refuses_a_missing_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--corpus", str(tmp_path / "nowhere")]) == 2
    assert "no corpus" in capsys.readouterr().err


def test_a_short_version_of_a_short_document_is_not_an_error_page() -> None:
    small = [{"bytes": 900}, {"bytes": 700}, {"bytes": 3000}]
    big = [{"bytes": 900}, {"bytes": 20_000}]
    assert not is_error_page(small[1], small)
    assert is_error_page(big[0], big)


def test_known_page_selectors_are_read_when_they_are_css(tmp_path: Path) -> None:
    tsv = tmp_path / "known-pages.tsv"
    tsv.write_text(
        "service\tdocument\turl\tselect\tremove\tbrowser\n"
        "Google\tPrivacy Policy\thttps://g\tdiv[role=article]\t.KMMDve, .TL2alc\t\n"
        'AWS\tTerms\thttps://a\t["#main", ".extra"]\t\t\n'
        'Amazon\tPrivacy Policy\thttps://z\t[{"startBefore": "h1"}]\t\tyes\n'
        'Apple\tReports List\thttps://p\t[role="main"]\t\t\n',
        encoding="utf-8",
    )
    assert known_selectors(tsv) == {
        ("google", "privacy policy"): ("div[role=article]", (".KMMDve, .TL2alc",)),
        ("aws", "terms"): ("#main, .extra", ()),
        ("apple", "reports list"): ('[role="main"]', ()),
    }
