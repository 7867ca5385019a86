"""monitor.diff.textdiff: block, word and character differences between two normalized texts."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from diff_match_patch import diff_match_patch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.diff.patch import make_patches as _make_patches
from monitor.diff.textdiff import BlockChange, TextDiff, apply_patch, diff_texts
from monitor.events import canonical_bytes

HK_OLD = (
    "# Transparency report\n"
    "## Government requests\n"
    "We have paused processing Hong Kong government requests.\n"
    "Requests are reviewed by our legal team."
)
HK_NEW = HK_OLD.replace("paused", "resumed")


def only_change(diff: TextDiff) -> BlockChange:
    assert len(diff.changes) == 1, diff.changes
    return diff.changes[0]


# ---------------------------------------------------------------------------- tables


def test_one_word_changed_is_one_changed_block_with_the_word_runs() -> None:
    diff = diff_texts(HK_OLD, HK_NEW)
    change = only_change(diff)
    assert change.op == "changed"
    assert change.old == "We have paused processing Hong Kong government requests."
    assert change.new == "We have resumed processing Hong Kong government requests."
    assert change.words_removed == ("paused",)
    assert change.words_added == ("resumed",)
    assert change.path == ("Transparency report", "Government requests")
    assert change.inline == (
        (0, "We have "),
        (-1, "paused"),
        (1, "resumed"),
        (0, " processing Hong Kong government requests."),
    )
    assert diff.stats["blocks_changed"] == 1
    assert diff.stats["words_removed"] == diff.stats["words_added"] == 1
    assert (diff.stats["chars_removed"], diff.stats["chars_added"]) == (6, 7)
    assert (diff.stats["old_chars"], diff.stats["new_chars"]) == (len(HK_OLD), len(HK_NEW))


def test_adjacent_word_edits_read_as_one_substitution() -> None:
    change = only_change(
        diff_texts("We stopped processing requests in May.", "We resumed handling requests in May.")
    )
    assert change.words_removed == ("stopped processing",)
    assert change.words_added == ("resumed handling",)


def test_block_added() -> None:
    diff = diff_texts(
        "## Hong Kong\nFirst.\nLast.", "## Hong Kong\nFirst.\nA new paragraph.\nLast."
    )
    change = only_change(diff)
    assert (change.op, change.old, change.new) == ("added", None, "A new paragraph.")
    assert change.words_added == ("A new paragraph.",)
    assert change.path == ("Hong Kong",)
    assert diff.stats["blocks_added"] == 1
    assert diff.stats["words_added"] == 3
    assert diff.summary == "1 paragraph added under 'Hong Kong'"


def test_block_removed_reports_its_path_in_the_old_text() -> None:
    diff = diff_texts("## Data\nKeep.\n## Hong Kong\nGone soon.", "## Data\nKeep.\n## Hong Kong")
    change = only_change(diff)
    assert (change.op, change.old, change.new) == ("removed", "Gone soon.", None)
    assert change.words_removed == ("Gone soon.",)
    assert change.path == ("Hong Kong",)
    assert diff.stats["blocks_removed"] == 1


def test_block_moved_reads_as_moved_not_removed_and_added() -> None:
    old = "## A\nAlpha paragraph here.\nBeta stays.\n## B\nGamma stays."
    new = "## A\nBeta stays.\n## B\nGamma stays.\nAlpha paragraph here."
    diff = diff_texts(old, new)
    change = only_change(diff)
    assert change.op == "moved"
    assert change.old == change.new == "Alpha paragraph here."
    assert change.path == ("B",)
    assert (change.words_added, change.words_removed) == ((), ())
    assert diff.stats["blocks_moved"] == 1
    assert diff.stats["blocks_added"] == diff.stats["blocks_removed"] == 0
    assert diff.summary == "1 paragraph moved under 'B'"
    assert apply_patch(old, diff.patch) == new


def test_cjk_one_character_change_is_exact() -> None:
    old = "## 香港\n我們已暫停處理香港政府的請求。"
    new = "## 香港\n我們已暫緩處理香港政府的請求。"
    change = only_change(diff_texts(old, new))
    assert change.words_removed == ("停",)
    assert change.words_added == ("緩",)
    assert change.inline == ((0, "我們已暫"), (-1, "停"), (1, "緩"), (0, "處理香港政府的請求。"))
    assert change.path == ("香港",)


def test_heading_paths_follow_nesting_and_siblings() -> None:
    old = "# Report\n## Asia\n### Hong Kong\nHK text.\n### Japan\nJP text.\n## Europe\nEU text."
    new = old.replace("HK text.", "HK text changed.").replace("EU text.", "EU text changed.")
    new = new.replace("JP text.", "JP text changed.")
    paths = [c.path for c in diff_texts(old, new).changes]
    assert paths == [
        ("Report", "Asia", "Hong Kong"),
        ("Report", "Asia", "Japan"),
        ("Report", "Europe"),
    ]


def test_a_changed_heading_has_its_parents_as_path() -> None:
    change = only_change(
        diff_texts("# Report\n## Hong Kong\nText.", "# Report\n## Hongkong\nText.")
    )
    assert change.op == "changed"
    assert change.path == ("Report",)


def test_edits_in_one_run_pair_by_similarity() -> None:
    old = "Intro.\nThe first paragraph talks about requests.\nThe second one about data.\nEnd."
    new = (
        "Intro.\nThe first paragraph talks about government requests.\n"
        "An entirely unrelated sentence appears.\nThe second one about user data.\nEnd."
    )
    diff = diff_texts(old, new)
    assert [(c.op, c.words_added) for c in diff.changes] == [
        ("changed", ("government",)),
        ("added", ("An entirely unrelated sentence appears.",)),
        ("changed", ("user",)),
    ]


def test_a_heading_never_pairs_with_a_paragraph() -> None:
    diff = diff_texts("Intro.\n## Contact\nEnd.", "Intro.\nContact us by mail.\nEnd.")
    assert sorted(c.op for c in diff.changes) == ["added", "removed"]


def test_trailing_newline_only_is_not_a_block_change() -> None:
    diff = diff_texts("a\nb", "a\nb\n")
    assert diff.changes == ()
    assert diff.summary == "whitespace changed only"
    assert diff.stats["chars_added"] == 1
    assert apply_patch("a\nb", diff.patch) == "a\nb\n"


def test_a_last_line_gaining_a_newline_and_a_new_line_is_one_added_block() -> None:
    diff = diff_texts("a\nb", "a\nb\nc")
    assert [(c.op, c.new) for c in diff.changes] == [("added", "c")]


def test_identical_texts_have_no_changes_and_an_empty_patch() -> None:
    diff = diff_texts(HK_OLD, HK_OLD)
    assert (diff.changes, diff.patch, diff.summary) == ((), "", "no changes")
    assert diff.stats["old_chars"] == diff.stats["new_chars"] == len(HK_OLD)
    assert apply_patch(HK_OLD, "") == HK_OLD


@pytest.mark.parametrize(
    ("old", "new", "summary"),
    [
        (HK_OLD, HK_NEW, "1 paragraph changed under 'Government requests'; 'paused' → 'resumed'"),
        (
            "## Hong Kong\nAlpha beta gamma.\nShared line.",
            "## Hong Kong\nShared line.\nCompletely different words here.",
            "1 paragraph added under 'Hong Kong', 1 removed",
        ),
        (
            "## A\nOne two three.\nFour five six.\n## B\nSeven eight nine.",
            "## A\nOne 2 three.\nFour five six!\n## B\nSeven eight ten.",
            "3 paragraphs changed in 2 sections; 'two' → '2'",
        ),
        (
            "- Item one\n- Item two",
            "- Item one\n- Item two\n- Item three",
            "1 list item added",
        ),
        (
            "Intro.\nWe comply with lawful requests.",
            "Intro.\nWe comply with all lawful requests.",
            "1 paragraph changed; added 'all'",
        ),
        (
            "Intro.\nNumbers: " + "a" * 80 + " end.",
            "Intro.\nNumbers: " + "b" * 80 + " end.",
            "1 paragraph changed; '" + "a" * 59 + "…' → '" + "b" * 59 + "…'",
        ),
        ("Title\n## X\nBody.", "Title\n## X\nBody.\n## Y", "1 heading added under 'X'"),
        ("Body.", "Body.\nMore.\n- item", "2 blocks added"),
    ],
)
def test_summary_lines(old: str, new: str, summary: str) -> None:
    assert diff_texts(old, new).summary == summary


def test_summary_stays_under_200_characters() -> None:
    long_heading = "## " + "Very long section title " * 20
    old = f"{long_heading}\n" + "word " * 100
    new = f"{long_heading}\n" + "term " * 100
    summary = diff_texts(old, new).summary
    assert len(summary) < 200
    assert summary.startswith("1 paragraph changed under 'Very long section title")


def test_apply_patch_refuses_the_wrong_text() -> None:
    patch = diff_texts(HK_OLD, HK_NEW).patch
    with pytest.raises(ValueError, match="hunk 1"):
        apply_patch(HK_OLD.replace("paused", "halted"), patch)
    with pytest.raises(ValueError, match="hunk 1"):
        apply_patch("", patch)


def test_apply_patch_refuses_a_malformed_patch() -> None:
    with pytest.raises(ValueError, match="not a diff-match-patch patch"):
        apply_patch(HK_OLD, "this is not a patch")


def test_big_page_with_scattered_edits_stays_precise() -> None:
    rnd = random.Random(7)
    words = [f"w{n}" for n in range(3000)]
    lines = [" ".join(rnd.choices(words, k=40)) + "." for _ in range(1500)]  # ~400 KB
    edited = list(lines)
    targets = sorted(rnd.sample(range(len(lines)), 60))
    for i in targets:
        edited[i] = edited[i].replace(" ", " inserted ", 1)
    old, new = "\n".join(lines), "\n".join(edited)
    diff = diff_texts(old, new)
    assert [c.op for c in diff.changes] == ["changed"] * 60
    assert {c.words_added for c in diff.changes} == {("inserted",)}
    assert diff.stats["chars_added"] == 60 * len("inserted ")
    assert diff.stats["chars_removed"] == 0
    assert apply_patch(old, diff.patch) == new


def test_page_with_only_repeated_lines_still_diffs_exactly() -> None:
    old = "\n".join(["| yes | no |"] * 400 + ["tail"])
    new = "\n".join(["| yes | no |"] * 250 + ["| yes | yes |"] + ["| yes | no |"] * 150 + ["tail"])
    diff = diff_texts(old, new)
    assert apply_patch(old, diff.patch) == new
    assert diff.stats["blocks_removed"] == 0


# --------------------------------------------------------------------------- to_data


def test_to_data_is_json_with_word_runs_across_changes() -> None:
    old = HK_OLD + "\nSecond paragraph stays."
    new = HK_NEW + "\nSecond paragraph stays.\nA brand new paragraph."
    data = diff_texts(old, new).to_data()
    assert set(data) == {"patch", "stats", "summary", "changes", "added", "removed"}
    assert data["added"] == ["resumed", "A brand new paragraph."]
    assert data["removed"] == ["paused"]
    assert data["changes"][0]["inline"][1] == [-1, "paused"]
    assert data["changes"][0]["path"] == ["Transparency report", "Government requests"]
    assert json.loads(canonical_bytes(data)) == data


def test_to_data_truncates_views_but_never_the_patch() -> None:
    old = "\n".join(f"Paragraph {n} says something about requests." for n in range(400))
    new = "\n".join(f"Paragraph {n} says something about data requests." for n in range(400))
    diff = diff_texts(old, new)
    full = diff.to_data(max_chars=10**9)
    assert "truncated" not in full and len(full["changes"]) == 400
    limit = len(diff.patch) + 20000
    data = diff.to_data(max_chars=limit)
    assert data["truncated"] is True
    assert data["patch"] == diff.patch
    assert len(json.dumps(data, ensure_ascii=False, separators=(",", ":"))) <= limit
    assert 0 < len(data["changes"]) < 400
    assert data["changes"] == full["changes"][: len(data["changes"])]
    assert data["added"] == full["added"][: len(data["added"])]
    assert data["added"] and data["removed"] == []
    assert apply_patch(old, data["patch"]) == new


def test_to_data_clips_one_huge_block() -> None:
    old = "Intro.\n" + "word " * 5000
    new = "Intro.\n" + "word " * 2500 + "changed " + "word " * 2499
    data = diff_texts(old, new).to_data(max_chars=10000)
    assert data["truncated"] is True
    change = data["changes"][0]
    assert len(change["old"]) == 1000 and change["old"].endswith("…")
    assert (change["words_removed"], change["words_added"]) == (["word"], ["changed"])
    assert [op for op, _ in change["inline"]] == [0, -1, 1, 0]
    head, tail = change["inline"][0][1], change["inline"][3][1]
    assert head.startswith("…") and head.endswith("word ") and len(head) == 101
    assert tail.endswith("…") and len(tail) == 101


def test_to_data_keeps_an_oversized_patch_whole() -> None:
    old = "x" * 5000
    new = "y" * 5000
    diff = diff_texts(old, new)
    data = diff.to_data(max_chars=100)
    assert data["patch"] == diff.patch
    assert data["truncated"] is True
    assert data["changes"] == data["added"] == data["removed"] == []


# ------------------------------------------------------------------------ properties

_ALPHABET = st.sampled_from(
    [*list("ab cd.\n\n#-|"), "香", "港", "請", "求", "é", "Ｈ", "😀", " ", "\t", "## ", "- "]
)
texts = st.lists(_ALPHABET, max_size=60).map("".join)
words = st.sampled_from(
    ["Hong", "Kong", "香港", "request", "data", "the", "a", "請求", "政府", "paused", "1,234", "."]
)
lines = st.lists(words, min_size=0, max_size=8).map(" ".join) | st.sampled_from(
    ["## Section", "# Top", "- item", "a | b", "--- page 2 ---", ""]
)
documents = st.lists(lines, max_size=25)


@st.composite
def edited_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """A structured old text and an edit of it: lines changed, added, removed, moved."""
    old = draw(documents)
    new = list(old)
    for _ in range(draw(st.integers(0, 6))):
        action = draw(st.sampled_from(["change", "add", "remove", "move"]))
        if action == "add" or not new:
            new.insert(draw(st.integers(0, len(new))), draw(lines))
        elif action == "remove":
            del new[draw(st.integers(0, len(new) - 1))]
        elif action == "move":
            line = new.pop(draw(st.integers(0, len(new) - 1)))
            new.insert(draw(st.integers(0, len(new))), line)
        else:
            k = draw(st.integers(0, len(new) - 1))
            new[k] = draw(lines)
    ends = draw(st.sampled_from(["", "\n"])), draw(st.sampled_from(["", "\n"]))
    return "\n".join(old) + ends[0], "\n".join(new) + ends[1]


pairs = st.tuples(texts, texts) | edited_pairs() | st.tuples(st.text(), st.text())


@given(pairs)
@settings(max_examples=300, deadline=None)
def test_patch_turns_old_into_new_exactly(pair: tuple[str, str]) -> None:
    old, new = pair
    diff = diff_texts(old, new)
    assert apply_patch(old, diff.patch) == new
    # Any diff-match-patch client gets the same answer from the evidence.
    dmp = diff_match_patch()
    patched, applied = dmp.patch_apply(dmp.patch_fromText(diff.patch), old)
    assert patched == new and all(applied)


@given(pairs)
@settings(max_examples=200, deadline=None)
def test_patch_matches_the_library_patch_make_on_short_texts(pair: tuple[str, str]) -> None:
    old, new = pair
    assume(len(old) + len(new) <= 1000)  # context is made unique within 1000 characters
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 0
    diffs = dmp.diff_main(old, new)
    ours = _make_patches(old, new, diffs)
    theirs = dmp.patch_make(old, diffs)
    assert dmp.patch_toText(ours) == dmp.patch_toText(theirs)
    patch = diff_texts(old, new).patch
    assert patch == dmp.patch_toText(dmp.patch_fromText(patch))


@given(pairs)
@settings(max_examples=100, deadline=None)
def test_diff_is_deterministic(pair: tuple[str, str]) -> None:
    old, new = pair
    first, second = diff_texts(old, new), diff_texts(old, new)
    assert first == second
    assert first.to_data() == second.to_data()


@given(st.text() | texts)
def test_a_text_against_itself_has_no_changes(text: str) -> None:
    diff = diff_texts(text, text)
    assert diff.changes == () and diff.patch == ""
    assert apply_patch(text, diff.patch) == text


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


@given(pairs, st.integers(min_value=50, max_value=3000))
@settings(max_examples=100, deadline=None)
def test_to_data_is_json_without_floats_and_keeps_the_patch(
    pair: tuple[str, str], max_chars: int
) -> None:
    old, new = pair
    diff = diff_texts(old, new)
    data = diff.to_data(max_chars=max_chars)
    assert not _has_float(data)
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["patch"] == diff.patch
    size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    if "truncated" in data:
        empty = dict(data, changes=[], added=[], removed=[])
        floor = len(json.dumps(empty, ensure_ascii=False, separators=(",", ":")))
        assert size <= max(max_chars, floor)
    else:
        assert size <= max_chars


@given(edited_pairs())
@settings(max_examples=200, deadline=None)
def test_changes_describe_the_blocks_that_differ(pair: tuple[str, str]) -> None:
    old, new = pair
    diff = diff_texts(old, new)
    old_blocks = [b for b in old.split("\n") if b.strip()]
    new_blocks = [b for b in new.split("\n") if b.strip()]
    for change in diff.changes:
        if change.old is not None:
            assert change.old in old_blocks
        if change.new is not None:
            assert change.new in new_blocks
        old_side = "".join(t for op, t in change.inline if op != 1)
        new_side = "".join(t for op, t in change.inline if op != -1)
        assert old_side == (change.old or "") and new_side == (change.new or "")
    assert len(diff.summary) < 200


_DIGEST_SCRIPT = """
import hashlib, json, random
from monitor.diff.textdiff import diff_texts
rnd = random.Random(3)
vocab = ["Hong", "Kong", "香港", "request", "data", "the", "## H", "- x", "a | b", ""]
digest = hashlib.sha256()
for _ in range(40):
    lines = [" ".join(rnd.choices(vocab, k=rnd.randint(0, 4))) for _ in range(60)]
    new = list(lines)
    for _ in range(15):
        line = new.pop(rnd.randrange(len(new))) + rnd.choice(["", " x"])
        new.insert(rnd.randint(0, len(new)), line)
    data = diff_texts("\\n".join(lines), "\\n".join(new)).to_data()
    digest.update(json.dumps(data, sort_keys=True).encode())
print(digest.hexdigest())
"""


def test_diff_does_not_depend_on_hash_randomization() -> None:
    """Sets and dicts of strings iterate in a per-process order; the diff must not care."""
    root = Path(__file__).resolve().parents[1]
    digests = {
        subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1
